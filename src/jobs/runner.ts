// Runs background jobs from the store's queue (ARCHITECTURE.md, "Shared state and background
// work"): every instance polls for the kinds it has handlers for, claims one job at a time per
// kind with a lease, renews the lease while the handler runs, and records the outcome. A job
// whose instance dies is claimed by another once its lease lapses; a handler that loses its
// job (lease taken over, job cancelled) is told through its AbortSignal and `save` → false.
// A sibling of src/http: handlers call engine functions with a system context.
import { randomUUID } from 'node:crypto';
import type { JobChange, JobData, JobRecord, WorkStore } from '../store/work.js';

export interface JobContext {
  readonly job: JobRecord;
  /** Aborted when the job is lost (taken over, cancelled) or the runner closes: stop soon. */
  readonly signal: AbortSignal;
  /** Records progress (and renews the lease); false when the job is lost: stop, write nothing more. */
  save(change: JobChange): Promise<boolean>;
}

/**
 * Does one job. Resolves → the job is done, with the data returned (or the last data saved);
 * throws → failed, its message kept as `data.error`. A handler may also finish the job itself
 * through `save({ state })`.
 */
export type JobHandler = (ctx: JobContext) => Promise<JobData | void>;

/** The two logger methods the runner uses (pino's shape). */
export interface RunnerLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RunnerOptions {
  work: WorkStore;
  /** How often the queue is polled, in ms (JOB_POLL_MS). */
  pollMs: number;
  /** A job's lease, in ms (JOB_LEASE_MS); renewed every third of it while the job runs. */
  leaseMs: number;
  /** This instance in leases and jobs; random per process by default. */
  instanceId?: string;
  log?: RunnerLog;
  /** How long close() waits for running handlers before giving their jobs back (default 5 s). */
  graceMs?: number;
}

interface Running {
  readonly job: JobRecord;
  readonly abort: AbortController;
  done?: Promise<void>;
  /** Why it was stopped, if it was. */
  stop?: 'lost' | 'closing' | 'halted';
  renew?: NodeJS.Timeout;
}

