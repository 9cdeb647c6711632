// Per-client limits, so that one busy client cannot starve the others: a request rate (a token
// bucket refilled at RATE_LIMIT per minute, holding ten seconds' worth for bursts) and a number
// of requests in progress (CLIENT_CONCURRENCY). A client is the token's client id, or the remote
// address when there is no token (or AUTH=off). Refusals are 429 with Retry-After (RFC 6585 §4).
// Memory is bounded: at most MAX_CLIENTS entries, and idle entries (a full bucket, nothing in
// progress) carry no state, so they are the ones dropped when the table is full.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { issue } from '../fhir-basics/outcome.js';
import { sendOutcome } from './outcome.js';

export interface ClientLimits {
  /** Requests per minute per client; 0 = no rate limit. */
  requestsPerMinute: number;
  /** Requests in progress per client; 0 = no limit. */
  concurrent: number;
}

interface ClientState {
  tokens: number;
  at: number;
  inFlight: number;
}

const MAX_CLIENTS = 10_000;

/** The per-client table: pure bookkeeping, no HTTP (tested on its own and through the plugin). */
export class ClientTable {
  private readonly clients = new Map<string, ClientState>();
  private readonly capacity: number;
  private readonly perMs: number;

  constructor(private readonly limits: ClientLimits, private readonly maxClients = MAX_CLIENTS) {
    this.capacity = Math.max(1, Math.ceil(limits.requestsPerMinute / 6));
    this.perMs = limits.requestsPerMinute / 60_000;
  }

  get size(): number {
    return this.clients.size;
  }

  /** Admits a request of `key` (then `release` must follow), or says how many seconds to wait. */
  admit(key: string, now: number): { ok: true } | { ok: false; retryAfterS: number; why: 'rate' | 'concurrency' } {
    let c = this.clients.get(key);
    if (!c) {
      if (this.clients.size >= this.maxClients) this.evict();
      c = { tokens: this.capacity, at: now, inFlight: 0 };
      this.clients.set(key, c);
    }
    if (this.limits.concurrent > 0 && c.inFlight >= this.limits.concurrent) return { ok: false, retryAfterS: 1, why: 'concurrency' };
    if (this.limits.requestsPerMinute > 0) {
      c.tokens = Math.min(this.capacity, c.tokens + (now - c.at) * this.perMs);
      c.at = now;
      if (c.tokens < 1) return { ok: false, retryAfterS: Math.max(1, Math.ceil((1 - c.tokens) / this.perMs / 1000)), why: 'rate' };
      c.tokens -= 1;
    }
    c.inFlight++;
    return { ok: true };
  }

  release(key: string): void {
    const c = this.clients.get(key);
    if (c && c.inFlight > 0) c.inFlight--;
  }

  /**
   * Drops the oldest tenth of the entries that have nothing in progress (a dropped client
   * starts again with a full bucket: the limit loosens for it, memory stays bounded).
   */
  private evict(): void {
    let drop = Math.max(1, Math.floor(this.maxClients / 10));
    for (const [key, c] of this.clients) {
      if (drop === 0) break;
      if (c.inFlight === 0) {
        this.clients.delete(key);
        drop--;
      }
    }
  }
}

/** The client a request counts as: its token's client, else its address. */
export function clientKey(req: FastifyRequest): string {
  const id = req.caller?.clientId;
  return id ? `client:${id}` : `ip:${req.ip}`;
}

/**
 * Registers the limits on the root instance. They run at preParsing: after the auth guards (so
 * the token's client is known) and before the body is read (so a refused request costs little).
 */
export function registerLimits(app: FastifyInstance, limits: ClientLimits): void {
  if (limits.requestsPerMinute === 0 && limits.concurrent === 0) return;
  const table = new ClientTable(limits);
  app.addHook('preParsing', (req: FastifyRequest, reply: FastifyReply, payload, done) => {
    const key = clientKey(req);
    const verdict = table.admit(key, Date.now());
    if (!verdict.ok) {
      const msg = verdict.why === 'rate'
        ? `Too many requests from this client (more than ${limits.requestsPerMinute} a minute); retry after ${verdict.retryAfterS} s`
        : `Too many requests in progress from this client (at most ${limits.concurrent}); retry when one has finished`;
      void sendOutcome(reply, 429, [issue('error', 'throttled', msg)], { 'retry-after': String(verdict.retryAfterS) });
      return;
    }
    // 'close' comes once per response, finished or aborted.
    reply.raw.once('close', () => table.release(key));
    done(null, payload);
  });
}
