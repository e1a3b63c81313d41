/**
 * A response of many messages made a page at a time, as the connection carrying it takes them: a
 * LIST_HANDLES of a prefix with many handles is never built whole in memory, and other clients are served
 * between its pages. The messages are complete (CN set on all but the last); a page is a few of them.
 * Each call of pages() starts again from the beginning, so a response kept for a retransmitted request can
 * be sent again. Pure: what a page holds is the producer's business, when it is pulled the transport's.
 */
export class MessageStream {
  constructor(
    /** The opcode and response code of its messages, for the counters (they never read its bytes). */
    readonly opCode: number,
    readonly responseCode: number,
    private readonly produce: () => Iterator<readonly Buffer[]>,
  ) {}

  /** The messages, a page at a time; a page is never empty. */
  pages(): Iterator<readonly Buffer[]> {
    return this.produce();
  }
}
