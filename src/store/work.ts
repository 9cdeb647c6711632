// Background work kept in the store (ARCHITECTURE.md, "Shared state and background work"):
// named leases, a job queue whose items are claimed with a lease, and the files a job produces
// (export output). Both adapters implement it and pass one conformance suite, so any number of
// Flint instances sharing one database run each piece of work exactly once, and a job outlives
// the process that started it.
//
// Times are epoch milliseconds taken from the caller's clock (`now`), so tests can move time
// and instances agree as far as their clocks do; a lease's TTL should dwarf the clock skew.

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/** JSON-serialisable job payload: the request, progress, cursors, results. */
export type JobData = Record<string, unknown>;

export interface JobRecord {
  readonly id: string;
  /** What runs it: 'export', 'import', 'reindex', … */
  readonly kind: string;
  readonly state: JobState;
  /** The instance holding the job's lease while it runs. */
  readonly owner?: string;
  /** Epoch ms until which `owner` holds the job; after that another instance may claim it. */
  readonly leaseUntil?: number;
  /** How many times the job was claimed (a restart or takeover counts one more). */
  readonly attempts: number;
  /** FHIR instants. */
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly data: JobData;
}

export interface JobChange {
  state?: JobState;
  /** Replaces the job's data as a whole. */
  data?: JobData;
}

export interface WorkStore {
  /**
   * Takes or renews the named lease for `owner` until `now + ttlMs`. True when `owner` holds it
   * afterwards: it was free, lapsed, or already `owner`'s. Atomic across instances.
   */
  tryLease(name: string, owner: string, ttlMs: number, now?: number): Promise<boolean>;
  /** Gives the lease up early (no-op unless `owner` holds it). */
  releaseLease(name: string, owner: string): Promise<void>;

  /** Queues a job (state 'queued'); `id` is the caller's (a UUID) and must be new. */
  addJob(kind: string, id: string, data: JobData, now?: number): Promise<JobRecord>;
  getJob(id: string): Promise<JobRecord | undefined>;
  /** Jobs of a kind, oldest first, optionally only in the given states. */
  listJobs(kind: string, states?: readonly JobState[]): Promise<JobRecord[]>;
  /**
   * Claims the oldest job of `kind` that is queued, or running with a lapsed lease (its owner
   * died): sets it running, owned by `owner` until `now + ttlMs`, attempts + 1. Atomic: two
   * instances never claim the same job at once.
   */
  claimJob(kind: string, owner: string, ttlMs: number, now?: number): Promise<JobRecord | undefined>;
  /**
   * Records progress or an outcome and renews the lease (`ttlMs`). False, changing nothing,
   * when `owner` no longer holds the job (its lease lapsed and another instance took it, or it
   * was cancelled): the caller must stop working on it.
   */
  saveJob(id: string, owner: string, change: JobChange, ttlMs: number, now?: number): Promise<boolean>;
  /** A client's cancel: 'cancelled' unless already finished. False when missing or finished. */
  cancelJob(id: string, now?: number): Promise<boolean>;
  /** Removes the job and every file it wrote. */
  deleteJob(id: string): Promise<void>;

  /** Appends text to a job's file (created on first append). Chunks are kept in order. */
  appendFile(jobId: string, name: string, text: string): Promise<void>;
  /** The file's text in order, chunk by chunk (memory flat in its size); undefined when absent. */
  readFile(jobId: string, name: string): Promise<AsyncIterable<string> | undefined>;
  /** Names and sizes (UTF-8 bytes) of a job's files. */
  listFiles(jobId: string): Promise<{ name: string; bytes: number }[]>;
}
