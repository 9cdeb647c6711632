// The one file that talks to the official MongoDB driver: connects with start-up checks that
// say plainly what is wrong (never printing the password), and implements the adapter's
// database port (db.ts) on a connection pool.
import { MongoClient, MongoError, MongoParseError, MongoServerSelectionError, type ClientSession, type Db, type UpdateFilter } from 'mongodb';
import { StoreError } from '../port.js';
import {
  DuplicateKeyError, type Doc, type Filter, type FindOneAndUpdateOptions, type FindOptions, type MongoDb, type Session, type Topology, type Update,
} from './db.js';
import { META, type CollectionName, type IndexSpec } from './layout.js';

/** Oldest server accepted: 6.0 (wire version 17); older releases are out of support. */
export const MIN_WIRE_VERSION = 17;
const MIN_VERSION_TEXT = '6.0';

export interface ConnectOptions {
  /** How long to look for a usable server before giving up (start-up and each operation). */
  serverSelectionTimeoutMS?: number;
  maxPoolSize?: number;
}

/** The password of `url`, to scrub it from any message (driver messages may echo the URL). */
function secretOf(url: string): string | undefined {
  const m = /^mongodb(?:\+srv)?:\/\/[^:@/]*:([^@/]*)@/.exec(url);
  return m?.[1] || undefined;
}

export function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

function scrub(message: string, url: string): string {
  const secret = secretOf(url);
  let out = message.split(url).join(redact(url));
  if (secret) {
    out = out.split(secret).join('***');
    try {
      out = out.split(decodeURIComponent(secret)).join('***');
    } catch { /* not percent-encoded */ }
  }
  return out;
}

/** The database named in the URL's path, or `flint`. */
export function databaseName(url: string): string {
  const m = /^mongodb(?:\+srv)?:\/\/[^/]+\/([^?]+)/.exec(url);
  return m?.[1] ? decodeURIComponent(m[1]) : 'flint';
}

const isTransient = (err: unknown): boolean => err instanceof MongoError && err.hasErrorLabel('TransientTransactionError');

interface DriverSession extends Session {
  readonly session: ClientSession;
  /** The first transient error an operation met: rethrown if the engine wrapped it, so the driver retries. */
  transient?: unknown;
}

/** Connects and checks that the server can hold Flint: reachable, credentials accepted, writable primary, recent enough. */
export async function connectMongo(url: string, opts: ConnectOptions = {}): Promise<DriverDb> {
  let client: MongoClient;
  // Options written in the URL win over these defaults (the URL is the operator's configuration).
  const inUrl = (name: string): boolean => new RegExp(`[?&]${name}=`, 'i').test(url);
  try {
    client = new MongoClient(url, {
      appName: 'flint',
      ...(opts.serverSelectionTimeoutMS !== undefined || !inUrl('serverSelectionTimeoutMS') ? { serverSelectionTimeoutMS: opts.serverSelectionTimeoutMS ?? 10_000 } : {}),
      ...(opts.maxPoolSize !== undefined || !inUrl('maxPoolSize') ? { maxPoolSize: opts.maxPoolSize ?? 50 } : {}),
      // An acknowledged write is on a majority of the replica set and in its journal.
      writeConcern: { w: 'majority', journal: true },
      readPreference: 'primary',
    });
  } catch (err) {
    throw new StoreError('unavailable', `DATABASE_URL is not a valid MongoDB URL: ${scrub(err instanceof Error ? err.message : String(err), url)}`);
  }
  try {
    await client.connect();
    const db = client.db(databaseName(url));
    const hello = await db.command({ hello: 1 });
    if (hello.isWritablePrimary !== true && hello.msg !== 'isdbgrid') {
      throw new StoreError('unavailable', 'the MongoDB server is not a writable primary (connect to the replica set, not to a secondary)');
    }
    if (typeof hello.maxWireVersion === 'number' && hello.maxWireVersion < MIN_WIRE_VERSION) {
      throw new StoreError('unavailable', `the MongoDB server is too old: Flint needs MongoDB ${MIN_VERSION_TEXT} or newer`);
    }
    const topology: Topology = hello.msg === 'isdbgrid' ? 'sharded' : typeof hello.setName === 'string' ? 'replicaset' : 'standalone';
    return new DriverDb(client, db, topology);
  } catch (err) {
    await client.close().catch(() => undefined);
    throw startupError(err, url);
  }
}

function startupError(err: unknown, url: string): Error {
  if (err instanceof StoreError) return err;
  const msg = scrub(err instanceof Error ? err.message : String(err), url);
  if (err instanceof MongoParseError) return new StoreError('unavailable', `DATABASE_URL is not a valid MongoDB URL: ${msg}`);
  if (err instanceof MongoError && (err.code === 18 || /auth/i.test(err.message))) {
    return new StoreError('unavailable', `MongoDB refused the credentials in DATABASE_URL: ${msg}`);
  }
  if (err instanceof MongoServerSelectionError) return new StoreError('unavailable', `MongoDB is unreachable at ${redact(url)}: ${msg}`);
  return new StoreError('unavailable', `MongoDB could not be used: ${msg}`);
}

export class DriverDb implements MongoDb {
  constructor(private readonly client: MongoClient, private readonly db: Db, readonly topology: Topology) {}

  private coll(name: CollectionName) {
    return this.db.collection<Doc>(name);
  }

