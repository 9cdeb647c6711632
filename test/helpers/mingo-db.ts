// An in-memory implementation of the adapter's database port (src/store/mongo/db.ts) on mingo,
// a maintained implementation of MongoDB's query language: the MongoDB adapter's filters,
// pipelines and write protocol run unchanged, without a server. Transactions are serialised
// and work on a private copy that replaces the committed data on commit (snapshot isolation
// with one writer at a time); standalone mode refuses them, as a standalone mongod does.
import { Aggregator, Query } from 'mingo';
import { Mutex } from '../../src/store/mutex.js';
import { DuplicateKeyError, type Doc, type Filter, type FindOptions, type MongoDb, type Session, type Topology } from '../../src/store/mongo/db.js';
import type { CollectionName, IndexSpec } from '../../src/store/mongo/layout.js';

type Data = Record<CollectionName, Map<string, Doc>>;

interface MingoSession extends Session {
  data: Data;
  done: boolean;
}

const COLLECTIONS: CollectionName[] = ['resources', 'history', 'meta', 'outbox', 'outbox_state'];

export class MingoDb implements MongoDb {
  private data: Data = { resources: new Map(), history: new Map(), meta: new Map(), outbox: new Map(), outbox_state: new Map() };
  private readonly indexes = new Map<string, IndexSpec>();
  private readonly lock = new Mutex();
  private closed = false;
  /** Operations run, by name (tests look at what the adapter asked for). */
  readonly calls: string[] = [];

  constructor(readonly topology: Topology = 'replicaset') {}

  private view(session?: Session): Data {
    if (this.closed) throw new Error('MingoDb: closed');
    if (!session) return this.data;
    const s = session as MingoSession;
    if (s.done) throw new Error('MingoDb: session already ended');
    return s.data;
  }

  /** Matches without handing stored documents to mingo's projection/sort stages (those get copies). */
  private matches(coll: CollectionName, filter: Filter, session?: Session): Doc[] {
    const q = new Query(filter);
    const map = this.view(session)[coll];
    // By _id: one lookup, as the server's _id index does (loading thousands of resources stays linear).
    if (typeof filter._id === 'string') {
      const d = map.get(filter._id);
      return d && q.test(d) ? [d] : [];
    }
    const out: Doc[] = [];
    for (const d of map.values()) if (q.test(d)) out.push(d);
    return out;
  }

  /** Non-transactional writes wait for a running transaction, as they would for its locks. */
  private write<T>(session: Session | undefined, fn: () => T): Promise<T> {
    if (session) return Promise.resolve().then(fn);
    return this.lock.run(fn);
  }

  async find(coll: CollectionName, filter: Filter, opts: FindOptions = {}, session?: Session): Promise<Doc[]> {
    this.calls.push('find');
    let cursor = new Query({}).find(structuredClone(this.matches(coll, filter, session)), opts.projection);
    if (opts.sort) cursor = cursor.sort(opts.sort);
    if (opts.limit !== undefined) cursor = cursor.limit(opts.limit);
    return cursor.all() as Doc[];
  }

  async aggregate(coll: CollectionName, pipeline: Doc[], session?: Session): Promise<Doc[]> {
    this.calls.push('aggregate');
    const [first, ...rest] = pipeline;
    const match = first && '$match' in first ? (first.$match as Filter) : {};
    const stages = first && '$match' in first ? rest : pipeline;
    const docs = structuredClone(this.matches(coll, match, session));
    return (stages.length ? new Aggregator(stages).run(docs) : docs) as Doc[];
  }

  async count(coll: CollectionName, filter: Filter, limit?: number, session?: Session): Promise<number> {
    this.calls.push('count');
    const n = this.matches(coll, filter, session).length;
    return limit !== undefined ? Math.min(n, limit) : n;
  }

