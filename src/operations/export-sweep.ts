// Deletes export jobs past their retention (EXPORT_RETENTION_MINUTES after they finished) and
// cancelled ones once no instance holds them, with every file they wrote (IG export.html: files
// are removed after a time the server chooses and announces in the status's Expires header).
import type { WorkStore } from '../store/work.js';
import { isExportState } from './export-state.js';

/** Resolves with how many jobs were deleted. */
export async function sweepExports(work: WorkStore, now: number): Promise<number> {
  let n = 0;
  for (const job of await work.listJobs('export', ['done', 'failed', 'cancelled'])) {
    const expires = isExportState(job.data) ? job.data.expires : undefined;
    // A cancelled job may still be mid-page on its instance until its next save is refused.
    const expired = job.state === 'cancelled' ? (job.leaseUntil ?? 0) < now : expires === undefined || expires <= now;
    if (expired) {
      await work.deleteJob(job.id);
      n++;
    }
  }
  return n;
}
