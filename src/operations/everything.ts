// Patient/$everything and Encounter/$everything (R4 patient-operation-everything.html): the
// whole compartment, plus the resources its members reference (Practitioner, Organization,
// Location, Medication…), paged with the same keyset cursors as search. No hidden cap: every
// member is reachable through the next links.
import type { FhirContext } from '../fhir/context.js';
import type { RawBundle, RawEntry } from '../fhir/bundle.js';
import type { CompartmentConstraint, Condition, Expr, IncludeSpec, SearchQuery } from '../search/ir.js';
import { dateRange } from '../search/values.js';
import { assertId, assertType } from '../fhir/resource.js';
import { badRequest, FhirError, notFound } from '../fhir/errors.js';
import { parseInstant } from '../fhir/params.js';
import { storeCall } from '../fhir/store-errors.js';
import { accessConstraint, assertVisible, requirePerm } from '../fhir/access.js';
import { pageLinks } from '../fhir-basics/paging.js';
import { FORMAT_PARAMS, valuesOf, type QueryPairs } from '../fhir-basics/query.js';

export interface EverythingInput {
  type: 'Patient' | 'Encounter';
  /** Instance level; undefined for the type-level operation (every compartment). */
  id?: string;
  params: QueryPairs;
}

const KNOWN = new Set(['start', 'end', '_since', '_type', '_count', '_cursor', '_format', '_pretty']);

/** The compartment definitions: Patient from the CompartmentDefinition, Encounter derived. */
export function compartmentParams(ctx: FhirContext, type: 'Patient' | 'Encounter'): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (type === 'Patient') {
    for (const r of ctx.defs.patientCompartment?.resource ?? []) {
      const params = (r.param ?? []).filter((p) => p !== '{def}');
      if (params.length) out[r.code] = params;
    }
    return out;
  }
  // R4's Encounter CompartmentDefinition is not in the definitions package: membership is
  // derived the way it is defined, from each type's `encounter` / `context` reference parameter
  // that may point at an Encounter.
  for (const t of ctx.defs.resourceTypes) {
    if (t === 'Encounter') continue;
    const params = [...ctx.search.params.forType(t).values()]
      .filter((p) => p.type === 'reference' && (p.code === 'encounter' || p.code === 'context') && (p.targets.length === 0 || p.targets.includes('Encounter')))
      .map((p) => p.code);
    if (params.length) out[t] = params;
  }
  return out;
}

function single(params: QueryPairs, name: string): string | undefined {
  const values = valuesOf(params, name);
  if (values.length > 1) throw badRequest(`${name} may be given only once`);
  return values[0];
}

