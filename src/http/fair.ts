// Fair turns at the HTTP edge, so that one busy client cannot raise another's latency. Node hands
// the event loop every request that arrived since it last looked, and runs each to its first
// await in arrival order: a quiet client's request then waits behind a hundred of a busy
// client's. Here a request starts at once when its client has fewer than `burst` in progress
// and none waiting; otherwise it waits in its client's lane, and the lanes are served in turn
// (one request from each), for at most `sliceMs` of the event loop at a time before Node looks
// at its sockets again. The work stays the same; only who goes next changes. A client is the
// bearer token it sends, else its address (the rate limits know the token's client later; here
// nothing is parsed yet).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { FairQueue } from '../fhir-basics/fair-queue.js';

export interface FairGateOptions {
  /** Requests a client may have in progress before the next ones wait their turn. */
  burst: number;
  /** Longest stretch of the event loop spent starting waiting requests before Node reads its sockets again. */
  sliceMs: number;
  /** Clock and deferral (tests pass their own, to drive the turns by hand). */
  now?: () => number;
  defer?: (fn: () => void) => void;
}

/** Starts items at once or in fair turns; `done(key)` must follow each start. */
export class FairGate<T> {
  private readonly inProgress = new Map<string, number>();
  private readonly queue = new FairQueue<T>();
  private scheduled = false;
  private readonly now: () => number;
  private readonly defer: (fn: () => void) => void;

  constructor(private readonly start: (key: string, item: T) => void, private readonly opts: FairGateOptions) {
    this.now = opts.now ?? performance.now.bind(performance);
    this.defer = opts.defer ?? setImmediate;
  }

  get waiting(): number {
    return this.queue.size;
  }

  admit(key: string, item: T): void {
    if ((this.inProgress.get(key) ?? 0) < this.opts.burst && this.queue.waiting(key) === 0) {
      this.run(key, item);
      return;
    }
    this.queue.push(key, item);
    if (!this.scheduled) {
      this.scheduled = true;
      this.defer(this.drain);
    }
  }

  done(key: string): void {
    const n = this.inProgress.get(key) ?? 0;
    if (n <= 1) this.inProgress.delete(key);
    else this.inProgress.set(key, n - 1);
  }

  private run(key: string, item: T): void {
    this.inProgress.set(key, (this.inProgress.get(key) ?? 0) + 1);
    this.start(key, item);
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    const t0 = this.now();
    // At least one per turn, so that the queue always moves.
    do {
      const next = this.queue.shift();
      if (!next) break;
      this.run(next.key, next.item);
    } while (this.now() - t0 < this.opts.sliceMs);
    if (this.queue.size > 0) {
      this.scheduled = true;
      this.defer(this.drain);
    }
  };
}

/** The client a request counts for at the edge: its bearer token, else its address. */
export function edgeClient(req: IncomingMessage): string {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.length > 0 && auth.length <= 8192) return `t ${auth}`;
  return `a ${req.socket.remoteAddress ?? ''}`;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export const FAIR_DEFAULTS = { burst: 4, sliceMs: 2 } as const;

/**
 * Fastify's `serverFactory`: an HTTP/1.1 server whose requests reach `handler` through a
 * FairGate. It applies the timeouts Fastify sets on the servers it creates itself.
 */
export function fairServer(handler: Handler, fastifyOptions: Record<string, unknown>, gateOptions: FairGateOptions = FAIR_DEFAULTS): Server {
  const gate = new FairGate<[IncomingMessage, ServerResponse]>((key, [req, res]) => {
    // The client went away while its request waited: nothing to answer.
    if (req.socket.destroyed) {
      gate.done(key);
      return;
    }
    res.once('close', () => gate.done(key));
    handler(req, res);
  }, gateOptions);
  const server = createServer((req, res) => gate.admit(edgeClient(req), [req, res]));
  const num = (name: string, fallback: number): number => {
    const v = fastifyOptions[name];
    return typeof v === 'number' ? v : fallback;
  };
  // Fastify's defaults where it left an option out.
  server.keepAliveTimeout = num('keepAliveTimeout', 72_000);
  server.requestTimeout = num('requestTimeout', 0);
  server.setTimeout(num('connectionTimeout', 0));
  return server;
}
