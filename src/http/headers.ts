// HTTP dates for the Last-Modified header. (ETags and Prefer are read by the leaf, src/fhir-basics.)

/** The last instants formatted: a read answers the same Last-Modified again and again. */
const formatted = new Map<string, string>();
const FORMATTED_MAX = 1000;

export function httpDate(instant: string): string {
  let s = formatted.get(instant);
  if (s === undefined) {
    s = new Date(instant).toUTCString();
    if (formatted.size >= FORMATTED_MAX) formatted.clear();
    formatted.set(instant, s);
  }
  return s;
}
