// Bulk import: resources one per line (NDJSON, as $export writes them) loaded through the engine,
// each validated and written on its own (a refused line changes nothing; the others load).
// Resources with an id keep it (update-as-create), so an export loads back unchanged in ids;
// without one they are created. The clinic's write hooks do not run: an import brings records
// that are already whole (an export, a migration), and must not bill or schedule them again.
import type { FhirContext } from '../fhir/context.js';
import { FhirError } from '../fhir/errors.js';
import { create, update } from '../fhir/interactions/write.js';
import { inTransaction } from '../fhir/tx.js';
import { isObject } from '../fhir-basics/json.js';

export interface Refusal {
  /** 1-based line (or item) number within its source. */
  line: number;
  type?: string;
  id?: string;
  reason: string;
}

export interface ImportSummary {
  loaded: Record<string, number>;
  refused: number;
  /** Refused per type ('(unreadable)' when the line was not a resource). */
  refusedByType: Record<string, number>;
}

export interface ImportItem {
  line: number;
  /** The line's text (JSON) or the parsed resource (from a Bundle). */
  resource: string | unknown;
}

/**
 * Resources written per store transaction. A refused resource is refused before it writes
 * anything (validation, references, access), so the others of its batch still commit together.
 */
const WINDOW = 200;

function why(err: unknown): string {
  if (err instanceof FhirError) return err.issues.map((i) => i.diagnostics).join('; ').slice(0, 1000);
  return err instanceof Error ? err.message.slice(0, 300) : 'refused';
}

/** Loads one item; a refusal is returned, never thrown (only store failures throw). */
async function loadOne(ctx: FhirContext, item: ImportItem): Promise<{ type: string } | Refusal> {
  let value: unknown = item.resource;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return { line: item.line, reason: 'not JSON' };
    }
  }
  if (!isObject(value) || typeof value.resourceType !== 'string') return { line: item.line, reason: 'not a FHIR resource (no resourceType)' };
  const type = value.resourceType;
  const id = typeof value.id === 'string' ? value.id : undefined;
  try {
    if (id !== undefined) await update(ctx, { type, id, body: value });
    else await create(ctx, type, value);
    return { type };
  } catch (err) {
    if (err instanceof FhirError && err.status < 500) return { line: item.line, type: type.slice(0, 64), ...(id ? { id: id.slice(0, 64) } : {}), reason: why(err) };
    throw err;
  }
}

/**
 * Loads `items` in order (a resource repeated in the input gets its versions in input order).
 * `onRefused` hears of each refusal; `onProgress` after each window.
 */
export async function importItems(base: FhirContext, items: AsyncIterable<ImportItem> | Iterable<ImportItem>, hooks: {
  onRefused?: (r: Refusal, item: ImportItem) => void | Promise<void>;
  onProgress?: (done: number) => void;
} = {}): Promise<ImportSummary> {
  const ctx: FhirContext = { ...base, hooks: [] };
  const summary: ImportSummary = { loaded: {}, refused: 0, refusedByType: {} };
  let window: ImportItem[] = [];
  let done = 0;
  const flush = async (): Promise<void> => {
    let results: ({ type: string } | Refusal)[] = [];
    try {
      results = await inTransaction(ctx, async (tx) => {
        const out: ({ type: string } | Refusal)[] = [];
        for (const item of window) out.push(await loadOne(tx, item));
        return out;
      });
    } catch (err) {
      // A store without multi-write transactions (a standalone MongoDB): one write at a time.
      if (!(err instanceof FhirError && err.status === 501)) throw err;
      results = [];
      for (const item of window) results.push(await loadOne(ctx, item));
    }
    for (const [i, r] of results.entries()) {
      if ('reason' in r) {
        summary.refused++;
        const t = r.type ?? '(unreadable)';
        summary.refusedByType[t] = (summary.refusedByType[t] ?? 0) + 1;
        await hooks.onRefused?.(r, window[i] as ImportItem);
      } else summary.loaded[r.type] = (summary.loaded[r.type] ?? 0) + 1;
    }
    done += window.length;
    window = [];
    hooks.onProgress?.(done);
  };
  for await (const item of items) {
    let parsed: ImportItem = item;
    if (typeof item.resource === 'string') {
      try {
        parsed = { line: item.line, resource: JSON.parse(item.resource) as unknown };
      } catch {
        // loadOne reports it.
      }
    }
    // In order, batch after batch: a resource repeated in the input gets its versions in input order.
    if (window.length >= WINDOW) await flush();
    window.push(parsed);
  }
  if (window.length) await flush();
  return summary;
}

/** The non-empty lines of an NDJSON text, numbered from 1, without splitting it into an array. */
export function* ndjsonLines(text: string): Iterable<ImportItem> {
  let start = 0;
  let line = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    line++;
    const s = text.slice(start, end).trim();
    if (s) yield { line, resource: s };
    start = end + 1;
  }
}
