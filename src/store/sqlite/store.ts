// The embedded store: better-sqlite3 in WAL mode. One writer connection serialised by a mutex
// (SQLite allows one writer; an awaiting transaction must own it), and for file databases a
// separate reader connection so reads never wait for writes, and reader threads (reader-pool.ts)
// that run searches and history off the event loop.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type { Resource } from 'fhir/r4.js';
import {
  StoreError, type CreateOptions, type DeleteOptions, type DeleteResult, type HistoryPage, type HistoryQuery,
  type ReadResult, type ReindexProgress, type SearchPage, type Store, type StoreIndexer, type UpdateOptions,
  type UpdateResult, type VersionRecord, type WriteFollowUp, type WriteMethod,
} from '../port.js';
import { MonotonicClock, stamp } from '../stamp.js';
import { restorable } from '../restore.js';
import { Mutex } from '../mutex.js';
import { INDEX_SCHEMA, SCHEMA, SCHEMA_VERSION, WORK_SCHEMA } from './schema.js';
import { SqliteWorkStore } from './work.js';
import type { WorkStore } from '../work.js';
import { IndexWriter, PidRegistry } from './index-writer.js';
import { ContainedWriter } from './contained.js';
import { SqliteSearch } from './search.js';
import { SqliteHistory } from './history.js';
import { ReaderPool } from './reader-pool.js';
import { openConnection } from './connection.js';
import { toRecord, type VersionRow } from './sql.js';
import type { SearchQuery } from '../../search/ir.js';
import { ReadCache } from './read-cache.js';
import { entriesFor } from '../index-entries.js';
import { OUTBOX_SCHEMA, SqliteOutbox } from './outbox.js';

export interface SqliteStoreOptions {
  /** A file path, or `:memory:`. */
  filename: string;
  /** `FULL` (default) makes every acknowledged write durable across power loss. */
  synchronous?: 'FULL' | 'NORMAL';
  /** Bytes of current versions kept in memory for reads (READ_CACHE_BYTES; 0 turns the cache off). */
  readCacheBytes?: number;
  /** Extracts search index entries; without one, nothing is indexed (search finds nothing). */
  indexer?: StoreIndexer;
  /** Time budget of one search, in ms (SEARCH_TIMEOUT_MS); none when absent. */
  searchTimeoutMs?: number;
  /**
   * Reader threads for searches and history on a file database (SQLITE_READERS); absent or 0:
   * they run in this thread, as they always do for `:memory:` (a thread cannot share it).
   */
  readers?: number;
}

interface CurrentRow extends VersionRow {
  rid: number;
}

/** READ_CACHE_BYTES' default (src/config.ts). */
const DEFAULT_READ_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * Holds an exclusive lock on a sidecar file for the life of the store, so that a second Flint
 * (or a seed script) cannot write the same database behind this one's cache and clock.
 */
function claimOwnership(filename: string): Database.Database {
  const owner = new Database(`${filename}-owner`);
  try {
    owner.pragma('busy_timeout = 0');
    owner.pragma('locking_mode = EXCLUSIVE');
    owner.exec('CREATE TABLE IF NOT EXISTS owner (pid INTEGER); BEGIN EXCLUSIVE; DELETE FROM owner; COMMIT;');
    owner.prepare('INSERT INTO owner (pid) VALUES (?)').run(process.pid);
  } catch (err) {
    owner.close();
    if (err instanceof Error && /locked|busy/i.test(err.message)) {
      throw new StoreError('unavailable', `${filename} is in use by another Flint process; stop it first (or seed through its HTTP API)`);
    }
    throw err;
  }
  return owner;
}

interface QueuedWrite {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Prepared statements and shared state of one database, used by the store and its transactions. */
class Engine {
  /** Writes waiting for the next group commit. */
  queue: QueuedWrite[] = [];
  flushScheduled = false;
  readonly owner: Database.Database | undefined;
  readonly cache: ReadCache;
  readonly writer: Database.Database;
  readonly reader: Database.Database;
  readonly memory: boolean;
  readonly lock = new Mutex();
  readonly clock: MonotonicClock;
  readonly w: ReturnType<typeof prepare>;
  readonly r: ReturnType<typeof prepare>;
  readonly indexer: StoreIndexer | undefined;
  readonly pids: PidRegistry;
  readonly index: IndexWriter;
  readonly contained: ContainedWriter;
  /** Search on the writer (inside transactions) and on the reader (everything else). */
  readonly searchW: SqliteSearch;
  readonly searchR: SqliteSearch;
  readonly work: WorkStore;
  readonly workInTx: WorkStore;
  readonly historyW: SqliteHistory;
  readonly historyR: SqliteHistory;
  /** Reader threads (file databases with readers > 0). */
  readonly pool: ReaderPool | undefined;

