// The subscriptions this instance matches writes against, by resource type: read from the store
// at start and every few seconds (other instances' changes), and at once when a Subscription
// write through this instance commits. Each carries its creator's access constraint, so a
// subscription made by a patient app only hears of what that app may see.
import type { Subscription } from 'fhir/r4.js';
import type { FhirContext } from '../fhir/context.js';
import { ENGINE_SEARCH_BUDGET_MS, type AccessConstraint } from '../search/ir.js';
import { storedResource } from '../fhir-basics/stored.js';
import { readSubscription, type SubscriptionSpec } from './spec.js';
import { requiredKeys } from './match.js';
import { Indexer } from '../search/extract.js';

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

/** The listening subscriptions of one resource type, pre-filtered by a value their criteria require. */
interface TypeIndex {
  /** Candidates for every write of the type. */
  readonly unkeyed: Entry[];
  /** Candidates for a write whose index entries hold the key (match.ts requiredKeys). */
  readonly keyed: Map<string, Entry[]>;
}

/** Phases whose subscriptions record events: a requested one's wait for its handshake. */
const LISTENING = new Set(['requested', 'active']);

export class Registry {
  private readonly all = new Map<string, Entry>();
  private byType = new Map<string, TypeIndex>();
  /** The store's subscription generation this content reflects (outbox.ts generation). */
  generation: string | undefined;
  private typeList: string[] = ['Subscription'];

  /** Types whose writes concern subscriptions (Subscription itself always does). */
  get types(): readonly string[] {
    return this.typeList;
  }

  /** Whether any listening subscription concerns writes of `type`. */
  has(type: string): boolean {
    return this.byType.has(type);
  }

  /** The subscriptions a version of `type` with index entries holding `keys` may match. */
  candidates(type: string, keys: ReadonlySet<string>): Entry[] {
    const ix = this.byType.get(type);
    if (!ix) return [];
    const out = [...ix.unkeyed];
    let seen: Set<Entry> | undefined;
    for (const k of keys) {
      const list = ix.keyed.get(k);
      if (!list) continue;
      for (const e of list) {
        // A subscription may sit under several keys (an OR of values): once.
        seen ??= new Set(out);
        if (!seen.has(e)) {
          seen.add(e);
          out.push(e);
        }
      }
    }
    return out;
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

  /**
   * After this instance committed a subscription change that took the store's generation from
   * `before` to `after`: when the content was current at `before`, it is current at `after`.
   */
  advance(before: string, after: string): void {
    if (this.generation === before) this.generation = after;
  }

  remove(id: string): void {
    if (this.all.delete(id)) this.reindex();
  }

  private reindex(): void {
    const by = new Map<string, TypeIndex>();
    for (const e of this.all.values()) {
      if (!LISTENING.has(e.state.phase) || e.spec.status === 'off') continue;
      for (const [t, where] of e.spec.where) {
        let ix = by.get(t);
        if (!ix) by.set(t, ix = { unkeyed: [], keyed: new Map() });
        const keys = requiredKeys(where);
        if (!keys) ix.unkeyed.push(e);
        else {
          for (const k of new Set(keys)) {
            const list = ix.keyed.get(k);
            if (list) list.push(e);
            else ix.keyed.set(k, [e]);
          }
        }
      }
    }
    this.byType = by;
    this.typeList = ['Subscription', ...by.keys()];
  }

  /** Extracts the index entries of written versions (set by the first load). */
  indexer: Indexer | undefined;
  /** Every resource type (set by the first load). */
  allTypes: readonly string[] = [];
  /** Whether other instances may write the store too (set by the first load: not SQLite, which one process owns). */
  shared = false;

  /**
   * Replaces the content with every Subscription in the store (pages of 500), as `ctx` sees it
   * (inside a write transaction: everything committed before it, and its own writes).
   */
  async load(ctx: FhirContext): Promise<void> {
    this.indexer ??= new Indexer(ctx.defs, ctx.baseUrl, ctx.search.params);
    this.allTypes = ctx.defs.resourceTypes;
    this.shared = ctx.store.kind !== 'sqlite';
    // Read before the content: a change committed in between makes the next write load again.
    const generation = await ctx.store.outbox.generation();
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
    this.generation = generation;
  }
}
