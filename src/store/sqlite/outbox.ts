// The outbox (../outbox.ts) on SQLite: two tables on the writer connection. `run` executes a
// write inside the open transaction or as a group-committed write of its own; `read` sees the
// transaction's own writes inside one, committed data otherwise.
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { OutboxData, OutboxEvent, OutboxStore, SubscriptionState } from '../outbox.js';

export const OUTBOX_SCHEMA = `
CREATE TABLE IF NOT EXISTS sub_state (
  sub TEXT PRIMARY KEY, events INTEGER NOT NULL DEFAULT 0, delivered INTEGER NOT NULL DEFAULT 0,
  failures INTEGER NOT NULL DEFAULT 0, data TEXT NOT NULL DEFAULT '{}'
);
-- Subscriptions with undelivered events, found without reading every subscription's row.
CREATE INDEX IF NOT EXISTS sub_state_pending ON sub_state (sub) WHERE events > delivered;
CREATE TABLE IF NOT EXISTS sub_generation (id INTEGER PRIMARY KEY CHECK (id = 1), stamp TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sub_event (
  sub TEXT NOT NULL, n INTEGER NOT NULL, at TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (sub, n)
) WITHOUT ROWID;
`;

interface StateRow { sub: string; events: number; delivered: number; failures: number; data: string }
interface EventRow { sub: string; n: number; at: string; data: string }

type Run = <T>(fn: () => T) => Promise<T>;

/** Prepared once per connection (a transaction's store makes a new SqliteOutbox). */
const prepared = new WeakMap<Database.Database, ReturnType<typeof prepare>>();

function statements(db: Database.Database): ReturnType<typeof prepare> {
  let s = prepared.get(db);
  if (!s) {
    s = prepare(db);
    prepared.set(db, s);
  }
  return s;
}

function prepare(db: Database.Database) {
  return {
    bump: db.prepare<[string]>('INSERT INTO sub_generation (id, stamp) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET stamp = excluded.stamp'),
    generation: db.prepare<[], { stamp: string }>('SELECT stamp FROM sub_generation WHERE id = 1'),
    put: db.prepare<[string, string]>(`INSERT INTO sub_state (sub, data) VALUES (?, ?) ON CONFLICT (sub) DO UPDATE SET data = excluded.data`),
    dropState: db.prepare<[string]>('DELETE FROM sub_state WHERE sub = ?'),
    dropEvents: db.prepare<[string]>('DELETE FROM sub_event WHERE sub = ?'),
    get: db.prepare<[string], StateRow>('SELECT sub, events, delivered, failures, data FROM sub_state WHERE sub = ?'),
    pending: db.prepare<[], { sub: string }>('SELECT sub FROM sub_state WHERE events > delivered'),
    next: db.prepare<[string], { events: number }>('UPDATE sub_state SET events = events + 1 WHERE sub = ? RETURNING events'),
    insert: db.prepare<[string, number, string, string]>('INSERT INTO sub_event (sub, n, at, data) VALUES (?, ?, ?, ?)'),
    events: db.prepare<[string, number, number, number], EventRow>('SELECT sub, n, at, data FROM sub_event WHERE sub = ? AND n >= ? AND n <= ? ORDER BY n LIMIT ?'),
    ack: db.prepare<[number, string]>('UPDATE sub_state SET delivered = max(delivered, ?), failures = 0 WHERE sub = ?'),
    prune: db.prepare<[string, number]>('DELETE FROM sub_event WHERE sub = ? AND n <= ?'),
    fail: db.prepare<[string], { failures: number }>('UPDATE sub_state SET failures = failures + 1 WHERE sub = ? RETURNING failures'),
  };
}

export class SqliteOutbox implements OutboxStore {
  private readonly s: ReturnType<typeof statements>;
  /** Reads: the writer inside a transaction (own writes), else the WAL reader (never waits for writes). */
  private readonly r: ReturnType<typeof statements>;

  constructor(writer: Database.Database, reader: Database.Database, private readonly run: Run, private readonly read: Run) {
    this.s = statements(writer);
    this.r = statements(reader);
  }

  putSubscription(subscription: string, data: OutboxData): Promise<void> {
    return this.run(() => { this.s.put.run(subscription, JSON.stringify(data)); this.s.bump.run(randomUUID()); });
  }

  dropSubscription(subscription: string): Promise<void> {
    return this.run(() => { this.s.dropEvents.run(subscription); this.s.dropState.run(subscription); this.s.bump.run(randomUUID()); });
  }

  generation(): Promise<string> {
    return this.read(() => this.r.generation.get()?.stamp ?? '');
  }

  getSubscription(subscription: string): Promise<SubscriptionState | undefined> {
    return this.read(() => {
      const row = this.r.get.get(subscription);
      return row ? { subscription, events: row.events, delivered: row.delivered, failures: row.failures, data: JSON.parse(row.data) as OutboxData } : undefined;
    });
  }

  withPending(): Promise<string[]> {
    return this.read(() => this.r.pending.all().map((r) => r.sub));
  }

  append(subscription: string, data: OutboxData, at: string): Promise<OutboxEvent> {
    return this.run(() => this.appendNow(subscription, data, at));
  }

  /** append, synchronously in the unit already open on the writer (a write's followUp). */
  appendNow(subscription: string, data: OutboxData, at: string): OutboxEvent {
    const n = this.s.next.get(subscription)?.events;
    if (n === undefined) throw new Error(`outbox: subscription ${subscription} is not registered`);
    this.s.insert.run(subscription, n, at, JSON.stringify(data));
    return { subscription, number: n, at, data };
  }

  /** generation, read on the writer in the unit already open there. */
  generationNow(): string {
    return this.s.generation.get()?.stamp ?? '';
  }

  events(subscription: string, from: number, to: number, limit: number): Promise<OutboxEvent[]> {
    return this.read(() => this.r.events.all(subscription, from, to, limit)
      .map((r) => ({ subscription, number: r.n, at: r.at, data: JSON.parse(r.data) as OutboxData })));
  }

  acknowledge(subscription: string, upTo: number, keep: number): Promise<void> {
    return this.run(() => {
      this.s.ack.run(upTo, subscription);
      this.s.prune.run(subscription, upTo - keep);
    });
  }

  recordFailure(subscription: string): Promise<number> {
    return this.run(() => this.s.fail.get(subscription)?.failures ?? 0);
  }
}
