// The write hook of subscriptions: inside the unit of every write of a subscribed type (its
// group-commit savepoint on SQLite, `inline`; else its transaction, `onWrite`), find the
// subscriptions the new version matches and append their notifications to the outbox
// (crash-safe: they commit with the write or not at all). Matching evaluates the subscription's
// search IR, with the creator's access constraint, against the version's index entries in
// memory (match.ts: the same meaning as the store compilers, held to it by a differential
// test), pre-filtered by a value each criteria requires; what memory cannot decide (chains,
// _has) runs through the store, restricted to the written resource (`_id=<id>&<criteria>`).
// Writes of Subscription itself are validated here (a bad one is refused and undone) and keep
// the server-side state.
import type { Resource, Subscription } from 'fhir/r4.js';
import type { OutboxData } from '../store/outbox.js';
import type { FhirContext, WriteChange, WriteHook } from '../fhir/context.js';
import { afterCommit } from '../fhir/tx.js';
import { accessConstraint, ownsSubscription, subscriptionOwner } from '../fhir/access.js';
import { storeCall } from '../fhir/store-errors.js';
import { readSubscription } from './spec.js';
import { ENGINE_SEARCH_BUDGET_MS, type Expr } from '../search/ir.js';
import { entryKeys, InMemoryMatcher, type Candidate } from './match.js';
import type { Entry, Registry, ServerState } from './registry.js';

/** Delivered events kept for $events. */
export const KEEP_EVENTS = 1000;

export interface Notifier {
  /** Called after a commit that appended events (to the subscriptions `ready`) or changed a subscription. */
  kick(ready?: readonly string[]): void;
}

/** What a client's write of Subscription.status means for the server's phase. */
function nextPhase(status: string, previous: ServerState | undefined): ServerState['phase'] {
  if (status === 'off') return 'off';
  // The server's own status change (the worker writes the phase first) and a client's write
  // that keeps it change nothing; any other status starts over with a handshake.
  if (previous && status === previous.phase) return previous.phase;
  return 'requested';
}

async function subscriptionWrite(ctx: FhirContext, change: WriteChange, registry: Registry, notifier: Notifier): Promise<void> {
  const outbox = ctx.store.outbox;
  const generation = await outbox.generation();
  if (!change.current) {
    await outbox.dropSubscription(change.id);
    const next = await outbox.generation();
    afterCommit(ctx, () => {
      registry.remove(change.id);
      registry.advance(generation, next);
    });
    return;
  }
  const sub = change.current as Subscription & { id: string };
  const spec = readSubscription(ctx, sub);
  const before = await outbox.getSubscription(change.id);
  const prev = before?.data as ServerState | undefined;
  // The creator's (or last client editor's) access constraint; the worker's own writes carry none.
  // A patient app's Subscription keeps its owner's, whoever else edits it: an edit by a wider
  // token must not widen what that app's endpoint hears.
  const keepOwners = subscriptionOwner(sub) !== undefined && !ownsSubscription(ctx, sub);
  const access = ctx.access && !keepOwners ? accessConstraint(ctx) : prev?.access;
  const phase = nextPhase(spec.status, prev);
  const state: ServerState = { phase, ...(access ? { access } : {}), ...(phase === prev?.phase && prev.error ? { error: prev.error } : {}) };
  await outbox.putSubscription(change.id, state as unknown as Record<string, unknown>);
  // A fresh start: earlier failures do not count against the new handshake.
  if (before && phase === 'requested' && prev?.phase !== 'requested') await outbox.acknowledge(change.id, before.delivered, KEEP_EVENTS);
  const next = await outbox.generation();
  afterCommit(ctx, () => {
    registry.set({ spec, state });
    registry.advance(generation, next);
    notifier.kick();
  });
}

/** Runs the subscription's criteria through the store, restricted to the written resource: for what memory cannot decide. */
async function storeMatches(ctx: FhirContext, entry: Entry, change: WriteChange, where: Expr): Promise<boolean> {
  const access = entry.state.access;
  const page = await storeCall(() => ctx.store.search({
    types: [change.type], where: { and: [{ cond: { kind: 'id', ids: [change.id] } }, where] },
    sort: [], count: 1, total: 'none', include: [], revinclude: [], budgetMs: ENGINE_SEARCH_BUDGET_MS, ...(access ? { access } : {}),
  }));
  return page.records.length > 0;
}

/**
 * The version as the matcher sees it: `stored` once written (id and lastUpdated are the
 * store's); before the write, its id is known for an update only, its lastUpdated not at all.
 */