  insertOne(coll: CollectionName, doc: Doc, session?: Session): Promise<void> {
    this.calls.push('insertOne');
    return this.write(session, () => {
      const map = this.view(session)[coll];
      const id = String(doc._id);
      if (map.has(id)) throw new DuplicateKeyError(`E11000 duplicate key: ${id}`);
      map.set(id, structuredClone(doc));
    });
  }

  replaceOne(coll: CollectionName, filter: Filter, doc: Doc, upsert: boolean, session?: Session): Promise<boolean> {
    this.calls.push('replaceOne');
    return this.write(session, () => {
      const map = this.view(session)[coll];
      const [found] = this.matches(coll, filter, session);
      if (found) {
        map.set(String(found._id), structuredClone({ ...doc, _id: found._id }));
        return true;
      }
      if (!upsert) return false;
      const id = filter._id ?? doc._id;
      if (typeof id !== 'string') throw new Error('MingoDb: upsert needs a string _id');
      map.set(id, structuredClone({ ...doc, _id: id }));
      return true;
    });
  }

  setFields(coll: CollectionName, filter: Filter, fields: Doc, session?: Session): Promise<boolean> {
    this.calls.push('setFields');
    return this.write(session, () => {
      if (Object.keys(fields).some((k) => k.includes('.'))) throw new Error('MingoDb: setFields takes top-level fields only');
      const [found] = this.matches(coll, filter, session);
      if (!found) return false;
      this.view(session)[coll].set(String(found._id), structuredClone({ ...found, ...fields }));
      return true;
    });
  }

  deleteOne(coll: CollectionName, filter: Filter, session?: Session): Promise<void> {
    this.calls.push('deleteOne');
    return this.write(session, () => {
      const [found] = this.matches(coll, filter, session);
      if (found) this.view(session)[coll].delete(String(found._id));
    });
  }

  nextSequence(now: string, session?: Session): Promise<{ seq: number; time: string }> {
    this.calls.push('nextSequence');
    return this.write(session, () => {
      const meta = this.view(session).meta;
      const cur = meta.get('seq') as { seq: number; time: string } | undefined;
      const next = { _id: 'seq', seq: (cur?.seq ?? 0) + 1, time: cur && cur.time > now ? cur.time : now };
      meta.set('seq', next);
      return { seq: next.seq, time: next.time };
    });
  }

  async withTransaction<T>(fn: (session: Session) => Promise<T>): Promise<T> {
    this.calls.push('withTransaction');
    if (this.topology === 'standalone') throw new Error('Transaction numbers are only allowed on a replica set member or mongos');
    return this.lock.run(async () => {
      const data = Object.fromEntries(COLLECTIONS.map((c) => [c, new Map(this.data[c])])) as Data;
      const session: MingoSession = { inTransaction: true, data, done: false };
      try {
        const result = await fn(session);
        this.data = data;
        return result;
      } finally {
        session.done = true;
      }
    });
  }

  async ensureIndexes(specs: readonly IndexSpec[]): Promise<void> {
    this.calls.push('ensureIndexes');
    for (const s of specs) {
      const key = `${s.collection}.${s.name}`;
      const old = this.indexes.get(key);
      if (old && JSON.stringify(old) !== JSON.stringify(s)) throw new Error(`MingoDb: index ${key} exists with other options`);
      this.indexes.set(key, structuredClone(s));
    }
  }

  async listIndexes(coll: CollectionName): Promise<IndexSpec[]> {
    return [...this.indexes.values()].filter((s) => s.collection === coll).map((s) => structuredClone(s));
  }

  /** The stored documents of a collection (copies), for tests. */
  dump(coll: CollectionName): Doc[] {
    return structuredClone([...this.data[coll].values()]);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** A fresh handle on the same data (as a reconnecting process would get). */
  reopen(): MingoDb {
    const db = new MingoDb(this.topology);
    db.data = this.data;
    for (const [k, v] of this.indexes) db.indexes.set(k, v);
    return db;
  }
}
