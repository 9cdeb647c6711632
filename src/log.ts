// The process logger: pino, JSON lines on stdout, credentials redacted, no request bodies or
// query strings (they carry patient data). The one high-volume line (`request`, one per request)
// is buffered (4 KiB) and flushed at least every second; every other line (the ready line,
// warnings, errors) is written at once. On a terminal the lines are pretty-printed instead.
import { writeSync } from 'node:fs';
import { pino, type Logger, type LoggerOptions } from 'pino';
import type { LogLevel } from './config.js';
import { prettyLine } from './log-pretty.js';

/** Headers that may carry credentials; never logged. */
const REDACT = ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]', 'res.headers["set-cookie"]'];

/** The message of the per-request line: the only line that may wait in the buffer. */
export const REQUEST_LINE = 'request';

/** How long a buffered request line may wait before it reaches stdout (and so survives a kill -9). */
const FLUSH_EVERY_MS = 1000;

export interface FlintLogger {
  logger: Logger;
  flush(): void;
  /**
   * The per-request line, as `logger.info({ reqId, method, route, status, ms }, REQUEST_LINE)`
   * would write it, built by hand: pino's generic path (serializers, redaction, hooks) costs
   * more than the rest of a cached read. The fields carry no PHI (a route pattern, never the URL).
   */
  request(reqId: string, method: string, route: string, status: number, ms: number): void;
}

/** Text that needs no JSON escaping (request ids, methods, route patterns, almost always). */
const PLAIN = /^[\w .:/*?@=,+-]*$/;
const quoted = new Map<string, string>();
const QUOTED_MAX = 1000;

/** `s` as a JSON string; the common values are quoted once and remembered. */
function quote(s: string, remember: boolean): string {
  let q = quoted.get(s);
  if (q !== undefined) return q;
  q = PLAIN.test(s) ? `"${s}"` : JSON.stringify(s);
  if (remember) {
    if (quoted.size >= QUOTED_MAX) quoted.clear();
    quoted.set(s, q);
  }
  return q;
}

/** The request line's JSON text, field for field what pino writes (with `base: null`). */
export function requestLineJson(time: number, reqId: string, method: string, route: string, status: number, ms: number): string {
  return `{"level":30,"time":${time},"reqId":${quote(reqId, false)},"method":${quote(method, true)},"route":${quote(route, true)},"status":${status},"ms":${Number.isFinite(ms) ? ms : null},"msg":"${REQUEST_LINE}"}\n`;
}

export interface LoggerSettings {
  /** Human-readable lines instead of JSON (default: when stdout is a terminal). */
  pretty?: boolean;
}

function messageOf(args: unknown[]): unknown {
  return typeof args[0] === 'string' ? args[0] : args[1];
}

export function createLogger(level: LogLevel, settings: LoggerSettings = {}): FlintLogger {
  if (level === 'silent') {
    return { logger: pino({ level: 'silent' }), flush: () => undefined, request: () => undefined };
  }
  // The request line is at level info.
  const requestsOn = level === 'trace' || level === 'debug' || level === 'info';
  const options: LoggerOptions = {
    level,
    // pid and hostname are the collector's to add; every byte is paid on every request.
    base: null,
    redact: { paths: REDACT, censor: '[redacted]' },
    serializers: {
      req: (req: { method?: string }) => ({ method: req.method }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
    },
  };
  if (settings.pretty ?? process.stdout.isTTY === true) {
    // A person is reading: every line at once, no buffer (a terminal's rate is a person's).
    const tty = { write: (line: string) => void writeSync(1, prettyLine(line)) };
    return {
      logger: pino(options, tty),
      flush: () => undefined,
      request: (reqId, method, route, status, ms) => {
        if (requestsOn) tty.write(requestLineJson(Date.now(), reqId, method, route, status, ms));
      },
    };
  }
  // Synchronous writes of a 4 KiB buffer: a line handed to write(2) is the kernel's and survives
  // a kill -9 of Flint; what still waits in the buffer is at most FLUSH_EVERY_MS old.
  const dest = pino.destination({ dest: 1, sync: true, minLength: 4096, periodicFlush: FLUSH_EVERY_MS });
  options.hooks = {
    logMethod(args, method) {
      method.apply(this, args);
      if (messageOf(args) !== REQUEST_LINE) dest.flush();
    },
  };
  const logger = pino(options, dest);
  return {
    logger,
    flush: () => dest.flush(),
    // Into the same buffer as pino's lines, and like them flushed within FLUSH_EVERY_MS.
    request: (reqId, method, route, status, ms) => {
      if (requestsOn) dest.write(requestLineJson(Date.now(), reqId, method, route, status, ms));
    },
  };
}
