// create, update, delete (R4 http.html#create, #update, #delete).
import type { VersionRecord, DeleteResult } from '../../store/port.js';
import type { FhirContext } from '../context.js';
import { assertId, assertType, checkResourceBody } from '../resource.js';
import { badRequest } from '../errors.js';
import { storeCall } from '../store-errors.js';
import { applySearchParameter, checkSearchParameter } from '../custom-params.js';
import { afterCommit, inTransaction } from '../tx.js';
import { checkNotReferenced, checkReferences } from '../integrity.js';
import { assertContentInCompartment, assertVisible, requirePerm, stampOwner } from '../access.js';
import type { Resource } from 'fhir/r4.js';
import { hookedWrite } from '../workflow/hooks.js';
import { storedResource } from '../../fhir-basics/stored.js';

/**
 * Creates a resource with a server-assigned id. `assignedId` is for transactions, which choose
 * the ids of their new resources up front so that entries can refer to each other.
 */
export async function create(ctx: FhirContext, type: string, body: unknown, assignedId?: string): Promise<VersionRecord> {
  assertType(ctx, type);
  const checked = await checkResourceBody(ctx, body, type, 'create');
  const resource = stampOwner(ctx, assignedId ? { ...checked, id: assignedId } : checked, 'c');
  requirePerm(ctx, 'c', type);
  assertContentInCompartment(ctx, resource);
  checkSearchParameter(ctx, resource);
  await checkReferences(ctx, resource);
  // Business rules of the type (src/fhir/workflow/hooks.ts) run inside the write's transaction.
  const target = { ...(assignedId ? { id: assignedId } : {}), resource, create: true };
  const { record } = await hookedWrite(ctx, type, target, async (c, followUp) => ({
    record: await storeCall(() => c.store.create(resource, { method: 'POST', ...(followUp ? { followUp } : {}) })),
  }));
  afterWrite(ctx, record);
  return record;
}

/** Side effects of a committed write (runtime SearchParameters). */
export function afterWrite(ctx: FhirContext, record: VersionRecord, previousUrl?: string): void {
  if (record.type !== 'SearchParameter') return;
  const resource = record.json !== undefined ? JSON.parse(record.json) as Resource : undefined;
  const url = (resource as { url?: string } | undefined)?.url ?? previousUrl;
  afterCommit(ctx, () => void applySearchParameter(ctx, resource, url).catch(() => undefined));
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
  const resource = await checkResourceBody(ctx, input.body, type, 'update');
  // R4 http.html#update: the body SHALL carry the id of the URL.
  if (resource.id === undefined) throw badRequest('The resource has no id; an update needs the id of the URL in the body', 'required');
  if (resource.id !== id) throw badRequest(`The id "${resource.id}" in the body does not match "${id}" in the URL`);
  let withId = { ...resource, id };
  requirePerm(ctx, 'u', type);
  if (ctx.access) {
    const current = await storeCall(() => ctx.store.read(type, id));
    if (current.status === 'found') await assertVisible(ctx, 'u', type, id);
    withId = stampOwner(ctx, withId, 'u', current.status === 'found' ? storedResource<Resource>(current.record) : undefined);
  }
  assertContentInCompartment(ctx, withId);
  checkSearchParameter(ctx, withId);
  await checkReferences(ctx, withId);
  const result = await hookedWrite(ctx, type, { id, resource: withId, create: false }, (c, followUp) => storeCall(
    () => c.store.update(withId, { method: 'PUT', ...(input.ifMatch !== undefined ? { ifMatch: input.ifMatch } : {}), ...(followUp ? { followUp } : {}) }),
    input.ifMatch !== undefined,
  ));
  afterWrite(ctx, result.record);
  return result;
}

export async function remove(ctx: FhirContext, type: string, id: string, ifMatch?: string): Promise<DeleteResult> {
  assertType(ctx, type);
  assertId(id);
  requirePerm(ctx, 'd', type);
  if (ctx.access && (await storeCall(() => ctx.store.read(type, id))).status === 'found') await assertVisible(ctx, 'd', type, id);
  let url: string | undefined;
  if (type === 'SearchParameter') {
    const cur = await ctx.store.read(type, id);
    if (cur.status === 'found') url = (JSON.parse(cur.record.json ?? '{}') as { url?: string }).url;
  }
  const run = async (c: FhirContext): Promise<DeleteResult> => {
    const result = await storeCall(() => c.store.delete(type, id, ifMatch !== undefined ? { ifMatch } : {}), ifMatch !== undefined);
    if (result.status === 'deleted') await checkNotReferenced(c, type, id);
    if (result.status === 'deleted' && result.record) afterWrite(c, result.record, url);
    return result;
  };
  // Strict integrity checks after the delete, inside its transaction: a refusal undoes it.
  return hookedWrite(ctx, type, { id, create: false }, (c) => (c.integrity === 'strict' ? inTransaction(c, run) : run(c)));
}
