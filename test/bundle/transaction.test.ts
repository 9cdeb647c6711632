// batch and transaction Bundles (R4 http.html#transaction).
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { testApp, post, body, ids, load } from '../helpers/app.js';

type Entry = { fullUrl?: string; resource?: any; response?: { status: string; location?: string; etag?: string; lastModified?: string; outcome?: any } };
async function send(app: FastifyInstance, bundle: unknown, headers: Record<string, string> = {}) {
  const res = await post(app, '/fhir', bundle, headers);
  return { status: res.statusCode, body: body(res) as { resourceType: string; type?: string; entry?: Entry[]; issue?: any[] } };
}
async function historyCount(app: FastifyInstance): Promise<number> {
  return body(await app.inject('/fhir/_history?_count=1000')).entry?.length ?? 0;
}

const P = 'urn:uuid:11111111-1111-4111-8111-111111111111';
const E = 'urn:uuid:22222222-2222-4222-8222-222222222222';

t.test('a transaction creates everything, rewriting temporary ids wherever references appear', async (t) => {
  const app = await testApp(t);
  const { status, body: b } = await send(app, {
    resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: E, resource: { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: P } }, request: { method: 'POST', url: 'Encounter' } },
      { fullUrl: P, resource: { resourceType: 'Patient', name: [{ family: 'Tx' }], identifier: [{ system: 'http://mrn', value: 'T1' }] }, request: { method: 'POST', url: 'Patient' } },
      {
        resource: {
          resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: P }, encounter: { reference: E },
          extension: [{ url: 'http://example.org/also', valueReference: { reference: P } }],
          // R4 dom-3: a contained resource is referred to, or refers to its container ('#').
          contained: [{ resourceType: 'Provenance', id: 'prov', target: [{ reference: E }, { reference: '#' }], recorded: '2024-01-01T00:00:00Z', agent: [{ who: { reference: P } }] }],
        },
        request: { method: 'POST', url: 'Observation' },
      },
    ],
  });
  t.equal(status, 200);
  t.equal(b.type, 'transaction-response');
  t.equal(b.entry?.length, 3);
  const [enc, pat, obs] = b.entry ?? [];
  for (const e of [enc, pat, obs]) {
    t.equal(e?.response?.status, '201 Created');
    t.match(e?.response?.location, /^(Encounter|Patient|Observation)\/[^/]+\/_history\/1$/);
    t.equal(e?.response?.etag, 'W/"1"');
  }
  const patientRef = `Patient/${pat?.resource.id}`;
  const encounterRef = `Encounter/${enc?.resource.id}`;
  t.equal(enc?.resource.subject.reference, patientRef, 'a reference in an entry processed before its target');
  t.equal(obs?.resource.subject.reference, patientRef);
  t.equal(obs?.resource.encounter.reference, encounterRef);
  t.equal(obs?.resource.extension[0].valueReference.reference, patientRef, 'inside an extension');
  t.equal(obs?.resource.contained[0].target[0].reference, encounterRef, 'inside a contained resource');
  t.equal(obs?.resource.contained[0].agent[0].who.reference, patientRef);
  t.same(await ids(app, `/fhir/Observation?patient=${patientRef}`), [`Observation/${obs?.resource.id}`], 'the index sees the rewritten references');
});

t.test('one failing entry rolls back the whole transaction: no resource, version, history or index entry', async (t) => {
  const app = await testApp(t);
  await load(app, [{ resourceType: 'Patient', id: 'keep', active: true } as never, { resourceType: 'Patient', id: 'keep2' } as never]);
  const before = await historyCount(app);
  const { status, body: b } = await send(app, {
    resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: P, resource: { resourceType: 'Patient', name: [{ family: 'Ghost' }] }, request: { method: 'POST', url: 'Patient' } },
      { resource: { resourceType: 'Patient', id: 'keep', active: false }, request: { method: 'PUT', url: 'Patient/keep' } },
      { request: { method: 'DELETE', url: 'Patient/keep2' } },
      { resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: P }, effectiveDateTime: 'not a date' }, request: { method: 'POST', url: 'Observation' } },
    ],
  });
  t.equal(status, 422, 'the failing entry\'s status');
  t.equal(b.resourceType, 'OperationOutcome');
  t.match(b.issue?.[0].diagnostics, /entry 3/, 'the outcome names the entry');
  t.match(b.issue?.[0].expression[0], /^Bundle\.entry\[3\]/);
  t.equal(await historyCount(app), before, 'no version was kept');
  t.same(await ids(app, '/fhir/Patient?name=ghost'), []);
  const keep = body(await app.inject('/fhir/Patient/keep'));
  t.equal(keep.meta.versionId, '1');
  t.equal(keep.active, true);
  t.equal((await app.inject('/fhir/Patient/keep2')).statusCode, 200, 'the delete was undone');
});