  constructor(opts: SqliteStoreOptions) {
    this.memory = opts.filename === ':memory:' || opts.filename === '';
    if (!this.memory) mkdirSync(dirname(opts.filename), { recursive: true });
    this.owner = this.memory ? undefined : claimOwnership(opts.filename);
    this.cache = new ReadCache(opts.readCacheBytes ?? DEFAULT_READ_CACHE_BYTES);
    const sync = opts.synchronous ?? 'FULL';
    try {
      this.writer = openConnection(opts.filename, false, sync);
    } catch (err) {
      this.owner?.close();
      throw err;
    }
    this.writer.exec(SCHEMA);
    this.writer.exec(INDEX_SCHEMA);
    this.writer.exec(OUTBOX_SCHEMA);
    this.writer.exec(WORK_SCHEMA);
    const found = this.writer.prepare('SELECT value FROM meta WHERE key = ?').get('schema') as { value: string } | undefined;
    if (!found) this.writer.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('schema', String(SCHEMA_VERSION));
    else if (Number(found.value) > SCHEMA_VERSION) {
      throw new StoreError('unavailable', `database schema ${found.value} is newer than this Flint (${SCHEMA_VERSION})`);
    }
    this.indexer = opts.indexer;
    this.pids = new PidRegistry(this.writer);
    if (this.indexer) this.pids.ensure(this.indexer.paramKeys());
    this.index = new IndexWriter(this.writer, this.pids);
    this.contained = new ContainedWriter(this.writer, this.index);
    // Planner statistics for the index tables (cheap when little has changed).
    this.writer.pragma('optimize = 0x10002');
    this.reader = this.memory ? this.writer : openConnection(opts.filename, true, sync);
    this.w = prepare(this.writer);
    this.r = this.memory ? this.w : prepare(this.reader);
    this.searchW = new SqliteSearch(this.writer, this.pids, opts.searchTimeoutMs);
    this.searchR = this.memory ? this.searchW : new SqliteSearch(this.reader, this.pids, opts.searchTimeoutMs);
    this.historyW = new SqliteHistory(this.writer, this.searchW);
    this.historyR = this.memory ? this.historyW : new SqliteHistory(this.reader, this.searchR);
    const readers = opts.readers ?? 0;
    this.pool = this.memory || readers <= 0 ? undefined
      : new ReaderPool({ filename: opts.filename, size: readers, ...(opts.searchTimeoutMs !== undefined ? { timeoutMs: opts.searchTimeoutMs } : {}) });
    const last = this.writer.prepare('SELECT max(last_updated) AS m FROM version').get() as { m: string | null };
    this.clock = new MonotonicClock(last.m ?? undefined);
    const guard = <T>(fn: () => T): T => {
      if (!this.writer.open) throw new StoreError('unavailable', 'store is closed');
      return fn();
    };
    // Between the store's writes and transactions, each statement committing on its own.
    this.work = new SqliteWorkStore(this.writer, (fn) => this.lock.run(() => guard(fn)));
    // Inside a transaction the lock is already held (waiting for it would never end): work
    // statements run in the open transaction and commit or roll back with it.
    this.workInTx = new SqliteWorkStore(this.writer, (fn) => Promise.resolve().then(() => guard(fn)));
  }

