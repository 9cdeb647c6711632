// $status and $events on Subscription (Backport IG: OperationDefinition backport-subscription-
// status and backport-subscription-events), for the route table (src/fhir/router.ts). With the
// event numbers they let a client detect a gap and fetch what it missed.
import type { Subscription } from 'fhir/r4.js';
import type { Route, FhirRequest } from '../fhir/request.js';
import type { FhirContext } from '../fhir/context.js';
import { assertVisible, requirePerm } from '../fhir/access.js';
import { FhirError, badRequest, notFound } from '../fhir/errors.js';
import { storeCall } from '../fhir/store-errors.js';
import { storedResource } from '../fhir-basics/stored.js';
import { valuesOf } from '../fhir-basics/query.js';
import { readSubscription } from './spec.js';
import { notificationBundle } from './notification.js';
import type { ServerState } from './registry.js';

/** The most events one $events answer carries. */
export const MAX_EVENTS = 500;

async function load(ctx: FhirContext, id: string) {
  requirePerm(ctx, 'r', 'Subscription');
  await assertVisible(ctx, 'r', 'Subscription', id);
  const found = await storeCall(() => ctx.store.read('Subscription', id));
  const sub = found.status === 'found' ? storedResource<Subscription & { id: string }>(found.record) : undefined;
  const state = sub ? await ctx.store.outbox.getSubscription(id) : undefined;
  if (!sub || !state) throw notFound(`Subscription/${id} is not known`);
  return { spec: readSubscription(ctx, sub), state };
}

/** An operation parameter from the query or a Parameters body. */
function param(req: FhirRequest, name: string): string | undefined {
  const q = valuesOf(req.query, name);
  if (q.length > 1) throw badRequest(`${name} may be given only once`);
  if (q[0] !== undefined) return q[0];
  const body = req.body as { resourceType?: string; parameter?: { name?: string; valueString?: string; valueCode?: string; valueInteger?: number }[] } | undefined;
  if (body === undefined || body === null) return undefined;
  if (body.resourceType !== 'Parameters') throw badRequest('The operation takes a Parameters resource (or none)');
  const p = (body.parameter ?? []).find((x) => x.name === name);
  return p?.valueString ?? p?.valueCode ?? (p?.valueInteger !== undefined ? String(p.valueInteger) : undefined);
}

function eventNumber(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d{1,15}$/.test(raw)) throw badRequest(`${name} must be a non-negative integer`);
  return Number(raw);
}

/** Issues websocket binding tokens (src/subscriptions/websocket.ts); absent: no websocket channel. */
export interface TokenIssuer {
  readonly url: string;
  issue(id: string): Promise<{ token: string; expires: Date }>;
}

export function subscriptionRoutes(ws?: TokenIssuer): Route[] {
  const routes: Route[] = [];
  for (const method of ['GET', 'POST'] as const) {
    // Backport IG OperationDefinition backport-subscription-get-ws-binding-token: a token for one
    // subscription, issued only to a caller allowed to read it (load() checks that).
    routes.push({
      method, path: '/Subscription/:id/$get-ws-binding-token', body: 'optional-json',
      handler: async (ctx, req) => {
        const { spec } = await load(ctx, req.params.id ?? '');
        if (spec.channel.type !== 'websocket' || !ws) throw new FhirError(422, 'The Subscription does not use the websocket channel', 'business-rule');
        const { token, expires } = await ws.issue(spec.id);
        return {
          status: 200,
          json: JSON.stringify({
            resourceType: 'Parameters',
            parameter: [
              { name: 'token', valueString: token },
              { name: 'expiration', valueDateTime: expires.toISOString() },
              { name: 'subscription', valueString: `${ctx.baseUrl}/Subscription/${spec.id}` },
              { name: 'websocket-url', valueUrl: ws.url },
            ],
          }),
        };
      },
    });
    routes.push({
      method, path: '/Subscription/:id/$status', body: 'optional-json',
      handler: async (ctx, req) => {
        const { spec, state } = await load(ctx, req.params.id ?? '');
        const phase = (state.data as unknown as ServerState).phase;
        const error = (state.data as unknown as ServerState).error;
        const json = notificationBundle({
          baseUrl: ctx.baseUrl, spec, status: phase, type: 'query-status', eventsSinceStart: state.events, events: [], withFocus: false,
          ...(error ? { error } : {}),
        });
        return { status: 200, json };
      },
    });
    routes.push({
      method, path: '/Subscription/:id/$events', body: 'optional-json',
      handler: async (ctx, req) => {
        const { spec, state } = await load(ctx, req.params.id ?? '');
        const from = Math.max(1, eventNumber(param(req, 'eventsSinceNumber'), 'eventsSinceNumber', 1));
        const to = Math.min(state.events, eventNumber(param(req, 'eventsUntilNumber'), 'eventsUntilNumber', state.events));
        const content = param(req, 'content');
        if (content !== undefined && !['empty', 'id-only', 'full-resource'].includes(content)) throw badRequest('content must be empty, id-only or full-resource');
        const events = to >= from ? await ctx.store.outbox.events(spec.id, from, to, MAX_EVENTS) : [];
        // Focus references only: the resources themselves are read through the caller's own access.
        const json = notificationBundle({
          baseUrl: ctx.baseUrl, spec, status: (state.data as unknown as ServerState).phase, type: 'query-event',
          eventsSinceStart: state.events, events, withFocus: content !== 'empty',
        });
        return { status: 200, json };
      },
    });
  }
  return routes;
}
