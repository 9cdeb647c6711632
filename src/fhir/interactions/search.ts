// search at type, system and compartment level (R4 http.html#search, search.html).
import { searchTerminology } from '../search-terms.js';
import type { FhirContext } from '../context.js';
import type { RawBundle, RawEntry } from '../bundle.js';
import { SearchParseError } from '../../search/parse.js';
import { badRequest, FhirError } from '../errors.js';
import { assertId, assertType } from '../resource.js';
import { storeCall } from '../store-errors.js';
import { accessConstraint, requirePerm } from '../access.js';
import { MAX_INCLUDES } from '../../search/ir.js';
import { pageLinks } from '../../fhir-basics/paging.js';
import { issue, outcomeJson } from '../../fhir-basics/outcome.js';
import type { QueryPairs } from '../../fhir-basics/query.js';

export interface SearchInput {
  /** The type searched; undefined for a system search (`GET /fhir?…`). */
  type?: string;
  /** Query parameters in request order (repeats kept). */
  params: QueryPairs;
  handling: 'strict' | 'lenient';
  /** Compartment search: `/Patient/123/Observation`. */
  compartment?: { type: string; id: string };
}

function pathOf(input: SearchInput): string {
  if (input.compartment) return `${input.compartment.type}/${input.compartment.id}/${input.type ?? ''}`;
  return input.type ?? '';
}

export async function search(ctx: FhirContext, input: SearchInput): Promise<RawBundle> {
  if (input.type !== undefined) assertType(ctx, input.type);
  if (input.type !== undefined) requirePerm(ctx, 's', input.type);
  if (input.compartment) {
    if (input.compartment.type !== 'Patient') {
      throw new FhirError(400, `Only the Patient compartment is supported, not ${input.compartment.type.slice(0, 40)}`, 'not-supported');
    }
    assertId(input.compartment.id);
  }
  const terminology = await searchTerminology(ctx, input.params);
  let parsed;
  try {
    parsed = ctx.search.parser.parse({
      ...(terminology ? { terminology } : {}),
      types: input.type ? [input.type] : [...ctx.defs.resourceTypes],
      params: input.params,
      handling: input.handling,
      defaultCount: ctx.paging.defaultCount,
      maxCount: ctx.paging.maxCount,
      ...(input.compartment ? { compartment: { type: 'Patient' as const, id: input.compartment.id } } : {}),
    });
  } catch (err) {
    if (err instanceof SearchParseError) throw badRequest(err.message, err.code);
    throw err;
  }
  const access = accessConstraint(ctx);
  const query = access || ctx.lane ? { ...parsed.query, ...(access ? { access } : {}), ...(ctx.lane ? { lane: ctx.lane } : {}) } : parsed.query;
  const page = await storeCall(() => ctx.store.search(query));
  const base = `${ctx.baseUrl}/${pathOf(input)}`.replace(/\/$/, '');
  const links = pageLinks(base, parsed.used, {
    ...(parsed.query.cursor ? { cursor: parsed.query.cursor } : {}),
    ...(page.previous ? { previous: page.previous } : {}),
    ...(page.next ? { next: page.next } : {}),
  });
  const sub = ctx.search.subsetter;
  const entry = (mode: 'match' | 'include') => (r: { type: string; id: string; json?: string }): RawEntry => ({
    fullUrl: `${ctx.baseUrl}/${r.type}/${r.id}`,
    // _elements names elements of the searched types; an included resource of another type is
    // returned whole rather than stripped to its id (R4 search.html#elements).
    ...(r.json !== undefined ? { resourceJson: sub.apply(r.json, parsed.summary, mode === 'include' && !parsed.query.types.includes(r.type) ? undefined : parsed.elements) } : {}),
    search: { mode },
  });
  const entries: RawEntry[] = [...page.records.map(entry('match')), ...page.included.map(entry('include'))];
  const warnings: string[] = [];
  if (parsed.unknown.length) warnings.push(`Ignored unknown parameters: ${parsed.unknown.join(', ').slice(0, 300)}`);
  const rebuilding: string[] = [];
  for (const t of parsed.query.types) if (await ctx.jobs.isRebuilding(t, ctx.store.work)) rebuilding.push(t);
  if (rebuilding.length && rebuilding.length <= 5) warnings.push(`The search index of ${rebuilding.join(', ')} is being rebuilt (see $reindex); results may be incomplete until it finishes`);
  if (page.includesTruncated) warnings.push(`Only the first ${MAX_INCLUDES} included resources are returned for this page`);
  if (warnings.length) {
    entries.push({
      resourceJson: outcomeJson(warnings.map((w) => issue('warning', 'informational', w))),
      search: { mode: 'outcome' },
    });
  }
  return {
    type: 'searchset',
    ...(page.total !== undefined ? { total: page.total } : {}),
    link: links,
    entries,
  };
}
