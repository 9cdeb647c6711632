// The process logger: pino, JSON lines on stdout, credentials redacted, no request bodies or
// query strings (they carry patient data). Writes are buffered (4 KiB) so that logging one line
// per request does not cost one syscall per request; the buffer is flushed on close and exit.
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

/** Headers that may carry credentials; never logged. */
const REDACT = ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]', 'res.headers["set-cookie"]'];

export interface FlintLogger {
  logger: Logger;
  flush(): void;
}

export function createLogger(level: LogLevel): FlintLogger {
  if (level === 'silent') {
    return { logger: pino({ level: 'silent' }), flush: () => undefined };
  }
  const dest = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  const logger = pino({
    level,
    // pid and hostname are the collector's to add; every byte is paid on every request.
    base: null,
    redact: { paths: REDACT, censor: '[redacted]' },
    serializers: {
      req: (req: { method?: string }) => ({ method: req.method }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
    },
  }, dest);
  return { logger, flush: () => dest.flushSync() };
}
