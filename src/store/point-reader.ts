import Database from 'better-sqlite3';

// The miss path's reads of stored value blobs (resolve/blob-miss.ts), on a read-only connection of their
// own that keeps one read transaction open across the reads of one turn of the event loop.
//
// Why. In WAL mode every autocommit SELECT begins and ends a read transaction, and on Unix that is a lock
// and an unlock of a byte of the -shm file (fcntl) and, while the WAL is empty, an fstat of the database:
// three system calls around a B-tree search that costs less than they do (bench/miss-cost.ts: 2 fcntl and
// 1 fstat per read under strace; about half of a cold read's CPU). Under load a turn of the event loop
// answers many datagrams (libuv reads up to 32 per readable socket), so one transaction per turn pays that
// once for all of them.
//
// What it must not do, and why it does not:
//   * Serve a value older than a write this process has acknowledged, or keep one in the answer cache after
//     the write's invalidation. The snapshot is taken at the first read of a turn and let go at the end of
//     it (setImmediate), and earlier by release(): the registry calls it after each write it makes and
//     whenever the transaction log is read (Registry.changesSince, lastTxnId) — which is how every write, by
//     this process or another, reaches the answer cache (resolve/changes.ts), and every acknowledged write
//     is followed by that read before it is acknowledged. So a read after the cache dropped a handle's
//     answers sees the write that dropped them; reads before it keep what the drop then removes.
//   * Hold up a checkpoint for long: a reader holds back only the checkpoint of frames after its snapshot,
//     and this one lives at most until the end of the turn it began in.
//   * Hold up a writer: in WAL mode readers never block writers. (In rollback-journal mode they would, so
//     the registry uses this only for a file in WAL mode.)
// A separate connection, not a transaction on the registry's own: that one's writes must each commit when
// they return, and a write begun inside an open transaction would only become a savepoint of it.

export interface PointReaderOptions {
  /** SQLite's mmap_size for this connection, in bytes. */
  mmapBytes: number;
  /** SQLite's page cache for this connection, in KiB. */
  cacheKiB: number;
}

export class PointReader {
  /** Read transactions begun (snapshots held across reads): with `reads`, how well reads share them. */
  snapshots = 0;
  reads = 0;
  private readonly db: Database.Database;
  private readonly begin: Database.Statement;
  private readonly commit: Database.Statement;
  private readonly blob: Database.Statement<[string], Buffer>;
  private inSnapshot = false;
  /** A read was made in this turn, and the end of the turn is scheduled. */
  private endOfTurnPending = false;
  private readonly endOfTurn = (): void => {
    this.endOfTurnPending = false;
    this.release();
  };

  constructor(file: string, opts: PointReaderOptions) {
    this.db = new Database(file, { readonly: true, fileMustExist: true });
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma(`mmap_size = ${opts.mmapBytes}`);
    this.db.pragma(`cache_size = -${opts.cacheKiB}`);
    this.begin = this.db.prepare('BEGIN');
    this.commit = this.db.prepare('COMMIT');
    this.blob = this.db.prepare<[string], Buffer>('SELECT vals FROM handles WHERE handle_key = ?').pluck(true);
  }

  /**
   * A stored blob by lookup key (Registry.blobAt). The first read of a turn is an ordinary autocommit read
   * (a turn that reads once pays nothing extra); the second begins the turn's snapshot, which the rest share.
   */
  blobAt(key: string): Buffer | undefined {
    this.reads++;
    if (!this.inSnapshot) {
      if (!this.endOfTurnPending) {
        this.endOfTurnPending = true;
        setImmediate(this.endOfTurn);
        return this.blob.get(key);
      }
      this.begin.run();
      this.inSnapshot = true;
      this.snapshots++;
    }
    return this.blob.get(key);
  }

  /** Let the snapshot go: the next read sees every commit made before it. */
  release(): void {
    if (!this.inSnapshot) return;
    this.inSnapshot = false;
    // An error inside the transaction may have rolled it back already.
    if (this.db.inTransaction) this.commit.run();
  }

  close(): void {
    this.release();
    if (this.db.open) this.db.close();
  }
}
