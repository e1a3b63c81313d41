import { DecodeError } from '../protocol/errors.js';
import { DumpStreamReader, type StreamVerify, TxnAction, TxnStreamReader, TxnStreamStatus, utf8Text } from '../protocol/replication.js';
import type { ReplicationClient } from '../client/replication-client.js';
import type { StreamConsumer } from '../client/stream-exchange.js';
import { type ReplicaChange, ReplicaWriter } from '../store/replica-writer.js';
import { joinValues } from '../store/value-blob.js';
import type { Registry } from '../store/registry.js';

// A mirror's loop (docs/replication.md): ask the primary for its next transaction id; when the mirror is
// behind, pull the transactions after its position and apply them as they stream in, a chunk per
// transaction (each chunk commits the position it completes, so a mirror killed mid-apply resumes without a
// gap or a duplicate); when the primary no longer holds the log from there, or the mirror is new, copy the
// whole registry again. Then wait pollMs and ask again.

export interface MirrorOptions {
  registry: Registry;
  client: ReplicationClient;
  /** Checks the primary's signature on each block of a stream. */
  verify: StreamVerify;
  pollMs: number;
  now: () => number;
  /** Called after changes were committed: the running node drops the cached answers they made stale. */
  applied: () => void;
  log: (level: 'info' | 'warn' | 'error', event: string, fields: Record<string, unknown>, message: string) => void;
}

/** Changes applied in one transaction (rows of a copy likewise). */
const APPLY_CHUNK = 2000;

export class MirrorStats {
  /** The primary's last transaction id, as last heard. */
  primaryLastTxn = 0;
  /** The primary's transaction id this mirror has applied up to. */
  position = 0;
  transactionsApplied = 0;
  pulls = 0;
  recopies = 0;
  errors = 0;
  /** When (ms) the last pull ended well; 0 before the first. */
  lastPullAt = 0;
  /** When (ms) the mirror last had everything the primary held at that moment; 0 before the first time. */
  caughtUpAt = 0;
  copying = false;
  lastError = '';
  /** Apply delays (s) the metrics have not taken yet; bounded, so a mirror nobody scrapes keeps only the first. */
  private delays: number[] = [];

  /** Transactions committed at `committedMs`, each dated (ms) at the primary: their delays, for the metrics. */
  noteApplied(primaryDatesMs: readonly number[], committedMs: number): void {
    for (const d of primaryDatesMs) if (this.delays.length < MAX_DELAY_SAMPLES) this.delays.push(Math.max(0, (committedMs - d) / 1000));
  }

  /** The delays noted since the last call: from each transaction's date at the primary to this mirror's commit. */
  takeApplyDelays(): number[] {
    const d = this.delays;
    this.delays = [];
    return d;
  }
}

/** Apply delays kept between two scrapes at most (a minute at 1,000 writes/s). */
const MAX_DELAY_SAMPLES = 60_000;

export class Mirror {
  readonly stats = new MirrorStats();
  private readonly writer: ReplicaWriter;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Said once that the primary's log is behind this mirror (until it is not). */
  private warnedBehind = false;

