// patch with JSON Patch (RFC 6902; R4 http.html#patch). The patched resource must pass the
// same checks as an update, and the patch applies to the version it was computed against.
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { Resource } from 'fhir/r4.js';
import type { VersionRecord } from '../../store/port.js';
import type { FhirContext } from '../context.js';
import { assertId, assertType, checkResourceBody, isObject } from '../resource.js';
import { badRequest, FhirError, gone, notFound } from '../errors.js';
import { storeCall } from '../store-errors.js';
import { afterWrite } from './write.js';
import { checkSearchParameter } from '../custom-params.js';
import { checkReferences } from '../integrity.js';
import { hookedWrite } from '../workflow/hooks.js';
import { assertContentInCompartment, assertVisible, requirePerm, stampOwner } from '../access.js';

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

function parseOperations(body: unknown): Operation[] {
  if (!Array.isArray(body)) throw badRequest('A JSON Patch document must be a JSON array of operations', 'structure');
  body.forEach((op: unknown, i) => {
    if (!isObject(op) || typeof op.op !== 'string' || !OPS.has(op.op) || typeof op.path !== 'string') {
      throw badRequest(`Patch operation ${i} must be an object with a known "op" and a string "path"`, 'structure');
    }
  });
  return body as Operation[];
}

export interface PatchInput {
  type: string;
  id: string;
  body: unknown;
  ifMatch?: string;
}

export async function patch(ctx: FhirContext, input: PatchInput): Promise<VersionRecord> {
  const ops = parseOperations(input.body);
  assertType(ctx, input.type);
  assertId(input.id);
  requirePerm(ctx, 'u', input.type);
  // Read from the store, not through `read`: patching needs `u`, not `r` (SMART scopes).
  const found = await storeCall(() => ctx.store.read(input.type, input.id));
  if (found.status === 'missing') throw notFound(`${input.type}/${input.id} is not known`);
  if (found.status === 'deleted') throw gone(`${input.type}/${input.id} was deleted`);
  const current = found.record;
  await assertVisible(ctx, 'u', input.type, input.id);
  if (input.ifMatch !== undefined && input.ifMatch !== current.versionId) {
    throw new FhirError(412, `${input.type}/${input.id} is at version ${current.versionId}, not ${input.ifMatch}`, 'conflict');
  }
  const doc: unknown = JSON.parse(current.json ?? '{}');
  let patched: unknown;
  try {
    // validate + no mutation + no prototype modification: hostile paths cannot reach Object.prototype.
    patched = jsonpatch.applyPatch(doc, ops, true, false, true).newDocument;
  } catch (err) {
    const name = err instanceof jsonpatch.JsonPatchError ? err.name : 'PATCH_FAILED';
    const index = err instanceof jsonpatch.JsonPatchError && err.index !== undefined ? ` (operation ${err.index})` : '';
    const message = err instanceof Error ? err.message.split('\n')[0] : 'the patch could not be applied';
    throw new FhirError(422, `The patch could not be applied${index}: ${name}: ${message}`, 'processing');
  }
  if (isObject(patched) && (patched.id !== input.id || patched.resourceType !== input.type)) {
    throw new FhirError(422, 'A patch must not change the resource id or resourceType', 'processing');
  }
  // Validation failures of the patched resource are 422, like an invalid update body.
  let resource;
  try {
    resource = stampOwner(ctx, await checkResourceBody(ctx, patched, input.type, 'update'), 'u', doc as Resource);
  } catch (err) {
    if (err instanceof FhirError && err.status === 400) throw new FhirError(422, err.issues);
    throw err;
  }
  assertContentInCompartment(ctx, resource);
  checkSearchParameter(ctx, resource);
  await checkReferences(ctx, { ...resource, id: input.id });
  // Apply to the version we read: a concurrent write in between is a conflict, not a lost update.
  const { record } = await hookedWrite(ctx, input.type, { id: input.id, resource, create: false }, (c, followUp) => storeCall(
    () => c.store.update({ ...resource, id: input.id }, { ifMatch: current.versionId, method: 'PATCH', ...(followUp ? { followUp } : {}) }),
    input.ifMatch !== undefined,
  ));
  afterWrite(ctx, record);
  return record;
}