function candidateOf(registry: Registry, type: string, resource: Resource, when: 'stored' | 'create' | 'update'): Candidate | undefined {
  if (!registry.indexer) return undefined;
  const lu = resource.meta?.lastUpdated;
  return {
    type, entries: registry.indexer.extract(resource),
    ...(resource.id !== undefined && when !== 'create' ? { id: resource.id } : {}),
    ...(when === 'stored' && lu ? { lastUpdated: Date.parse(lu) } : {}),
  };
}

/** The event a subscription records for a version it matched. */
function eventOf(change: WriteChange): OutboxData {
  const versionId = change.current?.meta?.versionId;
  return { type: change.type, id: change.id, ...(versionId ? { versionId } : {}), create: change.previous === undefined };
}

export function subscriptionHook(registry: Registry, notifier: Notifier): WriteHook {
  const matcher = new InMemoryMatcher();
  /**
   * The subscriptions the written version matches in memory (`sure`), and those memory cannot
   * decide (`unsure`: chains, _has), in the registry's order.
   */
  const matching = (change: WriteChange): { sure: Entry[]; unsure: { entry: Entry; where: Expr }[] } => {
    const sure: Entry[] = [];
    const unsure: { entry: Entry; where: Expr }[] = [];
    if (!change.current || !registry.has(change.type)) return { sure, unsure };
    const cand = candidateOf(registry, change.type, change.current, 'stored');
    if (!cand) return { sure, unsure };
    for (const entry of registry.candidates(change.type, entryKeys(cand.entries))) {
      const where = entry.spec.where.get(change.type);
      if (!where) continue;
      if (entry.spec.topic && !entry.spec.topic.triggered(change.previous, change.current)) continue;
      const verdict = matcher.matches(where, cand, entry.state.access);
      if (verdict === undefined) unsure.push({ entry, where });
      else if (verdict) sure.push(entry);
    }
    return { sure, unsure };
  };
  return {
    // Several instances sharing the store (MongoDB): a Subscription made through another one
    // must be seen by the next write here, so every write runs the hook, which checks the
    // store's subscription generation. SQLite's database is one process's own.
    get types() {
      return registry.shared ? registry.allTypes : registry.types;
    },
    /**
     * Whether the write needs the hook (a transaction of its own): only when a subscription may
     * match what is written (a create's id and every version's lastUpdated are not known yet, so
     * conditions on them count as "may"). Writes nobody listens to keep group commit.
     */
    wants(resource, create) {
      if (registry.shared || !resource || resource.resourceType === 'Subscription') return true;
      const type = resource.resourceType;
      if (!registry.has(type)) return false;
      let cand: Candidate | undefined;
      try {
        cand = candidateOf(registry, type, resource, create ? 'create' : 'update');
      } catch {
        return true; // the store refuses it with the right error
      }
      if (!cand) return true;
      const c = cand;
      return registry.candidates(type, entryKeys(c.entries)).some((e) => {
        const where = e.spec.where.get(type);
        return where !== undefined && matcher.matches(where, c, e.state.access) !== false;
      });
    },
    async onWrite(ctx, change) {
      if (change.type === 'Subscription') return subscriptionWrite(ctx, change, registry, notifier);
      // R4 subscription.html: criteria apply to the new version; a deletion notifies nothing.
      if (!change.current) return;
      // Every Subscription committed before this write counts, wherever it was written.
      const generation = await ctx.store.outbox.generation();
      if (generation !== registry.generation) await registry.load(ctx);
      const { sure, unsure } = matching(change);
      for (const u of unsure) if (await storeMatches(ctx, u.entry, change, u.where)) sure.push(u.entry);
      const at = new Date().toISOString();
      for (const entry of sure) await ctx.store.outbox.append(entry.spec.id, eventOf(change), at);
      const ids = sure.map((e) => e.spec.id);
      if (ids.length > 0) afterCommit(ctx, () => notifier.kick(ids));
    },
    /**
     * A write of a subscribed type (not Subscription itself) on a store whose matching is all in
     * memory: its events are appended inside the store's own write (group commit kept), provided
     * the registry is the store's current one (same generation) and memory decides every verdict.
     */
    inline: {
      handles: (type) => !registry.shared && type !== 'Subscription',
      run(change, generation) {
        if (registry.shared || generation !== registry.generation) return undefined;
        const { sure, unsure } = matching(change);
        if (unsure.length > 0) return undefined;
        const at = new Date().toISOString();
        const ids = sure.map((e) => e.spec.id);
        return {
          appends: ids.map((subscription) => ({ subscription, data: eventOf(change), at })),
          ...(ids.length > 0 ? { after: () => notifier.kick(ids) } : {}),
        };
      },
    },
  };
}
