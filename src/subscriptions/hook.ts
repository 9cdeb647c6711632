// The write hook of subscriptions: inside the transaction of every write of a subscribed type,
// find the subscriptions the new version matches and append their notifications to the outbox
// (crash-safe: they commit with the write or not at all). Matching runs the subscription's
// search IR through the store, restricted to the written resource (`_id=<id>&<criteria>`) and
// to the creator's access constraint: the same compiler as GET search, so a notification is
// sent exactly when the search would have found the version. Writes of Subscription itself are
// validated here (a bad one is refused and undone) and keep the server-side state.
import type { Subscription } from 'fhir/r4.js';
import type { FhirContext, WriteChange, WriteHook } from '../fhir/context.js';
import { afterCommit } from '../fhir/tx.js';
import { accessConstraint } from '../fhir/access.js';
import { storeCall } from '../fhir/store-errors.js';
import { readSubscription } from './spec.js';
import type { Entry, Registry, ServerState } from './registry.js';

/** Delivered events kept for $events. */
export const KEEP_EVENTS = 1000;

export interface Notifier {
  /** Called after a commit that appended events or changed a subscription. */
  kick(): void;
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
  if (!change.current) {
    await outbox.dropSubscription(change.id);
    afterCommit(ctx, () => registry.remove(change.id));
    return;
  }
  const sub = change.current as Subscription & { id: string };
  const spec = readSubscription(ctx, sub);
  const before = await outbox.getSubscription(change.id);
  const prev = before?.data as ServerState | undefined;
  // The creator's (or last client editor's) access constraint; the worker's own writes carry none.
  const access = ctx.access ? accessConstraint(ctx) : prev?.access;
  const phase = nextPhase(spec.status, prev);
  const state: ServerState = { phase, ...(access ? { access } : {}), ...(phase === prev?.phase && prev.error ? { error: prev.error } : {}) };
  await outbox.putSubscription(change.id, state as unknown as Record<string, unknown>);
  // A fresh start: earlier failures do not count against the new handshake.
  if (before && phase === 'requested' && prev?.phase !== 'requested') await outbox.acknowledge(change.id, before.delivered, KEEP_EVENTS);
  afterCommit(ctx, () => {
    registry.set({ spec, state });
    notifier.kick();
  });
}

async function matches(ctx: FhirContext, entry: Entry, change: WriteChange): Promise<boolean> {
  const where = entry.spec.where.get(change.type);
  if (!where) return false;
  if (entry.spec.topic && !entry.spec.topic.triggered(change.previous, change.current)) return false;
  // R4 subscription.html: criteria apply to the new version; a deletion notifies nothing.
  if (!change.current) return false;
  const access = entry.state.access;
  const page = await storeCall(() => ctx.store.search({
    types: [change.type], where: { and: [{ cond: { kind: 'id', ids: [change.id] } }, where] },
    sort: [], count: 1, total: 'none', include: [], revinclude: [], ...(access ? { access } : {}),
  }));
  return page.records.length > 0;
}

export function subscriptionHook(registry: Registry, notifier: Notifier): WriteHook {
  return {
    get types() {
      return registry.types;
    },
    async onWrite(ctx, change) {
      if (change.type === 'Subscription') return subscriptionWrite(ctx, change, registry, notifier);
      let appended = false;
      for (const entry of registry.forType(change.type)) {
        if (!(await matches(ctx, entry, change))) continue;
        const versionId = (change.current as { meta?: { versionId?: string } } | undefined)?.meta?.versionId;
        await ctx.store.outbox.append(entry.spec.id, {
          type: change.type, id: change.id, ...(versionId ? { versionId } : {}), create: change.previous === undefined,
        }, new Date().toISOString());
        appended = true;
      }
      if (appended) afterCommit(ctx, () => notifier.kick());
    },
  };
}
