// What goes on the wire. R4 criteria subscriptions (R4 subscription.html#channels, rest-hook):
// no payload → a POST without a body; a payload → the resource PUT to [endpoint]/[type]/[id].
// Topic-based ones (Backport IG, "R4 notifications"): a Bundle of type history whose first
// entry is the SubscriptionStatus in its R4 form (a Parameters resource), then one entry per
// event (focus only for id-only, with the resource for full-resource).
import { randomUUID } from 'node:crypto';
import type { OutboxEvent } from '../store/outbox.js';
import type { SubscriptionSpec } from './spec.js';

export type NotificationType = 'handshake' | 'heartbeat' | 'event-notification' | 'query-status' | 'query-event';

export interface StatusInput {
  baseUrl: string;
  spec: SubscriptionSpec;
  status: string;
  type: NotificationType;
  /** events-since-subscription-start. */
  eventsSinceStart: number;
  events: readonly OutboxEvent[];
  /** Whether the events' focus references are included (not for content `empty`). */
  withFocus: boolean;
  error?: string;
}

type Param = Record<string, unknown>;

/** Backport IG: backport-subscription-status-r4 (Parameters). */
export function statusParameters(i: StatusInput): Record<string, unknown> {
  const parameter: Param[] = [
    { name: 'subscription', valueReference: { reference: `${i.baseUrl}/Subscription/${i.spec.id}` } },
    ...(i.spec.topic ? [{ name: 'topic', valueCanonical: i.spec.topic.url }] : []),
    { name: 'status', valueCode: i.status },
    { name: 'type', valueCode: i.type },
    // A string: the IG types it so, as it may exceed a 32-bit integer.
    { name: 'events-since-subscription-start', valueString: String(i.eventsSinceStart) },
  ];
  for (const e of i.events) {
    const part: Param[] = [
      { name: 'event-number', valueString: String(e.number) },
      { name: 'timestamp', valueInstant: e.at },
    ];
    if (i.withFocus) part.push({ name: 'focus', valueReference: { reference: `${i.baseUrl}/${String(e.data.type)}/${String(e.data.id)}` } });
    parameter.push({ name: 'notification-event', part });
  }
  if (i.error) parameter.push({ name: 'error', valueCodeableConcept: { text: i.error } });
  return { resourceType: 'Parameters', id: randomUUID(), meta: { profile: ['http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4'] }, parameter };
}

/** The notification Bundle; `resources` holds the focus resources (JSON) by event number for full-resource. */
export function notificationBundle(i: StatusInput, resources: ReadonlyMap<number, string> = new Map()): string {
  const status = statusParameters(i);
  const entries: string[] = [JSON.stringify({
    fullUrl: `urn:uuid:${String(status.id)}`, resource: status,
    request: { method: 'GET', url: `${i.baseUrl}/Subscription/${i.spec.id}/$status` }, response: { status: '200' },
  })];
  if (i.withFocus) {
    for (const e of i.events) {
      const ref = `${String(e.data.type)}/${String(e.data.id)}`;
      const json = resources.get(e.number);
      const created = e.data.create === true;
      const head = JSON.stringify({
        fullUrl: `${i.baseUrl}/${ref}`,
        request: { method: created ? 'POST' : 'PUT', url: created ? String(e.data.type) : ref },
        response: { status: created ? '201' : '200' },
      });
      // The stored JSON goes in verbatim (no re-serialisation of the resource).
      entries.push(json !== undefined ? `${head.slice(0, -1)},"resource":${json}}` : head);
    }
  }
  const bundle = JSON.stringify({
    resourceType: 'Bundle', id: randomUUID(),
    meta: { profile: ['http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4'] },
    type: 'history', timestamp: new Date().toISOString(),
  });
  return `${bundle.slice(0, -1)},"entry":[${entries.join(',')}]}`;
}

/** Channel headers (`Name: value`) as a header object. */
export function channelHeaders(spec: SubscriptionSpec): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of spec.channel.headers) {
    const i = h.indexOf(':');
    out[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
  }
  return out;
}
