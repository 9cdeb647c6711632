// $validate at type and instance level (R4 resource-operation-validate.html): the resource is
// checked exactly as a write would check it, plus the requested profile, and the answer is the
// OperationOutcome (200) whatever it says. Nothing is stored.
import type { FhirContext } from '../fhir/context.js';
import { assertId, assertType, validateWithStoredTerminology } from '../fhir/resource.js';
import { isObject } from '../fhir-basics/json.js';
import { badRequest, FhirError, notFound } from '../fhir/errors.js';
import { storeCall } from '../fhir/store-errors.js';
import { checkNotReferenced } from '../fhir/integrity.js';
import { withoutDeferral } from '../fhir/tx.js';
import { assertVisible, requirePerm, type Perm } from '../fhir/access.js';
import { read } from '../fhir/interactions/read.js';
import { validatorFor } from '../validation/index.js';
import { issue, type Issue } from '../fhir-basics/outcome.js';

export const MODES = ['create', 'update', 'delete'] as const;
export type ValidateMode = (typeof MODES)[number];

export interface ValidateInput {
  type: string;
  /** Instance level. */
  id?: string;
  /** The request body: the resource, or a Parameters with `resource`, `mode`, `profile`. */
  body?: unknown;
  /** From the query string; a Parameters body may give them too. */
  mode?: string;
  profile?: string;
}

interface Params {
  resource?: unknown;
  mode?: string;
  profile?: string;
}

/** The operation's parameters from the body (a resource, or Parameters wrapping one) and the query. */
function parameters(input: ValidateInput): Params {
  const out: Params = {};
  if (input.mode !== undefined) out.mode = input.mode;
  if (input.profile !== undefined) out.profile = input.profile;
  const body = input.body;
  if (body === undefined || body === null) return out;
  if (!isObject(body)) throw badRequest('$validate takes a resource, or a Parameters resource with a "resource" parameter', 'structure');
  const wrapped = body.resourceType === 'Parameters' && input.type !== 'Parameters';
  if (!wrapped) {
    out.resource = body;
    return out;
  }
  const list = Array.isArray(body.parameter) ? body.parameter : [];
  for (const p of list) {
    if (!isObject(p)) continue;
    if (p.name === 'resource') out.resource = p.resource;
    else if (p.name === 'mode' && typeof p.valueCode === 'string') out.mode = p.valueCode;
    else if (p.name === 'profile' && (typeof p.valueUri === 'string' || typeof p.valueCanonical === 'string')) out.profile = String(p.valueUri ?? p.valueCanonical);
    else throw badRequest(`$validate does not take a parameter "${String(p.name).slice(0, 60)}"`, 'not-supported');
  }
  return out;
}

/** The caller must be allowed what the mode tries (and, for an instance, to see it). */
async function checkAccess(ctx: FhirContext, type: string, id: string | undefined, mode: ValidateMode | undefined): Promise<void> {
  const perm: Perm = mode === 'create' ? 'c' : mode === 'update' ? 'u' : mode === 'delete' ? 'd' : 'r';
  if (!mode && id === undefined) {
    // Checking a resource the caller brings reveals nothing stored; it needs some right on the type.
    const some = (['c', 'u', 'r'] as const).some((p) => {
      try {
        requirePerm(ctx, p, type);
        return true;
      } catch {
        return false;
      }
    });
    if (!some) requirePerm(ctx, 'c', type);
    return;
  }
  requirePerm(ctx, perm, type);
  if (id !== undefined) {
    const cur = await storeCall(() => ctx.store.read(type, id));
    if (cur.status === 'found') await assertVisible(ctx, perm, type, id);
  }
}

export async function validateOperation(ctx: FhirContext, input: ValidateInput): Promise<Issue[]> {
  assertType(ctx, input.type);
  if (input.id !== undefined) assertId(input.id);
  const p = parameters(input);
  let mode: ValidateMode | undefined;
  if (p.mode !== undefined) {
    if (!(MODES as readonly string[]).includes(p.mode)) throw badRequest(`mode must be one of ${MODES.join(', ')} (got "${p.mode.slice(0, 40)}")`, 'value');
    mode = p.mode as ValidateMode;
  }
  if ((mode === 'update' || mode === 'delete') && input.id === undefined) {
    throw badRequest(`mode=${mode} needs the instance: POST /${input.type}/[id]/$validate`, 'required');
  }
  await checkAccess(ctx, input.type, input.id, mode);
  const issues: Issue[] = [];

  if (mode === 'delete') {
    const id = input.id ?? '';
    const cur = await storeCall(() => ctx.store.read(input.type, id));
    if (cur.status !== 'found') throw notFound(`${input.type}/${id} is not known`);
    try {
      await checkNotReferenced(withoutDeferral(ctx), input.type, id);
    } catch (err) {
      if (!(err instanceof FhirError)) throw err;
      issues.push(...err.issues);
    }
    return done(issues);
  }

  let resource = p.resource;
  if (resource === undefined) {
    // GET (or an empty POST) on an instance validates what is stored, under the caller's read access.
    if (input.id === undefined) throw badRequest('$validate needs a resource in the body', 'required');
    const record = await read(ctx, input.type, input.id);
    resource = JSON.parse(record.json ?? '{}') as unknown;
  }
  if (!isObject(resource)) throw badRequest('The resource to validate must be a JSON object', 'structure');
  if (resource.resourceType !== input.type) {
    throw badRequest(`The resourceType "${String(resource.resourceType).slice(0, 80)}" does not match "${input.type}" in the URL`);
  }
  if (mode === 'update') {
    // R4 http.html#update: the body SHALL carry the id of the URL.
    if (resource.id === undefined) issues.push(issue('error', 'required', 'The resource has no id; an update needs the id of the URL in the body', `${input.type}.id`));
    else if (resource.id !== input.id) issues.push(issue('error', 'value', `The id "${String(resource.id)}" in the body does not match "${input.id ?? ''}" in the URL`, `${input.type}.id`));
  }
  const v = validatorFor(ctx.defs);
  const profiles: string[] = [];
  if (p.profile !== undefined) {
    // An explicitly requested profile Flint does not know is an error, not a silent pass.
    if (v.conformance.profile(p.profile)) profiles.push(p.profile);
    else issues.push(issue('error', 'not-supported', `The profile ${p.profile.slice(0, 200)} is not known to Flint`));
  }
  issues.push(...await validateWithStoredTerminology(ctx, resource, { profiles }));
  return done(issues);
}

/** R4 operationoutcome.html: at least one issue; all is well says so. */
function done(issues: Issue[]): Issue[] {
  return issues.length ? issues : [issue('information', 'informational', 'No issues detected during validation')];
}
