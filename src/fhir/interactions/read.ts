// read and vread (R4 http.html#read, #vread).
import type { VersionRecord } from '../../store/port.js';
import type { FhirContext } from '../context.js';
import { assertId, assertType } from '../resource.js';
import { gone, notFound } from '../errors.js';
import { storeCall } from '../store-errors.js';
import { assertVisible, requirePerm } from '../access.js';

export async function read(ctx: FhirContext, type: string, id: string): Promise<VersionRecord> {
  assertType(ctx, type);
  assertId(id);
  requirePerm(ctx, 'r', type);
  const result = await storeCall(() => ctx.store.read(type, id));
  if (result.status === 'missing') throw notFound(`${type}/${id} is not known`);
  if (result.status === 'deleted') throw gone(`${type}/${id} was deleted (version ${result.record.versionId})`);
  await assertVisible(ctx, 'r', type, id);
  return result.record;
}

export async function vread(ctx: FhirContext, type: string, id: string, versionId: string): Promise<VersionRecord> {
  assertType(ctx, type);
  assertId(id);
  requirePerm(ctx, 'r', type);
  const record = await storeCall(() => ctx.store.vread(type, id, versionId));
  if (!record) throw notFound(`${type}/${id} has no version "${versionId.slice(0, 20)}"`);
  // R4 http.html#vread: a version that records a deletion answers 410 Gone.
  if (record.deleted) throw gone(`${type}/${id} version ${versionId} is a deletion`);
  await assertVisible(ctx, 'r', type, id);
  return record;
}
