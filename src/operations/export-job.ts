// Runs an export job from its last checkpoint: for each (type, patient scope) step, snapshot
// pages (export-scan.ts) become NDJSON lines appended to the job's files in the store, split at
// the configured size; after every page the checkpoint (cursor, committed bytes) is saved, which
// also renews the job's lease. A job taken over after a crash resumes from that checkpoint:
// lines a dead instance appended after its last save are never served (downloads stop at the
// committed byte count) and writing goes on in a file of the new attempt.
import type { FhirContext } from '../fhir/context.js';
import type { JobChange, JobRecord, WorkStore } from '../store/work.js';
import { accessConstraint } from '../fhir/access.js';
import { storeCall } from '../fhir/store-errors.js';
import { ENGINE_SEARCH_BUDGET_MS } from '../search/ir.js';
import { compartmentParams } from './everything.js';
import { revivePolicy } from './export-policy.js';
import { patientsExpr, scanPage, type ScanPage } from './export-scan.js';
import { isExportState, stepAt, stepCount, type ExportState, type OutputFile } from './export-state.js';

export interface ExportSettings {
  /** A file is closed before a line would take it past this size (EXPORT_FILE_MAX_BYTES). */
  fileMaxBytes: number;
  /** How long a finished export's files are kept (EXPORT_RETENTION_MINUTES). */
  retentionMs: number;
  /** Versions read per snapshot page. */
  pageSize: number;
}

/** Records progress or an outcome; false when the job was lost or cancelled: stop at once. */
export type SaveJob = (change: JobChange) => Promise<boolean>;

/** `element` names for `type` from _elements (`x` applies to every type, `Type.x` to one). */
function elementsFor(elements: readonly string[] | undefined, type: string): string[] | undefined {
  if (!elements) return undefined;
  const own = elements.flatMap((e) => {
    const dot = e.indexOf('.');
    if (dot < 0) return [e];
    return e.slice(0, dot) === type ? [e.slice(dot + 1)] : [];
  });
  return own.length ? own : undefined;
}

/**
 * NDJSON lines of a type into the job's files, split at `max` bytes. Lines gather in memory up
 * to one page and go to the store in one append per page and file.
 */
class FileWriter {
  private lines: string[] = [];
  private chunkBytes = 0;
  private file: OutputFile | undefined;

  constructor(
    private readonly work: WorkStore, private readonly job: JobRecord, private readonly s: ExportState, private readonly type: string, private readonly max: number,
    /** Names already present in the store (files of earlier attempts): never appended to. */
    private readonly taken: ReadonlySet<string>,
  ) {
    const last = s.outputs[s.outputs.length - 1];
    if (last && last.type === type && !s.sealed) this.file = last;
  }

  /** One line (a resource's JSON and its newline). */
  async add(line: string): Promise<void> {
    const bytes = Buffer.byteLength(line);
    if (!this.file || (this.file.bytes + this.chunkBytes > 0 && this.file.bytes + this.chunkBytes + bytes > this.max)) {
      await this.flush();
      const attempt = this.job.attempts > 1 ? `-r${this.job.attempts}` : '';
      let n = this.s.outputs.filter((o) => o.type === this.type).length + 1;
      while (this.taken.has(`${this.type}-${n}${attempt}.ndjson`)) n++;
      this.file = { type: this.type, name: `${this.type}-${n}${attempt}.ndjson`, count: 0, bytes: 0 };
      this.s.outputs.push(this.file);
      this.s.sealed = false;
    }
    this.lines.push(line);
    this.chunkBytes += bytes;
  }

  async flush(): Promise<void> {
    if (!this.file || this.lines.length === 0) return;
    await this.work.appendFile(this.job.id, this.file.name, this.lines.join(''));
    this.file.bytes += this.chunkBytes;
    this.file.count += this.lines.length;
    this.lines = [];
    this.chunkBytes = 0;
  }
}

/** Patients per membership query (each adds one condition per compartment parameter). */
const PATIENTS_PER_QUERY = 100;

/** Which of `ids` (resources of `type`) are in the compartment of any of `patients`. */
async function inCompartments(ctx: FhirContext, params: Record<string, string[]>, type: string, ids: string[], patients: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < patients.length && out.size < ids.length; i += PATIENTS_PER_QUERY) {
    const expr = patientsExpr(params, type, patients.slice(i, i + PATIENTS_PER_QUERY));
    if (!expr) break;
    const left = ids.filter((id) => !out.has(id));
    const found = await storeCall(() => ctx.store.search({
      types: [type], where: { and: [{ cond: { kind: 'id', ids: left } }, expr] }, sort: [], count: left.length, total: 'none',
      include: [], revinclude: [], budgetMs: ENGINE_SEARCH_BUDGET_MS,
    }));
    for (const r of found.records) out.add(r.id);
  }
  return out;
}

