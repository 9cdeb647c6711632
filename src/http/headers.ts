// Parsing the FHIR-relevant request headers: ETags, Prefer, conditional-read dates.
import { badRequest } from '../fhir/errors.js';

/** `W/"3"` or `"3"` → "3". */
export function parseETag(header: string | undefined, name: string): string | undefined {
  if (header === undefined || header === '') return undefined;
  const m = /^\s*(?:W\/)?"([^"]{1,64})"\s*$/.exec(header);
  if (!m || m[1] === undefined) throw badRequest(`${name} must be an ETag such as W/"3", got "${header.slice(0, 80)}"`);
  return m[1];
}

export interface Prefer {
  return?: 'minimal' | 'representation' | 'OperationOutcome';
  handling?: 'strict' | 'lenient';
  respondAsync?: boolean;
}

export function parsePrefer(header: string | string[] | undefined): Prefer {
  const out: Prefer = {};
  const all = Array.isArray(header) ? header.join(',') : header ?? '';
  for (const part of all.split(/[,;]/)) {
    const [k, v] = part.split('=').map((s) => s.trim().replace(/^"|"$/g, ''));
    if (k === 'return' && (v === 'minimal' || v === 'representation' || v === 'OperationOutcome')) out.return = v;
    else if (k === 'handling' && (v === 'strict' || v === 'lenient')) out.handling = v;
    else if (k === 'respond-async') out.respondAsync = true;
  }
  return out;
}

export function httpDate(instant: string): string {
  return new Date(instant).toUTCString();
}

/** True when the resource has not changed since the If-Modified-Since date (1 s resolution). */
export function notModifiedSince(lastUpdated: string, header: string | undefined): boolean {
  if (!header) return false;
  const since = Date.parse(header);
  if (Number.isNaN(since)) return false;
  return Math.floor(Date.parse(lastUpdated) / 1000) * 1000 <= since;
}
