// The instance's export worker: claims queued export jobs (or ones whose owner died: a lapsed
// lease) from the store, runs them one at a time, and deletes expired or cancelled ones. Any
// number of instances sharing a database may run one; the store's leases keep each job on one.
import { randomUUID } from 'node:crypto';
import type { FhirContext } from '../fhir/context.js';
import type { JobChange, WorkStore } from '../store/work.js';
import { runExport, type ExportSettings } from './export-job.js';
import { isExportState } from './export-state.js';

export interface WorkerOptions {
  /** How long a claim holds without a checkpoint; another instance takes the job over after it. */
  leaseMs: number;
  /** How often the queue is looked at when idle (a kick-off in this instance wakes it at once). */
  pollMs: number;
  onError?: (err: unknown) => void;
}

export interface ExportWorker {
  /** Looks at the queue now. */
  wake(): void;
  /** Stops after the current checkpoint and hands the job back (its lease ends now). */
  stop(): Promise<void>;
}

export function startExportWorker(ctx: FhirContext, work: WorkStore, settings: ExportSettings, opts: WorkerOptions): ExportWorker {
  const owner = `export-${randomUUID()}`;
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  let wakeUp: (() => void) | undefined;
  let lastSweep = 0;

  const sleep = (ms: number): Promise<void> => new Promise((resolve) => {
    wakeUp = resolve;
    timer = setTimeout(resolve, ms);
    timer.unref();
  });

  async function sweep(now: number): Promise<void> {
    for (const job of await work.listJobs('export', ['done', 'failed', 'cancelled'])) {
      const expires = isExportState(job.data) ? job.data.expires : undefined;
      const expired = job.state === 'cancelled' ? (job.leaseUntil ?? 0) < now : expires !== undefined && expires <= now;
      if (expired) await work.deleteJob(job.id);
    }
  }

  async function loop(): Promise<void> {
    while (!stopping) {
      try {
        const now = Date.now();
        if (now - lastSweep > 60_000) {
          lastSweep = now;
          await sweep(now);
        }
        const job = await work.claimJob('export', owner, opts.leaseMs);
        if (!job) {
          await sleep(opts.pollMs);
          continue;
        }
        const save = async (change: JobChange): Promise<boolean> => {
          if (stopping && change.state === undefined) {
            // Hand the job back at this checkpoint: the lease ends now, so the next instance resumes it at once.
            await work.saveJob(job.id, owner, change, 0);
            return false;
          }
          return work.saveJob(job.id, owner, change, opts.leaseMs);
        };
        await runExport(ctx, work, job, save, settings);
      } catch (err) {
        opts.onError?.(err);
        await sleep(opts.pollMs);
      }
    }
  }

  const running = loop();
  return {
    wake() {
      if (timer) clearTimeout(timer);
      wakeUp?.();
    },
    async stop() {
      stopping = true;
      if (timer) clearTimeout(timer);
      wakeUp?.();
      await running;
    },
  };
}
