// Background reindex jobs: after a SearchParameter changes, existing resources are re-indexed
// in batches while the server keeps answering; progress is readable over HTTP ($reindex).
import { randomUUID } from 'node:crypto';
import type { Parameters, ParametersParameter } from 'fhir/r4.js';
import type { Store } from '../store/port.js';

export interface ReindexJob {
  id: string;
  /** Types being reindexed; undefined = all. */
  types?: string[];
  reason: string;
  state: 'running' | 'completed' | 'failed';
  done: number;
  total: number;
  started: string;
  finished?: string;
  error?: string;
}

const KEEP = 50;

export class ReindexJobs {
  private readonly jobs = new Map<string, ReindexJob>();
  private readonly running = new Map<string, Promise<void>>();

  constructor(private readonly store: () => Store) {}

  start(types: string[] | undefined, reason: string): ReindexJob {
    const job: ReindexJob = { id: randomUUID(), ...(types ? { types } : {}), reason, state: 'running', done: 0, total: 0, started: new Date().toISOString() };
    this.jobs.set(job.id, job);
    while (this.jobs.size > KEEP) {
      const oldest = [...this.jobs.values()].find((j) => j.state !== 'running');
      if (!oldest) break;
      this.jobs.delete(oldest.id);
    }
    const run = this.store().reindex(types, (p) => { job.done = p.done; job.total = p.total; })
      .then(() => { job.state = 'completed'; })
      .catch((err: unknown) => { job.state = 'failed'; job.error = err instanceof Error ? err.message : String(err); })
      .finally(() => { job.finished = new Date().toISOString(); this.running.delete(job.id); });
    this.running.set(job.id, run);
    return job;
  }

  get(id: string): ReindexJob | undefined {
    return this.jobs.get(id);
  }

  list(): ReindexJob[] {
    return [...this.jobs.values()].reverse();
  }

  /** True while a job rebuilds the index of `type`. */
  isRebuilding(type: string): boolean {
    return [...this.jobs.values()].some((j) => j.state === 'running' && (!j.types || j.types.includes(type)));
  }

  /** Resolves when every running job has finished (shutdown, tests). */
  async settle(): Promise<void> {
    await Promise.all([...this.running.values()]);
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
