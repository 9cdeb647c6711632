// How search values are normalised, both when indexed and when searched: strings folded for
// case and accents, dates to the instant range their precision covers, numbers to the range
// their significant digits imply (R4 search.html#string, #date, #number).

/** Lower case, accents removed: "Chloé" and "CHLOE" index alike. */
export function fold(s: string): string {
  // ASCII fast path: most values need no Unicode normalisation.
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(s)) return s.toLowerCase();
  return s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

export const MIN_TIME = -62135596800000; // 0001-01-01T00:00:00Z
export const MAX_TIME = 253402300799999; // 9999-12-31T23:59:59.999Z

const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * The instant range [start, end] (ms, both inclusive) that a FHIR date, dateTime or instant
 * covers at its precision: "2024" is the whole year, "2024-03-01T10:00:00Z" one second.
 * Values without a time zone are read as UTC. Undefined for text that is not a date.
 */
export function dateRange(text: string): [number, number] | undefined {
  const m = DATE_RE.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  const offset = tz && tz !== 'Z' ? (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6))) * 60_000 : 0;
  const utc = (yy: number, mm: number, dd: number, hh = 0, mn = 0, ss = 0, ms = 0): number => {
    const t = Date.UTC(yy, mm, dd, hh, mn, ss, ms);
    // Date.UTC maps years 0-99 to 1900-1999.
    return yy < 100 ? new Date(t).setUTCFullYear(yy) : t;
  };
  if (mo === undefined) return [utc(year, 0, 1), utc(year + 1, 0, 1) - 1];
  const month = Number(mo) - 1;
  if (month < 0 || month > 11) return undefined;
  if (d === undefined) return [utc(year, month, 1), utc(year, month + 1, 1) - 1];
  const day = Number(d);
  if (h === undefined) {
    const start = utc(year, month, day);
    if (new Date(start).getUTCDate() !== day) return undefined;
    return [start, utc(year, month, day + 1) - 1];
  }
  if (Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 60) return undefined;
  const base = utc(year, month, day, Number(h), Number(mi), Number(s ?? 0)) - offset;
  if (s === undefined) return [base, base + 59_999];
  if (frac === undefined) return [base, base + 999];
  const ms = Number(frac.slice(0, 3).padEnd(3, '0'));
  const precise = frac.length <= 3;
  return [base + ms, precise ? base + ms + (10 ** (3 - frac.length)) - 1 : base + ms];
}

/**
 * The range a decimal's significant digits imply (R4 search.html#number): "100" is
 * [99.5, 100.5), "100.0" [99.95, 100.05), "1e2" [50, 150).
 */
export function numberRange(text: string): { value: number; low: number; high: number } | undefined {
  const t = text.trim();
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(t)) return undefined;
  const value = Number(t);
  if (!Number.isFinite(value)) return undefined;
  const [mantissa = '', exp] = t.toLowerCase().split('e');
  const decimals = mantissa.includes('.') ? (mantissa.split('.')[1] ?? '').length : 0;
  const half = 0.5 * 10 ** (Number(exp ?? 0) - decimals);
  return { value, low: value - half, high: value + half };
}
