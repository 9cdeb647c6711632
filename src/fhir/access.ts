// The caller's access policy, as the engine enforces it on every interaction: which types it
// may create, read, update, delete and search (SMART c/r/u/d/s), confined to a patient's
// compartment for patient/ scopes, narrowed by granular (?category=…) scopes. The policy
// reaches the store inside the search IR, so restricted callers are filtered in the query.
import type { Resource } from 'fhir/r4.js';
import type { AccessPolicy, AccessRule, FhirContext, Perm } from './context.js';
import type { AccessConstraint, CompartmentConstraint, Expr, TypeAccess } from '../search/ir.js';
import { FhirError, notFound } from './errors.js';
import { SearchParseError } from '../search/parse.js';
import { storeCall } from './store-errors.js';

export type { AccessPolicy, AccessRule, Perm };

const insufficient = (what: string): FhirError =>
  new FhirError(403, `The access token does not allow ${what}`, 'forbidden', { 'www-authenticate': `Bearer error="insufficient_scope", error_description="${what.replace(/"/g, "'")}"` });

/** The Patient compartment constraint for `patientId` (from the CompartmentDefinition). */
export function patientCompartment(ctx: FhirContext, patientId: string): CompartmentConstraint {
  return ctx.search.parser.compartment('Patient', patientId);
}

function filterOf(ctx: FhirContext, type: string, query: string): Expr {
  try {
    const params = query.split('&').map((pair) => {
      const at = pair.indexOf('=');
      // Granular scopes are kept verbatim: `|` stays literal, nothing is URL-decoded.
      return [at < 0 ? pair : pair.slice(0, at), at < 0 ? '' : pair.slice(at + 1)] as [string, string];
    });
    return ctx.search.parser.parse({ types: [type], params, handling: 'strict', defaultCount: 1, maxCount: 1 }).query.where;
  } catch (err) {
    // A granular scope Flint cannot evaluate grants nothing (never more than it says).
    if (err instanceof SearchParseError) return { or: [] };
    throw err;
  }
}

/** How a policy lets the caller see `type` for `perm`; undefined when it does not at all. */
export function typeAccess(ctx: FhirContext, policy: AccessPolicy, perm: Perm, type: string): TypeAccess | undefined {
  const rules = policy.rules.filter((r) => (r.type === '*' || r.type === type) && r.perms.has(perm));
  if (rules.length === 0) return undefined;
  const confined = (r: AccessRule): boolean => r.level === 'patient' || (r.level === 'user' && policy.userPatient !== undefined);
  if (rules.some((r) => !confined(r) && r.query === undefined)) return { inCompartment: false };
  const anyConfined = rules.some(confined);
  const filters = rules.filter((r) => r.query !== undefined).map((r) => filterOf(ctx, type, r.query ?? ''));
  const unfiltered = rules.some((r) => r.query === undefined);
  return {
    // Mixed confined and unconfined rules: the narrower one wins (least privilege).
    inCompartment: anyConfined,
    ...(unfiltered || filters.length === 0 ? {} : { filter: filters.length === 1 ? filters[0] ?? { or: [] } : { or: filters } }),
  };
}

function owner(policy: AccessPolicy): string | undefined {
  return policy.patient ?? policy.userPatient;
}

/**
 * The IR access constraint for a search (or history) by this caller: every type it may read
 * or search, with compartment and granular restrictions. Undefined when unrestricted.
 */
export function accessConstraint(ctx: FhirContext): AccessConstraint | undefined {
  const policy = ctx.access;
  if (!policy) return undefined;
  const types: Record<string, TypeAccess> = {};
  const explicit = new Set(policy.rules.map((r) => r.type).filter((t) => t !== '*'));
  for (const t of explicit) {
    const ta = typeAccess(ctx, policy, 's', t) ?? typeAccess(ctx, policy, 'r', t);
    if (ta) types[t] = ta;
  }
  const wildcard = policy.rules.some((r) => r.type === '*' && (r.perms.has('s') || r.perms.has('r')));
  let otherTypes: TypeAccess | undefined;
  if (wildcard) otherTypes = typeAccess(ctx, policy, 's', '*') ?? typeAccess(ctx, policy, 'r', '*');
  // The user's own resource (fhirUser) is always readable by its user.
  if (policy.fhirUser) {
    const [ft] = policy.fhirUser.split('/');
    if (ft && !types[ft] && !otherTypes) types[ft] = { inCompartment: false, filter: { cond: { kind: 'id', ids: [policy.fhirUser.split('/')[1] ?? ''] } } };
  }
  const o = owner(policy);
  return {
    types,
    ...(otherTypes ? { otherTypes } : {}),
    ...(o !== undefined ? { compartment: patientCompartment(ctx, o) } : {}),
  };
}

