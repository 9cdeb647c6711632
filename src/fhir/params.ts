// Reading the common result parameters (_count, _since, …) from query pairs, HTTP-agnostic.
import { badRequest } from './errors.js';
import type { FhirContext } from './context.js';
import { valuesOf, type QueryPairs } from '../fhir-basics/query.js';

/** The one value of `name`, undefined when absent; 400 when it is given more than once. */
export function single(params: QueryPairs, name: string): string | undefined {
  const values = valuesOf(params, name);
  if (values.length > 1) throw badRequest(`${name} may be given only once`);
  return values[0];
}

export function parseCount(ctx: FhirContext, params: QueryPairs): number {
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
