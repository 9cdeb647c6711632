// create, update, delete (R4 http.html#create, #update, #delete).
import type { VersionRecord, DeleteResult } from '../../store/port.js';
import type { FhirContext } from '../context.js';
import { assertId, assertType, checkResourceBody } from '../resource.js';
import { badRequest } from '../errors.js';
import { storeCall } from '../store-errors.js';

export async function create(ctx: FhirContext, type: string, body: unknown): Promise<VersionRecord> {
  assertType(ctx, type);
  const resource = checkResourceBody(ctx, body, type, 'create');
  return storeCall(() => ctx.store.create(resource, { method: 'POST' }));
}

export interface UpdateInput {
  type: string;
  id: string;
  body: unknown;
  /** From If-Match: the version the client expects to replace. */
  ifMatch?: string;
}

export async function update(ctx: FhirContext, input: UpdateInput): Promise<{ record: VersionRecord; created: boolean }> {
  const { type, id } = input;
  assertType(ctx, type);
  assertId(id);
  const resource = checkResourceBody(ctx, input.body, type, 'update');
  // R4 http.html#update: the body SHALL carry the id of the URL.
  if (resource.id === undefined) throw badRequest('The resource has no id; an update needs the id of the URL in the body', 'required');
  if (resource.id !== id) throw badRequest(`The id "${resource.id}" in the body does not match "${id}" in the URL`);
  const withId = { ...resource, id };
  return storeCall(
    () => ctx.store.update(withId, { method: 'PUT', ...(input.ifMatch !== undefined ? { ifMatch: input.ifMatch } : {}) }),
    input.ifMatch !== undefined,
  );
}

export async function remove(ctx: FhirContext, type: string, id: string, ifMatch?: string): Promise<DeleteResult> {
  assertType(ctx, type);
  assertId(id);
  return storeCall(() => ctx.store.delete(type, id, ifMatch !== undefined ? { ifMatch } : {}), ifMatch !== undefined);
}
