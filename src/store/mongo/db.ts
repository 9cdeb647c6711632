// The few database operations the MongoDB adapter uses. Only driver.ts implements them on the
// real driver; tests implement them in memory (test/helpers/mingo-db.ts), so that everything
// above this line — layout, query compilation, write protocol — runs without a server.
import type { CollectionName, IndexSpec } from './layout.js';

export type Doc = Record<string, unknown>;
export type Filter = Record<string, unknown>;
export type SortSpec = Record<string, 1 | -1>;
export type Projection = Record<string, 0 | 1>;

/** What the server is: decides whether multi-document transactions exist. */
export type Topology = 'standalone' | 'replicaset' | 'sharded';

/** An open multi-document transaction (opaque outside the implementation). */
export interface Session {
  readonly inTransaction: true;
}

export interface FindOptions {
  sort?: SortSpec;
  limit?: number;
  projection?: Projection;
  /** The server stops the operation after this long (a search's time budget). */
  maxTimeMS?: number;
}

/** A single-document update: top-level fields set, incremented or removed. */
export interface Update {
  $set?: Doc;
  $inc?: Record<string, number>;
  $unset?: Record<string, ''>;
}

export interface FindOneAndUpdateOptions {
  /** Which matching document is updated when several match. */
  sort?: SortSpec;
  /** Insert when none matches (`_id` from the filter); a filter that misses an existing `_id` then throws DuplicateKeyError. */
  upsert?: boolean;
}

/** Thrown by insertOne when the `_id` (or another unique key) is taken. */
export class DuplicateKeyError extends Error {
  constructor(message = 'duplicate key') {
    super(message);
    this.name = 'DuplicateKeyError';
  }
}

export interface MongoDb {
  readonly topology: Topology;
  find(coll: CollectionName, filter: Filter, opts?: FindOptions, session?: Session): Promise<Doc[]>;
  /** `maxTimeMS`: the server stops the pipeline after this long. */
  aggregate(coll: CollectionName, pipeline: Doc[], session?: Session, maxTimeMS?: number): Promise<Doc[]>;
  /** Counts matches, stopping at `limit` when given (and after `maxTimeMS`). */
  count(coll: CollectionName, filter: Filter, limit?: number, session?: Session, maxTimeMS?: number): Promise<number>;
  /** Inserts; throws DuplicateKeyError when the `_id` exists. */
  insertOne(coll: CollectionName, doc: Doc, session?: Session): Promise<void>;
  /** Replaces the document matching `filter` (inserting it when `upsert`); false when none matched. */
  replaceOne(coll: CollectionName, filter: Filter, doc: Doc, upsert: boolean, session?: Session): Promise<boolean>;
  /** `$set`s fields of the document matching `filter`; false when none matched. */
  setFields(coll: CollectionName, filter: Filter, fields: Doc, session?: Session): Promise<boolean>;
  deleteOne(coll: CollectionName, filter: Filter, session?: Session): Promise<void>;
  /**
   * Updates the first document matching `filter` (in `sort` order) atomically and returns it as
   * it is afterwards; undefined when none matched. The one conditional write background work
   * needs: a lease or a job changes hands only if it is still in the state the filter says.
   */
  findOneAndUpdate(coll: CollectionName, filter: Filter, update: Update, opts?: FindOneAndUpdateOptions): Promise<Doc | undefined>;
  /** Deletes every match; resolves with how many. */
  deleteMany(coll: CollectionName, filter: Filter): Promise<number>;
  /**
   * Takes the next change-sequence number and a lastUpdated that never goes back
   * (`$inc` the counter, `$max` its time with `now`), atomically, on the counter document.
   */
  nextSequence(now: string, session?: Session): Promise<{ seq: number; time: string }>;
  /** Runs `fn` in one multi-document transaction, retrying it on transient errors. Replica sets and sharded clusters only. */
  withTransaction<T>(fn: (session: Session) => Promise<T>): Promise<T>;
  /** Creates the indexes that do not exist yet (idempotent). */
  ensureIndexes(specs: readonly IndexSpec[]): Promise<void>;
  listIndexes(coll: CollectionName): Promise<IndexSpec[]>;
  close(): Promise<void>;
}
