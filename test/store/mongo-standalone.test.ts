// The MongoDB adapter on a standalone server (no multi-document transactions): plain writes
// and one-write transactions work, a transaction that tries a second write is refused with a
// clear error (501 not-supported) and its first write is undone.
import t from 'tap';
import type { Resource } from 'fhir/r4.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import { StoreError } from '../../src/store/port.js';
import { mapStoreError } from '../../src/fhir/store-errors.js';
import { FhirError } from '../../src/fhir/errors.js';
import { MingoDb } from '../helpers/mingo-db.js';

const patient = (family: string, id?: string): Resource => ({ resourceType: 'Patient', ...(id ? { id } : {}), name: [{ family }] }) as Resource;

async function open(): Promise<{ db: MingoDb; s: MongoStore }> {
  const db = new MingoDb('standalone');
  return { db, s: await MongoStore.open({ db }) };
}

t.test('standalone: plain writes never start a transaction', async (t) => {
  const { db, s } = await open();
  const a = await s.create(patient('A'));
  await s.update({ ...(JSON.parse(a.json ?? '{}') as Resource & { id: string }), active: true } as Resource & { id: string });
  await s.delete('Patient', a.id);
  t.equal(db.calls.includes('withTransaction'), false);
  t.same((await s.history({ type: 'Patient', id: a.id, count: 10 })).records.map((r) => r.versionId), ['3', '2', '1']);
  await s.close();
});

t.test('standalone: a one-write transaction (conditional create) commits', async (t) => {
  const { s } = await open();
  const id = await s.transaction(async (tx) => {
    const found = await tx.search({ types: ['Patient'], where: { and: [] }, sort: [], count: 10, total: 'none', include: [], revinclude: [] });
    t.equal(found.records.length, 0);
    return (await tx.create(patient('Only'))).id;
  });
  t.equal((await s.read('Patient', id)).status, 'found');
  await s.close();
});

t.test('standalone: a second write in a transaction is refused and the first is undone', async (t) => {
  const { s } = await open();
  const keep = await s.create(patient('Keep', 'keep'));
  let err: unknown;
  try {
    await s.transaction(async (tx) => {
      await tx.update({ ...(JSON.parse(keep.json ?? '{}') as Resource & { id: string }), active: false } as Resource & { id: string });
      await tx.create(patient('Second', 'second'));
    });
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof StoreError && err.code === 'unsupported', 'StoreError unsupported');
  t.match(String((err as Error).message), /replica set/);
  const cur = await s.read('Patient', 'keep');
  t.equal(cur.status === 'found' && cur.record.versionId, '1', 'the first write was undone');
  t.equal(cur.status === 'found' && JSON.parse(cur.record.json ?? '{}').active, undefined);
  t.equal((await s.read('Patient', 'second')).status, 'missing');
  t.same((await s.history({ type: 'Patient', id: 'keep', count: 10 })).records.map((r) => r.versionId), ['1'], 'no trace in history');
  const mapped = mapStoreError(err);
  t.ok(mapped instanceof FhirError && mapped.status === 501, '501');
  t.equal(mapped instanceof FhirError && mapped.issues[0]?.code, 'not-supported');
  await s.close();
});

t.test('standalone: a failed one-write transaction undoes a create too', async (t) => {
  const { s } = await open();
  await t.rejects(s.transaction(async (tx) => {
    await tx.create(patient('Gone', 'gone'));
    throw new Error('boom');
  }), /boom/);
  t.equal((await s.read('Patient', 'gone')).status, 'missing');
  await s.close();
});

t.test('standalone: concurrent conditional creates in one process make one resource', async (t) => {
  const { s } = await open();
  const conditional = () => s.transaction(async (tx) => {
    const found = await tx.search({ types: ['Patient'], where: { cond: { kind: 'id', ids: ['cc'] } }, sort: [], count: 1, total: 'none', include: [], revinclude: [] });
    if (found.records.length) return 'existing';
    await new Promise((r) => setTimeout(r, 2));
    await tx.create(patient('CC', 'cc'));
    return 'created';
  });
  const results = await Promise.all(Array.from({ length: 6 }, conditional));
  t.equal(results.filter((r) => r === 'created').length, 1);
  await s.close();
});
