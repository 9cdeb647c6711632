// Websocket delivery, on every instance for the connections bound to it (issue 18: no sticky
// sessions). The outbox is in the store, so whichever instance a client's socket reaches sends
// that subscription's events past its delivered mark, in event order, and marks each delivered
// once a bound connection took it; the delivery lease (worker.ts) plays no part, and a write
// through any instance reaches a socket on any other within one poll. Heartbeats (Backport IG
// heartbeatPeriod) come from the instance holding the socket too. At-least-once, as for
// rest-hook: an event whose mark was not written is sent again with the same number; when
// clients of one subscription are bound on several instances, each event reaches at least one
// of them (the mark is the subscription's), and the others fill gaps with $events.
import type { FhirContext } from '../fhir/context.js';
import type { SubscriptionState } from '../store/outbox.js';
import type { Registry, Entry } from './registry.js';
import type { WebSocketHub } from './websocket.js';
import { eventBundle, statusBundle } from './render.js';

export interface SocketDeliveryOptions {
  /** How often events other instances recorded are looked for (ms). */
  pollMs: number;
  /** Delivered events kept for $events. */
  keep: number;
  /** Undelivered events past which a subscription is stopped. */
  backlog: number;
  /** Stops a subscription visibly (status error, audit): worker.ts stopWithError. */
  stop: (id: string, reason: string) => Promise<void>;
  log?: (fields: Record<string, unknown>, msg: string) => void;
}

const BATCH = 50;

export class SocketDelivery {
  private readonly busy = new Set<string>();
  /** When this instance last sent something to the subscription's connections (heartbeats). */
  private readonly lastSent = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private scheduled = false;
  private stopped = false;

  constructor(
    private readonly ctx: FhirContext,
    private readonly registry: Registry,
    private readonly hub: Pick<WebSocketHub, 'boundIds' | 'send'>,
    private readonly o: SocketDeliveryOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.kick(), this.o.pollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (let i = 0; i < 100 && this.busy.size > 0; i++) await new Promise((r) => setTimeout(r, 50));
  }

  /** After a local commit that appended events, a bind, and every poll. */
  kick(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      for (const id of this.hub.boundIds()) {
        if (this.busy.has(id) || this.stopped) continue;
        this.busy.add(id);
        void this.run(id).catch((err: unknown) => this.o.log?.({ subscription: id, err: (err as Error).message }, 'subscriptions: websocket delivery failed'))
          .finally(() => this.busy.delete(id));
      }
    });
  }

  private async run(id: string): Promise<void> {
    const entry = this.registry.get(id);
    // A subscription still requested here is activated by the lease holder; the next poll sees it.
    if (entry?.spec.channel.type !== 'websocket' || entry.state.phase !== 'active') return;
    const state = await this.ctx.store.outbox.getSubscription(id);
    if (!state) return;
    if (state.events - state.delivered > this.o.backlog) return this.o.stop(id, `more than ${this.o.backlog} notifications undelivered`);
    const now = Date.now();
    if (!this.lastSent.has(id)) this.lastSent.set(id, now);
    if (state.events > state.delivered) await this.deliver(entry, state);
    else if (entry.spec.topic && entry.spec.heartbeatMs && now - (this.lastSent.get(id) ?? now) >= entry.spec.heartbeatMs) {
      this.send(entry, statusBundle(this.ctx, entry, state, 'heartbeat', []));
    }
  }

  /** Sends to the subscription's connections here; whether one took it. */
  private send(entry: Entry, text: string): boolean {
    if (this.hub.send(entry.spec.id, text) === 0) return false;
    this.lastSent.set(entry.spec.id, Date.now());
    return true;
  }

  private async deliver(entry: Entry, state: SubscriptionState): Promise<void> {
    const outbox = this.ctx.store.outbox;
    const events = await outbox.events(entry.spec.id, state.delivered + 1, state.events, BATCH);
    let marks: Promise<void> = Promise.resolve();
    for (const e of events) {
      if (this.stopped) break;
      // R4 subscription.html#2.46.7.2: `ping <id>` per notification; topic-based: the Bundle itself.
      const text = entry.spec.topic ? await eventBundle(this.ctx, entry, state, e) : `ping ${entry.spec.id}`;
      // No connection took it (the client went or was too slow): it waits for the next bind.
      if (!this.send(entry, text)) break;
      const n = e.number;
      marks = marks.then(() => outbox.acknowledge(entry.spec.id, n, this.o.keep));
    }
    await marks;
    // More than one batch waiting: go on at once.
    if (events.length === BATCH && !this.stopped) setImmediate(() => this.kick());
  }
}
