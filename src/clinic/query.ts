// Reads that the clinic code runs through the engine's search machinery (the same IR and store
// search as GET /fhir/Type?…), with the caller's access policy applied when the context carries
// one. Strict: a parameter the server does not know is a bug here, not a filter.
import type { Resource } from 'fhir/r4.js';
import type { VersionRecord } from '../store/port.js';
import type { FhirContext } from '../fhir/context.js';
import { accessConstraint } from '../fhir/access.js';
import { storeCall } from '../fhir/store-errors.js';
import { parseLocalReference } from '../fhir-basics/references.js';
import { storedResource } from '../fhir-basics/stored.js';

const PAGE = 500;

/** Every current resource of `type` matching `params`, following the store's pages. */
export async function findAll<T extends Resource = Resource>(ctx: FhirContext, type: string, params: [string, string][]): Promise<T[]> {
  const parsed = ctx.search.parser.parse({ types: [type], params, handling: 'strict', defaultCount: PAGE, maxCount: PAGE });
  const access = accessConstraint(ctx);
  const out: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await storeCall(() => ctx.store.search({
      ...parsed.query, count: PAGE, total: 'none', include: [], revinclude: [],
      ...(cursor ? { cursor } : {}), ...(access ? { access } : {}),
    }));
    for (const r of page.records) {
      const resource = storedResource<T>(r);
      if (resource) out.push(resource);
    }
    cursor = page.next;
  } while (cursor);
  return out;
}

/** The current version of `type/id`, or undefined when it does not exist (or was deleted). */
export async function readCurrent<T extends Resource = Resource>(ctx: FhirContext, type: string, id: string): Promise<{ resource: T; versionId: string } | undefined> {
  const found = await storeCall(() => ctx.store.read(type, id));
  const resource = found.status === 'found' ? storedResource<T>(found.record) : undefined;
  return found.status === 'found' && resource ? { resource, versionId: found.record.versionId } : undefined;
}

/** The resource a write just stored (a create or update always stores one). */
export function written<T extends Resource>(record: VersionRecord): T & { id: string } {
  const resource = storedResource<T & { id: string }>(record);
  if (!resource) throw new Error(`${record.type}/${record.id}: the write stored no resource`);
  return resource;
}

/** The id of a local reference (relative, or absolute under `baseUrl`) to a `type`, else undefined. */
export function localId(where: { baseUrl: string }, reference: string | undefined, type: string): string | undefined {
  const ref = reference ? parseLocalReference(reference, where.baseUrl) : undefined;
  return ref?.type === type ? ref.id : undefined;
}
