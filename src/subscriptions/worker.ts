// Delivery after commit (ARCHITECTURE.md, "Shared state and background work"): the instance
// holding the delivery lease (in the store) sends, for each subscription with events past its
// delivered mark, those events in event order, marking each delivered when the endpoint answers 2xx. A
// failure waits (exponential backoff) and is retried; after maxAttempts failures in a row the
// subscription goes to status error (Subscription.error, an audit entry) and stops. The outbox
// is in the store, so a restart resumes where delivery stopped (at-least-once: an event whose
// answer was lost is sent again, with the same event number, so a receiver drops it).
import type { Subscription } from 'fhir/r4.js';
import type { FhirContext } from '../fhir/context.js';
import type { OutboxEvent, SubscriptionState } from '../store/outbox.js';
import type { WorkStore } from '../store/work.js';
import { inTransaction } from '../fhir/tx.js';
import { update } from '../fhir/interactions/write.js';
import { storedResource } from '../fhir-basics/stored.js';
import { DeliveryError, send } from './endpoint.js';
import { channelHeaders } from './notification.js';
import { eventBundle, statusBundle, versionJson } from './render.js';
import type { Entry, Registry, ServerState } from './registry.js';
import { KEEP_EVENTS, type Notifier } from './hook.js';

export interface WorkerOptions {
  allowInsecure: boolean;
  maxAttempts: number;
  timeoutMs: number;
  retryBaseMs: number;
  /** This instance, as lease owner. */
  owner: string;
  /** Subscriptions delivering at once. */
  concurrency?: number;
  /** Delivered events kept for $events. */
  keep?: number;
  /** Undelivered events past which a subscription is stopped (status error). */
  backlog?: number;
  /** How often the store is checked for work other instances left (ms). */
  pollMs?: number;
  /** How often the registry is re-read from the store at the latest (ms); at once when its generation changed. */
  refreshMs?: number;
  /** A visible record of a subscription given up on. */
  audit?: (action: string, target: string, status: number) => void;
  /** Structured lines without PHI: ids and reasons only, never bodies or endpoints. */
  log?: (fields: Record<string, unknown>, msg: string) => void;
}

const LEASE = 'subscriptions:delivery';
const LEASE_MS = 60_000;
const BATCH = 50;

/** How often a pass reads the store's subscriptions with events waiting (restarts, other instances, retries). */
const STORE_SCAN_MS = 100;

export const DELIVERY_DEFAULTS = { concurrency: 16, keep: KEEP_EVENTS, backlog: 10_000, pollMs: 1000, refreshMs: 10_000 };

export class DeliveryWorker implements Notifier {
  private readonly busy = new Set<string>();
  /**
   * Subscriptions known to have work, oldest first: served before the rest, and one that still
   * has work after its turn goes to the back, so none waits behind others' streams.
   */
  private readonly ready = new Set<string>();
  private lastStoreScan = 0;
  /**
   * Per subscription, the last event sent and answered 2xx whose delivered mark is still being
   * written: the next turn starts past it without waiting for that write (the marks of one
   * subscription are written in order; a crash before they land means a duplicate, not a loss).
   */
  private readonly sent = new Map<string, { upTo: number; marks: Promise<void> }>();
  /** Earliest next attempt per subscription (backoff). */
  private readonly notBefore = new Map<string, number>();
  private readonly lastSent = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private scheduled = false;
  private stopped = false;
  private lastRefresh = 0;
  private leaseRenewAt = 0;
  private readonly o: Required<Omit<WorkerOptions, 'audit' | 'log'>> & Pick<WorkerOptions, 'audit' | 'log'>;

  constructor(private readonly ctx: FhirContext, private readonly registry: Registry, opts: WorkerOptions) {
    this.o = { ...DELIVERY_DEFAULTS, ...opts };
  }

  private get work(): WorkStore {
    return this.ctx.store.work;
  }

  async start(): Promise<void> {
    await this.registry.load(this.ctx);
    this.lastRefresh = Date.now();
    this.timer = setInterval(() => this.kick(), this.o.pollMs);
    this.timer.unref();
    this.kick();
  }

