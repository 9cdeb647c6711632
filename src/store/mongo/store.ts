// The MongoDB store. Every write reads the current document, takes an order value from this
// process's clock (order.ts: no counter document), copies the superseded version to `history`
// and replaces the current document only if it is still the version read: one atomic document
// write carries a resource and its index. On a replica set or sharded cluster each write (and
// each Store.transaction) is one multi-document transaction; on a standalone server there are no
// transactions, a Store.transaction may hold one write only, and writes of one process queue on
// a lock (README.md).
import { randomUUID } from 'node:crypto';
import type { Resource } from 'fhir/r4.js';
import type { SearchQuery } from '../../search/ir.js';
import { decodeMark, encodeCursor, historyPage, type HistoryMark } from '../history-cursor.js';
import { entriesFor } from '../index-entries.js';
import { Budget } from '../budget.js';
import { Mutex } from '../mutex.js';
import {
  StoreError, type CreateOptions, type DeleteOptions, type DeleteResult, type HistoryPage, type HistoryQuery,
  type ReadResult, type ReindexProgress, type SearchPage, type Store, type StoreIndexer, type UpdateOptions,
  type UpdateResult, type VersionRecord, type WriteMethod,
} from '../port.js';
import { stamp } from '../stamp.js';
import { restorable } from '../restore.js';
import { and, Compiler } from './compile.js';
import { DuplicateKeyError, type Filter, type MongoDb, type Session } from './db.js';
import {
  emptyIndex, HISTORY, historyId, INDEXES, indexDoc, META, RESOURCES, toHistory, toRecord,
  type HistoryDoc, type ResourceDoc,
} from './layout.js';
import { instantOf, OrderClock, SETTLE_MS, WRITE_WINDOW_MS, type StablePoint } from './order.js';
import { MongoSearch } from './search.js';
import { MongoOutbox } from './outbox.js';
import type { OutboxStore } from '../outbox.js';
import { MongoWorkStore } from './work.js';
import type { WorkStore } from '../work.js';

export interface MongoStoreOptions {
  db: MongoDb;
  /** Extracts search index entries; without one, nothing is indexed (search finds nothing). */
  indexer?: StoreIndexer;
  /** Time budget of one search, in ms (SEARCH_TIMEOUT_MS); none when absent. */
  searchTimeoutMs?: number;
  /** This process's order clock (tests give instances frozen or skewed clocks). */
  clock?: OrderClock;
}

/**
 * The layout version this Flint writes (meta `schema`). 2: order values from each process's
 * clock instead of the counter document; a Flint of layout 1 must not write beside it.
 */
export const LAYOUT_VERSION = 2;

interface Shared {
  readonly db: MongoDb;
  readonly indexer: StoreIndexer | undefined;
  readonly searchTimeoutMs: number | undefined;
  /** `Type\0code` of every parameter the indexer may emit. */
  readonly registered: Set<string>;
  /**
   * Serialises this process's Store.transactions (and, on a standalone server, every write:
   * that is what keeps conditional create race-free there). Single writes on a replica set run
   * side by side: they meet only when they touch the same resource.
   */
  readonly lock: Mutex;
  readonly work: WorkStore;
  readonly clock: OrderClock;
  /** Single writes under way outside the lock: close() waits for them. */
  readonly inflight: Set<Promise<unknown>>;
}

/** What a standalone "transaction" did, so that it can be undone if it fails. */
interface SoloTx {
  writes: number;
  undo?: { id: string; previous: ResourceDoc | undefined };
}

type TxState = { kind: 'session'; session: Session } | { kind: 'solo'; state: SoloTx };

/** What a write does once it has seen the current document. */
type Plan<T> = { write: false; result: T } | {
  write: true; version: number; method: WriteMethod; resource?: Resource;
  /** Store.restore: the version's own lastUpdated and JSON, kept as they are. */
  restored?: { lastUpdated: string; json: string | null };
  result: (r: VersionRecord) => T;
};

/** Newest first in the change order: order value, then type and id (the tie-break). */
const NEWEST_FIRST = { s: -1, t: -1, i: -1 } as const;

