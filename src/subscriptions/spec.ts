// A Subscription resource read into what matching and delivery need, or refused with a 4xx.
// Two kinds: R4 criteria subscriptions (R4 subscription.html: `criteria` is a search on one
// type) and topic-based ones (Backport IG: `criteria` is a topic canonical, filters in the
// backport-filter-criteria extension). Either way the conditions become search IR, parsed with
// the same parser as GET, so that a notification means exactly "this version matches the search".
import type { Subscription } from 'fhir/r4.js';
import type { FhirContext } from '../fhir/context.js';
import type { Expr } from '../search/ir.js';
import { SearchParseError } from '../search/parse.js';
import { FhirError } from '../fhir/errors.js';
import { topicByUrl, type Topic } from './topics.js';

export const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
const FILTER_EXT = `${BACKPORT}/backport-filter-criteria`;
const CONTENT_EXT = `${BACKPORT}/backport-payload-content`;
const HEARTBEAT_EXT = `${BACKPORT}/backport-heartbeat-period`;

export type Content = 'empty' | 'id-only' | 'full-resource';

export interface SubscriptionSpec {
  readonly id: string;
  readonly status: 'requested' | 'active' | 'error' | 'off';
  /** Topic-based (Backport IG); undefined for an R4 criteria subscription. */
  readonly topic?: Topic;
  /** Per resource type, what the new version must match (search IR). */
  readonly where: ReadonlyMap<string, Expr>;
  readonly channel: {
    readonly type: 'rest-hook' | 'websocket';
    readonly endpoint?: string;
    /** `Name: value` lines (R4 Subscription.channel.header). */
    readonly headers: readonly string[];
    /** R4 criteria subscriptions: the payload MIME type; absent sends no body. */
    readonly payload?: string;
    readonly content: Content;
  };
  readonly heartbeatMs?: number;
  readonly end?: string;
}

/** Bounds on what a subscription may ask for (hostile input). */
export const LIMITS = { criteria: 2000, headers: 10, headerLength: 1000, filters: 10 };

const invalid = (msg: string): FhirError => new FhirError(422, msg, 'invalid');

function parseWhere(ctx: FhirContext, criteria: string, allowed?: (type: string) => readonly string[] | undefined): { type: string; where: Expr } {
  if (criteria.length > LIMITS.criteria) throw invalid(`Subscription criteria longer than ${LIMITS.criteria} characters`);
  const q = criteria.indexOf('?');
  const type = q < 0 ? criteria : criteria.slice(0, q);
  if (!ctx.defs.resourceTypes.includes(type)) throw invalid(`Subscription criteria must be a search on one resource type ("Observation?code=…"), not "${type.slice(0, 60)}"`);
  const params = [...new URLSearchParams(q < 0 ? '' : criteria.slice(q + 1)).entries()];
  const names = allowed?.(type);
  if (allowed && !names) throw invalid(`The topic has no events for ${type}`);
  for (const [name] of params) {
    const base = name.split(':')[0] ?? name;
    if (/^_(count|sort|include|revinclude|summary|elements|total|format|pretty|cursor|type)$/.test(base)) throw invalid(`${base} has no meaning in Subscription criteria`);
    if (names && !names.includes(base)) throw invalid(`The topic cannot be filtered by ${base.slice(0, 60)} (allowed: ${names.join(', ')})`);
  }
  try {
    // Strict: an unknown parameter would widen the criteria to everything.
    const parsed = ctx.search.parser.parse({ types: [type], params, handling: 'strict', defaultCount: 1, maxCount: 1 });
    return { type, where: parsed.query.where };
  } catch (err) {
    if (err instanceof SearchParseError) throw invalid(`Subscription criteria: ${err.message}`);
    throw err;
  }
}

function ext(list: { url?: string; valueString?: string; valueCode?: string; valueUnsignedInt?: number }[] | undefined, url: string) {
  return (list ?? []).filter((e) => e.url === url);
}

export function readSubscription(ctx: FhirContext, sub: Subscription & { id: string }): SubscriptionSpec {
  const criteria = sub.criteria ?? '';
  const ch = sub.channel ?? ({} as Subscription['channel']);
  if (ch.type !== 'rest-hook' && ch.type !== 'websocket') throw invalid(`Subscription channel type ${String(ch.type).slice(0, 30)} is not supported (rest-hook, websocket)`);
  const headers = ch.header ?? [];
  if (headers.length > LIMITS.headers || headers.some((h) => typeof h !== 'string' || h.length > LIMITS.headerLength || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n]*$/.test(h))) {
    throw invalid(`Subscription.channel.header: at most ${LIMITS.headers} "Name: value" lines without line breaks`);
  }
  let endpoint: string | undefined;
  if (ch.type === 'rest-hook') {
    endpoint = ch.endpoint;
    let url: URL;
    try {
      url = new URL(endpoint ?? '');
    } catch {
      throw invalid('A rest-hook Subscription needs channel.endpoint, an absolute URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid('channel.endpoint must be an https URL');
    if (url.username || url.password) throw invalid('channel.endpoint must not carry credentials; use channel.header');
  }
  const where = new Map<string, Expr>();
  let topic: Topic | undefined;
  let content: Content = ch.payload ? 'full-resource' : 'empty';
  if (/^https?:\/\//.test(criteria)) {
    topic = topicByUrl(criteria);
    if (!topic) throw invalid(`Unknown SubscriptionTopic ${criteria.slice(0, 200)}`);
    const t = topic;
    const filters = ext((sub as { _criteria?: { extension?: [] } })._criteria?.extension, FILTER_EXT);
    if (filters.length > LIMITS.filters) throw invalid(`At most ${LIMITS.filters} filter criteria`);
    for (const f of filters) {
      const { type, where: w } = parseWhere(ctx, f.valueString ?? '', (ty) => t.filters[ty]);
      const prev = where.get(type);
      where.set(type, prev ? { and: [prev, w] } : w);
    }
    for (const ty of t.types) if (!where.has(ty)) where.set(ty, { and: [] });
    const c = ext((ch as { _payload?: { extension?: [] } })._payload?.extension, CONTENT_EXT)[0]?.valueCode;
    if (c !== undefined && c !== 'empty' && c !== 'id-only' && c !== 'full-resource') throw invalid(`Unknown payload content ${String(c).slice(0, 30)}`);
    content = c ?? 'id-only';
    if (ch.payload && ch.payload !== 'application/fhir+json' && ch.payload !== 'application/json') throw invalid('channel.payload must be application/fhir+json');
  } else {
    const { type, where: w } = parseWhere(ctx, criteria);
    where.set(type, w);
    if (ch.payload && !/^application\/(fhir\+)?json(;|$)/.test(ch.payload)) throw invalid('channel.payload: only application/fhir+json is supported');
  }
  const hb = ext((ch as { extension?: [] }).extension, HEARTBEAT_EXT)[0]?.valueUnsignedInt;
  const status = sub.status;
  if (status !== 'requested' && status !== 'active' && status !== 'error' && status !== 'off') throw invalid('Subscription.status must be requested, active, error or off');
  return {
    id: sub.id, status, where,
    ...(topic ? { topic } : {}),
    channel: { type: ch.type, ...(endpoint ? { endpoint } : {}), headers, ...(ch.payload ? { payload: ch.payload } : {}), content },
    ...(typeof hb === 'number' && hb > 0 ? { heartbeatMs: Math.max(hb, 10) * 1000 } : {}),
    ...(sub.end ? { end: sub.end } : {}),
  };
}
