// The outbox (../outbox.ts) on MongoDB: a state document per subscription (`outbox_state`) and
// an event document per notification (`outbox`, _id `sub#n`). Inside a Store.transaction the
// operations join its session, so the event commits with the write that caused it; a
// concurrent append from another instance conflicts on the state document and is retried by
// the transaction. On a standalone server (no transactions) they run on their own.
import { randomUUID } from 'node:crypto';
import type { MongoDb, Session } from './db.js';
import { OUTBOX, OUTBOX_STATE } from './layout.js';
import type { OutboxData, OutboxEvent, OutboxStore, SubscriptionState } from '../outbox.js';
import { StoreError } from '../port.js';

interface StateDoc { _id: string; events: number; delivered: number; failures: number; data: OutboxData }

const eventId = (sub: string, n: number): string => `${sub}#${n}`;
/** The generation counter's document in OUTBOX_STATE (no subscription id holds a NUL). */
const GENERATION = '\u0000generation';

export class MongoOutbox implements OutboxStore {
  constructor(private readonly db: MongoDb, private readonly session: Session | undefined, private readonly serialise: <T>(fn: () => Promise<T>) => Promise<T>) {}

  /** Outside a transaction, this process's outbox writes queue behind its store writes. */
  private write<T>(fn: () => Promise<T>): Promise<T> {
    return this.session ? fn() : this.serialise(fn);
  }

  private async state(sub: string): Promise<StateDoc | undefined> {
    const [doc] = await this.db.find(OUTBOX_STATE, { _id: sub }, { limit: 1 }, this.session);
    return doc as StateDoc | undefined;
  }

  putSubscription(subscription: string, data: OutboxData): Promise<void> {
    return this.write(async () => {
      const cur = await this.state(subscription);
      const doc: StateDoc = cur ? { ...cur, data } : { _id: subscription, events: 0, delivered: 0, failures: 0, data };
      await this.db.replaceOne(OUTBOX_STATE, { _id: subscription }, { ...doc }, true, this.session);
      await this.bump();
    });
  }

  private async bump(): Promise<void> {
    await this.db.replaceOne(OUTBOX_STATE, { _id: GENERATION }, { _id: GENERATION, stamp: randomUUID() }, true, this.session);
  }

  async generation(): Promise<string> {
    const [doc] = await this.db.find(OUTBOX_STATE, { _id: GENERATION }, { limit: 1 }, this.session);
    return typeof doc?.stamp === 'string' ? doc.stamp : '';
  }

  dropSubscription(subscription: string): Promise<void> {
    return this.write(async () => {
      const cur = await this.state(subscription);
      await this.bump();
      if (!cur) return;
      await this.db.deleteOne(OUTBOX_STATE, { _id: subscription }, this.session);
      const left = await this.db.find(OUTBOX, { s: subscription }, { projection: { _id: 1 } }, this.session);
      for (const d of left) await this.db.deleteOne(OUTBOX, { _id: d._id }, this.session);
    });
  }

  async getSubscription(subscription: string): Promise<SubscriptionState | undefined> {
    const cur = await this.state(subscription);
    return cur ? { subscription, events: cur.events, delivered: cur.delivered, failures: cur.failures, data: cur.data } : undefined;
  }

  async withPending(): Promise<string[]> {
    const docs = await this.db.find(OUTBOX_STATE, { _id: { $ne: GENERATION }, $expr: { $gt: ['$events', '$delivered'] } }, { projection: { _id: 1 } }, this.session);
    return docs.map((d) => String(d._id));
  }

  append(subscription: string, data: OutboxData, at: string): Promise<OutboxEvent> {
    return this.write(async () => {
      const cur = await this.state(subscription);
      if (!cur) throw new Error(`outbox: subscription ${subscription} is not registered`);
      const n = cur.events + 1;
      // Compare-and-set on the counter: two appenders never take the same number.
      const ok = await this.db.replaceOne(OUTBOX_STATE, { _id: subscription, events: cur.events }, { ...cur, events: n }, false, this.session);
      if (!ok) throw new StoreError('version-conflict', 'outbox: concurrent append');
      await this.db.insertOne(OUTBOX, { _id: eventId(subscription, n), s: subscription, n, at, data }, this.session);
      return { subscription, number: n, at, data };
    });
  }

  async events(subscription: string, from: number, to: number, limit: number): Promise<OutboxEvent[]> {
    const docs = await this.db.find(OUTBOX, { s: subscription, n: { $gte: from, $lte: to } }, { sort: { n: 1 }, limit }, this.session);
    return docs.map((d) => ({ subscription, number: Number(d.n), at: String(d.at), data: d.data as OutboxData }));
  }

  acknowledge(subscription: string, upTo: number, keep: number): Promise<void> {
    return this.write(async () => {
      const cur = await this.state(subscription);
      if (!cur) return;
      const delivered = Math.max(cur.delivered, upTo);
      await this.db.setFields(OUTBOX_STATE, { _id: subscription }, { delivered, failures: 0 }, this.session);
      // Events up to delivered - keep go; those before cur.delivered - keep went at an earlier acknowledgement.
      for (let n = Math.max(1, cur.delivered - keep + 1); n <= delivered - keep; n++) {
        await this.db.deleteOne(OUTBOX, { _id: eventId(subscription, n) }, this.session);
      }
    });
  }

  recordFailure(subscription: string): Promise<number> {
    return this.write(async () => {
      const cur = await this.state(subscription);
      if (!cur) return 0;
      await this.db.setFields(OUTBOX_STATE, { _id: subscription }, { failures: cur.failures + 1 }, this.session);
      return cur.failures + 1;
    });
  }
}