function newestFirst(a: HistoryDoc, b: HistoryDoc): number {
  return b.s - a.s || (a.t < b.t ? 1 : a.t > b.t ? -1 : 0) || (a.i < b.i ? 1 : a.i > b.i ? -1 : 0);
}

/** A history filter for `resources`: one resource's is by `_id`, the shard key (stays on one shard). */
function onResources(f: Filter): Filter {
  return typeof f.t === 'string' && typeof f.i === 'string' ? { ...f, _id: `${f.t}/${f.i}` } : f;
}

/** Versions strictly older than the mark in the change order. */
function olderThan(m: HistoryMark): Filter {
  if (m.type === undefined || m.id === undefined) return { s: { $lt: m.seq } };
  return { $or: [{ s: { $lt: m.seq } }, { s: m.seq, t: { $lt: m.type } }, { s: m.seq, t: m.type, i: { $lt: m.id } }] };
}

export class MongoStore implements Store {
  readonly kind = 'mongodb';
  private closed = false;

  private constructor(private readonly shared: Shared, private readonly tx?: TxState) {}

  private outboxStore: OutboxStore | undefined;

  /** The subscription outbox; a transaction's store appends in that transaction's session. */
  get outbox(): OutboxStore {
    this.outboxStore ??= new MongoOutbox(this.shared.db, this.session, (fn) => (this.tx ? fn() : this.shared.lock.run(fn)));
    return this.outboxStore;
  }

  static async open(opts: MongoStoreOptions): Promise<MongoStore> {
    const { db } = opts;
    await db.ensureIndexes(INDEXES);
    const [found] = await db.find(META, { _id: 'schema' }, { limit: 1 });
    if (!found) {
      try {
        await db.insertOne(META, { _id: 'schema', version: LAYOUT_VERSION });
      } catch (err) {
        if (!(err instanceof DuplicateKeyError)) throw err; // another Flint started at the same moment
      }
    } else if (Number(found.version) > LAYOUT_VERSION) {
      throw new StoreError('unavailable', `database layout ${String(found.version)} is newer than this Flint (${LAYOUT_VERSION})`);
    } else if (Number(found.version) < LAYOUT_VERSION) {
      // Layout 1's counter values are small integers: every clock value is larger, so the order
      // of what is stored carries on (README.md, "Upgrading from layout 1").
      await db.setFields(META, { _id: 'schema' }, { version: LAYOUT_VERSION });
    }
    // Start past the newest stored value, in case this machine's clock is behind the last writer's.
    const clock = opts.clock ?? new OrderClock();
    const [newest] = await db.find(RESOURCES, {}, { sort: NEWEST_FIRST, limit: 1, projection: { s: 1 } });
    if (typeof newest?.s === 'number') clock.observe(newest.s);
    const registered = new Set<string>();
    for (const [t, c] of opts.indexer?.paramKeys() ?? []) registered.add(`${t}\u0000${c}`);
    return new MongoStore({ db, indexer: opts.indexer, searchTimeoutMs: opts.searchTimeoutMs, registered, lock: new Mutex(), clock, inflight: new Set(), work: new MongoWorkStore(db) });
  }

  get work(): WorkStore {
    return this.shared.work;

  }

  private get session(): Session | undefined {
    return this.tx?.kind === 'session' ? this.tx.session : undefined;
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError('unavailable', this.tx ? 'transaction already finished' : 'store is closed');
  }

  // ---- writes -------------------------------------------------------------------------------

  /** Runs one write: in the open transaction, in its own transaction, or (standalone) under the process lock. */
  private async mutate<T>(type: string, id: string, decide: (cur: ResourceDoc | undefined) => Plan<T>): Promise<T> {
    this.assertOpen();
    const { db, lock } = this.shared;
    const tx = this.tx;
    if (tx?.kind === 'session') return this.apply(type, id, decide, tx.session);
    if (tx?.kind === 'solo') {
      if (tx.state.writes > 0) {
        throw new StoreError('unsupported', 'this MongoDB server is standalone: a transaction with more than one write needs a replica set (see the MongoDB section of the README)');
      }
      tx.state.writes++;
      return this.apply(type, id, decide, undefined, tx.state);
    }
    if (db.topology === 'standalone') return lock.run(() => this.apply(type, id, decide, undefined));
    const started = this.shared.clock.now();
    const run = db.withTransaction(async (s) => {
      const result = await this.apply(type, id, decide, s);
      this.checkWindow(started);
      return result;
    });
    const { inflight } = this.shared;
    inflight.add(run);
    try {
      return await run;
    } finally {
      inflight.delete(run);
    }
  }

