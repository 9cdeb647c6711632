// history at instance, type and system level (R4 http.html#history): newest first, paged with
// opaque cursors over the change sequence.
import type { VersionRecord } from '../../store/port.js';
import type { FhirContext } from '../context.js';
import type { RawBundle, RawEntry } from '../bundle.js';
import { assertId, assertType } from '../resource.js';
import { parseCount, parseInstant, single } from '../params.js';
import type { QueryPairs } from '../../fhir-basics/query.js';
import { pageLinks } from '../../fhir-basics/paging.js';
import { etagOf } from '../../fhir-basics/etag.js';
import { badRequest, notFound } from '../errors.js';
import { storeCall } from '../store-errors.js';
import { accessConstraint, assertVisible, requirePerm } from '../access.js';
import type { AccessConstraint } from '../../search/ir.js';

export interface HistoryInput {
  type?: string;
  id?: string;
  /** Query parameters in order (repeats kept). */
  params: QueryPairs;
}

const UNSUPPORTED = ['_at', '_list'];

export function historyEntry(ctx: FhirContext, r: VersionRecord): RawEntry {
  const url = `${r.type}/${r.id}`;
  const status = r.deleted ? '204 No Content' : r.versionId === '1' ? '201 Created' : '200 OK';
  return {
    fullUrl: `${ctx.baseUrl}/${url}`,
    ...(r.json !== undefined ? { resourceJson: r.json } : {}),
    request: { method: r.method, url: r.method === 'POST' ? r.type : url },
    response: { status, etag: etagOf(r.versionId), lastModified: r.lastUpdated },
  };
}

export async function history(ctx: FhirContext, input: HistoryInput): Promise<RawBundle> {
  const { type, id, params } = input;
  if (type !== undefined) assertType(ctx, type);
  if (id !== undefined) assertId(id);
  for (const name of UNSUPPORTED) {
    if (params.some(([k]) => k === name)) throw badRequest(`${name} is not supported on history`, 'not-supported');
  }
  const count = parseCount(ctx, params);
  const sinceRaw = single(params, '_since');
  const since = sinceRaw ? parseInstant('_since', sinceRaw) : undefined;
  const cursor = single(params, '_cursor');
  let access: AccessConstraint | undefined;
  if (type && id) {
    requirePerm(ctx, 'r', type);
    const current = await storeCall(() => ctx.store.read(type, id));
    if (current.status === 'missing') throw notFound(`${type}/${id} is not known`);
    if (current.status === 'found') await assertVisible(ctx, 'r', type, id);
    else if (ctx.access) throw notFound(`${type}/${id} is not known`);
  } else {
    if (type) requirePerm(ctx, 's', type);
    access = accessConstraint(ctx);
  }
  const page = await storeCall(() => ctx.store.history({
    ...(access ? { access } : {}),
    ...(ctx.lane ? { lane: ctx.lane } : {}),
    count,
    ...(type ? { type } : {}),
    ...(id ? { id } : {}),
    ...(since ? { since } : {}),
    ...(cursor ? { cursor } : {}),
  }));
  const path = [ctx.baseUrl, type, id, '_history'].filter(Boolean).join('/');
  const kept: QueryPairs = sinceRaw ? [['_since', sinceRaw], ['_count', String(count)]] : [['_count', String(count)]];
  return {
    type: 'history',
    ...(page.total !== undefined ? { total: page.total } : {}),
    link: pageLinks(path, kept, { ...(cursor ? { cursor } : {}), ...(page.next ? { next: page.next } : {}) }),
    entries: page.records.map((r) => historyEntry(ctx, r)),
  };
}
