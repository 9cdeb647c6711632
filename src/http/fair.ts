// Fair turns at the HTTP edge, so that one busy client cannot raise another's latency. Node hands
// the event loop every request that arrived since it last looked, and runs each to its first
// await in arrival order: a quiet client's request then waits behind a hundred of a busy
// client's. Counting requests in progress is not enough: a read answered synchronously is done
// before the next socket is read, so a client with 128 connections never has more than one in
// progress, yet its 128 requests run back to back in one pass of the event loop. So the gate
// also counts time: within one pass of the event loop (a turn, from one check phase to the next),
// a client starts a request at once when it has fewer than `burst` in progress, none waiting, and
// either the turn has used less than `sliceMs` or this is its first request of the turn (a quiet
// client never waits for a busy one's slice). Otherwise the request waits in its client's lane,
// and each turn starts waiting requests, the lanes in rotation, before Node reads its sockets
// again. How many: as many as fit in the slice at what one start cost over the last turn, measured
// from one turn's end to the next, because a request's work runs partly in microtasks after the
// turn's callback returns, where a clock read inside the turn cannot see it. The work stays the same;
// only who goes next changes. A client is the bearer token it sends, else its address (the rate
// limits know the token's client later; here nothing is parsed yet).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { FairQueue } from '../fhir-basics/fair-queue.js';

export interface FairGateOptions {
  /** Requests a client may have in progress before the next ones wait their turn. */
  burst: number;
  /** Event-loop time a turn may spend starting requests at once before the next ones wait their turn (ms). */
  sliceMs: number;
  /** Clock and deferral to the end of the turn (tests pass their own, to drive the turns by hand). */
  now?: () => number;
  defer?: (fn: () => void) => void;
}

/** Most waiting requests one turn starts, however cheap the last ones were. */
const MAX_PER_TURN = 16;

/** Starts items at once or in fair turns; `done(key)` must follow each start. */
export class FairGate<T> {
  private readonly inProgress = new Map<string, number>();
  private readonly queue = new FairQueue<T>();
  /** When the current turn started its first item, and whose items it started. */
  private turnStart: number | undefined;
  private readonly startedThisTurn = new Set<string>();
  /** When the last turn ended, and how many requests started since: the event-loop time one start took. */
  private lastTurnEnd: number | undefined;
  private startsSinceTurnEnd = 0;
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
    if ((this.inProgress.get(key) ?? 0) < this.opts.burst && this.queue.waiting(key) === 0 && this.mayStartNow(key)) {
      this.run(key, item);
      return;
    }
    this.queue.push(key, item);
    this.schedule();
  }

  done(key: string): void {
    const n = this.inProgress.get(key) ?? 0;
    if (n <= 1) this.inProgress.delete(key);
    else this.inProgress.set(key, n - 1);
  }

  /** Within the turn's slice, or the client's first request of the turn. */
  private mayStartNow(key: string): boolean {
    return this.turnStart === undefined || this.now() - this.turnStart < this.opts.sliceMs || !this.startedThisTurn.has(key);
  }

  private run(key: string, item: T): void {
    if (this.turnStart === undefined) this.turnStart = this.now();
    this.startedThisTurn.add(key);
    this.startsSinceTurnEnd++;
    this.schedule();
    this.inProgress.set(key, (this.inProgress.get(key) ?? 0) + 1);
    this.start(key, item);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.defer(this.endTurn);
  }

  /**
   * The turn is over (Node is about to read its sockets again): the next one starts waiting
   * requests, the lanes in rotation, as many as fit in `sliceMs` at the time a start took over
   * the last turn (all its work, microtasks included; at least one, at most MAX_PER_TURN).
   */
  private readonly endTurn = (): void => {
    this.scheduled = false;
    const t = this.now();
    const perStart = this.lastTurnEnd !== undefined && this.startsSinceTurnEnd > 0 ? (t - this.lastTurnEnd) / this.startsSinceTurnEnd : Infinity;
    this.lastTurnEnd = t;
    this.startsSinceTurnEnd = 0;
    this.turnStart = undefined;
    this.startedThisTurn.clear();
    const n = Math.max(1, Math.min(MAX_PER_TURN, Math.floor(this.opts.sliceMs / perStart)));
    for (let i = 0; i < n; i++) {
      const next = this.queue.shift();
      if (!next) break;
      this.run(next.key, next.item);
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

export const FAIR_DEFAULTS = { burst: 4, sliceMs: 1 } as const;

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