  /**
   * Refuses to commit a write that began more than the write window ago: a stable point
   * (stablePoint) counts on every write with an older order value being committed or refused.
   */
  private checkWindow(started: number): void {
    if (this.shared.clock.expired(started, WRITE_WINDOW_MS)) {
      throw new StoreError('too-busy', `the write took longer than ${WRITE_WINDOW_MS / 1000} s and was not committed; retry it`);
    }
  }

  private async apply<T>(type: string, id: string, decide: (cur: ResourceDoc | undefined) => Plan<T>, session: Session | undefined, solo?: SoloTx): Promise<T> {
    const { db, indexer } = this.shared;
    const key = `${type}/${id}`;
    const [found] = await db.find(RESOURCES, { _id: key }, { limit: 1 }, session);
    const cur = found as ResourceDoc | undefined;
    const plan = decide(cur);
    if (!plan.write) return plan.result;
    // Past the replaced version's value: one resource's versions never go back, whatever the clocks.
    const { restored } = plan;
    const seq = restored ? this.shared.clock.at(Date.parse(restored.lastUpdated), cur?.s ?? 0) : this.shared.clock.next(cur?.s ?? 0);
    const time = restored ? restored.lastUpdated : instantOf(seq);
    const json = restored ? restored.json : plan.resource ? stamp(plan.resource, id, String(plan.version), time) : null;
    const doc: ResourceDoc = {
      _id: key, t: type, i: id, v: plan.version, d: !plan.resource, lu: time, s: seq, c: cur?.c ?? seq, m: plan.method, j: json,
      // The index holds current, live versions only: replaced on update, emptied on delete.
      x: plan.resource && indexer ? indexDoc(entriesFor(indexer, plan.resource)) : emptyIndex(),
    };
    if (cur) {
      // Idempotent: a retry after a crash between these two writes finds the copy in place.
      // The shard key (t, i) in the filter keeps the upsert on one shard (and MongoDB requires it).
      await db.replaceOne(HISTORY, { _id: historyId(type, id, cur.v), t: type, i: id }, { ...toHistory(cur) }, true, session);
      const replaced = await db.replaceOne(RESOURCES, { _id: key, v: cur.v }, { ...doc }, false, session);
      if (!replaced) throw new StoreError('version-conflict', `${key} was changed by a concurrent write`);
    } else {
      try {
        await db.insertOne(RESOURCES, { ...doc }, session);
      } catch (err) {
        if (err instanceof DuplicateKeyError) throw new StoreError('version-conflict', `${key} was created by a concurrent write`);
        throw err;
      }
    }
    if (solo) solo.undo = { id: key, previous: cur };
    return plan.result(toRecord(doc));
  }

  create(resource: Resource, opts: CreateOptions = {}): Promise<VersionRecord> {
    const id = resource.id ?? randomUUID();
    return this.mutate(resource.resourceType, id, (cur): Plan<VersionRecord> => {
      if (cur) throw new StoreError('version-conflict', `${resource.resourceType}/${id} already exists`);
      return { write: true, version: 1, method: opts.method ?? 'POST', resource, result: (r) => r };
    });
  }

  update(resource: Resource & { id: string }, opts: UpdateOptions = {}): Promise<UpdateResult> {
    return this.mutate(resource.resourceType, resource.id, (cur): Plan<UpdateResult> => {
      if (opts.ifMatch !== undefined && (!cur || cur.d || String(cur.v) !== opts.ifMatch)) {
        throw new StoreError('version-conflict',
          `${resource.resourceType}/${resource.id} is at version ${cur && !cur.d ? cur.v : 'none'}, not ${opts.ifMatch}`);
      }
      const created = !cur || cur.d;
      return { write: true, version: (cur?.v ?? 0) + 1, method: opts.method ?? 'PUT', resource, result: (record) => ({ record, created }) };
    });
  }

