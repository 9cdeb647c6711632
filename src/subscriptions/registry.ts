// The subscriptions this instance matches writes against, by resource type: read from the store
// at start and every few seconds (other instances' changes), and at once when a Subscription
// write through this instance commits. Each carries its creator's access constraint, so a
// subscription made by a patient app only hears of what that app may see.
import type { Subscription } from 'fhir/r4.js';
import type { FhirContext } from '../fhir/context.js';
import { ENGINE_SEARCH_BUDGET_MS, type AccessConstraint } from '../search/ir.js';
import { storedResource } from '../fhir-basics/stored.js';
import { readSubscription, type SubscriptionSpec } from './spec.js';

/** Server-side state of a subscription kept in the outbox's subscription record. */
export interface ServerState {
  /** Where the server is with it; mirrored to Subscription.status by the delivery worker. */
  phase: 'requested' | 'active' | 'error' | 'off';
  access?: AccessConstraint;
  error?: string;
}

export interface Entry {
  readonly spec: SubscriptionSpec;
  readonly state: ServerState;
}

/** Phases whose subscriptions record events: a requested one's wait for its handshake. */
const LISTENING = new Set(['requested', 'active']);

export class Registry {
  private readonly all = new Map<string, Entry>();
  private byType = new Map<string, Entry[]>();
  private typeList: string[] = ['Subscription'];

  /** Types whose writes concern subscriptions (Subscription itself always does). */
  get types(): readonly string[] {
    return this.typeList;
  }

  forType(type: string): readonly Entry[] {
    return this.byType.get(type) ?? [];
  }

  get(id: string): Entry | undefined {
    return this.all.get(id);
  }

  entries(): IterableIterator<Entry> {
    return this.all.values();
  }

  set(entry: Entry): void {
    this.all.set(entry.spec.id, entry);
    this.reindex();
  }

  remove(id: string): void {
    if (this.all.delete(id)) this.reindex();
  }

  private reindex(): void {
    const by = new Map<string, Entry[]>();
    for (const e of this.all.values()) {
      if (!LISTENING.has(e.state.phase) || e.spec.status === 'off') continue;
      for (const t of e.spec.where.keys()) by.set(t, [...(by.get(t) ?? []), e]);
    }
    this.byType = by;
    this.typeList = ['Subscription', ...by.keys()];
  }

  /** Replaces the content with every Subscription in the store (pages of 500). */
  async load(ctx: FhirContext): Promise<void> {
    const found = new Map<string, Entry>();
    let cursor: string | undefined;
    for (let pages = 0; pages < 1000; pages++) {
      const page = await ctx.store.search({ types: ['Subscription'], where: { and: [] }, sort: [], count: 500, total: 'none', include: [], revinclude: [], budgetMs: ENGINE_SEARCH_BUDGET_MS, ...(cursor ? { cursor } : {}) });
      for (const r of page.records) {
        const sub = storedResource<Subscription & { id: string }>(r);
        if (!sub) continue;
        const st = await ctx.store.outbox.getSubscription(sub.id);
        if (!st) continue;
        try {
          found.set(sub.id, { spec: readSubscription(ctx, sub), state: st.data as unknown as ServerState });
        } catch {
          // Stored before a definition change made it invalid: it matches nothing.
        }
      }
      if (!page.next) break;
      cursor = page.next;
    }
    this.all.clear();
    for (const [k, v] of found) this.all.set(k, v);
    this.reindex();
  }
}
