// The storage port: what the FHIR engine needs from a database, and nothing about how a
// database does it. Adapters (sqlite/, mongo/) implement it and pass test/store/.
import type { Resource } from 'fhir/r4.js';
import type { ResourceIndex } from '../search/extract.js';
import type { AccessConstraint, SearchQuery } from '../search/ir.js';
import type { OutboxData, OutboxStore } from './outbox.js';
import type { WorkStore } from './work.js';

export type WriteMethod = 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One stored version of a resource (or the record of its deletion). */
export interface VersionRecord {
  readonly type: string;
  readonly id: string;
  /** Server-assigned version, "1", "2", … per resource. */
  readonly versionId: string;
  /** FHIR instant, millisecond precision, UTC. */
  readonly lastUpdated: string;
  readonly deleted: boolean;
  /** The interaction that produced this version. */
  readonly method: WriteMethod;
  /**
   * Position in the change order: strictly increasing for one resource and for one store
   * instance (SQLite: one server-wide sequence). On MongoDB two Flint instances may give equal
   * values; readers order ties by type, then id (src/store/mongo/README.md, "Change order").
   */
  readonly seq: number;
  /** The resource exactly as stored and served (meta included); absent for a deletion. */
  readonly json?: string;
}

export type ReadResult =
  | { readonly status: 'found'; readonly record: VersionRecord }
  | { readonly status: 'deleted'; readonly record: VersionRecord }
  | { readonly status: 'missing' };

/** A notification recorded with a write, in the write's own commit (./outbox.ts). */
export interface OutboxAppend {
  readonly subscription: string;
  readonly data: OutboxData;
  /** FHIR instant. */
  readonly at: string;
}

/**
 * Decides, synchronously and inside the write's own unit (a group commit's savepoint, or the
 * open transaction), once the version is stored, which notifications go with it: `replaced` is
 * the live version it replaced (none for a create), `generation` the outbox generation read in
 * that unit. The events are appended in the same unit, so the write and its notifications
 * commit or vanish together. Throwing undoes the write (and its events) and rejects it.
 * Only for stores with `followUps` (Store).
 */
export type WriteFollowUp = (written: VersionRecord, replaced: VersionRecord | undefined, generation: string) => readonly OutboxAppend[];

export interface CreateOptions {
  method?: WriteMethod;
  followUp?: WriteFollowUp;
}

export interface UpdateOptions {
  /** Optimistic concurrency: the versionId the caller expects to replace. */
  ifMatch?: string;
  method?: WriteMethod;
  followUp?: WriteFollowUp;
}

export interface DeleteOptions {
  ifMatch?: string;
}

export interface UpdateResult {
  readonly record: VersionRecord;
  /** True when the resource did not exist (or was deleted) before this write. */
  readonly created: boolean;
}

export interface DeleteResult {
  /** The deletion version, when a current version existed. */
  readonly record?: VersionRecord;
  readonly status: 'deleted' | 'already-deleted' | 'missing';
}

export interface HistoryQuery {
  type?: string;
  /** Who the page is read for (as SearchQuery.lane): queued reads take turns between lanes. */
  lane?: string;
  /** With `type`: the history of one resource. */
  id?: string;
  /** Only versions with lastUpdated >= since (FHIR instant). */
  since?: string;
  /** Only versions with lastUpdated <= at (FHIR instant), for `_at`-style cut-offs. */
  before?: string;
  count: number;
  /** Opaque cursor from a previous page's `next`. */
  cursor?: string;
  /**
   * With `before` (a snapshot instant T): only the versions that were current at T, i.e. no
   * deletion and no later version of the same resource with lastUpdated <= T (Bulk Data export).
   * Pages may then hold fewer than `count` versions while `next` says there are more.
   */
  snapshot?: boolean;
  /**
   * The caller's access policy: only versions of resources it may see now (judged on their
   * current version) are returned, filtered in the query.
   */
  access?: AccessConstraint;
}