  delete(type: string, id: string, opts: DeleteOptions = {}): Promise<DeleteResult> {
    return this.mutate(type, id, (cur): Plan<DeleteResult> => {
      if (opts.ifMatch !== undefined && (!cur || cur.d || String(cur.v) !== opts.ifMatch)) {
        throw new StoreError('version-conflict', `${type}/${id} is not at version ${opts.ifMatch}`);
      }
      if (!cur) return { write: false, result: { status: 'missing' } };
      if (cur.d) return { write: false, result: { status: 'already-deleted', record: toRecord(cur) } };
      return { write: true, version: cur.v + 1, method: 'DELETE', result: (record) => ({ status: 'deleted', record }) };
    });
  }

  restore(record: VersionRecord): Promise<VersionRecord> {
    return this.mutate(record.type, record.id, (cur): Plan<VersionRecord> => {
      const resource = restorable(record, cur?.v ?? 0);
      return {
        write: true, version: Number(record.versionId), method: record.method, ...(resource ? { resource } : {}),
        restored: { lastUpdated: record.lastUpdated, json: record.json ?? null }, result: (r) => r,
      };
    });
  }

  // ---- reads --------------------------------------------------------------------------------

  private async current(type: string, id: string): Promise<ResourceDoc | undefined> {
    this.assertOpen();
    const [doc] = await this.shared.db.find(RESOURCES, { _id: `${type}/${id}` }, { limit: 1, projection: { x: 0 } }, this.session);
    return doc as ResourceDoc | undefined;
  }

  async read(type: string, id: string): Promise<ReadResult> {
    const doc = await this.current(type, id);
    if (!doc) return { status: 'missing' };
    const record = toRecord(doc);
    return doc.d ? { status: 'deleted', record } : { status: 'found', record };
  }

  async vread(type: string, id: string, versionId: string): Promise<VersionRecord | undefined> {
    if (!/^[1-9][0-9]{0,15}$/.test(versionId)) return undefined;
    const v = Number(versionId);
    const cur = await this.current(type, id);
    if (!cur || cur.v < v) return undefined;
    if (cur.v === v) return toRecord(cur);
    const [old] = await this.shared.db.find(HISTORY, { _id: historyId(type, id, v), t: type, i: id }, { limit: 1 }, this.session);
    return old ? toRecord(old as unknown as HistoryDoc) : undefined;
  }

  /**
   * Versions newest first from both collections (current versions live in `resources`,
   * superseded ones in `history`), merged in the change order, older than `mark` when given.
   */
  private async versions(base: Filter, limit: number, mark?: HistoryMark): Promise<HistoryDoc[]> {
    const { db } = this.shared;
    const filter = (f: Filter): Filter => (mark ? and([f, olderThan(mark)]) : f);
    const opts = { sort: NEWEST_FIRST, limit, projection: { x: 0 as const, c: 0 as const } };
    // Sequential: a session in a transaction must not run operations concurrently.
    const a = await db.find(RESOURCES, filter(onResources(base)), opts, this.session);
    const b = await db.find(HISTORY, filter(base), opts, this.session);
    const seen = new Set<string>();
    const out: HistoryDoc[] = [];
    // A copy left in `history` by an interrupted standalone write repeats a current version: once.
    for (const d of ([...a, ...b] as unknown as HistoryDoc[]).sort(newestFirst)) {
      const key = historyId(d.t, d.i, d.v);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(d);
    }
    return out.slice(0, limit);
  }

  async history(q: HistoryQuery): Promise<HistoryPage> {
    this.assertOpen();
    const mark = q.cursor !== undefined ? decodeMark(q.cursor) : undefined;
    const base: Filter = {};
    if (q.type) base.t = q.type;
    if (q.type && q.id) base.i = q.id;
    const lu: Record<string, string> = {};
    if (q.since) lu.$gte = q.since;
    if (q.before) lu.$lte = q.before;
    if (Object.keys(lu).length) base.lu = lu;
    const limit = q.count + 1;
    let rows: HistoryDoc[];
    let total: number | undefined;
    if (q.access && !(q.type && q.id)) {
      rows = await this.visibleVersions(base, limit, q, mark);
    } else {
      rows = await this.versions(base, limit, mark);
      if (q.type && q.id && q.cursor === undefined) total = await this.countVersions(base, q.type, q.id);
    }
    if (q.snapshot && q.before) return this.snapshotPage(rows, q.count, q.before);
    return historyPage(rows.map(toRecord), q.count, total, true);
  }

