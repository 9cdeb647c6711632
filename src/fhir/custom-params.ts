// SearchParameter resources written through the API become searchable: checked before they
// are stored, registered after, and existing resources reindexed in the background.
import type { Resource, SearchParameter } from 'fhir/r4.js';
import type { FhirContext } from './context.js';
import { FhirError } from './errors.js';
import { issue } from '../fhir-basics/outcome.js';
import { SearchParams } from '../search/params.js';
import { ENGINE_SEARCH_BUDGET_MS } from '../search/ir.js';

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
 * After a SearchParameter is stored or deleted: (un)register it and queue a reindex of the types
 * it applies to. The write has committed: a failure to queue the job (the store went away) is
 * not the client's; the job can be started again through $reindex.
 */
export async function applySearchParameter(ctx: FhirContext, resource: Resource | undefined, url: string | undefined): Promise<void> {
  if (!resource || (resource as SearchParameter).status !== 'active') {
    if (url) ctx.search.params.removeCustom(url);
    return;
  }
  const sp = resource as SearchParameter;
  const types = ctx.search.params.addCustom(sp).filter((t) => ctx.defs.isResourceType(t));
  await ctx.jobs.start(types, `SearchParameter ${sp.url ?? sp.code} changed`);
}

/** The active SearchParameters stored now, by registration key. */
async function storedSearchParameters(ctx: FhirContext): Promise<Map<string, SearchParameter>> {
  const out = new Map<string, SearchParameter>();
  let cursor: string | undefined;
  do {
    const page = await ctx.store.search({
      types: ['SearchParameter'], where: { and: [] }, sort: [], count: 500, total: 'none', include: [], revinclude: [], budgetMs: ENGINE_SEARCH_BUDGET_MS,
      ...(cursor ? { cursor } : {}),
    });
    for (const r of page.records) {
      const sp = JSON.parse(r.json ?? '{}') as SearchParameter;
      if (sp.status === 'active') out.set(SearchParams.customKey(sp), sp);
    }
    cursor = page.next;
  } while (cursor);
  return out;
}

/** Registers the active SearchParameters already stored (at start-up; their index exists). */
export async function loadStoredSearchParameters(ctx: FhirContext): Promise<number> {
  return (await syncSearchParameters(ctx)).added;
}

/**
 * Makes this instance's runtime SearchParameters those stored: another instance on the same
 * database may have added, changed or deleted one (its reindex job runs wherever it is claimed,
 * and every instance must index new writes with the same parameters).
 */
export async function syncSearchParameters(ctx: FhirContext): Promise<{ added: number; removed: number }> {
  const stored = await storedSearchParameters(ctx);
  const params = ctx.search.params;
  let added = 0;
  let removed = 0;
  for (const key of params.customParams().keys()) {
    if (!stored.has(key)) {
      params.removeCustom(key);
      removed++;
    }
  }
  const registered = params.customParams();
  for (const [key, sp] of stored) {
    const now = registered.get(key);
    if (now && JSON.stringify(now) === JSON.stringify(sp)) continue;
    try {
      params.addCustom(sp);
      added++;
    } catch {
      // Stored before a definition it relies on changed; it stays unregistered.
    }
  }
  // The store learns the indexer's parameters when it reindexes: reindexing no type at all
  // registers them here without touching a resource (the instance that queued the job reindexes).
  if (added > 0 || removed > 0) await ctx.store.reindex([]);
  return { added, removed };
}