export interface HistoryPage {
  /** Newest first. */
  readonly records: VersionRecord[];
  readonly next?: string;
  /** Total matching versions, when the adapter can count them cheaply (instance and type history). */
  readonly total?: number;
}

/** One page of search results. */
export interface SearchPage {
  readonly records: VersionRecord[];
  /** Resources added by _include / _revinclude (not matches). */
  readonly included: VersionRecord[];
  /** Opaque cursors for the neighbouring pages. */
  readonly next?: string;
  readonly previous?: string;
  readonly total?: number;
  /** True when more resources were to be included than one page carries. */
  readonly includesTruncated?: boolean;
}

/** What the adapters need from the search module to index resources as they are written. */
export interface StoreIndexer {
  extract(resource: Resource): ResourceIndex;
  /** Every (resource type, parameter) the extractor may emit, registered when the store opens. */
  paramKeys(): Iterable<[string, string]>;
}

export interface ReindexProgress {
  done: number;
  total: number;
}

/** Thrown by adapters; the engine turns it into the right FHIR error. */
export class StoreError extends Error {
  constructor(
    /** unsupported: this deployment cannot do it (a multi-write transaction on a standalone MongoDB). */
    /** too-costly: a search past its breadth or time budget; unprocessable: a resource the index cannot hold. */
    readonly code: 'version-conflict' | 'invalid-cursor' | 'unavailable' | 'too-busy' | 'unsupported' | 'too-costly' | 'unprocessable',
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

export interface Store {
  readonly kind: string;
  /**
   * Leases, the job queue and job files (work.ts). Not part of clinical transactions: use it
   * outside them. (Through a transaction's `tx`, SQLite's work writes commit or roll back with
   * the transaction while MongoDB's commit at once; rely on neither.)
   */
  readonly work: WorkStore;
  /** Stores a new resource with the id it carries, or a fresh one if it has none. */
  create(resource: Resource, opts?: CreateOptions): Promise<VersionRecord>;
  read(type: string, id: string): Promise<ReadResult>;
  vread(type: string, id: string, versionId: string): Promise<VersionRecord | undefined>;
  /** Stores a new version; creates the resource if absent (update-as-create). `resource.id` is required. */
  update(resource: Resource & { id: string }, opts?: UpdateOptions): Promise<UpdateResult>;
  delete(type: string, id: string, opts?: DeleteOptions): Promise<DeleteResult>;
  /**
   * Writes a version exactly as another store recorded it (`npm run migrate`): its versionId,
   * lastUpdated, method, deletion and JSON are kept, and it is indexed like any write. It must be
   * the resource's next version (one past the current one, or 1), else `version-conflict`; a
   * deletion carries no JSON, anything else must carry the resource. Versions land in the past
   * of the change order: only for filling a store before any Flint serves it.
   */
  restore(record: VersionRecord): Promise<VersionRecord>;
  history(query: HistoryQuery): Promise<HistoryPage>;
  /** Live resources whose index holds a reference to `type/id` (at most `limit`). */
  referencesTo(type: string, id: string, limit: number): Promise<{ type: string; id: string }[]>;
  /** Runs a search (see src/search/ir.ts); the access policy arrives inside it as a compartment. */
  search(query: SearchQuery): Promise<SearchPage>;
  /**
   * Rebuilds the search index of the current versions of `types` (all when undefined) with the
   * store's indexer, in batches, without blocking other requests for long. Resolves with the
   * number of resources reindexed.
   */
  reindex(types: readonly string[] | undefined, onProgress?: (p: ReindexProgress) => void): Promise<number>;
  /**
   * Runs `fn` as one all-or-nothing unit: every write through `tx` commits together or not at
   * all, and `tx` reads its own writes. Concurrent transactions are serialised.
   */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
  /** Subscription notifications recorded with the writes that cause them (./outbox.ts). */
  readonly outbox: OutboxStore;
  /**
   * Whether create and update honour `followUp` (WriteFollowUp): then a write with notifications
   * needs no transaction of its own and keeps group commit. SQLite only.
   */
  readonly followUps?: boolean;
  close(): Promise<void>;
}