  /**
   * The versions of a history page that were current at `at` (HistoryQuery.snapshot): live, and
   * with no following version written by then. The cursor follows the page as read, so a page
   * may be short while more follow.
   */
  private async snapshotPage(rows: HistoryDoc[], count: number, at: string): Promise<HistoryPage> {
    const more = rows.length > count;
    const page = (more ? rows.slice(0, count) : rows).filter((d) => !d.d);
    const { db } = this.shared;
    const next = page.map((d) => historyId(d.t, d.i, d.v + 1));
    const later = new Set<string>();
    if (page.length > 0) {
      const proj = { projection: { t: 1 as const, i: 1 as const, v: 1 as const, lu: 1 as const } };
      const a = await db.find(RESOURCES, { _id: { $in: [...new Set(page.map((d) => `${d.t}/${d.i}`))] }, lu: { $lte: at } }, proj, this.session);
      const b = await db.find(HISTORY, { _id: { $in: next }, lu: { $lte: at } }, proj, this.session);
      for (const d of [...a, ...b] as unknown as HistoryDoc[]) later.add(historyId(d.t, d.i, d.v));
    }
    const kept = page.filter((d) => !later.has(historyId(d.t, d.i, d.v + 1)));
    const last = rows[Math.min(rows.length, count) - 1];
    return { records: kept.map(toRecord), ...(more && last ? { next: encodeCursor(last.s, { type: last.t, id: last.i }) } : {}) };
  }

  private async countVersions(base: Filter, type: string, id: string): Promise<number> {
    const { db } = this.shared;
    const cur = await this.current(type, id);
    if (!cur) return 0;
    const a = await db.count(RESOURCES, onResources(base), undefined, this.session);
    return a + await db.count(HISTORY, { ...base, v: { $lt: cur.v } }, undefined, this.session);
  }

  /**
   * History for a restricted caller: versions of resources it may see now (judged on their
   * current version). Candidates are read newest first in batches and the server evaluates the
   * compiled access filter on their current documents, so nothing invisible leaves the store.
   */
  private async visibleVersions(base: Filter, limit: number, q: HistoryQuery, start: HistoryMark | undefined): Promise<HistoryDoc[]> {
    const access = q.access;
    if (!access) return [];
    const compiler = new Compiler(this.shared.registered, new MongoSearch(this.shared.db, this.shared.registered, this.session), access);
    const batch = Math.max(limit, 200);
    const out: HistoryDoc[] = [];
    let mark = start;
    for (;;) {
      const candidates = await this.versions(base, batch, mark);
      if (candidates.length === 0) break;
      const types = [...new Set(candidates.map((c) => c.t))];
      const keys = [...new Set(candidates.map((c) => `${c.t}/${c.i}`))];
      const vis = await this.shared.db.find(RESOURCES, and([{ _id: { $in: keys }, d: false }, await compiler.visible(types)]), { projection: { _id: 1 } }, this.session);
      const ok = new Set(vis.map((d) => String(d._id)));
      for (const c of candidates) {
        if (ok.has(`${c.t}/${c.i}`)) out.push(c);
        if (out.length >= limit) return out;
      }
      const last = candidates[candidates.length - 1];
      if (candidates.length < batch || !last) break;
      mark = { seq: last.s, type: last.t, id: last.i };
    }
    return out;
  }

  /**
   * A search inside a transaction writes one guard document per searched type, so that two
   * transactions that search the same type (two conditional creates of one Patient) conflict
   * and one is retried and then finds the other's resource. The counter document used to give
   * this for every write; now only transactions that search a type meet, on that type's guard.
   */
  private async guard(types: readonly string[], session: Session): Promise<void> {
    for (const t of types) {
      await this.shared.db.replaceOne(META, { _id: `guard/${t}` }, { _id: `guard/${t}`, at: this.shared.clock.now() }, true, session);
    }
  }