t.test('processing order: DELETE, POST, PUT/PATCH, then GET (which sees the writes)', async (t) => {
  const app = await testApp(t);
  await load(app, [{ resourceType: 'Patient', id: 'old', active: true } as never, { resourceType: 'Patient', id: 'pp', active: true } as never]);
  const patchDoc = Buffer.from(JSON.stringify([{ op: 'replace', path: '/active', value: false }])).toString('base64');
  const { status, body: b } = await send(app, {
    resourceType: 'Bundle', type: 'transaction', entry: [
      { request: { method: 'GET', url: 'Patient?_sort=_id' } },
      { resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: patchDoc }, request: { method: 'PATCH', url: 'Patient/pp' } },
      { resource: { resourceType: 'Patient', id: 'fixed', gender: 'other' }, request: { method: 'PUT', url: 'Patient/fixed' } },
      { resource: { resourceType: 'Patient', name: [{ family: 'New' }] }, request: { method: 'POST', url: 'Patient' } },
      { request: { method: 'DELETE', url: 'Patient/old' } },
      { request: { method: 'GET', url: 'Patient/pp' } },
    ],
  });
  t.equal(status, 200);
  const e = b.entry ?? [];
  t.same(e.map((x) => x.response?.status), ['200 OK', '200 OK', '201 Created', '201 Created', '204 No Content', '200 OK'], 'answers come back in request order');
  const found = e[0]?.resource.entry.map((x: any) => x.resource.id);
  t.equal(found.length, 3, 'the search ran after the writes');
  t.notOk(found.includes('old'));
  t.ok(found.includes('fixed'));
  t.equal(e[5]?.resource.active, false, 'the read sees the patch');
});

t.test('conditional create and update inside a transaction, and conditional references', async (t) => {
  const app = await testApp(t);
  await load(app, [{ resourceType: 'Patient', id: 'known', identifier: [{ system: 'http://mrn', value: 'K1' }] } as never]);
  const { status, body: b } = await send(app, {
    resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: P, resource: { resourceType: 'Patient', identifier: [{ system: 'http://mrn', value: 'K1' }] }, request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=http://mrn|K1' } },
      { resource: { resourceType: 'Observation', status: 'final', code: { text: 'a' }, subject: { reference: P } }, request: { method: 'POST', url: 'Observation' } },
      { resource: { resourceType: 'Observation', status: 'final', code: { text: 'b' }, subject: { reference: 'Patient?identifier=http://mrn|K1' } }, request: { method: 'POST', url: 'Observation' } },
      { fullUrl: 'urn:uuid:33333333-3333-4333-8333-333333333333', resource: { resourceType: 'Patient', identifier: [{ system: 'http://mrn', value: 'NEW' }], active: true }, request: { method: 'PUT', url: 'Patient?identifier=http://mrn|NEW' } },
    ],
  });
  t.equal(status, 200);
  const e = b.entry ?? [];
  t.equal(e[0]?.response?.status, '200 OK', 'If-None-Exist matched: nothing created');
  t.equal(e[0]?.resource.id, 'known');
  t.equal(e[1]?.resource.subject.reference, 'Patient/known', 'the temporary id maps to the matched resource');
  t.equal(e[2]?.resource.subject.reference, 'Patient/known', 'a conditional reference is resolved');
  t.equal(e[3]?.response?.status, '201 Created', 'a conditional update without a match creates');
  t.same(await ids(app, '/fhir/Patient?identifier=http://mrn|NEW'), [`Patient/${e[3]?.resource.id}`]);
  const bad = await send(app, { resourceType: 'Bundle', type: 'transaction', entry: [
    { resource: { resourceType: 'Observation', status: 'final', code: { text: 'c' }, subject: { reference: 'Patient?identifier=http://mrn|NOBODY' } }, request: { method: 'POST', url: 'Observation' } },
  ] });
  t.equal(bad.status, 412, 'an unresolvable conditional reference fails the transaction');
});

