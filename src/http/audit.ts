// One audit entry per request on every route (FHIR, /auth, /admin, discovery, unmatched URLs),
// allowed or refused: who, what, on what, with which outcome. Registered on the root instance so
// that a request refused before any route runs (401 on /admin, 429, 404) is recorded too.
import type { FastifyInstance } from 'fastify';
import type { AuditEntry } from '../auth/store.js';
import { routeOf } from './route-of.js';

/** The longest query string kept in an entry. */
const QUERY_MAX = 2000;

/** The time of an entry, formatted once per millisecond (several requests end in each). */
let lastMs = -1;
let lastIso = '';
function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

export function registerAudit(app: FastifyInstance, write: (entry: AuditEntry) => void): void {
  app.addHook('onResponse', (req, reply, done) => {
    // Hot path (every request): plain assignments, no spreads.
    const entry: AuditEntry = { time: isoNow(), requestId: String(req.id), action: `${req.method} ${routeOf(req)}`, status: reply.statusCode };
    const caller = req.caller;
    if (caller) {
      if (caller.clientId) entry.clientId = caller.clientId;
      if (caller.user) entry.user = caller.user;
      if (caller.patient) entry.patient = caller.patient;
    }
    const params = req.params as Record<string, string | undefined> | undefined;
    const type = params?.type ?? params?.ctype;
    if (type) {
      const id = params?.id ?? params?.cid;
      entry.target = id ? `${type}/${id}` : type;
    }
    const at = req.url.indexOf('?');
    if (at >= 0) entry.query = req.url.slice(at + 1, at + 1 + QUERY_MAX);
    write(entry);
    done();
  });
}
