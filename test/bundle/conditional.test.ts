// Conditional create, update, delete and patch; race-free under real concurrent requests.
import t from 'tap';
import { testApp, post, put, body, ids, load } from '../helpers/app.js';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';

const mrn = (v: string) => ({ resourceType: 'Patient', identifier: [{ system: 'http://mrn', value: v }] });

t.test('conditional create: no match creates, one match answers 200 with it, several are 412', async (t) => {
  const app = await testApp(t);
  const first = await post(app, '/fhir/Patient', mrn('C1'), { 'if-none-exist': 'identifier=http://mrn|C1' });
  t.equal(first.statusCode, 201);
  const again = await post(app, '/fhir/Patient', { ...mrn('C1'), active: true }, { 'if-none-exist': 'identifier=http://mrn|C1' });
  t.equal(again.statusCode, 200);
  t.equal(body(again).id, body(first).id);
  t.equal(body(again).active, undefined, 'nothing was written');
  await post(app, '/fhir/Patient', mrn('C1'));
  const many = await post(app, '/fhir/Patient', mrn('C1'), { 'if-none-exist': 'identifier=http://mrn|C1' });
  t.equal(many.statusCode, 412);
  t.equal(body(many).issue[0].code, 'multiple-matches');
  const full = await post(app, '/fhir/Patient', mrn('C2'), { 'if-none-exist': 'Patient?identifier=http://mrn|C2' });
  t.equal(full.statusCode, 201, 'the criteria may repeat the type');
  const bad = await post(app, '/fhir/Patient', mrn('C3'), { 'if-none-exist': 'nonsense=1' });
  t.equal(bad.statusCode, 400, 'unknown criteria are refused, not ignored');
});

t.test('conditional update: create on no match, update on one, 412 on several', async (t) => {
  const app = await testApp(t);
  const created = await put(app, '/fhir/Patient?identifier=http://mrn|U1', { ...mrn('U1'), active: true });
  t.equal(created.statusCode, 201);
  const id = body(created).id;
  const updated = await put(app, '/fhir/Patient?identifier=http://mrn|U1', { ...mrn('U1'), active: false });
  t.equal(updated.statusCode, 200);
  t.equal(body(updated).id, id);
  t.equal(body(updated).meta.versionId, '2');
  const wrongId = await put(app, '/fhir/Patient?identifier=http://mrn|U1', { ...mrn('U1'), id: 'other' });
  t.equal(wrongId.statusCode, 400, 'a body id other than the match');
  const withId = await put(app, '/fhir/Patient?identifier=http://mrn|U2', { ...mrn('U2'), id: 'chosen' });
  t.equal(withId.statusCode, 201);
  t.equal(body(withId).id, 'chosen', 'no match and an id: update as create');
  await post(app, '/fhir/Patient', mrn('U1'));
  t.equal((await put(app, '/fhir/Patient?identifier=http://mrn|U1', mrn('U1'))).statusCode, 412);
  t.equal((await put(app, '/fhir/Patient', mrn('U9'))).statusCode, 400, 'criteria are required');
  t.equal((await put(app, '/fhir/Patient?identifier=http://mrn|U1&_format=json', mrn('U1'))).statusCode, 412, '_format is not a criterion');
});

t.test('conditional delete removes every match', async (t) => {
  const app = await testApp(t);
  await load(app, [{ ...mrn('D'), id: 'd1' }, { ...mrn('D'), id: 'd2' }, { ...mrn('E'), id: 'e1' }] as never[]);
  const res = await app.inject({ method: 'DELETE', url: '/fhir/Patient?identifier=http://mrn|D' });
  t.equal(res.statusCode, 200);
  t.match(body(res).issue[0].diagnostics, /Deleted 2 Patient/);
  t.same(await ids(app, '/fhir/Patient'), ['Patient/e1']);
  t.equal((await app.inject('/fhir/Patient/d1')).statusCode, 410);
  const none = await app.inject({ method: 'DELETE', url: '/fhir/Patient?identifier=http://mrn|Z' });
  t.equal(none.statusCode, 200);
  t.equal(body(none).issue[0].severity, 'warning');
  t.equal((await app.inject({ method: 'DELETE', url: '/fhir/Patient' })).statusCode, 400, 'no criteria, no mass delete');
});

t.test('conditional patch patches the single match', async (t) => {
  const app = await testApp(t);
  await load(app, [{ ...mrn('P'), id: 'p1', active: true }] as never[]);
  const ops = JSON.stringify([{ op: 'replace', path: '/active', value: false }]);
  const res = await app.inject({ method: 'PATCH', url: '/fhir/Patient?identifier=http://mrn|P', payload: ops, headers: { 'content-type': 'application/json-patch+json' } });
  t.equal(res.statusCode, 200);
  t.equal(body(res).active, false);
  const none = await app.inject({ method: 'PATCH', url: '/fhir/Patient?identifier=http://mrn|Q', payload: ops, headers: { 'content-type': 'application/json-patch+json' } });
  t.equal(none.statusCode, 404);
});

t.test('concurrent conditional creates over real sockets leave exactly one resource', async (t) => {
  const app = await buildApp(loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', PORT: '0', AUTH: 'off' }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  const address = app.server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/fhir`;
  for (const round of [1, 2, 3]) {
    const value = `RACE-${round}`;
    const results = await Promise.all(Array.from({ length: 25 }, (_, i) => fetch(`${base}/Patient`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', 'if-none-exist': `identifier=http://mrn|${value}` },
      body: JSON.stringify({ ...mrn(value), name: [{ family: `Attempt${i}` }] }),
    })));
    const statuses = results.map((r) => r.status).sort();
    t.equal(statuses.filter((s) => s === 201).length, 1, `round ${round}: one 201`);
    t.equal(statuses.filter((s) => s === 200).length, 24, `round ${round}: 24 answers with the existing resource`);
    const found = await (await fetch(`${base}/Patient?identifier=http://mrn|${value}&_total=accurate`)).json() as { total: number };
    t.equal(found.total, 1, `round ${round}: exactly one stored`);
  }
  // Conditional updates racing for a missing resource create it once as well.
  const puts = await Promise.all(Array.from({ length: 20 }, () => fetch(`${base}/Patient?identifier=http://mrn|RACE-PUT`, {
    method: 'PUT', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(mrn('RACE-PUT')),
  })));
  t.equal(puts.filter((r) => r.status === 201).length, 1);
  const found = await (await fetch(`${base}/Patient?identifier=http://mrn|RACE-PUT&_total=accurate`)).json() as { total: number };
  t.equal(found.total, 1);
  // And transaction Bundles with conditional creates.
  const txs = await Promise.all(Array.from({ length: 10 }, () => fetch(base, {
    method: 'POST', headers: { 'content-type': 'application/fhir+json' },
    body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: 'urn:uuid:44444444-4444-4444-8444-444444444444', resource: mrn('RACE-TX'), request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=http://mrn|RACE-TX' } },
      { resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:44444444-4444-4444-8444-444444444444' } }, request: { method: 'POST', url: 'Observation' } },
    ] }),
  })));
  t.ok(txs.every((r) => r.status === 200));
  const patients = await (await fetch(`${base}/Patient?identifier=http://mrn|RACE-TX&_total=accurate`)).json() as { total: number; entry: { resource: { id: string } }[] };
  t.equal(patients.total, 1);
  const obs = await (await fetch(`${base}/Observation?subject=Patient/${patients.entry[0]?.resource.id}&_total=accurate`)).json() as { total: number };
  t.equal(obs.total, 10, 'every transaction linked its Observation to the one Patient');
});
