// $export status polling, cancellation and file downloads (Bulk Data Access IG v2.0.0,
// export.html#bulk-data-status-request, #bulk-data-delete-request, #file-request). A job and its
// files are visible only to the client that kicked it off: anyone else gets 404, as for a job
// that does not exist.
import type { FhirContext } from '../fhir/context.js';
import type { FhirResponse } from '../fhir/request.js';
import type { JobRecord, WorkStore } from '../store/work.js';
import { FhirError, notFound } from '../fhir/errors.js';
import { storeCall } from '../fhir/store-errors.js';
import { issue, outcomeJson } from '../fhir-basics/outcome.js';
import { isExportState, stepCount, type ExportState } from './export-state.js';

export const NDJSON = 'application/fhir+ndjson';
/** The error file: the warnings of a lenient kick-off, as one OperationOutcome. */
const ERRORS = 'errors.ndjson';
/** Seconds a client is asked to wait between polls. */
const RETRY_AFTER = '2';

async function ownJob(ctx: FhirContext, work: WorkStore, id: string): Promise<{ job: JobRecord; s: ExportState }> {
  if (!/^[0-9a-f-]{36}$/.test(id)) throw notFound('No such export');
  const job = await storeCall(() => work.getJob(id));
  if (!job || job.kind !== 'export' || !isExportState(job.data) || job.state === 'cancelled') throw notFound('No such export');
  // Auth on: the same client only. A job kicked off with auth off has no owner to match.
  if (ctx.access && job.data.policy?.clientId !== ctx.access.clientId) throw notFound('No such export');
  return { job, s: job.data };
}

const fileUrl = (ctx: FhirContext, id: string, name: string): string => `${ctx.baseUrl}/$export-file/${id}/${name}`;

export async function exportStatus(ctx: FhirContext, work: WorkStore, id: string): Promise<FhirResponse> {
  const { job, s } = await ownJob(ctx, work, id);
  if (job.state === 'queued' || job.state === 'running') {
    const total = stepCount(s);
    const pct = total === 0 ? 100 : Math.min(99, Math.floor((s.step / total) * 100));
    return { status: 202, headers: { 'x-progress': `${job.state} ${pct}% (${s.exported} resources)`, 'retry-after': RETRY_AFTER } };
  }
  const expires: Record<string, string> = s.expires !== undefined ? { expires: new Date(s.expires).toUTCString() } : {};
  if (job.state === 'failed') {
    return { status: 500, headers: expires, issues: [issue('error', 'exception', `The export failed: ${s.failure ?? 'unknown error'}`)] };
  }
  const manifest = {
    transactionTime: s.transactionTime,
    request: s.requestUrl,
    // The files are served only with the kick-off client's token (when authentication is on).
    requiresAccessToken: s.policy !== undefined,
    output: s.outputs.map((o) => ({ type: o.type, url: fileUrl(ctx, id, o.name), count: o.count })),
    error: s.request.warnings.length ? [{ type: 'OperationOutcome', url: fileUrl(ctx, id, ERRORS) }] : [],
  };
  return { status: 200, headers: expires, raw: { contentType: 'application/json', body: JSON.stringify(manifest) } };
}

export async function cancelExport(ctx: FhirContext, work: WorkStore, id: string): Promise<FhirResponse> {
  const { job } = await ownJob(ctx, work, id);
  // A running job stops at its next checkpoint (its save fails); a finished one is removed now.
  if (!(await storeCall(() => work.cancelJob(id)))) await storeCall(() => work.deleteJob(job.id));
  return { status: 202, issues: [issue('information', 'informational', 'Export cancelled; its files are deleted')] };
}

/** The first `bytes` UTF-8 bytes of `chunks` (chunks are whole lines, as appended). */
async function* upTo(chunks: AsyncIterable<string>, bytes: number): AsyncIterable<string> {
  let left = bytes;
  for await (const c of chunks) {
    if (left <= 0) return;
    const b = Buffer.byteLength(c);
    if (b <= left) yield c;
    else yield Buffer.from(c).subarray(0, left).toString();
    left -= b;
  }
}

export async function exportFile(ctx: FhirContext, work: WorkStore, id: string, name: string): Promise<FhirResponse> {
  const { job, s } = await ownJob(ctx, work, id);
  if (job.state !== 'done') throw new FhirError(404, 'The export has no files yet: poll its status until it completes', 'not-found');
  if (name === ERRORS && s.request.warnings.length) {
    return { status: 200, raw: { contentType: NDJSON, body: `${outcomeJson(s.request.warnings)}\n` } };
  }
  const file = s.outputs.find((o) => o.name === name);
  const chunks = file ? await storeCall(() => work.readFile(job.id, file.name)) : undefined;
  if (!file || !chunks) throw notFound('No such file in this export');
  return { status: 200, raw: { contentType: NDJSON, body: upTo(chunks, file.bytes) } };
}
