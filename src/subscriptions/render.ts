// The text of one notification, as both channels send it: the rest-hook worker (worker.ts) and
// the websocket delivery of each instance (socket-delivery.ts). Topic-based subscriptions get the
// Backport IG notification Bundle; full-resource content carries the version the event is about.
import type { FhirContext } from '../fhir/context.js';
import type { OutboxEvent, SubscriptionState } from '../store/outbox.js';
import { notificationBundle, type NotificationType } from './notification.js';
import type { Entry } from './registry.js';

/** A status Bundle (handshake, heartbeat, event-notification) for the subscription as it stands. */
export function statusBundle(ctx: FhirContext, entry: Entry, state: SubscriptionState, type: NotificationType, events: readonly OutboxEvent[], resources?: Map<number, string>): string {
  return notificationBundle({
    baseUrl: ctx.baseUrl, spec: entry.spec, status: entry.state.phase === 'requested' ? 'requested' : 'active', type,
    eventsSinceStart: state.events, events, withFocus: entry.spec.channel.content !== 'empty',
  }, resources);
}

/** The version an event is about, as stored (the resource as it was at the event). */
export async function versionJson(ctx: FhirContext, e: OutboxEvent): Promise<string | undefined> {
  const { type, id, versionId } = e.data as { type: string; id: string; versionId?: string };
  const r = versionId ? await ctx.store.vread(type, id, versionId) : undefined;
  return r?.json;
}

/** The event-notification Bundle of one event of a topic-based subscription. */
export async function eventBundle(ctx: FhirContext, entry: Entry, state: SubscriptionState, e: OutboxEvent): Promise<string> {
  const resources = new Map<number, string>();
  if (entry.spec.channel.content === 'full-resource') {
    const json = await versionJson(ctx, e);
    if (json !== undefined) resources.set(e.number, json);
  }
  return statusBundle(ctx, entry, { ...state, events: Math.max(state.events, e.number) }, 'event-notification', [e], resources);
}
