// Bulk Data export jobs on the job runner: each instance runs them from the store's queue (and
// resumes those of instances that stopped or died), and sweeps expired ones.
import type { FhirContext } from '../fhir/context.js';
import type { ExportConfig } from '../config.js';
import type { JobRunner } from './runner.js';
import { runExport } from '../operations/export-job.js';
import { sweepExports } from '../operations/export-sweep.js';

/** Versions read per snapshot page (one query, one append per file, one checkpoint): large enough to amortise them, small enough (a few MB) to keep memory flat. */
const PAGE_SIZE = 5000;
const SWEEP_MS = 60_000;

export interface ExportJobs {
  stop(): void;
}

export function registerExportJobs(runner: JobRunner, ctx: FhirContext, config: ExportConfig, onError: (err: unknown) => void): ExportJobs {
  const settings = { fileMaxBytes: config.fileMaxBytes, retentionMs: config.retentionMs, pageSize: PAGE_SIZE };
  runner.register('export', async ({ job, save, signal }) => {
    await runExport(ctx, ctx.store.work, job, save, settings, signal);
  });
  const sweep = (): void => {
    sweepExports(ctx.store.work, Date.now()).catch(onError);
  };
  const timer = setInterval(sweep, SWEEP_MS);
  timer.unref();
  sweep();
  return { stop: () => clearInterval(timer) };
}
