// Query parameters in one shape for every way in (HTTP, Bundle entries, operations): an ordered
// list of name/value pairs, repeats kept (R4 search.html: repetition means AND).

export type QueryPairs = [string, string][];

/** Parses `a=1&a=2&b=x` (no leading `?`) into pairs, percent-decoding names and values. */
export function parseQuery(query: string): QueryPairs {
  const q = query.startsWith('?') ? query.slice(1) : query;
  return [...new URLSearchParams(q).entries()];
}

/** The query part of a URL or path (`Patient?name=x` → `name=x`), '' when there is none. */
export function queryOf(url: string): string {
  const at = url.indexOf('?');
  return at < 0 ? '' : url.slice(at + 1);
}

/** Pairs back to a query string (no leading `?`). */
export function queryString(pairs: QueryPairs): string {
  return new URLSearchParams(pairs).toString();
}

/** Every value given for `name`, in order. */
export function valuesOf(pairs: QueryPairs, name: string): string[] {
  const out: string[] = [];
  for (const [k, v] of pairs) if (k === name) out.push(v);
  return out;
}

/** Parameters that shape the answer's format, not its content (never search criteria). */
export const FORMAT_PARAMS: ReadonlySet<string> = new Set(['_format', '_pretty']);