/** Throws 403 unless the caller may `perm` resources of `type` at all. */
export function requirePerm(ctx: FhirContext, perm: Perm, type: string): void {
  const policy = ctx.access;
  if (!policy) return;
  if (typeAccess(ctx, policy, perm, type)) return;
  // The user's own resource stays readable (assertVisible then limits it to that one).
  if (perm === 'r' && policy.fhirUser?.startsWith(`${type}/`)) return;
  const names: Record<Perm, string> = { c: 'creating', r: 'reading', u: 'updating', d: 'deleting', s: 'searching' };
  throw insufficient(`${names[perm]} ${type}`);
}

/**
 * Checks that one existing resource is within the caller's reach, in the store query (the
 * policy's compartment and granular filters). Reads answer 404 when it is not, exactly as for
 * a resource that does not exist (R4 security.html); writes answer 403.
 */
export async function assertVisible(ctx: FhirContext, perm: Perm, type: string, id: string): Promise<void> {
  const policy = ctx.access;
  if (!policy) return;
  if (perm === 'r' && policy.fhirUser === `${type}/${id}`) return;
  const ta = typeAccess(ctx, policy, perm, type);
  if (!ta) throw insufficient(`${perm === 'r' ? 'reading' : 'changing'} ${type}`);
  if (!ta.inCompartment && !ta.filter) return;
  const o = owner(policy);
  const page = await storeCall(() => ctx.store.search({
    types: [type], where: { cond: { kind: 'id', ids: [id] } }, sort: [], count: 1, total: 'none', include: [], revinclude: [],
    access: { types: { [type]: ta }, ...(o !== undefined ? { compartment: patientCompartment(ctx, o) } : {}) },
  }));
  if (page.records.length === 0) {
    if (perm === 'r') throw notFound(`${type}/${id} is not known`);
    throw insufficient(`changing ${type}/${id}, which is outside what the token covers`);
  }
}

/** For writes by a compartment-confined caller: the new content must stay in the compartment. */
export function assertContentInCompartment(ctx: FhirContext, resource: Resource): void {
  const policy = ctx.access;
  if (!policy) return;
  const o = owner(policy);
  const ta = typeAccess(ctx, policy, 'c', resource.resourceType) ?? typeAccess(ctx, policy, 'u', resource.resourceType);
  if (!ta?.inCompartment || o === undefined) return;
  const comp = patientCompartment(ctx, o);
  if (resource.resourceType === comp.type) {
    if (resource.id === o) return;
    throw insufficient(`writing another ${comp.type}`);
  }
  const params = comp.params[resource.resourceType];
  if (!params?.length) return; // not a compartment type: not confined
  const target = `${comp.type}/${o}`;
  const refs = new Set<string>();
  for (const code of params) {
    const p = ctx.search.params.get(resource.resourceType, code);
    for (const path of p?.paths ?? []) {
      for (const v of path.evaluate({ value: resource, type: resource.resourceType })) {
        const ref = (v.value as { reference?: unknown } | null)?.reference;
        if (typeof ref === 'string') refs.add(ref.startsWith(`${ctx.baseUrl}/`) ? ref.slice(ctx.baseUrl.length + 1) : ref);
      }
    }
  }
  if (!refs.has(target)) throw insufficient(`writing a ${resource.resourceType} outside ${target}'s compartment`);
}

/** Throws 403 unless the caller may run administrative operations. */
export function requireAdmin(ctx: FhirContext, what: string): void {
  if (ctx.access && !ctx.access.admin) throw insufficient(what);
}
