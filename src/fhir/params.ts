// Reading the common result parameters (_count, _since, …) from a query, HTTP-agnostic.
import { badRequest } from './errors.js';
import type { FhirContext } from './context.js';

/** Query parameters as the HTTP layer hands them over: repeated names give arrays. */
export type QueryParams = Record<string, string | string[] | undefined>;

export function single(params: QueryParams, name: string): string | undefined {
  const v = params[name];
  if (Array.isArray(v)) {
    if (v.length > 1) throw badRequest(`${name} may be given only once`);
    return v[0];
  }
  return v;
}

export function parseCount(ctx: FhirContext, params: QueryParams): number {
  const raw = single(params, '_count');
  if (raw === undefined || raw === '') return ctx.paging.defaultCount;
  if (!/^[0-9]{1,9}$/.test(raw)) throw badRequest(`_count must be a whole number, got "${raw.slice(0, 40)}"`);
  return Math.min(Number(raw), ctx.paging.maxCount);
}

const INSTANT_RE = /^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/;

/** A FHIR instant or dateTime as a normalised UTC instant (missing parts are the earliest). */
export function parseInstant(name: string, raw: string): string {
  if (!INSTANT_RE.test(raw)) throw badRequest(`${name} must be a FHIR instant such as 2024-01-31T09:00:00Z, got "${raw.slice(0, 40)}"`);
  let text = raw;
  if (/^\d{4}$/.test(text)) text += '-01-01';
  else if (/^\d{4}-\d{2}$/.test(text)) text += '-01';
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) text += 'T00:00:00Z';
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw badRequest(`${name} is not a valid instant: "${raw.slice(0, 40)}"`);
  return new Date(ms).toISOString();
}
