// SearchParameter resources written through the API become searchable: checked before they
// are stored, registered after, and existing resources reindexed in the background.
import type { Resource, SearchParameter } from 'fhir/r4.js';
import type { FhirContext } from './context.js';
import { FhirError } from './errors.js';
import { issue } from '../fhir-basics/outcome.js';

const TYPES = new Set(['number', 'date', 'string', 'token', 'reference', 'composite', 'quantity', 'uri']);

/** Refuses a SearchParameter that could never be indexed (422), before anything is stored. */
export function checkSearchParameter(ctx: FhirContext, resource: Resource): void {
  if (resource.resourceType !== 'SearchParameter') return;
  const sp = resource as SearchParameter;
  if (sp.status !== 'active') return;
  const problems: string[] = [];
  if (!sp.code || !/^[A-Za-z][A-Za-z0-9_-]*$/.test(sp.code)) problems.push('code must be a parameter name');
  if (sp.code?.startsWith('_')) problems.push('codes starting with _ are reserved for the specification');
  if (!sp.base?.length || sp.base.some((b) => !ctx.defs.isResourceType(b))) problems.push('base must list resource types this server knows');
  if (!TYPES.has(sp.type)) problems.push(`type ${sp.type} cannot be indexed`);
  if (sp.type !== 'composite' && !sp.expression) problems.push('an expression is required');
  if (problems.length === 0) {
    try {
      ctx.search.params.check(sp);
    } catch (err) {
      problems.push(`expression does not compile: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
  }
  if (problems.length) {
    throw new FhirError(422, problems.map((p) => issue('error', 'invalid', `SearchParameter: ${p}`, 'SearchParameter')));
  }
}

/**
 * After a SearchParameter is stored or deleted: (un)register it and reindex the types it
 * applies to. Returns the reindex job, if one started.
 */
export function applySearchParameter(ctx: FhirContext, resource: Resource | undefined, url: string | undefined) {
  if (!resource || (resource as SearchParameter).status !== 'active') {
    if (url) ctx.search.params.removeCustom(url);
    return undefined;
  }
  const sp = resource as SearchParameter;
  const types = ctx.search.params.addCustom(sp).filter((t) => ctx.defs.isResourceType(t));
  return ctx.jobs.start(types, `SearchParameter ${sp.url ?? sp.code} changed`);
}

/** Registers the active SearchParameters already stored (at start-up; their index exists). */
export async function loadStoredSearchParameters(ctx: FhirContext): Promise<number> {
  let n = 0;
  let cursor: string | undefined;
  do {
    const page = await ctx.store.search({
      types: ['SearchParameter'], where: { and: [] }, sort: [], count: 500, total: 'none', include: [], revinclude: [],
      ...(cursor ? { cursor } : {}),
    });
    for (const r of page.records) {
      const sp = JSON.parse(r.json ?? '{}') as SearchParameter;
      if (sp.status !== 'active') continue;
      try {
        ctx.search.params.addCustom(sp);
        n++;
      } catch {
        // Stored before a definition it relies on changed; it stays unregistered.
      }
    }
    cursor = page.next;
  } while (cursor);
  return n;
}
