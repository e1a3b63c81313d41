// The pure codec of the reference server's replication operations (docs/replication.md, "The protocol"):
// the request and response bodies, the block framing of the streamed answers, and the records of the
// transaction and dump streams. One import for the replication engine.
export * from './replication-requests.js';
export * from './replication-framing.js';
export * from './replication-stream.js';
export * from './replication-dump.js';
export { StreamLimits, utf8Text } from './replication-records.js';
