// FHIR XML over HTTP (R4 http.html#mime-type, xml.html): reads, searches, writes, transactions and
// OperationOutcomes in XML; hostile XML refused with 400, quickly and without growing memory.
import t, { type Test } from 'tap';
import { testApp, body, post } from '../helpers/app.js';
import { loadDefinitions } from '../../src/definitions/registry.js';
import { fromXml } from '../../src/xml/read.js';

const defs = loadDefinitions();
const XML = 'application/fhir+xml';
const NS = 'xmlns="http://hl7.org/fhir"';
const json = (xml: string): Record<string, any> => fromXml(defs, xml);

t.test('read, vread and search answer FHIR XML when asked', async (t) => {
  const app = await testApp(t);
  const p = body(await post(app, '/fhir/Patient', { resourceType: 'Patient', active: true, name: [{ family: 'Walker', given: ['Alice', 'B'] }], birthDate: '1984-03-12' }));
  const read = await app.inject({ url: `/fhir/Patient/${p.id}`, headers: { accept: XML } });
  t.equal(read.statusCode, 200);
  t.match(read.headers['content-type'], /^application\/fhir\+xml; charset=utf-8/);
  t.equal(read.headers.etag, 'W/"1"');
  t.same(json(read.body), p, 'the same resource as the JSON answer');
  t.match(read.body, `<Patient ${NS}><id value="${p.id}"/><meta>`);
  const vread = await app.inject(`/fhir/Patient/${p.id}/_history/1?_format=xml`);
  t.same(json(vread.body), p);
  const search = await app.inject({ url: '/fhir/Patient?family=Walker', headers: { accept: 'application/xml' } });
  t.equal(search.statusCode, 200);
  t.match(search.headers['content-type'], /^application\/xml/);
  const bundle = json(search.body);
  t.equal(bundle.resourceType, 'Bundle');
  t.equal(bundle.type, 'searchset');
  t.same(bundle.entry[0].resource, p);
  t.match(search.body, '<entry><fullUrl value="http://flint.test/fhir/Patient/');
  t.match(search.body, `<resource><Patient><id value="${p.id}"/>`);
});

t.test('create and update take FHIR XML bodies; the answer follows Accept, else the body format', async (t) => {
  const app = await testApp(t);
  const xml = `<Observation ${NS}><status value="final"/><code><text value="weight"/></code><valueQuantity><value value="68.50"/><unit value="kg"/></valueQuantity></Observation>`;
  const created = await app.inject({ method: 'POST', url: '/fhir/Observation', payload: xml, headers: { 'content-type': XML } });
  t.equal(created.statusCode, 201);
  t.match(created.headers['content-type'], /^application\/fhir\+xml/, 'no Accept: answered in the format sent');
  const obs = json(created.body);
  t.equal(obs.valueQuantity.value, 68.5);
  t.match(created.headers.location, new RegExp(`/Observation/${obs.id}/_history/1$`));
  const asJson = await app.inject({ url: `/fhir/Observation/${obs.id}` });
  t.same(body(asJson), obs, 'stored as JSON, read back the same');

  const update = `<Observation ${NS}><id value="${obs.id}"/><status value="amended"/><code><text value="weight"/></code></Observation>`;
  const updated = await app.inject({ method: 'PUT', url: `/fhir/Observation/${obs.id}`, payload: update, headers: { 'content-type': 'application/xml', accept: 'application/fhir+json' } });
  t.equal(updated.statusCode, 200);
  t.match(updated.headers['content-type'], /^application\/fhir\+json/, 'Accept wins');
  t.equal(body(updated).status, 'amended');
  t.equal(body(updated).meta.versionId, '2');
});

t.test('a transaction Bundle in XML is processed like its JSON twin', async (t) => {
  const app = await testApp(t);
  const xml = `<Bundle ${NS}><type value="transaction"/>`
    + `<entry><fullUrl value="urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"/><resource><Patient><active value="true"/></Patient></resource><request><method value="POST"/><url value="Patient"/></request></entry>`
    + `<entry><resource><Observation><status value="final"/><code><text value="bp"/></code><subject><reference value="urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"/></subject></Observation></resource><request><method value="POST"/><url value="Observation"/></request></entry>`
    + '</Bundle>';
  const res = await app.inject({ method: 'POST', url: '/fhir', payload: xml, headers: { 'content-type': XML, accept: XML } });
  t.equal(res.statusCode, 200);
  const out = json(res.body);
  t.equal(out.type, 'transaction-response');
  t.equal(out.entry.length, 2);
  t.match(out.entry[0].response.status, /^201/);
  const obsId = String(out.entry[1].response.location).split('/')[1];
  const obs = body(await app.inject(`/fhir/Observation/${obsId}`));
  t.match(obs.subject.reference, /^Patient\/[A-Za-z0-9-]+$/, 'the urn:uuid reference was resolved');
});

