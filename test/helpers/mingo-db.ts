// An in-memory implementation of the adapter's database port (src/store/mongo/db.ts) on mingo,
// a maintained implementation of MongoDB's query language: the MongoDB adapter's filters,
// pipelines and write protocol run unchanged, without a server. Transactions are serialised
// and work on a private copy that replaces the committed data on commit (snapshot isolation
// with one writer at a time); standalone mode refuses them, as a standalone mongod does.
import { Aggregator, Query } from 'mingo';
import { Mutex } from '../../src/store/mutex.js';
import {
  DuplicateKeyError, type Doc, type Filter, type FindOneAndUpdateOptions, type FindOptions, type MongoDb, type Session, type Topology, type Update,
} from '../../src/store/mongo/db.js';
import { AUTH_COLLECTIONS, type CollectionName, type IndexSpec } from '../../src/store/mongo/layout.js';

type Data = Record<CollectionName, Map<string, Doc>>;

interface MingoSession extends Session {
  data: Data;
  /** Collections this transaction wrote: only those replace the committed ones on commit. */
  written: Set<CollectionName>;
  done: boolean;
}

/** Collections no transaction writes (background work): their writes need not wait for one. */
const OUTSIDE_TRANSACTIONS: ReadonlySet<CollectionName> = new Set(['leases', 'jobs', 'job_files', 'job_chunks']);

const COLLECTIONS: CollectionName[] = ['resources', 'history', 'meta', 'leases', 'jobs', 'job_files', 'job_chunks', 'outbox', 'outbox_state', ...AUTH_COLLECTIONS];

const emptyData = (): Data => Object.fromEntries(COLLECTIONS.map((c) => [c, new Map()])) as Data;

/**
 * The "server": what every handle on one database shares. A committed transaction replaces
 * `data` here, so that all handles (several Flint instances in one test) see it.
 */
interface Server {
  data: Data;
  readonly indexes: Map<string, IndexSpec>;
  /** Held by a transaction, and by each non-transactional write, as the server's locks would be. */
  readonly lock: Mutex;
}

export class MingoDb implements MongoDb {
  private readonly server: Server;
  private closed = false;
  /** Operations run, by name (tests look at what the adapter asked for). */
  readonly calls: string[] = [];

  constructor(readonly topology: Topology = 'replicaset', server?: Server) {
    this.server = server ?? { data: emptyData(), indexes: new Map(), lock: new Mutex() };
  }

  private get data(): Data {
    return this.server.data;
  }

  private get indexes(): Map<string, IndexSpec> {
    return this.server.indexes;
  }

  private get lock(): Mutex {
    return this.server.lock;
  }

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
  private write<T>(coll: CollectionName, session: Session | undefined, fn: () => T): Promise<T> {
    if (session) {
      (session as MingoSession).written.add(coll);
      return Promise.resolve().then(fn);
    }
    // On a server a transaction locks the documents it wrote, not these collections.
    if (OUTSIDE_TRANSACTIONS.has(coll)) return Promise.resolve().then(fn);
    return this.lock.run(fn);
  }

  async find(coll: CollectionName, filter: Filter, opts: FindOptions = {}, session?: Session): Promise<Doc[]> {
    this.calls.push('find');
    // mingo's projection and sort leave their input as it is; only what is returned is copied
    // (copying every match first made the emulation spend its time in the garbage collector).
    let cursor = new Query({}).find(this.matches(coll, filter, session), opts.projection);
    if (opts.sort) cursor = cursor.sort(opts.sort);
    if (opts.limit !== undefined) cursor = cursor.limit(opts.limit);
    return structuredClone(cursor.all() as Doc[]);
  }

  async aggregate(coll: CollectionName, pipeline: Doc[], session?: Session): Promise<Doc[]> {
    this.calls.push('aggregate');
    const [first, ...rest] = pipeline;
    const match = first && '$match' in first ? (first.$match as Filter) : {};
    const stages = first && '$match' in first ? rest : pipeline;
    // The stages the adapter uses ($addFields, $match, $sort, $limit, $project) make new
    // documents or reorder the array (ours), never changing a stored one; the result is copied.
    const docs = this.matches(coll, match, session);
    return structuredClone((stages.length ? new Aggregator(stages).run(docs) : docs) as Doc[]);
  }

  async count(coll: CollectionName, filter: Filter, limit?: number, session?: Session): Promise<number> {
    this.calls.push('count');
    const n = this.matches(coll, filter, session).length;
    return limit !== undefined ? Math.min(n, limit) : n;
  }

  insertOne(coll: CollectionName, doc: Doc, session?: Session): Promise<void> {
    this.calls.push('insertOne');
    return this.write(coll, session, () => {
      const map = this.view(session)[coll];
      const id = String(doc._id);
      if (map.has(id)) throw new DuplicateKeyError(`E11000 duplicate key: ${id}`);
      map.set(id, structuredClone(doc));
    });
  }

