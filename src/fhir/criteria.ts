// Search criteria of conditional interactions (If-None-Exist, PUT/DELETE/PATCH Type?criteria,
// conditional references): which existing resources they select.
import { searchTerminology } from './search-terms.js';
import type { VersionRecord } from '../store/port.js';
import type { FhirContext } from './context.js';
import { SearchParseError } from '../search/parse.js';
import { badRequest } from './errors.js';
import { storeCall } from './store-errors.js';
import { accessConstraint } from './access.js';

/** Parameters that page or shape results say nothing about which resources match. */
const RESULT_ONLY = /^(_count|_sort|_total|_summary|_elements|_include|_revinclude|_format|_pretty|_cursor)(:|$)/;

/**
 * The resources of `type` matching `criteria` (a query string without `?`), at most `limit`.
 * Criteria are read strictly: a parameter Flint does not know would widen the match to
 * everything, so it is refused (400) rather than ignored.
 */
export async function matchCriteria(ctx: FhirContext, type: string, criteria: string, limit: number): Promise<VersionRecord[]> {
  const params = [...new URLSearchParams(criteria).entries()].filter(([k]) => !RESULT_ONLY.test(k));
  if (params.length === 0) throw badRequest(`Conditional criteria for ${type} are empty; they must select something`);
  const terminology = await searchTerminology(ctx, params);
  let parsed;
  try {
    parsed = ctx.search.parser.parse({ ...(terminology ? { terminology } : {}), types: [type], params, handling: 'strict', defaultCount: limit, maxCount: limit });
  } catch (err) {
    if (err instanceof SearchParseError) throw badRequest(`Conditional criteria: ${err.message}`, err.code);
    throw err;
  }
  const access = accessConstraint(ctx);
  const page = await storeCall(() => ctx.store.search({ ...parsed.query, count: limit, total: 'none', include: [], revinclude: [], sort: [], ...(access ? { access } : {}) }));
  return page.records;
}
