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
  /** Runs `fn` in one multi-document transaction, retrying it on transient errors. Replica sets and sharded clusters only. */
  withTransaction<T>(fn: (session: Session) => Promise<T>): Promise<T>;
  /** Creates the indexes that do not exist yet (idempotent). */
  ensureIndexes(specs: readonly IndexSpec[]): Promise<void>;
  listIndexes(coll: CollectionName): Promise<IndexSpec[]>;
  close(): Promise<void>;
}