t.test('errors are OperationOutcomes in XML when XML was asked for', async (t) => {
  const app = await testApp(t);
  const missing = await app.inject({ url: '/fhir/Patient/nope', headers: { accept: XML } });
  t.equal(missing.statusCode, 404);
  t.match(missing.headers['content-type'], /^application\/fhir\+xml/);
  const oo = json(missing.body);
  t.equal(oo.resourceType, 'OperationOutcome');
  t.equal(oo.issue[0].code, 'not-found');
  const invalid = await app.inject({ method: 'POST', url: '/fhir/Patient', payload: `<Patient ${NS}><birthDate value="2020-13-01"/></Patient>`, headers: { 'content-type': XML } });
  t.equal(invalid.statusCode, 422);
  t.equal(json(invalid.body).issue[0].expression[0], 'Patient.birthDate');
  const asJson = await app.inject({ method: 'POST', url: '/fhir/Patient', payload: `<Patient ${NS}><nope value="1"/></Patient>`, headers: { 'content-type': XML, accept: 'application/fhir+json' } });
  t.equal(asJson.statusCode, 400);
  t.match(body(asJson).issue[0].diagnostics, /unknown element <nope>/);
});

/** Posts `payload` as FHIR XML; the answer must be a 400 OperationOutcome and nothing stored. */
async function refused(t: Test, app: Awaited<ReturnType<typeof testApp>>, payload: string, why: RegExp, what: string): Promise<void> {
  const started = Date.now();
  const res = await app.inject({ method: 'POST', url: '/fhir/Patient', payload, headers: { 'content-type': XML, accept: 'application/fhir+json' } });
  t.equal(res.statusCode, 400, what);
  t.match(body(res).issue[0].diagnostics, why, what);
  t.ok(Date.now() - started < 5000, `${what}: answered in ${Date.now() - started} ms`);
}

t.test('hostile XML is refused with 400: entities, depth, size, malformed', async (t) => {
  const app = await testApp(t);
  const heapBefore = process.memoryUsage().heapUsed;
  const laughs = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    + '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
    + `<Patient ${NS}><gender value="&lol9;"/></Patient>`;
  await refused(t, app, laughs, /DOCTYPE/, 'billion laughs');
  const xxe = `<?xml version="1.0"?><!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Patient ${NS}><gender value="&xxe;"/></Patient>`;
  await refused(t, app, xxe, /DOCTYPE/, 'external entity');
  await refused(t, app, `<Patient ${NS}><gender value="&xxe;"/></Patient>`, /entity/i, 'an undeclared entity');
  const deep = `<Patient ${NS}>${'<contact>'.repeat(10_000)}${'</contact>'.repeat(10_000)}</Patient>`;
  await refused(t, app, deep, /deeper than/, '10,000-deep nesting');
  await refused(t, app, `<Patient ${NS}><name ${'a'.repeat(2_000_000)}="1"/></Patient>`, /./, 'a 2 MB attribute name');
  await refused(t, app, `<Patient ${NS}><name family="${'x'.repeat(4_000_000)}"/></Patient>`, /unexpected attribute family/, 'a 4 MB attribute');
  const many = `<Patient ${NS}><name ${Array.from({ length: 100 }, (_, i) => `a${i}="1"`).join(' ')}/></Patient>`;
  await refused(t, app, many, /more than 64 attributes/, '100 attributes on one element');
  await refused(t, app, `<Patient ${NS}><active value="true"></Patient>`, /./, 'malformed: unclosed element');
  await refused(t, app, '', /./, 'an empty body');
  await refused(t, app, 'not xml at all', /./, 'text');
  await refused(t, app, `<Patient ${NS}/><Patient ${NS}/>`, /./, 'two roots');
  t.equal((body(await app.inject('/fhir/Patient')).entry ?? []).length, 0, 'nothing was stored');
  global.gc?.();
  const grown = process.memoryUsage().heapUsed - heapBefore;
  t.ok(grown < 200 * 1024 * 1024, `heap grew ${Math.round(grown / 1048576)} MB`);
});
