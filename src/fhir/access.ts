// The caller's access policy, as the engine enforces it on every interaction: which types it
// may create, read, update, delete and search (SMART c/r/u/d/s), confined to a patient's
// compartment for patient/ scopes, narrowed by granular (?category=…) scopes. The policy
// reaches the store inside the search IR, so restricted callers are filtered in the query.
// Writes are confined further (the README's "SMART on FHIR and access control" has the rules):
// a patient-context caller writes only resources of its own patient's compartment that name no
// other patient, and the definitional types that steer the server need a system or admin grant.
import type { Resource } from 'fhir/r4.js';
import type { AccessPolicy, AccessRule, FhirContext, Perm } from './context.js';
import type { AccessConstraint, CompartmentConstraint, Expr, TypeAccess } from '../search/ir.js';
import { FhirError, notFound } from './errors.js';
import { SearchParseError } from '../search/parse.js';
import { storeCall } from './store-errors.js';
import { isObject } from '../fhir-basics/json.js';
import { parseReference } from '../fhir-basics/references.js';
import { storedResource } from '../fhir-basics/stored.js';

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

/**
 * Subscriptions of a patient-context caller are its own (issue 15: a patient app only hears of
 * its own patient): the server records the owner, the token's patient and client, as a tag it
 * sets itself on every write (stampOwner), and such a caller reaches only Subscriptions carrying
 * its own tag, through the store query like any other access rule.
 */
export const SUBSCRIPTION_OWNER = 'http://flint.health/fhir/CodeSystem/subscription-owner';
const OWNED_TYPE = 'Subscription';

function ownerCode(patient: string, clientId: string | undefined): string {
  return `Patient/${patient} ${encodeURIComponent(clientId ?? '-')}`;
}

/** How a policy lets the caller see `type` for `perm`; undefined when it does not at all. */
export function typeAccess(ctx: FhirContext, policy: AccessPolicy, perm: Perm, type: string): TypeAccess | undefined {
  const ta = baseAccess(ctx, policy, perm, type);
  const o = owner(policy);
  if (type !== OWNED_TYPE || !ta?.inCompartment || o === undefined) return ta;
  // Subscription is in no compartment: a confined caller reaches its own instead.
  const mine: Expr = { cond: { kind: 'token', param: '_tag', system: SUBSCRIPTION_OWNER, code: ownerCode(o, policy.clientId) } };
  return { inCompartment: false, filter: ta.filter ? { and: [mine, ta.filter] } : mine };
}

function baseAccess(ctx: FhirContext, policy: AccessPolicy, perm: Perm, type: string): TypeAccess | undefined {
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
  // A confined wildcard reaches the caller's own Subscriptions (typeAccess), not none of them.
  if (wildcard && !types[OWNED_TYPE] && owner(policy) !== undefined) {
    const ta = typeAccess(ctx, policy, 's', OWNED_TYPE) ?? typeAccess(ctx, policy, 'r', OWNED_TYPE);
    if (ta) types[OWNED_TYPE] = ta;
  }
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

/**
 * Types whose content steers the server itself rather than record care: FHIR's Conformance and
 * Terminology modules (R4 resourcelist.html: Foundation > Conformance, Terminology). A
 * SearchParameter starts a reindex and changes every search, a StructureDefinition or ValueSet
 * changes what validation accepts, a CompartmentDefinition what a compartment holds. Writing
 * them needs a system-level scope for the type or the administrator grant, whoever the user is.
 */
export const DEFINITIONAL_TYPES: ReadonlySet<string> = new Set([
  'CapabilityStatement', 'StructureDefinition', 'ImplementationGuide', 'SearchParameter', 'MessageDefinition',
  'OperationDefinition', 'CompartmentDefinition', 'StructureMap', 'GraphDefinition', 'ExampleScenario',
  'CodeSystem', 'ValueSet', 'ConceptMap', 'NamingSystem', 'TerminologyCapabilities',
]);

const WRITES: ReadonlySet<Perm> = new Set(['c', 'u', 'd']);

/** Whether a type's resources can be in a patient's compartment (R4 compartmentdefinition-patient.html). */
function inPatientCompartment(ctx: FhirContext, type: string): boolean {
  const comp = patientCompartment(ctx, '-');
  return type === comp.type || (comp.params[type]?.length ?? 0) > 0;
}

/** The patient whose compartment confines this caller's `perm` on `type`, when one does. */
function confinedTo(ctx: FhirContext, policy: AccessPolicy, perm: Perm, type: string): string | undefined {
  const o = owner(policy);
  return o !== undefined && typeAccess(ctx, policy, perm, type)?.inCompartment ? o : undefined;
}

/** Throws 403 unless the caller may `perm` resources of `type` at all. */
export function requirePerm(ctx: FhirContext, perm: Perm, type: string): void {
  const policy = ctx.access;
  if (!policy) return;
  if (typeAccess(ctx, policy, perm, type)) {
    if (!WRITES.has(perm)) return;
    const system = policy.rules.some((r) => r.level === 'system' && (r.type === '*' || r.type === type) && r.perms.has(perm));
    if (DEFINITIONAL_TYPES.has(type) && !system && !policy.admin) {
      throw insufficient(`changing ${type}: definitional resources need a system-level scope or the administrator grant`);
    }
    // R4 security.html: a patient's own app manages that patient's record, not shared resources.
    if (confinedTo(ctx, policy, perm, type) !== undefined && !inPatientCompartment(ctx, type)) {
      throw insufficient(`changing ${type}, which is in no patient's compartment (read-only in a patient context)`);
    }
    return;
  }
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
  // A resource in several patients' compartments is not this patient's alone to change.
  const existing = page.records[0] ? storedResource<Resource>(page.records[0]) : undefined;
  const confined = WRITES.has(perm) ? confinedTo(ctx, policy, perm, type) : undefined;
  if (existing && confined !== undefined && otherPatients(ctx, existing, confined).length > 0) {
    throw insufficient(`changing ${type}/${id}, which is also in another patient's record`);
  }
}

/**
 * Every reference in `resource` (anywhere: compartment parameters, other elements, extensions,
 * contained resources) that leads to a Patient other than `patientId` on this server, or to a
 * Patient on another server.
 */
export function otherPatients(ctx: FhirContext, resource: Resource, patientId: string): string[] {
  const out: string[] = [];
  const stack: unknown[] = [resource];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) stack.push(...v);
    else if (isObject(v)) {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'reference' && typeof x === 'string') {
          const local = x.startsWith(`${ctx.baseUrl}/`) ? x.slice(ctx.baseUrl.length + 1) : x;
          const ref = parseReference(local);
          if (ref?.type === 'Patient' && (ref.id !== patientId || ref.base !== undefined)) out.push(x.slice(0, 200));
        } else if (typeof x === 'object' && x !== null) stack.push(x);
      }
    }
  }
  return out;
}

