// The reindex worker: runs a queued reindex job (src/fhir/reindex.ts) on whichever instance
// claims it. It first makes this instance's SearchParameters those stored (the job may have
// been queued by another instance), then rebuilds the index in batches, saving progress after
// each; a lost job (taken over, cancelled) stops at the next batch.
import type { FhirContext } from '../fhir/context.js';
import { syncSearchParameters } from '../fhir/custom-params.js';
import { reindexData, type ReindexData } from '../fhir/reindex.js';
import type { JobHandler } from './runner.js';

export function reindexWorker(ctx: FhirContext): JobHandler {
  return async ({ job, save, signal }) => {
    await syncSearchParameters(ctx);
    let data: ReindexData = reindexData(job.data);
    // Progress is saved in order, one save at a time; a refused save aborts `signal`.
    let saving: Promise<boolean> = Promise.resolve(true);
    const done = await ctx.store.reindex(data.types, (p) => {
      if (signal.aborted) throw new Error('reindex job lost');
      data = { ...data, done: p.done, total: p.total };
      const snapshot = { ...data };
      saving = saving.then((ok) => ok && save({ data: snapshot }));
    });
    await saving;
    return { ...data, done, total: Math.max(data.total, done) };
  };
}
