// JSON Patch (R4 http.html#patch).
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { testApp, post, body } from '../helpers/app.js';

const PATCH = 'application/json-patch+json';

async function patch(app: FastifyInstance, url: string, ops: unknown, headers: Record<string, string> = {}) {
  return app.inject({ method: 'PATCH', url, payload: JSON.stringify(ops), headers: { 'content-type': PATCH, ...headers } });
}

async function seed(app: FastifyInstance) {
  return body(await post(app, '/fhir/Patient', { resourceType: 'Patient', active: true, name: [{ family: 'Walker', given: ['Alice'] }] }));
}

t.test('a JSON Patch applies and adds a version', async (t) => {
  const app = await testApp(t);
  const p = await seed(app);
  const res = await patch(app, `/fhir/Patient/${p.id}`, [
    { op: 'replace', path: '/active', value: false },
    { op: 'add', path: '/name/0/given/-', value: 'Beth' },
    { op: 'add', path: '/gender', value: 'female' },
  ]);
  t.equal(res.statusCode, 200);
  t.equal(res.headers.etag, 'W/"2"');
  const out = body(res);
  t.equal(out.active, false);
  t.same(out.name[0].given, ['Alice', 'Beth']);
  t.equal(out.gender, 'female');
  t.equal(out.meta.versionId, '2');
  const hist = body(await app.inject(`/fhir/Patient/${p.id}/_history`));
  t.equal(hist.entry[0].request.method, 'PATCH');
});

t.test('a failing test operation is 422 and changes nothing', async (t) => {
  const app = await testApp(t);
  const p = await seed(app);
  const res = await patch(app, `/fhir/Patient/${p.id}`, [
    { op: 'test', path: '/active', value: false },
    { op: 'replace', path: '/active', value: false },
  ]);
  t.equal(res.statusCode, 422);
  t.equal(body(res).resourceType, 'OperationOutcome');
  t.equal(body(await app.inject(`/fhir/Patient/${p.id}`)).meta.versionId, '1');
});

t.test('a patch producing an invalid resource is 422 with the location', async (t) => {
  const app = await testApp(t);
  const p = await seed(app);
  const res = await patch(app, `/fhir/Patient/${p.id}`, [{ op: 'add', path: '/birthDate', value: 'yesterday' }]);
  t.equal(res.statusCode, 422);
  t.same(body(res).issue[0].expression, ['Patient.birthDate']);
  const idChange = await patch(app, `/fhir/Patient/${p.id}`, [{ op: 'replace', path: '/id', value: 'other' }]);
  t.equal(idChange.statusCode, 422);
  const typeChange = await patch(app, `/fhir/Patient/${p.id}`, [{ op: 'replace', path: '/resourceType', value: 'Group' }]);
  t.equal(typeChange.statusCode, 422);
});

t.test('malformed patch documents are 400', async (t) => {
  const app = await testApp(t);
  const p = await seed(app);
  for (const ops of [{ op: 'add' }, [{ op: 'explode', path: '/x' }], [{ path: '/active' }], ['x']]) {
    const res = await patch(app, `/fhir/Patient/${p.id}`, ops);
    t.equal(res.statusCode, 400, JSON.stringify(ops));
  }
  const unresolvable = await patch(app, `/fhir/Patient/${p.id}`, [{ op: 'replace', path: '/name/7/family', value: 'x' }]);
  t.equal(unresolvable.statusCode, 422);
});

t.test('a patch cannot touch Object.prototype', async (t) => {
  const app = await testApp(t);
  const p = await seed(app);
  const res = await patch(app, `/fhir/Patient/${p.id}`, [{ op: 'add', path: '/__proto__/polluted', value: 'yes' }]);
  t.ok(res.statusCode >= 400 && res.statusCode < 500);
  t.equal(({} as Record<string, unknown>).polluted, undefined);
});

t.test('patch honours If-Match, and 404/410 for unknown and deleted resources', async (t) => {
  const app = await testApp(t);
  const p = await seed(app);
  const stale = await patch(app, `/fhir/Patient/${p.id}`, [{ op: 'replace', path: '/active', value: false }], { 'if-match': 'W/"3"' });
  t.equal(stale.statusCode, 412);
  const ok = await patch(app, `/fhir/Patient/${p.id}`, [{ op: 'replace', path: '/active', value: false }], { 'if-match': 'W/"1"' });
  t.equal(ok.statusCode, 200);
  t.equal((await patch(app, '/fhir/Patient/nobody', [])).statusCode, 404);
  await app.inject({ method: 'DELETE', url: `/fhir/Patient/${p.id}` });
  t.equal((await patch(app, `/fhir/Patient/${p.id}`, [])).statusCode, 410);
});

t.test('PATCH with a FHIR body (FHIRPath Patch) is 415 with guidance', async (t) => {
  const app = await testApp(t);
  const p = await seed(app);
  const res = await app.inject({ method: 'PATCH', url: `/fhir/Patient/${p.id}`, payload: '{"resourceType":"Parameters"}', headers: { 'content-type': 'application/fhir+json' } });
  t.equal(res.statusCode, 415);
  t.match(body(res).issue[0].diagnostics, /json-patch/);
});