  constructor(private readonly o: MirrorOptions) {
    this.writer = new ReplicaWriter(o.registry);
    this.stats.position = this.writer.position();
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Seconds since the mirror last held everything its primary held (0 while caught up on the last poll). */
  lagSeconds(now = this.o.now()): number {
    if (this.stats.caughtUpAt === 0) return Infinity;
    return Math.max(0, (now - this.stats.caughtUpAt) / 1000);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.cycle().finally(() => {
        this.running = undefined;
      });
    }, ms);
    this.timer.unref?.();
  }

  private async cycle(): Promise<void> {
    let again = false;
    try {
      again = await this.syncOnce();
    } catch (err) {
      this.stats.errors++;
      this.stats.lastError = (err as Error).message;
      this.o.log('warn', 'replication_error', { err: (err as Error).message }, `replication from the primary failed: ${(err as Error).message}`);
    }
    this.schedule(again ? 0 : this.o.pollMs);
  }

  /** One round: true when there is more to pull at once. */
  async syncOnce(): Promise<boolean> {
    const asked = this.o.now();
    const last = (await this.o.client.nextTxnId()) - 1;
    this.stats.primaryLastTxn = last;
    if (this.stats.position === 0 && last > 0) {
      await this.recopy('a new mirror takes its first copy');
      return true;
    }
    if (this.stats.position > last) {
      // The primary's log ends before what this mirror applied: a primary restored from a backup, or another
      // primary. Its ids will be reused for other changes, so following it would diverge in silence.
      if (!this.warnedBehind) {
        this.warnedBehind = true;
        this.o.log('error', 'replication_primary_behind', { position: this.stats.position, primaryLastTxn: last }, `the primary's last transaction is ${last}, before this mirror's position ${this.stats.position}: was it restored from a backup? This mirror must copy it again (stop it, remove its registry, start it)`);
      }
      this.stats.lastError = `the primary's log ends at ${last}, before this mirror's position ${this.stats.position}`;
      return false;
    }
    this.warnedBehind = false;
    if (this.stats.position >= last) {
      this.stats.caughtUpAt = asked;
      this.stats.lastPullAt = this.o.now();
      return false;
    }
    const before = this.stats.position;
    const status = await this.pull();
    this.stats.pulls++;
    this.stats.lastPullAt = this.o.now();
    if (status === TxnStreamStatus.NEED_TO_REDUMP) {
      await this.recopy('the primary no longer holds the transactions after this mirror\'s position');
      return true;
    }
    if (this.stats.position >= last) this.stats.caughtUpAt = asked;
    // Again at once only after a pull that moved: a primary that announces transactions and then sends none
    // of them would otherwise be asked again and again without a pause, hundreds of times a second.
    return this.stats.position < last && this.stats.position > before;
  }

  /** RETRIEVE_TXN_LOG after the position, applied as it streams in. */
  private async pull(): Promise<number> {
    const reader = new TxnStreamReader(this.o.verify);
    let pending: ReplicaChange[] = [];
    // The transaction being read. A bulk import's rows share one id, so the position moves past an id only
    // once the next id (or the end) shows it is whole: a chunk is committed just before a new id starts.
    let current = this.stats.position;
    // The primary's date (ms) of each transaction read since the last commit: their count is the count of
    // transactions applied, their dates time the delay.
    let dates: number[] = [];
    const flush = (position: number, queryDate: number) => {
      if (pending.length === 0 && position === this.stats.position) return;
      this.writer.apply(pending, position, queryDate);
      this.stats.transactionsApplied += dates.length;
      this.stats.noteApplied(dates, this.o.now());
      dates = [];
      this.stats.position = position;
      pending = [];
      this.o.applied();
    };
    const consumer: StreamConsumer = {
      data: (chunk) => {
        for (const rec of reader.push(chunk)) {
          if (rec.type === 'txn') {
            if (rec.txnId < current) throw new DecodeError(`transaction ${rec.txnId} after ${current}: the log goes backwards`);
            if (rec.txnId > current) {
              if (pending.length >= APPLY_CHUNK) flush(current, this.writer.lastQueryDate());
              dates.push(rec.date);
              current = rec.txnId;
            }
            pending.push(changeOf(rec.action, rec.handle, rec.values, rec.date));
          } else if (rec.type === 'end' && reader.status === TxnStreamStatus.SENDING_TRANSACTIONS) {
            flush(current, rec.date ?? this.o.now());
          }
        }
        return reader.done;
      },
    };
    await this.o.client.retrieve(
      { lastTxnId: this.stats.position, lastQueryDate: this.writer.lastQueryDate(), hashType: 0, numServers: 1, serverNum: 0 },
      consumer,
    );
    return reader.status;
  }

  /** DUMP_HANDLES: the whole registry again, then the log from where the dump began. */
  private async recopy(why: string): Promise<void> {
    this.stats.copying = true;
    this.stats.recopies++;
    this.o.log('warn', 'replication_recopy', { position: this.stats.position, primaryLastTxn: this.stats.primaryLastTxn }, `copying the primary's registry: ${why}`);
    const reader = new DumpStreamReader(this.o.verify);
    const homed: string[] = [];
    let rows: Array<{ handle: string; blob: Buffer; at: number }> = [];
    let from = { date: 0, txnId: 0 };
    let copied = 0;
    const at = Math.floor(this.o.now() / 1000);
    this.writer.beginCopy();
    const consumer: StreamConsumer = {
      data: (chunk) => {
        for (const rec of reader.push(chunk)) {
          if (rec.type === 'serverInfo') from = { date: rec.date, txnId: rec.txnId };
          else if (rec.type === 'homedPrefix') homed.push(utf8Text(rec.prefix, 'a homed prefix in the stream'));
          else if (rec.type === 'handle') {
            rows.push({ handle: utf8Text(rec.handle, 'a handle in the stream'), blob: joinValues(rec.values), at });
            if (rows.length >= APPLY_CHUNK) {
              this.writer.copyRows(rows);
              copied += rows.length;
              rows = [];
            }
          } else if (rec.type === 'end') {
            this.writer.copyRows(rows);
            copied += rows.length;
            rows = [];
            this.writer.finishCopy(homed, from.txnId, from.date, at);
            this.stats.position = from.txnId;
            this.o.applied();
          }
        }
        return reader.done;
      },
    };
    try {
      await this.o.client.dump({ hashType: 0, numServers: 1, serverNum: 0 }, consumer);
    } catch (err) {
      this.writer.abandonCopy();
      throw err;
    } finally {
      this.stats.copying = false;
    }
    this.o.log('info', 'replication_copied', { handles: copied, position: this.stats.position }, `copied ${copied} handles from the primary; following its log from transaction ${this.stats.position}`);
  }
}

function changeOf(action: number, handle: Buffer, values: Buffer[] | undefined, date: number): ReplicaChange {
  const at = Math.floor(date / 1000);
  const text = utf8Text(handle, 'a handle in the stream');
  switch (action) {
    case TxnAction.CREATE_HANDLE:
    case TxnAction.UPDATE_HANDLE:
      return { kind: 'put', handle: text, blob: joinValues(values ?? []), at };
    case TxnAction.DELETE_HANDLE:
      return { kind: 'delete', handle: text, at };
    case TxnAction.HOME_NA:
      return { kind: 'home', prefix: text, at };
    case TxnAction.UNHOME_NA:
      return { kind: 'unhome', prefix: text, at };
    default:
      throw new DecodeError(`transaction action ${action} is not one a mirror applies`);
  }
}
