// Formats: _format, Accept, _pretty; XML refused with a clear outcome (R4 http.html#mime-type).
import t from 'tap';
import { testApp, post, body } from '../helpers/app.js';

t.test('no Accept, */* and application/fhir+json answer application/fhir+json', async (t) => {
  const app = await testApp(t);
  for (const accept of [undefined, '*/*', 'application/fhir+json', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8']) {
    const res = await app.inject({ url: '/fhir/metadata', headers: accept ? { accept } : {} });
    t.equal(res.statusCode, 200, String(accept));
    t.match(res.headers['content-type'], /^application\/fhir\+json; charset=utf-8/);
  }
});

t.test('Accept: application/json answers application/json', async (t) => {
  const app = await testApp(t);
  const res = await app.inject({ url: '/fhir/metadata', headers: { accept: 'application/json' } });
  t.match(res.headers['content-type'], /^application\/json/);
});

t.test('_format overrides Accept', async (t) => {
  const app = await testApp(t);
  const json = await app.inject({ url: '/fhir/metadata?_format=json', headers: { accept: 'application/fhir+xml' } });
  t.equal(json.statusCode, 200);
  t.match(json.headers['content-type'], /^application\/fhir\+json/);
  const plain = await app.inject('/fhir/metadata?_format=application/json');
  t.match(plain.headers['content-type'], /^application\/json/);
});

t.test('XML is answered with 406 and an OperationOutcome in JSON', async (t) => {
  const app = await testApp(t);
  for (const req of [{ url: '/fhir/metadata?_format=xml' }, { url: '/fhir/metadata', headers: { accept: 'application/fhir+xml' } }, { url: '/fhir/metadata?_format=application/fhir%2Bxml' }]) {
    const res = await app.inject(req);
    t.equal(res.statusCode, 406, JSON.stringify(req));
    t.equal(body(res).resourceType, 'OperationOutcome');
    t.match(body(res).issue[0].diagnostics, /XML|json/i);
  }
  t.equal((await app.inject('/fhir/metadata?_format=yaml')).statusCode, 406);
});

t.test('a fhirVersion other than 4.0 in Accept is 406', async (t) => {
  const app = await testApp(t);
  t.equal((await app.inject({ url: '/fhir/metadata', headers: { accept: 'application/fhir+json; fhirVersion=3.0' } })).statusCode, 406);
  t.equal((await app.inject({ url: '/fhir/metadata', headers: { accept: 'application/fhir+json; fhirVersion=4.0' } })).statusCode, 200);
});

t.test('_pretty=true indents the same content', async (t) => {
  const app = await testApp(t);
  const p = body(await post(app, '/fhir/Patient', { resourceType: 'Patient', active: true }));
  const pretty = await app.inject(`/fhir/Patient/${p.id}?_pretty=true`);
  t.match(pretty.body, /\n {2}"resourceType": "Patient"/);
  t.same(body(pretty), p);
  const compact = await app.inject(`/fhir/Patient/${p.id}`);
  t.notMatch(compact.body, /\n/);
});

t.test('every response carries a request id; a sane client id is echoed', async (t) => {
  const app = await testApp(t);
  const res = await app.inject({ url: '/fhir/metadata', headers: { 'x-request-id': 'abc-123' } });
  t.equal(res.headers['x-request-id'], 'abc-123');
  const hostile = await app.inject({ url: '/fhir/metadata', headers: { 'x-request-id': '<script>' } });
  t.not(hostile.headers['x-request-id'], '<script>');
  t.ok(hostile.headers['x-request-id']);
});