export async function everything(ctx: FhirContext, input: EverythingInput): Promise<RawBundle> {
  assertType(ctx, input.type);
  for (const [k] of input.params) if (!KNOWN.has(k)) throw badRequest(`$everything does not take "${k.slice(0, 60)}"`, 'not-supported');
  if (input.id !== undefined) {
    assertId(input.id);
    const owner = await storeCall(() => ctx.store.read(input.type, input.id ?? ''));
    if (owner.status === 'missing') throw notFound(`${input.type}/${input.id} is not known`);
    if (owner.status === 'deleted') throw new FhirError(410, `${input.type}/${input.id} was deleted`, 'deleted');
    await assertVisible(ctx, 'r', input.type, input.id);
  } else {
    requirePerm(ctx, 's', input.type);
  }
  const members = compartmentParams(ctx, input.type);
  let types = [input.type, ...Object.keys(members)];
  const typeFilter = single(input.params, '_type');
  if (typeFilter !== undefined) {
    const wanted = typeFilter.split(',').map((t) => t.trim()).filter(Boolean);
    for (const t of wanted) if (!ctx.defs.isResourceType(t)) throw badRequest(`_type: unknown resource type "${t.slice(0, 60)}"`);
    types = types.filter((t) => wanted.includes(t));
  }
  const and: Expr[] = [];
  const since = single(input.params, '_since');
  if (since) {
    const at = Date.parse(parseInstant('_since', since));
    and.push({ cond: { kind: 'lastUpdated', prefix: 'ge', start: at, end: at } });
  }
  const start = single(input.params, 'start');
  const end = single(input.params, 'end');
  if (start || end) {
    // Care dates: types with a `date` parameter are filtered by it; records of other types
    // carry no care date and stay in (R4 leaves this to the server).
    const dated = types.filter((t) => ctx.search.params.get(t, 'date')?.type === 'date');
    const conds: Expr[] = [];
    if (start) {
      const r = dateRange(start);
      if (!r) throw badRequest('start must be a date');
      conds.push({ cond: { kind: 'date', param: 'date', prefix: 'ge', start: r[0], end: r[1] } });
    }
    if (end) {
      const r = dateRange(end);
      if (!r) throw badRequest('end must be a date');
      conds.push({ cond: { kind: 'date', param: 'date', prefix: 'le', start: r[0], end: r[1] } });
    }
    const undated: Condition = { kind: 'type', types: types.filter((t) => !dated.includes(t)) };
    and.push({ or: [{ cond: undated }, { and: conds }] });
  }
  const countRaw = single(input.params, '_count');
  if (countRaw !== undefined && !/^\d{1,9}$/.test(countRaw)) throw badRequest('_count must be a whole number');
  const count = countRaw === undefined ? ctx.paging.defaultCount : Math.min(Number(countRaw), ctx.paging.maxCount);
  // A restricted caller gets the types it may read, each filtered by its policy in the query.
  const access = accessConstraint(ctx);
  if (access) types = types.filter((t) => access.types[t] ?? access.otherTypes);
  // Referenced members of the compartment are listed as matches on some page already: only
  // the targets outside it are fetched (a parameter that may point anywhere is followed whole).
  const inCompartment = new Set([input.type, ...Object.keys(members)]);
  const include: IncludeSpec[] = types.flatMap((t) => [...ctx.search.params.forType(t).values()]
    .filter((p) => p.type === 'reference')
    .flatMap((p): IncludeSpec[] => (p.targets.length === 0
      ? [{ sourceType: t, param: p.code, iterate: false }]
      : p.targets.filter((target) => !inCompartment.has(target)).map((targetType) => ({ sourceType: t, param: p.code, targetType, iterate: false })))));
  const compartment: CompartmentConstraint | undefined = input.id !== undefined ? { type: input.type, id: input.id, params: members } : undefined;
  const cursor = single(input.params, '_cursor');
  const query: SearchQuery = {
    types, where: and.length === 1 ? and[0] ?? { and: [] } : { and }, sort: [], count, total: 'none', include, revinclude: [],
    ...(compartment ? { compartment } : {}), ...(cursor ? { cursor } : {}), ...(access ? { access } : {}), ...(ctx.lane ? { lane: ctx.lane } : {}),
  };
  const page = await storeCall(() => ctx.store.search(query));
  const included = page.included.filter((r) => !inCompartment.has(r.type));
  const path = `${ctx.baseUrl}/${input.type}/${input.id ? `${input.id}/` : ''}$everything`;
  const kept = input.params.filter(([k]) => !FORMAT_PARAMS.has(k));
  const entry = (mode: 'match' | 'include') => (r: { type: string; id: string; json?: string }): RawEntry => ({
    fullUrl: `${ctx.baseUrl}/${r.type}/${r.id}`, ...(r.json !== undefined ? { resourceJson: r.json } : {}), search: { mode },
  });
  return {
    type: 'searchset',
    ...(page.total !== undefined ? { total: page.total } : {}),
    link: pageLinks(path, kept, { ...(cursor ? { cursor } : {}), ...(page.previous ? { previous: page.previous } : {}), ...(page.next ? { next: page.next } : {}) }),
    entries: [...page.records.map(entry('match')), ...included.map(entry('include'))],
  };
}
