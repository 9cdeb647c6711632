// Pino's JSON lines made readable on a terminal (`npm start` by hand): time, level, message,
// then the other fields as key=value. Twenty lines of our own rather than pino-pretty and its
// dependencies, for a format nobody parses.
const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const COLOURS: Record<number, string> = { 40: '\x1b[33m', 50: '\x1b[31m', 60: '\x1b[41m' };

function value(v: unknown): string {
  if (typeof v === 'string') return /\s/.test(v) ? JSON.stringify(v) : v;
  return JSON.stringify(v) ?? String(v);
}

/** One JSON log line (with its newline) as a human-readable line; text that is not JSON passes as is. */
export function prettyLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { level, time, msg, ...rest } = rec;
  const n = typeof level === 'number' ? level : 30;
  const at = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '';
  const colour = COLOURS[n];
  const label = colour ? `${colour}${LEVELS[n] ?? n}\x1b[0m` : LEVELS[n] ?? String(n);
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${value(v)}`).join(' ');
  return `${at} ${label} ${typeof msg === 'string' ? msg : ''}${fields ? `  ${fields}` : ''}\n`;
}