  replaceOne(coll: CollectionName, filter: Filter, doc: Doc, upsert: boolean, session?: Session): Promise<boolean> {
    this.calls.push('replaceOne');
    return this.write(coll, session, () => {
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
    return this.write(coll, session, () => {
      if (Object.keys(fields).some((k) => k.includes('.'))) throw new Error('MingoDb: setFields takes top-level fields only');
      const [found] = this.matches(coll, filter, session);
      if (!found) return false;
      this.view(session)[coll].set(String(found._id), structuredClone({ ...found, ...fields }));
      return true;
    });
  }

  deleteOne(coll: CollectionName, filter: Filter, session?: Session): Promise<void> {
    this.calls.push('deleteOne');
    return this.write(coll, session, () => {
      const [found] = this.matches(coll, filter, session);
      if (found) this.view(session)[coll].delete(String(found._id));
    });
  }

  findOneAndUpdate(coll: CollectionName, filter: Filter, update: Update, opts: FindOneAndUpdateOptions = {}): Promise<Doc | undefined> {
    this.calls.push('findOneAndUpdate');
    return this.write(coll, undefined, () => {
      const map = this.view()[coll];
      const found = this.matches(coll, filter);
      // Sorted on copies (stored documents never go through mingo's stages), then looked up again.
      const firstId = opts.sort && found.length > 1 ? (new Query({}).find(structuredClone(found)).sort(opts.sort).all()[0] as Doc)._id : found[0]?._id;
      const first = firstId === undefined ? undefined : map.get(String(firstId));
      if (!first && !opts.upsert) return undefined;
      if (!first && (typeof filter._id !== 'string')) throw new Error('MingoDb: upsert needs a string _id in the filter');
      const id = first ? String(first._id) : String(filter._id);
      // The server inserts the filter's _id; when a document holds it (and failed the rest of the filter), that is a duplicate key.
      if (!first && map.has(id)) throw new DuplicateKeyError(`E11000 duplicate key: ${id}`);
      const next: Doc = first ? structuredClone(first) : { _id: id };
      for (const k of Object.keys({ ...update.$set, ...update.$inc, ...update.$unset })) {
        if (k.includes('.') || k.startsWith('$')) throw new Error('MingoDb: findOneAndUpdate takes top-level fields only');
      }
      Object.assign(next, structuredClone(update.$set ?? {}));
      for (const [k, n] of Object.entries(update.$inc ?? {})) next[k] = (typeof next[k] === 'number' ? next[k] : 0) + n;
      for (const k of Object.keys(update.$unset ?? {})) delete next[k];
      map.set(id, next);
      return structuredClone(next);
    });
  }

  deleteMany(coll: CollectionName, filter: Filter): Promise<number> {
    this.calls.push('deleteMany');
    return this.write(coll, undefined, () => {
      const found = this.matches(coll, filter);
      for (const d of found) this.view()[coll].delete(String(d._id));
      return found.length;
    });
  }

  async withTransaction<T>(fn: (session: Session) => Promise<T>): Promise<T> {
    this.calls.push('withTransaction');
    if (this.topology === 'standalone') throw new Error('Transaction numbers are only allowed on a replica set member or mongos');
    return this.lock.run(async () => {
      const data = Object.fromEntries(COLLECTIONS.map((c) => [c, new Map(this.data[c])])) as Data;
      const session: MingoSession = { inTransaction: true, data, written: new Set(), done: false };
      try {
        const result = await fn(session);
        for (const c of session.written) this.server.data[c] = data[c];
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

  // ---- used by the auth registry (src/store/mongo/registry.ts) ----
  // TTL indexes are recorded but not enforced: expired documents stay, as they may on a server
  // until its TTL monitor runs, so the registry's code must (and does) check expiry itself.

  insertMany(coll: CollectionName, docs: Doc[], session?: Session): Promise<void> {
    this.calls.push('insertMany');
    return this.write(coll, session, () => {
      const map = this.view(session)[coll];
      // Ordered, as the adapter asks the server: the documents before a duplicate are stored.
      for (const doc of docs) {
        const id = String(doc._id);
        if (map.has(id)) throw new DuplicateKeyError(`E11000 duplicate key: ${id}`);
        map.set(id, structuredClone(doc));
      }
    });
  }

  setFieldsMany(coll: CollectionName, filter: Filter, fields: Doc, session?: Session): Promise<number> {
    this.calls.push('setFieldsMany');
    return this.write(coll, session, () => {
      if (Object.keys(fields).some((k) => k.includes('.'))) throw new Error('MingoDb: setFieldsMany takes top-level fields only');
      const found = this.matches(coll, filter, session);
      for (const d of found) this.view(session)[coll].set(String(d._id), structuredClone({ ...d, ...fields }));
      return found.length;
    });
  }

  increment(coll: CollectionName, id: string, field: string, by: number, session?: Session): Promise<number> {
    this.calls.push('increment');
    return this.write(coll, session, () => {
      const map = this.view(session)[coll];
      const cur = map.get(id);
      const value = (typeof cur?.[field] === 'number' ? cur[field] : 0) + by;
      map.set(id, { ...(cur ?? { _id: id }), [field]: value });
      return value;
    });
  }

  /** The stored documents of a collection (copies), for tests. */
  dump(coll: CollectionName): Doc[] {
    return structuredClone([...this.data[coll].values()]);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** A fresh handle on the same database (as a reconnecting process, or another instance, would get). */
  reopen(): MingoDb {
    return new MingoDb(this.topology, this.server);
  }
}