const QUIET: RunnerLog = { warn: () => undefined, error: () => undefined };
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class JobRunner {
  readonly instanceId: string;
  private readonly work: WorkStore;
  private readonly log: RunnerLog;
  private readonly handlers = new Map<string, JobHandler>();
  /** The job each kind is running here (one at a time per kind). */
  private readonly active = new Map<string, Running>();
  private state: 'idle' | 'started' | 'closed' = 'idle';
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private again = false;

  constructor(private readonly opts: RunnerOptions) {
    this.instanceId = opts.instanceId ?? randomUUID();
    this.work = opts.work;
    this.log = opts.log ?? QUIET;
  }

  /** Handles jobs of `kind` on this instance (before or after start). */
  register(kind: string, handler: JobHandler): void {
    if (this.handlers.has(kind)) throw new Error(`a handler for ${kind} jobs is registered already`);
    this.handlers.set(kind, handler);
    this.poke();
  }

  /** Starts polling. */
  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'started';
    this.schedule(0);
  }

  /** Polls now rather than at the next tick (after queueing a job, or when one finished). */
  poke(): void {
    if (this.state !== 'started') return;
    if (this.polling) this.again = true;
    else this.schedule(0);
  }

  /** The jobs this instance runs now. */
  running(): JobRecord[] {
    return [...this.active.values()].map((r) => r.job);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.poll(), ms);
    this.timer.unref();
  }

  private poll(): Promise<void> {
    if (this.state !== 'started' || this.polling) return this.polling ?? Promise.resolve();
    this.polling = (async () => {
      for (const [kind, handler] of this.handlers) {
        if (this.active.has(kind) || this.state !== 'started') continue;
        let job: JobRecord | undefined;
        try {
          job = await this.work.claimJob(kind, this.instanceId, this.opts.leaseMs);
        } catch (err) {
          this.log.warn({ kind, err: messageOf(err) }, 'jobs: claiming failed; retrying at the next poll');
          continue;
        }
        if (!job) continue;
        // Closed while claiming: back to the queue at once rather than after the lease lapses.
        if (this.state !== 'started') await this.giveBack(job);
        else this.run(kind, handler, job);
      }
    })().finally(() => {
      this.polling = undefined;
      if (this.state === 'started') this.schedule(this.again ? 0 : this.opts.pollMs);
      this.again = false;
    });
    return this.polling;
  }

  private run(kind: string, handler: JobHandler, job: JobRecord): void {
    const abort = new AbortController();
    const r: Running = { job, abort };
    let data = job.data;
    /** The handler set a final state itself. */
    let finished = false;
    const save = async (change: JobChange): Promise<boolean> => {
      if (abort.signal.aborted && r.stop !== 'closing') return false;
      const ok = await this.work.saveJob(job.id, this.instanceId, change, this.opts.leaseMs);
      if (!ok) {
        if (!finished) this.stop(r, 'lost');
        return false;
      }
      if (change.data !== undefined) data = change.data;
      if (change.state !== undefined && change.state !== 'running') finished = true;
      return true;
    };
    this.active.set(kind, r);
    r.done = (async () => {
      try {
        const result = await handler({ job, signal: abort.signal, save });
        if (finished || (r.stop !== undefined && r.stop !== 'closing')) return;
        await this.work.saveJob(job.id, this.instanceId, { state: 'done', data: result ?? data }, this.opts.leaseMs);
      } catch (err) {
        if (finished || r.stop === 'lost' || r.stop === 'halted') return;
        // Stopped by close(): the error is most likely the abort; another instance resumes it.
        if (r.stop === 'closing') await this.giveBack(job, data);
        else await this.work.saveJob(job.id, this.instanceId, { state: 'failed', data: { ...data, error: messageOf(err) } }, this.opts.leaseMs);
      }
    })().catch((err: unknown) => {
      this.log.error({ kind, job: job.id, err: messageOf(err) }, 'jobs: recording the outcome failed; the lease will lapse');
    }).finally(() => {
      clearInterval(r.renew);
      if (this.active.get(kind) === r) this.active.delete(kind);
      this.poke();
    });
    r.renew = setInterval(() => {
      save({}).catch((err: unknown) => this.log.warn({ kind, job: job.id, err: messageOf(err) }, 'jobs: renewing a lease failed'));
    }, Math.max(1, Math.floor(this.opts.leaseMs / 3)));
    r.renew.unref();
  }

  private stop(r: Running, why: NonNullable<Running['stop']>): void {
    if (r.stop === undefined) r.stop = why;
    clearInterval(r.renew);
    r.abort.abort(new Error(`job ${why}`));
  }

  private async giveBack(job: JobRecord, data?: JobData): Promise<void> {
    await this.work.saveJob(job.id, this.instanceId, { state: 'queued', ...(data !== undefined ? { data } : {}) }, this.opts.leaseMs)
      .catch((err: unknown) => this.log.warn({ job: job.id, err: messageOf(err) }, 'jobs: giving a job back failed; its lease will lapse'));
  }

  /**
   * Stops polling, asks running handlers to stop and waits for them (up to the grace period);
   * a job whose handler did not finish goes back to the queue for another instance.
   */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.timer);
    await this.polling;
    const runs = [...this.active.values()];
    for (const r of runs) this.stop(r, 'closing');
    let timeout: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => { timeout = setTimeout(resolve, this.opts.graceMs ?? 5000); });
    await Promise.race([Promise.all(runs.map((r) => r.done)), grace]);
    clearTimeout(timeout);
    // Handlers that outlived the grace period: their jobs go back (their later saves are refused).
    await Promise.all(runs.filter((r) => this.active.get(r.job.kind) === r).map((r) => this.giveBack(r.job)));
  }

  /**
   * Stops at once, as a killed process would: no more polls, renewals or outcomes; running jobs
   * keep their leases until they lapse and another instance takes them over.
   */
  halt(): void {
    this.state = 'closed';
    clearTimeout(this.timer);
    for (const r of this.active.values()) this.stop(r, 'halted');
  }
}