/**
 * Runs `job` to its end, or until `save` says it was lost or cancelled. `base` is the engine
 * context without an access policy: the job's own (the kick-off caller's) is applied here.
 */
export async function runExport(base: FhirContext, work: WorkStore, job: JobRecord, save: SaveJob, settings: ExportSettings, signal?: AbortSignal, now: () => number = Date.now): Promise<void> {
  if (!isExportState(job.data)) {
    await save({ state: 'failed', data: { ...job.data, failure: 'the job data is not an export' } });
    return;
  }
  const s = structuredClone(job.data);
  const ctx: FhirContext = s.policy ? { ...base, access: revivePolicy(s.policy) } : base;
  const access = accessConstraint(ctx);
  // A taken-over job (a restart, or an owner that died): the open file may hold lines written
  // after the last checkpoint. They are never served (downloads stop at the committed bytes), and
  // this attempt writes only to files of its own (named with the attempt), never after them.
  let taken: ReadonlySet<string> = new Set();
  if (job.attempts > 1) {
    s.sealed = true;
    taken = new Set((await work.listFiles(job.id)).map((f) => f.name));
  }
  const total = stepCount(s);
  const compartment = s.scopes ? compartmentParams(ctx, 'Patient') : {};
  try {
    // The next page of the same step is read while this one is written (the read runs on a
    // reader thread where the store has them): a prefetch, never a checkpoint.
    let ahead: { step: number; cursor: string; page: Promise<ScanPage> } | undefined;
    while (s.step < total) {
      const { type, batch } = stepAt(s, s.step);
      const filter = s.request.filters[type];
      const patients = batch ? s.scopes?.slice(batch.start, batch.end) ?? [] : undefined;
      const inPatients = patients ? patientsExpr(compartment, type, patients) : undefined;
      const since = batch?.whole ? undefined : s.request.since;
      const read = (cursor: string | undefined): Promise<ScanPage> => scanPage(ctx, {
        type, at: s.transactionTime,
        ...(since ? { since } : {}),
        ...(filter ? { filter } : {}),
        ...(access ? { access } : {}),
        ...(inPatients ? { patients: inPatients } : {}),
      }, settings.pageSize, cursor);
      // A type none of whose parameters puts it in a patient's compartment: nothing to export.
      const page: ScanPage = patients && !inPatients ? { records: [] }
        : ahead && ahead.step === s.step && ahead.cursor === s.cursor ? await ahead.page : await read(s.cursor);
      ahead = undefined;
      if (page.next) {
        ahead = { step: s.step, cursor: page.next, page: read(page.next) };
        ahead.page.catch(() => undefined); // awaited (and its error thrown) next turn, or dropped
      }
      // In the compartment of a patient of an earlier batch: written there already.
      const earlier = batch && batch.start > 0 && type !== 'Patient' && page.records.length > 0
        ? await inCompartments(ctx, compartment, type, page.records.map((r) => r.id), s.scopes?.slice(0, batch.start) ?? [])
        : undefined;
      const writer = new FileWriter(work, job, s, type, settings.fileMaxBytes, taken);
      const elements = elementsFor(s.request.elements, type);
      for (const r of page.records) {
        if (r.json === undefined || earlier?.has(r.id)) continue;
        // Stored JSON is written as it is, unless _elements asks for less.
        let json = elements ? ctx.search.subsetter.apply(r.json, undefined, elements) : r.json;
        // NDJSON: one resource per line (stored JSON is compact; this guards the rule).
        if (json.includes('\n')) json = JSON.stringify(JSON.parse(json));
        await writer.add(`${json}\n`);
        s.exported++;
      }
      await writer.flush();
      if (page.next) s.cursor = page.next;
      else {
        s.step++;
        delete s.cursor;
      }
      if (!(await save({ data: s as unknown as Record<string, unknown> }))) return;
      // The instance is closing: stop at this checkpoint; the job goes back to the queue.
      signal?.throwIfAborted();
    }
    s.expires = now() + settings.retentionMs;
    await save({ state: 'done', data: s as unknown as Record<string, unknown> });
  } catch (err) {
    if (signal?.aborted) throw err;
    // The message is ours (store and engine errors carry no resource content).
    s.failure = err instanceof Error ? err.message.slice(0, 500) : 'export failed';
    s.expires = now() + settings.retentionMs;
    await save({ state: 'failed', data: s as unknown as Record<string, unknown> });
  }
}
