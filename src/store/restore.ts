// What both adapters check before Store.restore writes a version recorded elsewhere (a
// migration): the version is the resource's next one and the record is self-consistent, so a
// copy cannot leave a gap, a rewound version or JSON that disagrees with its own meta.
import type { Resource } from 'fhir/r4.js';
import { StoreError, type VersionRecord } from './port.js';

/**
 * The resource to index for `record` (undefined for a deletion), after checking that it may
 * follow `current` (the resource's current version number, 0 when absent). Throws StoreError.
 */
export function restorable(record: VersionRecord, current: number): Resource | undefined {
  const key = `${record.type}/${record.id}`;
  const version = Number(record.versionId);
  if (!/^[1-9][0-9]{0,15}$/.test(record.versionId)) throw new StoreError('unprocessable', `${key}: versionId ${record.versionId} is not a version number`);
  if (Number.isNaN(Date.parse(record.lastUpdated)) || !/^\d{4}-\d\d-\d\dT/.test(record.lastUpdated)) {
    throw new StoreError('unprocessable', `${key}: lastUpdated ${record.lastUpdated} is not an instant`);
  }
  if (version !== current + 1) {
    throw new StoreError('version-conflict', `${key} is at version ${current}: version ${version} cannot follow it`);
  }
  if (record.deleted) {
    if (record.json !== undefined) throw new StoreError('unprocessable', `${key}/_history/${version}: a deletion carries no resource`);
    return undefined;
  }
  if (record.json === undefined) throw new StoreError('unprocessable', `${key}/_history/${version}: no resource`);
  const resource = JSON.parse(record.json) as Resource;
  const meta = resource.meta;
  if (resource.resourceType !== record.type || resource.id !== record.id || meta?.versionId !== record.versionId || meta.lastUpdated !== record.lastUpdated) {
    throw new StoreError('unprocessable', `${key}/_history/${version}: the resource's type, id or meta disagree with its record`);
  }
  return resource;
}
