// Turning a request body into a resource the engine may store, or the precise reason it can't.
import type { Resource } from 'fhir/r4.js';
import type { FhirContext } from './context.js';
import { hasErrors, validateResource, type Issue, type ValidateOptions } from '../validation/index.js';
import { TerminologyError } from '../terminology/expand.js';
import { badRequest, notFound, unprocessable } from './errors.js';

import { ID_RE } from '../fhir-basics/ids.js';
import { isObject } from '../fhir-basics/json.js';

export { isObject };

/** A type named in a URL must be a concrete resource type Flint knows. */
export function assertType(ctx: FhirContext, type: string): void {
  if (!ctx.defs.isResourceType(type)) throw notFound(`Unknown resource type "${type}"`);
}

/** An id named in a URL must have the FHIR id syntax. */
export function assertId(id: string): void {
  if (!ID_RE.test(id)) throw badRequest(`"${id.slice(0, 80)}" is not a valid resource id (1-64 of A-Z a-z 0-9 - .)`);
}

export type BodyPurpose = 'create' | 'update';

/**
 * Checks a parsed body for `type`: a JSON object of that resourceType, structurally valid.
 * For create the id is dropped first: the server assigns it (R4 http.html#create).
 */
export async function checkResourceBody(ctx: FhirContext, body: unknown, type: string, purpose: BodyPurpose): Promise<Resource> {
  if (!isObject(body)) throw badRequest('The body must be a JSON object: a FHIR resource', 'structure');
  const rt = body.resourceType;
  if (typeof rt !== 'string') throw badRequest('The resource has no resourceType', 'required');
  if (!ctx.defs.isResourceType(rt)) throw badRequest(`Unknown resourceType "${rt.slice(0, 80)}"`, 'not-supported');
  if (rt !== type) throw badRequest(`The resourceType "${rt}" does not match "${type}" in the URL`);
  let resource = body;
  if (purpose === 'create' && 'id' in body) {
    const { id: _dropped, ...rest } = body;
    void _dropped;
    resource = rest;
  }
  const issues = await validateWithStoredTerminology(ctx, resource);
  if (hasErrors(issues)) throw unprocessable(issues);
  return resource as unknown as Resource;
}

/** Value sets fetched from the store for one validation (a resource binds to few). */
const MAX_STORED_VALUE_SETS = 20;

/**
 * Validation that also sees the ValueSets stored through the API (R4 terminologies.html#strength:
 * a required binding's code must be in the value set, wherever the value set lives). Validation
 * is synchronous, so the value sets the definitions lack are noted on a first pass, fetched,
 * and the resource validated again with them; a resource binding only to definitions' value
 * sets is validated once.
 */
export async function validateWithStoredTerminology(ctx: FhirContext, resource: unknown, opts: Omit<ValidateOptions, 'terminology'> = {}): Promise<Issue[]> {
  const missing = new Set<string>();
  const first = validateResource(ctx.defs, resource, { ...opts, terminology: { onMissingValueSet: (u) => missing.add(u) } });
  if (missing.size === 0 || !ctx.terminology) return first;
  let source;
  try {
    source = await ctx.terminology.sourceFor({ valueSets: [...missing].slice(0, MAX_STORED_VALUE_SETS) });
  } catch (err) {
    // Too many or cyclic imports: the bindings stay unchecked, as without stored terminology.
    if (err instanceof TerminologyError) return first;
    throw err;
  }
  return validateResource(ctx.defs, resource, { ...opts, terminology: { source } });
}
