// The subscription outbox (ARCHITECTURE.md, "Shared state and background work"): a notification
// is appended in the transaction of the write that caused it, with the next event number of its
// subscription, so a crash loses none; a delivery worker sends what is past the subscription's
// delivered mark after commit, in event order. Both adapters implement it (sqlite/outbox.ts,
// mongo/outbox.ts). Inside `store.transaction(tx => …)`, `tx.outbox` joins that transaction.

/** JSON-serialisable. */
export type OutboxData = Record<string, unknown>;

export interface OutboxEvent {
  /** The Subscription's id. */
  readonly subscription: string;
  /** 1, 2, … per subscription, without gaps (Backport IG: eventNumber). */
  readonly number: number;
  /** FHIR instant of the append. */
  readonly at: string;
  readonly data: OutboxData;
}

export interface SubscriptionState {
  readonly subscription: string;
  /** Events appended since the subscription started (Backport IG: events-since-subscription-start). */
  readonly events: number;
  /** Every event up to this number was delivered (acknowledged by the endpoint). */
  readonly delivered: number;
  /** Failed delivery attempts since the last success. */
  readonly failures: number;
  /** Server-side data kept with the subscription (the creator's access constraint). */
  readonly data: OutboxData;
}

export interface OutboxStore {
  /**
   * Creates or replaces the server-side data of a subscription (its counters are kept), and
   * advances the generation with it.
   */
  putSubscription(subscription: string, data: OutboxData): Promise<void>;
  /** Forgets a subscription and its events, and advances the generation. */
  dropSubscription(subscription: string): Promise<void>;
  /**
   * A stamp replaced (by a fresh random one) in the transaction of every put or drop of a
   * subscription: one cheap read tells an instance whether the subscriptions it matches writes
   * against are still those in the store (several instances on one database). Random, not a
   * counter, so that a rolled-back change and a later one never leave the same value. '' before any.
   */
  generation(): Promise<string>;
  getSubscription(subscription: string): Promise<SubscriptionState | undefined>;
  /** Subscriptions with events past their delivered mark. */
  withPending(): Promise<string[]>;
  /** Appends an event with the subscription's next number (the subscription must be put first). */
  append(subscription: string, data: OutboxData, at: string): Promise<OutboxEvent>;
  /** Events numbered in [from, to], ascending, at most `limit` (pruned ones are gone). */
  events(subscription: string, from: number, to: number, limit: number): Promise<OutboxEvent[]>;
  /**
   * Marks events up to `upTo` delivered and resets the failure count; events older than the
   * newest `keep` are pruned (they stay listable by $events until then).
   */
  acknowledge(subscription: string, upTo: number, keep: number): Promise<void>;
  /** Counts one more failed attempt; resolves with the new count. */
  recordFailure(subscription: string): Promise<number>;
}
