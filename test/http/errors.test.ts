// Every kind of bad request gets an OperationOutcome with the right status, and changes nothing.
import t, { type Test } from 'tap';
import type { FastifyInstance } from 'fastify';
import { testApp, post, put, body, FHIR } from '../helpers/app.js';

const alice = { resourceType: 'Patient', name: [{ family: 'Walker' }] };

async function historyCount(app: FastifyInstance): Promise<number> {
  return body(await app.inject('/fhir/_history?_count=1000')).entry?.length ?? 0;
}

function isOutcome(t: Test, res: { headers: Record<string, unknown>; body: string }, status: number, code?: string): void {
  const oo = JSON.parse(res.body);
  t.equal(oo.resourceType, 'OperationOutcome', `${status} carries an OperationOutcome`);
  t.match(String(res.headers['content-type']), /^application\/fhir\+json/);
  t.ok(oo.issue.length > 0 && oo.issue.every((i: { diagnostics?: string }) => typeof i.diagnostics === 'string' && i.diagnostics.length > 0), 'with a message');
  if (code) t.equal(oo.issue[0].code, code);
}

t.test('malformed JSON is 400 with the parser\'s reason', async (t) => {
  const app = await testApp(t);
  const res = await app.inject({ method: 'POST', url: '/fhir/Patient', payload: '{"resourceType": "Patient",', headers: { 'content-type': FHIR } });
  t.equal(res.statusCode, 400);
  isOutcome(t, res, 400, 'structure');
  t.match(body(res).issue[0].diagnostics, /not valid JSON/);
  t.equal(await historyCount(app), 0);
});

t.test('an empty body is 400', async (t) => {
  const app = await testApp(t);
  const res = await app.inject({ method: 'POST', url: '/fhir/Patient', payload: '', headers: { 'content-type': FHIR } });
  t.equal(res.statusCode, 400);
  isOutcome(t, res, 400);
});

t.test('prototype poisoning keys are refused with 400', async (t) => {
  const app = await testApp(t);
  const res = await app.inject({ method: 'POST', url: '/fhir/Patient', payload: '{"resourceType":"Patient","__proto__":{"polluted":true}}', headers: { 'content-type': FHIR } });
  t.equal(res.statusCode, 400);
  isOutcome(t, res, 400);
  t.equal(({} as Record<string, unknown>).polluted, undefined);
  const ctor = await app.inject({ method: 'POST', url: '/fhir/Patient', payload: '{"resourceType":"Patient","constructor":{"prototype":{"x":1}}}', headers: { 'content-type': FHIR } });
  t.equal(ctor.statusCode, 400);
});

t.test('a body that is not a JSON object is 400', async (t) => {
  const app = await testApp(t);
  for (const payload of ['[]', '"Patient"', '42', 'null']) {
    const res = await app.inject({ method: 'POST', url: '/fhir/Patient', payload, headers: { 'content-type': FHIR } });
    t.equal(res.statusCode, 400, payload);
    isOutcome(t, res, 400);
  }
});

t.test('unknown resource type in the URL is 404', async (t) => {
  const app = await testApp(t);
  for (const url of ['/fhir/Patientx/1', '/fhir/patient/1', '/fhir/Resource/1', '/fhir/DomainResource/1']) {
    const res = await app.inject(url);
    t.equal(res.statusCode, 404, url);
    isOutcome(t, res, 404, 'not-found');
  }
  const create = await post(app, '/fhir/Unicorn', { resourceType: 'Unicorn' });
  t.equal(create.statusCode, 404);
});

t.test('unknown id is 404; a malformed id is 400', async (t) => {
  const app = await testApp(t);
  const res = await app.inject('/fhir/Patient/does-not-exist');
  t.equal(res.statusCode, 404);
  isOutcome(t, res, 404, 'not-found');
  const bad = await app.inject(`/fhir/Patient/${'x'.repeat(65)}`);
  t.equal(bad.statusCode, 400);
  const weird = await app.inject('/fhir/Patient/a%20b');
  t.equal(weird.statusCode, 400);
  isOutcome(t, weird, 400);
});

t.test('resourceType missing, unknown, or not the URL\'s type is 400', async (t) => {
  const app = await testApp(t);
  for (const payload of [{ name: [{ family: 'x' }] }, { resourceType: 'Unicorn' }, { resourceType: 'Observation', status: 'final', code: { text: 'x' } }]) {
    const res = await post(app, '/fhir/Patient', payload);
    t.equal(res.statusCode, 400, JSON.stringify(payload));
    isOutcome(t, res, 400);
  }
  t.equal(await historyCount(app), 0);
});

t.test('update: id in the body must match the URL and must be present (400)', async (t) => {
  const app = await testApp(t);
  const mismatch = await put(app, '/fhir/Patient/a', { ...alice, id: 'b' });
  t.equal(mismatch.statusCode, 400);
  isOutcome(t, mismatch, 400);
  const missing = await put(app, '/fhir/Patient/a', alice);
  t.equal(missing.statusCode, 400);
  t.equal(await historyCount(app), 0);
});

