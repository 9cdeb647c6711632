// Formats: _format, Accept, _pretty (R4 http.html#mime-type); XML in depth: test/http/xml.test.ts.
import t from 'tap';
import { testApp, post, body } from '../helpers/app.js';

t.test('no Accept, */* and application/fhir+json answer application/fhir+json', async (t) => {
  const app = await testApp(t);
  for (const accept of [undefined, '*/*', 'application/fhir+json', 'application/fhir+xml;q=0.5, application/fhir+json']) {
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

t.test('XML is answered for _format=xml, text/xml, application/fhir+xml and for Accept; other formats are 406', async (t) => {
  const app = await testApp(t);
  const cases: [{ url: string; headers?: Record<string, string> }, RegExp][] = [
    [{ url: '/fhir/metadata?_format=xml' }, /^application\/fhir\+xml; charset=utf-8/],
    [{ url: '/fhir/metadata?_format=text/xml' }, /^application\/fhir\+xml/],
    [{ url: '/fhir/metadata?_format=application/fhir%2Bxml' }, /^application\/fhir\+xml/],
    [{ url: '/fhir/metadata', headers: { accept: 'application/fhir+xml' } }, /^application\/fhir\+xml/],
    [{ url: '/fhir/metadata', headers: { accept: 'application/xml' } }, /^application\/xml/],
    // A browser: application/xml (q=0.9) beats */* (q=0.8).
    [{ url: '/fhir/metadata', headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } }, /^application\/xml/],
  ];
  for (const [req, type] of cases) {
    const res = await app.inject(req);
    t.equal(res.statusCode, 200, JSON.stringify(req));
    t.match(res.headers['content-type'], type, JSON.stringify(req));
    t.match(res.body, /^<\?xml version="1.0" encoding="UTF-8"\?><CapabilityStatement xmlns="http:\/\/hl7.org\/fhir">/);
  }
  for (const f of ['yaml', 'html', 'ttl']) {
    const res = await app.inject(`/fhir/metadata?_format=${f}`);
    t.equal(res.statusCode, 406, f);
    t.equal(body(res).resourceType, 'OperationOutcome');
  }
  t.equal((await app.inject({ url: '/fhir/metadata', headers: { accept: 'text/html' } })).statusCode, 406);
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