  /**
   * A point in the change order before which nothing new can appear (order.ts): every version
   * with `seq <= point.seq` is visible now or was refused, and later writes get larger values.
   * An export reads versions up to it for a `transactionTime` of `point.time`. Holds while the
   * instances' clocks stay within CLOCK_SKEW_MS of each other (README.md, "Stable points").
   */
  stablePoint(settleMs = SETTLE_MS): Promise<StablePoint> {
    this.assertOpen();
    return Promise.resolve(this.shared.clock.stable(settleMs));
  }

  async referencesTo(type: string, id: string, limit: number): Promise<{ type: string; id: string }[]> {
    this.assertOpen();
    const docs = await this.shared.db.find(RESOURCES, {
      'x.rf': { $elemMatch: { i: id, t: type } }, d: false, _id: { $ne: `${type}/${id}` },
    }, { projection: { t: 1, i: 1 }, limit }, this.session);
    return docs.map((d) => ({ type: String(d.t), id: String(d.i) }));
  }

  async search(query: SearchQuery): Promise<SearchPage> {
    this.assertOpen();
    if (this.session) await this.guard(query.types, this.session);
    return new MongoSearch(this.shared.db, this.shared.registered, this.session, new Budget(query.budgetMs ?? this.shared.searchTimeoutMs)).run(query);
  }

  async reindex(types: readonly string[] | undefined, onProgress?: (p: ReindexProgress) => void): Promise<number> {
    this.assertOpen();
    const { db, indexer, registered } = this.shared;
    if (!indexer) return 0;
    // Parameters defined since the store opened (SearchParameters posted at runtime).
    for (const [t, c] of indexer.paramKeys()) registered.add(`${t}\u0000${c}`);
    const filter: Filter = { d: false, ...(types ? { t: { $in: [...types] } } : {}) };
    const total = await db.count(RESOURCES, filter);
    let after = '';
    let done = 0;
    onProgress?.({ done, total });
    for (;;) {
      const batch = await db.find(RESOURCES, { ...filter, _id: { $gt: after } }, { sort: { _id: 1 }, limit: 500, projection: { _id: 1, v: 1, j: 1 } });
      if (batch.length === 0) break;
      for (const d of batch) {
        if (typeof d.j !== 'string') continue;
        // Only if still that version: a newer one was indexed by its own write.
        await db.setFields(RESOURCES, { _id: d._id, v: d.v }, { x: indexDoc(indexer.extract(JSON.parse(d.j) as Resource)) });
      }
      after = String(batch[batch.length - 1]?._id ?? after);
      done += batch.length;
      onProgress?.({ done, total: Math.max(total, done) });
      // Let requests in between batches: a reindex must not starve the server.
      await new Promise((r) => setImmediate(r));
    }
    return done;
  }

  // ---- transactions -------------------------------------------------------------------------

  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    this.assertOpen();
    if (this.tx) return fn(this);
    const { db, lock } = this.shared;
    if (db.topology !== 'standalone') {
      return lock.run(() => db.withTransaction(async (session) => {
        const started = this.shared.clock.now();
        const tx = new MongoStore(this.shared, { kind: 'session', session });
        try {
          const result = await fn(tx);
          this.checkWindow(started);
          return result;
        } finally {
          tx.closed = true;
        }
      }));
    }
    return lock.run(async () => {
      const state: SoloTx = { writes: 0 };
      const tx = new MongoStore(this.shared, { kind: 'solo', state });
      try {
        return await fn(tx);
      } catch (err) {
        await this.undo(state);
        throw err;
      } finally {
        tx.closed = true;
      }
    });
  }

  /** Standalone: puts back what a failed one-write transaction replaced. */
  private async undo(state: SoloTx): Promise<void> {
    const u = state.undo;
    if (!u) return;
    const { db } = this.shared;
    if (u.previous) {
      await db.replaceOne(RESOURCES, { _id: u.id }, { ...u.previous }, true);
      await db.deleteOne(HISTORY, { _id: historyId(u.previous.t, u.previous.i, u.previous.v), t: u.previous.t, i: u.previous.i });
    } else {
      await db.deleteOne(RESOURCES, { _id: u.id });
    }
  }

  async close(): Promise<void> {
    if (this.closed || this.tx) return;
    this.closed = true;
    await Promise.allSettled([...this.shared.inflight]);
    await this.shared.lock.run(() => this.shared.db.close());
  }
}