t.test('invalid element content is 422 with one located issue per problem', async (t) => {
  const app = await testApp(t);
  const res = await post(app, '/fhir/Patient', {
    resourceType: 'Patient',
    active: 'yes',
    birthDate: '1984-13-01',
    name: { family: 'NotAnArray' },
    gender: 42,
    colour: 'blue',
  });
  t.equal(res.statusCode, 422);
  const issues = body(res).issue as { expression: string[]; severity: string }[];
  const where = issues.map((i) => i.expression[0]).sort();
  t.same(where, ['Patient.active', 'Patient.birthDate', 'Patient.colour', 'Patient.gender', 'Patient.name']);
  t.ok(issues.every((i) => i.severity === 'error'));
  t.equal(await historyCount(app), 0);
});

t.test('an invalid id in an update body is refused', async (t) => {
  const app = await testApp(t);
  const res = await put(app, '/fhir/Patient/ok', { ...alice, id: 'not ok!' });
  t.equal(res.statusCode, 422);
  t.same(body(res).issue[0].expression, ['Patient.id']);
});

t.test('wrong method is 405 with an Allow header', async (t) => {
  const app = await testApp(t);
  const cases: [string, string, string][] = [
    ['DELETE', '/fhir/metadata', 'GET'],
    ['POST', '/fhir/Patient/123/_history/1', 'GET'],
    ['POST', '/fhir/Patient/123', 'GET'],
    ['POST', '/fhir/Patient/123/_history', 'GET'],
    ['DELETE', '/fhir/_history', 'GET'],
  ];
  for (const [method, url, allowed] of cases) {
    const withBody = method === 'POST' || method === 'PUT';
    const res = await app.inject({ method: method as 'GET', url, ...(withBody ? { payload: '{}', headers: { 'content-type': FHIR } } : {}) });
    t.equal(res.statusCode, 405, `${method} ${url}`);
    t.match(String(res.headers.allow), allowed);
    isOutcome(t, res, 405, 'not-supported');
  }
});

t.test('unsupported media types are 415 (XML bodies are taken: test/http/xml.test.ts)', async (t) => {
  const app = await testApp(t);
  for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream']) {
    const res = await app.inject({ method: 'POST', url: '/fhir/Patient', payload: '<Patient/>', headers: { 'content-type': ct } });
    t.equal(res.statusCode, 415, ct);
    isOutcome(t, res, 415, 'not-supported');
  }
  const patchAsPut = await app.inject({ method: 'PUT', url: '/fhir/Patient/x', payload: '[]', headers: { 'content-type': 'application/json-patch+json' } });
  t.equal(patchAsPut.statusCode, 415);
  t.equal(await historyCount(app), 0);
});

t.test('a body over the limit is 413 and stores nothing', async (t) => {
  const app = await testApp(t, { BODY_LIMIT: '2048' });
  const big = { resourceType: 'Patient', name: [{ family: 'x'.repeat(4000) }] };
  const res = await post(app, '/fhir/Patient', big);
  t.equal(res.statusCode, 413);
  isOutcome(t, res, 413, 'too-costly');
  t.equal(await historyCount(app), 0);
});

t.test('hostile strings: deep nesting, huge ids, control characters and script tags are refused cleanly', async (t) => {
  const app = await testApp(t);
  // Built as text: JSON.stringify itself would overflow on this depth.
  const ext = '{"url":"http://x","extension":['.repeat(5000) + '{"url":"http://x","valueString":"v"}' + ']}'.repeat(5000);
  const nested = await app.inject({ method: 'POST', url: '/fhir/Patient', payload: `{"resourceType":"Patient","extension":[${ext}]}`, headers: { 'content-type': FHIR } });
  t.equal(nested.statusCode, 422);
  t.match(body(nested).issue[0].code, 'too-costly');
  let arr = '1';
  for (let i = 0; i < 20000; i++) arr = `[${arr}]`;
  const deepJson = await app.inject({ method: 'POST', url: '/fhir/Patient', payload: `{"resourceType":"Patient","x":${arr}}`, headers: { 'content-type': FHIR } });
  t.ok(deepJson.statusCode === 400 || deepJson.statusCode === 422, `deep arrays: ${deepJson.statusCode}`);
  const script = await post(app, '/fhir/%3Cscript%3Ealert(1)%3C%2Fscript%3E', alice);
  t.equal(script.statusCode, 404);
  t.notMatch(script.body, /<script>/, 'the outcome does not echo markup verbatim into a new document');
  const sqlish = await app.inject("/fhir/Patient/1'%20OR%20'1'='1");
  t.equal(sqlish.statusCode, 400);
  const nul = await post(app, '/fhir/Patient', { resourceType: 'Patient', name: [{ family: 'a\u0000b' }] });
  t.ok([201, 422].includes(nul.statusCode), 'a NUL in a string is either stored faithfully or refused');
  t.equal((await app.inject('/fhir/metadata')).statusCode, 200, 'the server is still up');
});

t.test('unknown endpoints are 404 OperationOutcomes', async (t) => {
  const app = await testApp(t);
  const res = await app.inject('/nope');
  t.equal(res.statusCode, 404);
  isOutcome(t, res, 404, 'not-found');
});

t.test('errors of the engine never leak a stack trace', async (t) => {
  const app = await testApp(t);
  const res = await app.inject({ method: 'PATCH', url: '/fhir/Patient/x', payload: '{}', headers: { 'content-type': 'application/json-patch+json' } });
  t.equal(res.statusCode, 400);
  t.notMatch(res.body, /at .*\.(ts|js):\d+/);
});