/**
 * For writes by a compartment-confined caller: the new content must lie in its patient's
 * compartment (a reference the Patient CompartmentDefinition's parameters for the type reach
 * leads to its patient) and in no other patient's: every reference to a Patient, wherever it
 * is, leads to its own. Types outside the compartment are read-only for it (see requirePerm).
 */
export function assertContentInCompartment(ctx: FhirContext, resource: Resource): void {
  const policy = ctx.access;
  if (!policy) return;
  const type = resource.resourceType;
  const o = confinedTo(ctx, policy, 'c', type) ?? confinedTo(ctx, policy, 'u', type);
  if (o === undefined) return;
  const comp = patientCompartment(ctx, o);
  const others = otherPatients(ctx, resource, o);
  if (others.length > 0) throw insufficient(`writing a ${type} that names another patient (${others[0] ?? ''})`);
  if (type === comp.type) {
    if (resource.id === o) return;
    throw insufficient(`writing another ${comp.type}`);
  }
  const params = comp.params[type];
  if (!params?.length) throw insufficient(`changing ${type}, which is in no patient's compartment (read-only in a patient context)`);
  const target = `${comp.type}/${o}`;
  for (const code of params) {
    const p = ctx.search.params.get(type, code);
    for (const path of p?.paths ?? []) {
      for (const v of path.evaluate({ value: resource, type })) {
        const ref = (v.value as { reference?: unknown } | null)?.reference;
        if (typeof ref === 'string' && (ref === target || ref === `${ctx.baseUrl}/${target}`)) return;
      }
    }
  }
  throw insufficient(`writing a ${type} outside ${target}'s compartment`);
}

/**
 * The resource to write, with the server's owner tag: a caller confined for `perm` on
 * Subscription owns what it writes; anyone else's write keeps the owner of `previous` (the
 * stored version). A client's own tags of that system are dropped: nobody claims, gives away or
 * sheds ownership by sending one. Unrestricted callers (the server's own jobs) write as is.
 */
export function stampOwner<R extends Resource>(ctx: FhirContext, resource: R, perm: 'c' | 'u', previous?: Resource): R {
  const policy = ctx.access;
  if (!policy || resource.resourceType !== OWNED_TYPE) return resource;
  const o = owner(policy);
  const mine = o !== undefined && baseAccess(ctx, policy, perm, OWNED_TYPE)?.inCompartment ? ownerCode(o, policy.clientId) : undefined;
  const kept = mine === undefined ? subscriptionOwner(previous) : mine;
  const others = (resource.meta?.tag ?? []).filter((c) => c.system !== SUBSCRIPTION_OWNER);
  const tag = kept === undefined ? others : [...others, { system: SUBSCRIPTION_OWNER, code: kept }];
  const { tag: _old, ...rest } = resource.meta ?? {};
  void _old;
  const meta = { ...rest, ...(tag.length > 0 ? { tag } : {}) };
  const { meta: _m, ...bare } = resource;
  void _m;
  return (Object.keys(meta).length > 0 ? { ...bare, meta } : bare) as R;
}

/** The owner recorded on a Subscription (stampOwner); undefined when no patient app owns it. */
export function subscriptionOwner(resource: Resource | undefined): string | undefined {
  return resource?.meta?.tag?.find((c) => c.system === SUBSCRIPTION_OWNER)?.code;
}

/** Whether the caller is the owner recorded on `resource` (stampOwner). */
export function ownsSubscription(ctx: FhirContext, resource: Resource): boolean {
  const policy = ctx.access;
  const o = policy ? owner(policy) : undefined;
  return policy !== undefined && o !== undefined && subscriptionOwner(resource) === ownerCode(o, policy.clientId);
}

/** Throws 403 unless the caller may run administrative operations. */
export function requireAdmin(ctx: FhirContext, what: string): void {
  if (ctx.access && !ctx.access.admin) throw insufficient(what);
}
