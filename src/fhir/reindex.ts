// Reindex jobs: after a SearchParameter changes (or on $reindex), existing resources are
// re-indexed in batches while the server keeps answering. The jobs live in the store's queue
// (store.work, kind `reindex`), so with several instances on one database each job runs once,
// on whichever instance claims it, and its progress is readable from every instance ($reindex).
import { randomUUID } from 'node:crypto';
import type { Parameters, ParametersParameter } from 'fhir/r4.js';
import type { Store } from '../store/port.js';
import type { JobData, JobRecord, WorkStore } from '../store/work.js';

export const REINDEX_KIND = 'reindex';

export interface ReindexJob {
  id: string;
  /** Types being reindexed; undefined = all. */
  types?: string[];
  reason: string;
  state: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
  done: number;
  total: number;
  started: string;
  finished?: string;
  error?: string;
}

/** What a reindex job's data holds. */
export interface ReindexData {
  types?: string[];
  reason: string;
  done: number;
  total: number;
  error?: string;
}

/** Finished jobs kept for $reindex to show. */
const KEEP = 50;
/** How long this instance trusts its view of which types are being rebuilt (searches ask it). */
const ACTIVE_TTL_MS = 1000;

const stringsOrUndefined = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined);

export function reindexData(data: JobData): ReindexData {
  const types = stringsOrUndefined(data.types);
  return {
    ...(types ? { types } : {}),
    reason: typeof data.reason === 'string' ? data.reason : '',
    done: typeof data.done === 'number' ? data.done : 0,
    total: typeof data.total === 'number' ? data.total : 0,
    ...(typeof data.error === 'string' ? { error: data.error } : {}),
  };
}

function view(j: JobRecord): ReindexJob {
  const d = reindexData(j.data);
  const state = j.state === 'done' ? 'completed' : j.state;
  const over = state === 'completed' || state === 'failed' || state === 'cancelled';
  return {
    id: j.id, ...(d.types ? { types: d.types } : {}), reason: d.reason, state, done: d.done, total: d.total,
    started: j.createdAt, ...(over ? { finished: j.updatedAt } : {}), ...(d.error !== undefined ? { error: d.error } : {}),
  };
}

export class ReindexJobs {
  private active: { at: number; all: boolean; types: Set<string> } | undefined;
  /** Called when a job is queued here, so that this instance's runner claims it without waiting for a poll. */
  onQueued: () => void = () => undefined;

  constructor(private readonly store: () => Store) {}

  /**
   * Queues a reindex of `types` (all when undefined). A job for the same types that has not
   * started yet covers this request too: it is returned instead, so repeated requests do not
   * pile up work.
   */
  async start(types: string[] | undefined, reason: string, id?: string): Promise<ReindexJob> {
    const store = this.store();
    const work = store.work;
    // The job may run on another instance: this instance's store learns the indexer's
    // parameters now (reindexing no type registers them without touching a resource).
    await store.reindex([]);
    const same = (t: string[] | undefined): boolean => (t === undefined ? types === undefined : types !== undefined && [...t].sort().join() === [...types].sort().join());
    // A job planned under a known id (plan) is queued under that id.
    const waiting = id ? undefined : (await work.listJobs(REINDEX_KIND, ['queued'])).find((j) => same(reindexData(j.data).types));
    if (waiting) {
      this.onQueued();
      return view(waiting);
    }
    const data: ReindexData = { ...(types ? { types } : {}), reason, done: 0, total: 0 };
    const job = await work.addJob(REINDEX_KIND, id ?? randomUUID(), { ...data });
    this.active = undefined;
    await this.prune();
    this.onQueued();
    return view(job);
  }

  /** The job `start(types, reason, id)` will queue, before it is queued (inside a transaction). */
  plan(types: string[] | undefined, reason: string): ReindexJob {
    return { id: randomUUID(), ...(types ? { types } : {}), reason, state: 'queued', done: 0, total: 0, started: new Date().toISOString() };
  }

  private async prune(): Promise<void> {
    const work = this.store().work;
    const finished = await work.listJobs(REINDEX_KIND, ['done', 'failed', 'cancelled']);
    for (const j of finished.slice(0, Math.max(0, finished.length - KEEP))) await work.deleteJob(j.id);
  }

  async get(id: string): Promise<ReindexJob | undefined> {
    const j = await this.store().work.getJob(id);
    return j && j.kind === REINDEX_KIND ? view(j) : undefined;
  }

  /** Newest first. */
  async list(): Promise<ReindexJob[]> {
    return (await this.store().work.listJobs(REINDEX_KIND)).reverse().slice(0, KEEP + 10).map(view);
  }

  /**
   * True while a job (on any instance) is to rebuild or rebuilding the index of `type`. `work`:
   * the caller's store's (inside a transaction, the transaction's: the engine's would wait for
   * the lock the transaction holds).
   */
  async isRebuilding(type: string, work: WorkStore = this.store().work, now = Date.now()): Promise<boolean> {
    if (!this.active || now - this.active.at > ACTIVE_TTL_MS) {
      const jobs = await work.listJobs(REINDEX_KIND, ['queued', 'running']);
      const types = new Set<string>();
      let all = false;
      for (const j of jobs) {
        const t = reindexData(j.data).types;
        if (!t) all = true;
        else for (const x of t) types.add(x);
      }
      this.active = { at: now, all, types };
    }
    return this.active.all || this.active.types.has(type);
  }
}

function jobParameter(job: ReindexJob): ParametersParameter {
  const part: ParametersParameter[] = [
    { name: 'id', valueString: job.id },
    { name: 'state', valueCode: job.state },
    { name: 'reason', valueString: job.reason },
    { name: 'types', valueString: job.types ? job.types.join(',') : '*' },
    { name: 'done', valueInteger: job.done },
    { name: 'total', valueInteger: job.total },
    { name: 'started', valueInstant: job.started },
  ];
  if (job.finished) part.push({ name: 'finished', valueInstant: job.finished });
  if (job.error) part.push({ name: 'error', valueString: job.error });
  return { name: 'job', part };
}

/** Reindex jobs as the Parameters resource $reindex answers with. */
export const reindexParameters = (jobs: ReindexJob[]): Parameters => ({ resourceType: 'Parameters', parameter: jobs.map(jobParameter) });
