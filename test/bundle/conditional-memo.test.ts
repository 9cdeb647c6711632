// A transaction reuses the conditional matches it found while resolving identities, but never
// past one of its own writes that could change them: the answers are those of a fresh search.
import t from 'tap';
import { testApp, body, load } from '../helpers/app.js';
import type { FastifyInstance } from 'fastify';

const mrn = (v: string, extra: Record<string, unknown> = {}) => ({ resourceType: 'Patient', identifier: [{ system: 'http://mrn', value: v }], ...extra });

async function transaction(app: FastifyInstance, entry: unknown[]): Promise<{ status: number; entries: Record<string, any>[] }> {
  const res = await app.inject({ method: 'POST', url: '/fhir', payload: { resourceType: 'Bundle', type: 'transaction', entry }, headers: { 'content-type': 'application/fhir+json', prefer: 'return=representation' } });
  return { status: res.statusCode, entries: body(res).entry ?? [] };
}

async function patients(app: FastifyInstance, query: string): Promise<Record<string, any>[]> {
  const res = await app.inject({ url: `/fhir/Patient?${query}` });
  return (body(res).entry ?? []).map((e: { resource: Record<string, any> }) => e.resource);
}

t.test('a conditional create whose match an earlier entry deletes creates a new resource', async (t) => {
  const app = await testApp(t);
  await load(app, [{ ...mrn('D1'), id: 'gone' } as never]);
  const { status, entries } = await transaction(app, [
    { resource: mrn('D1', { active: true }), request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=http://mrn|D1' } },
    { request: { method: 'DELETE', url: 'Patient/gone' } },
  ]);
  t.equal(status, 200);
  t.equal(entries[0]?.response.status, '201 Created', 'the match found while resolving was deleted before the create ran');
  t.not(entries[0]?.resource.id, 'gone');
  t.same((await patients(app, 'identifier=http://mrn|D1')).map((p) => p.active), [true]);
});

t.test('a conditional update sees the resource an earlier entry of the same transaction created', async (t) => {
  const app = await testApp(t);
  const { status, entries } = await transaction(app, [
    { resource: mrn('N1', { active: false }), request: { method: 'PUT', url: 'Patient?identifier=http://mrn|N1' } },
    { resource: mrn('N1'), request: { method: 'POST', url: 'Patient' } },
  ]);
  t.equal(status, 200);
  t.equal(entries[1]?.response.status, '201 Created');
  t.equal(entries[0]?.response.status, '200 OK', 'POST runs first; the PUT then updates what it created');
  const found = await patients(app, 'identifier=http://mrn|N1');
  t.equal(found.length, 1);
  t.equal(found[0]?.meta.versionId, '2');
  t.equal(found[0]?.active, false);
});

t.test('two conditional creates with the same criteria in one transaction create one resource', async (t) => {
  const app = await testApp(t);
  const { status, entries } = await transaction(app, [
    { resource: mrn('S1', { gender: 'female' }), request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=http://mrn|S1' } },
    { resource: mrn('S1', { gender: 'male' }), request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=http://mrn|S1' } },
  ]);
  t.equal(status, 200);
  t.same(entries.map((e) => e.response.status), ['201 Created', '200 OK']);
  t.same((await patients(app, 'identifier=http://mrn|S1')).map((p) => p.gender), ['female']);
});

t.test('a write that does not contain the criteria value keeps nothing stale: updates of other resources, then the match', async (t) => {
  const app = await testApp(t);
  await load(app, [{ ...mrn('K1'), id: 'k1' } as never, { ...mrn('K2'), id: 'k2' } as never]);
  const { status, entries } = await transaction(app, [
    { resource: mrn('K2', { active: true }), request: { method: 'PUT', url: 'Patient?identifier=http://mrn|K2' } },
    { resource: mrn('K1', { active: true }), request: { method: 'PUT', url: 'Patient?identifier=http://mrn|K1' } },
    { resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient?identifier=http://mrn|K1' } }, request: { method: 'POST', url: 'Observation' } },
  ]);
  t.equal(status, 200);
  t.same(entries.slice(0, 2).map((e) => [e.response.status, e.resource.id]), [['200 OK', 'k2'], ['200 OK', 'k1']]);
  t.equal(entries[2]?.resource.subject.reference, 'Patient/k1');
  // An entry moves an identifier onto another resource: the criteria now match two, as a fresh search would say.
  const moved = await transaction(app, [
    { resource: { ...mrn('K1'), id: 'k2', identifier: [{ system: 'http://mrn', value: 'K1' }] }, request: { method: 'PUT', url: 'Patient/k2' } },
    { resource: mrn('K1', { active: false }), request: { method: 'PUT', url: 'Patient?identifier=http://mrn|K1' } },
  ]);
  t.equal(moved.status, 412, 'two matches after the first write');
});