  /** Runs one operation; remembers transient errors inside a transaction, maps others. */
  private async op<T>(session: Session | undefined, fn: (s: ClientSession | undefined) => Promise<T>): Promise<T> {
    const ds = session as DriverSession | undefined;
    try {
      return await fn(ds?.session);
    } catch (err) {
      if (ds && isTransient(err)) ds.transient ??= err;
      if (err instanceof MongoError && err.code === 11000) throw new DuplicateKeyError(err.message);
      // MaxTimeMSExpired: a search ran past its budget (SEARCH_TIMEOUT_MS).
      if (err instanceof MongoError && err.code === 50) throw new StoreError('too-costly', 'the search ran past its time budget; narrow it down');
      if (!ds && err instanceof MongoServerSelectionError) throw new StoreError('unavailable', 'MongoDB is unreachable');
      throw err;
    }
  }

  find(coll: CollectionName, filter: Filter, opts: FindOptions = {}, session?: Session): Promise<Doc[]> {
    return this.op(session, (s) => this.coll(coll).find(filter, {
      ...(s ? { session: s } : {}),
      ...(opts.projection ? { projection: opts.projection } : {}),
      ...(opts.sort ? { sort: opts.sort } : {}),
      ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
      ...(opts.maxTimeMS !== undefined ? { maxTimeMS: opts.maxTimeMS } : {}),
    }).toArray());
  }

  aggregate(coll: CollectionName, pipeline: Doc[], session?: Session, maxTimeMS?: number): Promise<Doc[]> {
    return this.op(session, (s) => this.coll(coll).aggregate(pipeline, { ...(s ? { session: s } : {}), ...(maxTimeMS !== undefined ? { maxTimeMS } : {}) }).toArray());
  }

  count(coll: CollectionName, filter: Filter, limit?: number, session?: Session, maxTimeMS?: number): Promise<number> {
    return this.op(session, (s) => this.coll(coll).countDocuments(filter, {
      ...(s ? { session: s } : {}), ...(limit !== undefined ? { limit } : {}), ...(maxTimeMS !== undefined ? { maxTimeMS } : {}),
    }));
  }

  async insertOne(coll: CollectionName, doc: Doc, session?: Session): Promise<void> {
    await this.op(session, (s) => this.coll(coll).insertOne(doc, s ? { session: s } : {}));
  }

  async replaceOne(coll: CollectionName, filter: Filter, doc: Doc, upsert: boolean, session?: Session): Promise<boolean> {
    const r = await this.op(session, (s) => this.coll(coll).replaceOne(filter, doc, { upsert, ...(s ? { session: s } : {}) }));
    return r.matchedCount + r.upsertedCount > 0;
  }

  async setFields(coll: CollectionName, filter: Filter, fields: Doc, session?: Session): Promise<boolean> {
    const r = await this.op(session, (s) => this.coll(coll).updateOne(filter, { $set: fields }, s ? { session: s } : {}));
    return r.matchedCount > 0;
  }

  async deleteOne(coll: CollectionName, filter: Filter, session?: Session): Promise<void> {
    await this.op(session, (s) => this.coll(coll).deleteOne(filter, s ? { session: s } : {}));
  }

  async findOneAndUpdate(coll: CollectionName, filter: Filter, update: Update, opts: FindOneAndUpdateOptions = {}): Promise<Doc | undefined> {
    const doc = await this.op(undefined, (s) => this.coll(coll).findOneAndUpdate(filter, update as UpdateFilter<Doc>, {
      returnDocument: 'after', upsert: opts.upsert === true, ...(opts.sort ? { sort: opts.sort } : {}), ...(s ? { session: s } : {}),
    }));
    return doc ?? undefined;
  }

  async deleteMany(coll: CollectionName, filter: Filter): Promise<number> {
    const r = await this.op(undefined, () => this.coll(coll).deleteMany(filter));
    return r.deletedCount;
  }

  async nextSequence(now: string, session?: Session): Promise<{ seq: number; time: string }> {
    const doc = await this.op(session, (s) => this.db.collection<{ _id: string; seq: number; time: string }>(META).findOneAndUpdate(
      { _id: 'seq' }, { $inc: { seq: 1 }, $max: { time: now } },
      { upsert: true, returnDocument: 'after', ...(s ? { session: s } : {}) },
    ));
    if (!doc) throw new Error('the sequence counter returned nothing');
    return { seq: doc.seq, time: doc.time };
  }

  async withTransaction<T>(fn: (session: Session) => Promise<T>): Promise<T> {
    const session = this.client.startSession();
    try {
      return await session.withTransaction(async (s) => {
        const handle: DriverSession = { inTransaction: true, session: s };
        try {
          return await fn(handle);
        } catch (err) {
          // The engine may have turned a write conflict into its own error: the driver retries
          // only on the labelled original.
          if (handle.transient !== undefined && !isTransient(err)) throw handle.transient;
          throw err;
        }
      }, { readConcern: { level: 'snapshot' }, writeConcern: { w: 'majority', journal: true }, readPreference: 'primary' });
    } finally {
      await session.endSession();
    }
  }

  async ensureIndexes(specs: readonly IndexSpec[]): Promise<void> {
    const byColl = new Map<CollectionName, IndexSpec[]>();
    for (const s of specs) byColl.set(s.collection, [...(byColl.get(s.collection) ?? []), s]);
    for (const [coll, list] of byColl) {
      // createIndexes is idempotent for an identical definition (a no-op when it exists).
      await this.coll(coll).createIndexes(list.map((s) => ({ key: s.key, name: s.name, ...(s.unique ? { unique: true } : {}), ...(s.sparse ? { sparse: true } : {}) })));
    }
  }

  async listIndexes(coll: CollectionName): Promise<IndexSpec[]> {
    const list = await this.coll(coll).listIndexes().toArray();
    return list.filter((i) => i.name !== '_id_').map((i) => ({
      collection: coll, name: String(i.name), key: i.key as IndexSpec['key'],
      ...(i.unique ? { unique: true } : {}), ...(i.sparse ? { sparse: true } : {}),
    }));
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
