// Bundles assembled from stored JSON without re-parsing it: a resource's bytes go into the
// answer as they came out of the store (serialisation is a hot path).
import { randomUUID } from 'node:crypto';
import type { BundleEntryRequest, BundleEntryResponse, BundleEntrySearch, BundleLink } from 'fhir/r4.js';

export interface RawEntry {
  fullUrl?: string;
  /** The resource's JSON text, spliced in verbatim. */
  resourceJson?: string;
  search?: BundleEntrySearch;
  request?: BundleEntryRequest;
  response?: BundleEntryResponse;
}

export interface RawBundle {
  type: 'history' | 'searchset' | 'batch-response' | 'transaction-response' | 'collection';
  total?: number;
  link?: BundleLink[];
  entries: RawEntry[];
}

/** One entry as JSON text (the resource spliced in verbatim). */
export function entryJson(e: RawEntry): string {
  const parts: string[] = [];
  if (e.fullUrl !== undefined) parts.push(`"fullUrl":${JSON.stringify(e.fullUrl)}`);
  if (e.resourceJson !== undefined) parts.push(`"resource":${e.resourceJson}`);
  if (e.search) parts.push(`"search":${JSON.stringify(e.search)}`);
  if (e.request) parts.push(`"request":${JSON.stringify(e.request)}`);
  if (e.response) parts.push(`"response":${JSON.stringify(e.response)}`);
  return `{${parts.join(',')}}`;
}

export function serializeBundle(b: RawBundle): string {
  const head = JSON.stringify({
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { lastUpdated: new Date().toISOString() },
    type: b.type,
    ...(b.total !== undefined ? { total: b.total } : {}),
    ...(b.link && b.link.length ? { link: b.link } : {}),
  });
  if (b.entries.length === 0) return head;
  return `${head.slice(0, -1)},"entry":[${b.entries.map(entryJson).join(',')}]}`;
}