  close(): void {
    if (this.reader !== this.writer) this.reader.close();
    this.writer.close();
    this.owner?.close();
  }
}

function prepare(db: Database.Database) {
  return {
    current: db.prepare<[string, string], CurrentRow>(
      `SELECT r.rid, v.seq, v.type, v.id, v.version, v.last_updated, v.method, v.deleted, v.json
         FROM resource r JOIN version v ON v.seq = r.seq WHERE r.type = ? AND r.id = ?`),
    vread: db.prepare<[string, string, number], VersionRow>(
      'SELECT seq, type, id, version, last_updated, method, deleted, json FROM version WHERE type = ? AND id = ? AND version = ?'),
    insertVersion: db.prepare<[string, string, number, string, string, number, string | null]>(
      `INSERT INTO version (type, id, version, last_updated, method, deleted, json) VALUES (?, ?, ?, ?, ?, ?, ?)`),
    upsertResource: db.prepare<[string, string, number, number, string, number], { rid: number }>(
      `INSERT INTO resource (type, id, version, deleted, last_updated, seq) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, deleted = excluded.deleted,
         last_updated = excluded.last_updated, seq = excluded.seq
       RETURNING rid`),
  };
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly followUps = true;
  private closed = false;

  /** Versions written and not yet committed: they reach the read cache only on commit. */
  private pending: VersionRecord[] = [];

  private constructor(private readonly engine: Engine, private readonly inTx: boolean) {}

  private outboxStore: SqliteOutbox | undefined;

  /** The subscription outbox; a transaction's store appends inside that transaction. */
  get outbox(): SqliteOutbox {
    if (!this.outboxStore) {
      const e = this.engine;
      // In memory the reader is the writer: outside a transaction, wait until none holds it.
      const shared = !this.inTx && e.memory;
      const read = <T>(fn: () => T): Promise<T> => {
        this.assertOpen();
        return shared ? e.lock.run(fn) : Promise.resolve().then(fn);
      };
      this.outboxStore = new SqliteOutbox(e.writer, this.inTx ? e.writer : e.reader, (fn) => this.write(fn), read);
    }
    return this.outboxStore;
  }

  get work(): WorkStore {
    return this.inTx ? this.engine.workInTx : this.engine.work;
  }

  static open(opts: SqliteStoreOptions): SqliteStore {
    return new SqliteStore(new Engine(opts), false);
  }

  // ---- writes -------------------------------------------------------------------------------

  /**
   * Runs a synchronous write inside the open transaction, or queues it for the next group
   * commit: the writes that arrive in one event-loop turn share one SQLite transaction and one
   * fsync, each in its own savepoint so that one failing write does not fail its neighbours.
   * Each caller is answered only after the commit, so an acknowledged write is durable.
   */
  private write<T>(fn: () => T): Promise<T> {
    this.assertOpen();
    if (this.inTx) return Promise.resolve().then(fn);
    const e = this.engine;
    return new Promise<T>((resolve, reject) => {
      e.queue.push({ run: fn, resolve: resolve as (v: unknown) => void, reject });
      if (!e.flushScheduled) {
        e.flushScheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    const e = this.engine;
    const release = await e.lock.acquire();
    e.flushScheduled = false;
    const batch = e.queue;
    e.queue = [];
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      e.writer.exec('BEGIN IMMEDIATE');
      for (const item of batch) {
        const mark = this.pending.length;
        e.writer.exec('SAVEPOINT w');
        try {
          const value = item.run();
          e.writer.exec('RELEASE w');
          outcomes.push({ ok: true, value });
        } catch (error) {
          e.writer.exec('ROLLBACK TO w');
          e.writer.exec('RELEASE w');
          this.pending.length = mark;
          outcomes.push({ ok: false, error });
        }
      }
      e.writer.exec('COMMIT');
      this.settle(true);
    } catch (error) {
      // BEGIN or COMMIT failed (disk full, I/O error): nothing in the batch is durable.
      if (e.writer.inTransaction) e.writer.exec('ROLLBACK');
      this.settle(false);
      release();
      for (const item of batch) item.reject(error);
      return;
    }
    release();
    outcomes.forEach((o, i) => {
      const item = batch[i];
      if (!item) return;
      if (o.ok) item.resolve(o.value);
      else item.reject(o.error);
    });
  }

  /** After a commit the written versions become the cached current ones; after a rollback, forgotten. */
  private settle(committed: boolean): void {
    const cache = this.engine.cache;
    for (const r of this.pending) {
      if (committed) cache.set(`${r.type}/${r.id}`, r);
      else cache.delete(`${r.type}/${r.id}`);
    }
    this.pending = [];
  }

  /** `restored`: Store.restore's version, lastUpdated and JSON kept as they are. */
  private insertVersion(type: string, id: string, version: number, method: WriteMethod, resource?: Resource, restored?: VersionRecord): VersionRecord {
    const e = this.engine;
    // Extracted first: a resource the index cannot hold is refused before anything is written.
    const entries = resource && e.indexer ? entriesFor(e.indexer, resource) : undefined;
    // A restored version keeps its instant; later writes still get instants past it.
    const lastUpdated = restored ? e.clock.observe(restored.lastUpdated) : e.clock.next();
    const json = restored ? restored.json ?? null : resource ? stamp(resource, id, String(version), lastUpdated) : null;
    const info = e.w.insertVersion.run(type, id, version, lastUpdated, method, resource ? 0 : 1, json);
    const seq = Number(info.lastInsertRowid);
    const rid = e.w.upsertResource.get(type, id, version, resource ? 0 : 1, lastUpdated, seq)?.rid;
    if (rid === undefined) throw new Error('upsert returned no row');
    // The index holds current, live versions only: replace on update, drop on delete.
    if (version > 1) {
      e.index.remove(rid);
      e.contained.remove(rid);
    }
    if (entries) {
      e.index.write(rid, type, entries);
      e.contained.write(rid, entries.contained);
    }
    const record = toRecord({ seq, type, id, version, last_updated: lastUpdated, method, deleted: resource ? 0 : 1, json });
    this.pending.push(record);
    return record;
  }

  /**
   * A write's notifications, appended in the write's own unit (its savepoint in the group
   * commit, or the open transaction): they commit with it or not at all (port.ts WriteFollowUp).
   */
  private followUp(fn: WriteFollowUp, written: VersionRecord, replaced: VersionRecord | undefined): void {
    const outbox = this.outbox;
    for (const a of fn(written, replaced, outbox.generationNow())) outbox.appendNow(a.subscription, a.data, a.at);
  }

  create(resource: Resource, opts: CreateOptions = {}): Promise<VersionRecord> {
    return this.write(() => {
      const id = resource.id ?? randomUUID();
      if (this.engine.w.current.get(resource.resourceType, id)) {
        throw new StoreError('version-conflict', `${resource.resourceType}/${id} already exists`);
      }
      const record = this.insertVersion(resource.resourceType, id, 1, opts.method ?? 'POST', resource);
      if (opts.followUp) this.followUp(opts.followUp, record, undefined);
      return record;
    });
  }

  update(resource: Resource & { id: string }, opts: UpdateOptions = {}): Promise<UpdateResult> {
    return this.write(() => {
      const cur = this.engine.w.current.get(resource.resourceType, resource.id);
      if (opts.ifMatch !== undefined && (!cur || cur.deleted === 1 || String(cur.version) !== opts.ifMatch)) {
        throw new StoreError('version-conflict',
          `${resource.resourceType}/${resource.id} is at version ${cur && cur.deleted === 0 ? cur.version : 'none'}, not ${opts.ifMatch}`);
      }
      const record = this.insertVersion(resource.resourceType, resource.id, (cur?.version ?? 0) + 1, opts.method ?? 'PUT', resource);
      if (opts.followUp) this.followUp(opts.followUp, record, cur && cur.deleted === 0 ? toRecord(cur) : undefined);
      return { record, created: !cur || cur.deleted === 1 };
    });
  }

  delete(type: string, id: string, opts: DeleteOptions = {}): Promise<DeleteResult> {
    return this.write((): DeleteResult => {
      const cur = this.engine.w.current.get(type, id);
      if (opts.ifMatch !== undefined && (!cur || cur.deleted === 1 || String(cur.version) !== opts.ifMatch)) {
        throw new StoreError('version-conflict', `${type}/${id} is not at version ${opts.ifMatch}`);
      }
      if (!cur) return { status: 'missing' };
      if (cur.deleted === 1) return { status: 'already-deleted', record: toRecord(cur) };
      return { status: 'deleted', record: this.insertVersion(type, id, cur.version + 1, 'DELETE') };
    });
  }

  restore(record: VersionRecord): Promise<VersionRecord> {
    return this.write(() => {
      const cur = this.engine.w.current.get(record.type, record.id);
      const resource = restorable(record, cur?.version ?? 0);
      return this.insertVersion(record.type, record.id, Number(record.versionId), record.method, resource, record);
    });
  }

  // ---- reads --------------------------------------------------------------------------------

  /** Statements for reading: inside a transaction, the writer (to see our own writes). */
  private async stmts(): Promise<Engine['r']> {
    return this.stmtsNow() ?? this.engine.lock.run(() => this.engine.r);
  }

  /** The statements to read with, or undefined when the read must wait for a transaction. */
  private stmtsNow(): Engine['r'] | undefined {
    this.assertOpen();
    const e = this.engine;
    if (this.inTx) return e.w;
    // One in-memory connection is shared: wait until no transaction holds it half-written.
    if (e.memory && e.lock.locked) return undefined;
    return e.r;
  }

  async read(type: string, id: string): Promise<ReadResult> {
    const key = `${type}/${id}`;
    // Inside a transaction, read through the writer (own writes); outside, the cache first.
    let record = this.inTx ? undefined : this.engine.cache.get(key);
    if (!record) {
      const row = (this.stmtsNow() ?? await this.stmts()).current.get(type, id);
      if (!row) return { status: 'missing' };
      record = toRecord(row);
      if (!this.inTx) this.engine.cache.set(key, record);
    }
    return record.deleted ? { status: 'deleted', record } : { status: 'found', record };
  }

  async vread(type: string, id: string, versionId: string): Promise<VersionRecord | undefined> {
    if (!/^[1-9][0-9]{0,15}$/.test(versionId)) return undefined;
    const row = (await this.stmts()).vread.get(type, id, Number(versionId));
    return row ? toRecord(row) : undefined;
  }

  /** Inside a transaction on the writer (own writes); outside, on a reader thread when there are some. */
  async history(q: HistoryQuery): Promise<HistoryPage> {
    this.assertOpen();
    const e = this.engine;
    if (this.inTx) return e.historyW.run(q);
    if (e.pool) return e.pool.history(q, e.pids.size);
    this.stmtsNow() ?? await this.stmts();
    return e.historyR.run(q);
  }

  async referencesTo(type: string, id: string, limit: number): Promise<{ type: string; id: string }[]> {
    const db = this.inTx ? this.engine.writer : (this.stmtsNow() ?? await this.stmts()) === this.engine.w ? this.engine.writer : this.engine.reader;
    return db.prepare(`SELECT DISTINCT r.type, r.id FROM sp_reference x JOIN resource r ON r.rid = x.rid
      WHERE x.ref_id = ? AND x.ref_type = ? AND r.deleted = 0 AND NOT (r.type = ? AND r.id = ?) LIMIT ?`)
      .all(id, type, type, id, limit) as { type: string; id: string }[];
  }

  /** Like history: the writer in a transaction, else a reader thread, else the reader connection. */
  async search(query: SearchQuery): Promise<SearchPage> {
    this.assertOpen();
    const e = this.engine;
    if (this.inTx) return e.searchW.run(query);
    if (e.pool) return e.pool.search(query, e.pids.size);
    this.stmtsNow() ?? await this.stmts();
    return e.searchR.run(query);
  }

  async reindex(types: readonly string[] | undefined, onProgress?: (p: ReindexProgress) => void): Promise<number> {
    this.assertOpen();
    const e = this.engine;
    const indexer = e.indexer;
    if (!indexer) return 0;
    e.pids.ensure(indexer.paramKeys());
    const filter = types ? `AND r.type IN (${types.map(() => '?').join(',')})` : '';
    const typeParams = types ? [...types] : [];
    const total = (e.reader.prepare(`SELECT count(*) AS n FROM resource r WHERE r.deleted = 0 ${filter}`).get(...typeParams) as { n: number }).n;
    const page = e.writer.prepare(`SELECT r.rid, r.type, v.json FROM resource r JOIN version v ON v.seq = r.seq
      WHERE r.deleted = 0 AND r.rid > ? ${filter} ORDER BY r.rid LIMIT 500`);
    let after = 0;
    let done = 0;
    onProgress?.({ done, total });
    for (;;) {
      // One batch per lock: writes from requests interleave between batches.
      const batch = await e.lock.run(() => e.writer.transaction(() => {
        const rows = page.all(after, ...typeParams) as { rid: number; type: string; json: string }[];
        for (const row of rows) {
          e.index.remove(row.rid);
          e.contained.remove(row.rid);
          const entries = indexer.extract(JSON.parse(row.json) as Resource);
          e.index.write(row.rid, row.type, entries);
          e.contained.write(row.rid, entries.contained);
        }
        return rows;
      }).immediate());
      if (batch.length === 0) break;
      after = batch[batch.length - 1]?.rid ?? after;
      done += batch.length;
      onProgress?.({ done, total: Math.max(total, done) });
      await new Promise((r) => setImmediate(r));
    }
    return done;
  }

  // ---- transactions -------------------------------------------------------------------------

  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    this.assertOpen();
    if (this.inTx) return fn(this);
    const e = this.engine;
    const release = await e.lock.acquire();
    const tx = new SqliteStore(e, true);
    try {
      e.writer.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(tx);
        e.writer.exec('COMMIT');
        tx.settle(true);
        return result;
      } catch (err) {
        if (e.writer.inTransaction) e.writer.exec('ROLLBACK');
        tx.settle(false);
        throw err;
      }
    } finally {
      tx.closed = true;
      release();
    }
  }

  async close(): Promise<void> {
    if (this.closed || this.inTx) return;
    this.closed = true;
    await this.engine.pool?.close();
    await this.engine.lock.run(() => this.engine.close());
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError('unavailable', this.inTx ? 'transaction already finished' : 'store is closed');
  }
}