  /** Stops starting deliveries and waits (bounded) for those under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (let i = 0; i < 100 && this.busy.size > 0; i++) await new Promise((r) => setTimeout(r, 50));
    await Promise.all([...this.sent.values()].map((s) => s.marks));
    if (this.leaseRenewAt > 0) await this.work.releaseLease(LEASE, this.o.owner).catch(() => undefined);
  }

  /** Work to look at: `ready` subscriptions were just given events (they are served in that order). */
  kick(ready?: readonly string[]): void {
    for (const id of ready ?? []) this.ready.add(id);
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pass().catch((err: unknown) => this.o.log?.({ err: (err as Error).message }, 'subscriptions: pass failed'));
    });
  }

  private async pass(): Promise<void> {
    if (this.stopped) return;
    const now = Date.now();
    // Another instance's Subscription changes show in the store's generation: read again then
    // (a write matches against the store's subscriptions anyway; this is for handshakes and heartbeats).
    if (now - this.lastRefresh > this.o.refreshMs || await this.ctx.store.outbox.generation() !== this.registry.generation) {
      this.lastRefresh = now;
      await this.registry.load(this.ctx);
    }
    if (!(await this.holdLease())) return;
    // Subscriptions told of first, in the order they were told of; then the store's (work left
    // by a restart or by another instance, retries after backoff).
    // The store's list is read at most every STORE_SCAN_MS: passes follow every commit and every
    // delivery, and the subscriptions told of are already in `ready`.
    const due = new Set<string>(this.ready);
    if (now - this.lastStoreScan >= STORE_SCAN_MS) {
      this.lastStoreScan = now;
      for (const id of await this.ctx.store.outbox.withPending()) due.add(id);
    }
    for (const e of this.registry.entries()) {
      if (e.state.phase === 'requested' && e.spec.status !== 'off') due.add(e.spec.id);
      if (e.state.phase === 'active' && e.spec.heartbeatMs && now - (this.lastSent.get(e.spec.id) ?? now) >= e.spec.heartbeatMs) due.add(e.spec.id);
      if (e.state.phase === 'active' && !this.lastSent.has(e.spec.id)) this.lastSent.set(e.spec.id, now);
      if (e.spec.end && Date.parse(e.spec.end) < now && e.state.phase !== 'off') due.add(e.spec.id);
    }
    for (const id of due) {
      if (this.stopped || this.busy.size >= this.o.concurrency) break;
      if (this.busy.has(id) || (this.notBefore.get(id) ?? 0) > now) continue;
      // An active websocket subscription is delivered by the instance its client is connected to.
      if (this.onSocket(id)) { this.ready.delete(id); continue; }
      this.ready.delete(id);
      this.busy.add(id);
      void this.run(id).catch((err: unknown) => this.o.log?.({ subscription: id, err: (err as Error).message }, 'subscriptions: delivery failed'))
        .finally(() => {
          this.busy.delete(id);
          this.kick();
        });
    }
  }

  private onSocket(id: string): boolean {
    const e = this.registry.get(id);
    return e?.spec.channel.type === 'websocket' && e.state.phase === 'active';
  }

  /**
   * Delivery runs on one instance at a time: the one holding the delivery lease, renewed well
   * before it lapses (a lease write per pass, not per notification, keeps the single writer free).
   */
  private async holdLease(): Promise<boolean> {
    const now = Date.now();
    if (now < this.leaseRenewAt) return true;
    const held = await this.work.tryLease(LEASE, this.o.owner, LEASE_MS);
    this.leaseRenewAt = held ? now + LEASE_MS / 3 : 0;
    return held;
  }

  private async run(id: string): Promise<void> {
    const entry = this.registry.get(id);
    const state = await this.ctx.store.outbox.getSubscription(id);
    if (!entry || !state) return;
    if (entry.spec.end && Date.parse(entry.spec.end) < Date.now()) return this.setPhase(entry, 'off');
    if (entry.state.phase === 'requested') return this.handshake(entry, state);
    if (entry.state.phase !== 'active') return;
    // websocket: the instance holding the client's connection delivers (socket-delivery.ts).
    if (entry.spec.channel.type === 'websocket') return;
    if (state.events - state.delivered > this.o.backlog) {
      return this.giveUp(entry, `more than ${this.o.backlog} notifications undelivered`);
    }
    const sent = this.sent.get(id)?.upTo ?? 0;
    if (state.events > Math.max(state.delivered, sent)) await this.deliver(entry, state, sent);
    else if (entry.spec.heartbeatMs) await this.heartbeat(entry, state);
  }

  private async post(entry: Entry, body: string | undefined, path = '', method: 'POST' | 'PUT' = 'POST'): Promise<void> {
    const spec = entry.spec;
    if (spec.channel.type !== 'rest-hook' || !spec.channel.endpoint) throw new DeliveryError('channel has no endpoint', true);
    const endpoint = path ? `${spec.channel.endpoint.replace(/\/$/, '')}/${path}` : spec.channel.endpoint;
    await send(endpoint, {
      method,
      headers: { ...channelHeaders(spec), ...(body !== undefined ? { 'content-type': 'application/fhir+json' } : {}) },
      ...(body !== undefined ? { body } : {}),
      timeoutMs: this.o.timeoutMs, allowInsecure: this.o.allowInsecure,
    });
    this.lastSent.set(spec.id, Date.now());
  }

  /** R4 subscription.html: requested → active once the endpoint accepts a first contact. */
  private async handshake(entry: Entry, state: SubscriptionState): Promise<void> {
    try {
      // websocket: there is no endpoint to contact; the client's bind is the contact.
      if (entry.spec.channel.type !== 'websocket') 
      await this.post(entry, entry.spec.topic ? statusBundle(this.ctx, entry, state, 'handshake', []) : undefined);
    } catch (err) {
      return this.failed(entry, err);
    }
    await this.ctx.store.outbox.acknowledge(entry.spec.id, state.delivered, this.o.keep);
    await this.setPhase(entry, 'active');
  }

  private async heartbeat(entry: Entry, state: SubscriptionState): Promise<void> {
    if (!entry.spec.topic) return;
    try {
      await this.post(entry, statusBundle(this.ctx, entry, state, 'heartbeat', []));
    } catch (err) {
      await this.failed(entry, err);
    }
  }

  /** Sends the events past the delivered mark (and past `sent`, those answered whose mark is still being written), in order. */
  private async deliver(entry: Entry, state: SubscriptionState, sent: number): Promise<void> {
    const outbox = this.ctx.store.outbox;
    const id = entry.spec.id;
    // Each delivered mark is written without holding up the next send, nor this subscription's
    // next turn (a lost mark means a duplicate after a crash, which the event number makes
    // harmless); a failure waits for them before it is counted.
    let marks: Promise<void> = this.sent.get(id)?.marks ?? Promise.resolve();
    const events = await outbox.events(id, Math.max(state.delivered, sent) + 1, state.events, BATCH);
    // Events pruned or lost below the mark cannot be sent; the first one present goes next.
    let last: number | undefined;
    for (const e of events) {
      if (this.stopped) break;
      try {
        if (entry.spec.topic) {
          await this.post(entry, await eventBundle(this.ctx, entry, state, e));
        } else if (entry.spec.channel.payload) {
          const json = await versionJson(this.ctx, e);
          await this.post(entry, json ?? '{}', `${String(e.data.type)}/${String(e.data.id)}`, 'PUT');
        } else {
          await this.post(entry, undefined);
        }
      } catch (err) {
        await marks;
        return this.failed(entry, err);
      }
      const n = e.number;
      const mark = marks = marks.then(() => outbox.acknowledge(id, n, this.o.keep)).catch((err: unknown) => {
        this.o.log?.({ subscription: id, err: (err as Error).message }, 'subscriptions: delivered mark not written');
      });
      this.sent.set(id, { upTo: n, marks: mark });
      void mark.then(() => { if (this.sent.get(id)?.marks === mark) this.sent.delete(id); });
      this.notBefore.delete(id);
      last = n;
    }
    // More than one batch waiting: back in the queue, behind those told of meanwhile.
    if (last !== undefined && last < state.events) this.ready.add(id);
  }

  private async failed(entry: Entry, err: unknown): Promise<void> {
    const reason = err instanceof DeliveryError ? err.message : 'delivery failed';
    const failures = await this.ctx.store.outbox.recordFailure(entry.spec.id);
    this.o.log?.({ subscription: entry.spec.id, failures, reason }, 'subscriptions: delivery attempt failed');
    if (failures >= this.o.maxAttempts || (err instanceof DeliveryError && err.refused && failures >= Math.min(3, this.o.maxAttempts))) {
      return this.giveUp(entry, `${reason} (${failures} attempts)`);
    }
    this.notBefore.set(entry.spec.id, Date.now() + Math.min(this.o.retryBaseMs * 2 ** (failures - 1), 60_000));
  }

  /** Stops a subscription visibly (status error, audit): for what another part of delivery found. */
  async stopWithError(id: string, reason: string): Promise<void> {
    const entry = this.registry.get(id);
    if (entry) await this.giveUp(entry, reason);
  }

  private async giveUp(entry: Entry, reason: string): Promise<void> {
    await this.setPhase(entry, 'error', reason);
    this.o.audit?.('subscription-error', `Subscription/${entry.spec.id}`, 502);
    this.o.log?.({ subscription: entry.spec.id, reason }, 'subscriptions: stopped (status error)');
  }

  /** Records the server's phase and mirrors it to Subscription.status (and .error) in one transaction. */
  private async setPhase(entry: Entry, phase: ServerState['phase'], error?: string): Promise<void> {
    const id = entry.spec.id;
    await inTransaction(this.ctx, async (tx) => {
      const st = await tx.store.outbox.getSubscription(id);
      const found = await tx.store.read('Subscription', id);
      if (!st || found.status !== 'found') return;
      const data = st.data as unknown as ServerState;
      const next: ServerState = { ...data, phase };
      if (error) next.error = error;
      else delete next.error;
      await tx.store.outbox.putSubscription(id, next as unknown as Record<string, unknown>);
      const sub = storedResource<Subscription>(found.record);
      if (!sub) return;
      const { error: _old, ...rest } = sub;
      void _old;
      await update(tx, { type: 'Subscription', id, body: { ...rest, status: phase, ...(error ? { error } : {}) } });
    });
  }
}