t.test('a batch processes entries independently, each with its own status', async (t) => {
  const app = await testApp(t);
  const { status, body: b } = await send(app, {
    resourceType: 'Bundle', type: 'batch', entry: [
      { resource: { resourceType: 'Patient', name: [{ family: 'One' }] }, request: { method: 'POST', url: 'Patient' } },
      { resource: { resourceType: 'Patient', birthDate: 'soon' }, request: { method: 'POST', url: 'Patient' } },
      { request: { method: 'GET', url: 'Patient/nobody' } },
      { request: { method: 'FETCH', url: 'Patient' } },
      { resource: { resourceType: 'Patient', name: [{ family: 'Two' }] }, request: { method: 'POST', url: 'Patient' } },
    ],
  });
  t.equal(status, 200);
  t.equal(b.type, 'batch-response');
  t.same(b.entry?.map((e) => e.response?.status.split(' ')[0]), ['201', '422', '404', '400', '201']);
  t.equal(b.entry?.[1]?.response?.outcome.resourceType, 'OperationOutcome');
  t.same((await ids(app, '/fhir/Patient?_sort=family')).length, 2, 'the good entries were kept');
});

t.test('Prefer: return=minimal leaves resources out of the response', async (t) => {
  const app = await testApp(t);
  const { body: b } = await send(app, { resourceType: 'Bundle', type: 'transaction', entry: [
    { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
  ] }, { prefer: 'return=minimal' });
  t.equal(b.entry?.[0]?.resource, undefined);
  t.ok(b.entry?.[0]?.response?.location);
  const oo = await send(app, { resourceType: 'Bundle', type: 'batch', entry: [
    { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
  ] }, { prefer: 'return=OperationOutcome' });
  t.equal(oo.body.entry?.[0]?.response?.outcome.resourceType, 'OperationOutcome');
});

t.test('bad Bundles are refused whole', async (t) => {
  const app = await testApp(t, { BUNDLE_MAX_ENTRIES: '2' });
  const entry = { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } };
  t.equal((await send(app, { resourceType: 'Bundle', type: 'transaction', entry: [entry, entry, entry] })).status, 413, 'over BUNDLE_MAX_ENTRIES');
  t.equal((await send(app, { resourceType: 'Bundle', type: 'collection', entry: [entry] })).status, 400, 'not a batch or transaction');
  t.equal((await send(app, { resourceType: 'Patient' })).status, 400);
  const twice = await send(app, { resourceType: 'Bundle', type: 'transaction', entry: [
    { resource: { resourceType: 'Patient', id: 'a' }, request: { method: 'PUT', url: 'Patient/a' } },
    { request: { method: 'DELETE', url: 'Patient/a' } },
  ] });
  t.equal(twice.status, 400, 'one resource touched twice');
  const foreign = await send(app, { resourceType: 'Bundle', type: 'transaction', entry: [
    { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'http://elsewhere.org/fhir/Patient' } },
  ] });
  t.equal(foreign.status, 400, 'a request URL on another server');
  t.equal(await historyCount(app), 0);
});

t.test('absolute request URLs on this server are accepted', async (t) => {
  const app = await testApp(t);
  const { status } = await send(app, { resourceType: 'Bundle', type: 'transaction', entry: [
    { resource: { resourceType: 'Patient', id: 'abs' }, request: { method: 'PUT', url: 'http://flint.test/fhir/Patient/abs' } },
  ] });
  t.equal(status, 200);
  t.equal((await app.inject('/fhir/Patient/abs')).statusCode, 200);
});
