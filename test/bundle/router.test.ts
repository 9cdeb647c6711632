// Bundle entries go through the same route table as HTTP requests (R4 http.html#transaction):
// operations inside Bundles, repeated parameters kept, and the bounds a hostile client meets.
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { testApp, post, body, load } from '../helpers/app.js';

type Entry = { fullUrl?: string; resource?: any; response?: { status: string; location?: string; outcome?: any } };
async function send(app: FastifyInstance, bundle: unknown, headers: Record<string, string> = {}) {
  const res = await post(app, '/fhir', bundle, headers);
  return { status: res.statusCode, body: body(res) as { resourceType: string; type?: string; entry?: Entry[]; issue?: any[] } };
}
const batch = (entry: unknown[]) => ({ resourceType: 'Bundle', type: 'batch', entry });
const transaction = (entry: unknown[]) => ({ resourceType: 'Bundle', type: 'transaction', entry });

t.test('a GET entry keeps repeated parameters, as the same search over HTTP does', async (t) => {
  const app = await testApp(t);
  await load(app, [
    { resourceType: 'Patient', id: 'a', birthDate: '1980-05-01' } as never,
    { resourceType: 'Patient', id: 'b', birthDate: '1990-05-01' } as never,
    { resourceType: 'Patient', id: 'c', birthDate: '2000-05-01' } as never,
  ]);
  const url = 'Patient?birthdate=ge1985-01-01&birthdate=le1995-01-01';
  const wire = body(await app.inject(`/fhir/${url}`));
  const { body: b } = await send(app, batch([{ request: { method: 'GET', url } }]));
  const ids = (bundle: any) => (bundle.entry ?? []).map((e: any) => e.resource.id);
  t.same(ids(wire), ['b'], 'over HTTP, repeated birthdate means AND');
  t.same(ids(b.entry?.[0]?.resource), ['b'], 'in a Bundle too');
  t.same(b.entry?.[0]?.resource.link[0].url, wire.link[0].url, 'the same self link');
});

t.test('operations run inside Bundles: $validate and $everything', async (t) => {
  const app = await testApp(t);
  await load(app, [{ resourceType: 'Patient', id: 'p1' } as never, { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p1' } } as never]);
  const { status, body: b } = await send(app, batch([
    { resource: { resourceType: 'Patient', birthDate: 'soon' }, request: { method: 'POST', url: 'Patient/$validate' } },
    { request: { method: 'GET', url: 'Patient/p1/$everything' } },
    { request: { method: 'GET', url: 'metadata' } },
  ]));
  t.equal(status, 200);
  t.equal(b.entry?.[0]?.response?.status, '200 OK');
  t.equal(b.entry?.[0]?.resource.resourceType, 'OperationOutcome', '$validate answers its OperationOutcome');
  t.ok(b.entry?.[0]?.resource.issue.some((i: any) => i.severity === 'error'), 'the bad birthDate is reported');
  t.same(b.entry?.[1]?.resource.entry.map((e: any) => e.resource.id).sort(), ['o1', 'p1'], '$everything inside a batch');
  t.equal(b.entry?.[2]?.resource.resourceType, 'CapabilityStatement');
  const tx = await send(app, transaction([
    { resource: { resourceType: 'Patient', name: [{ family: 'T' }] }, request: { method: 'POST', url: 'Patient' } },
    { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient/$validate' } },
  ]));
  t.equal(tx.status, 200, 'an operation inside a transaction');
  t.equal(tx.body.entry?.[1]?.resource.resourceType, 'OperationOutcome');
});

t.test('an operation in a Bundle gets the same access checks as on the wire', async (t) => {
  const app = await testApp(t);
  const wire = await app.inject({ method: 'POST', url: '/fhir/$reindex' });
  const { body: b } = await send(app, batch([{ request: { method: 'POST', url: '$reindex' } }]));
  t.equal(b.entry?.[0]?.response?.status.split(' ')[0], String(wire.statusCode), 'the same answer as over HTTP');
});

t.test('entries that route nowhere, or to the Bundle endpoint itself, get precise errors', async (t) => {
  const app = await testApp(t);
  const { status, body: b } = await send(app, batch([
    { request: { method: 'GET', url: 'Patient/a/b/c/d/e' } },
    { request: { method: 'DELETE', url: 'Patient/1/_history' } },
    { resource: batch([]), request: { method: 'POST', url: '' } },
    { request: { method: 'GET', url: 'https://elsewhere.example/fhir/Patient/1' } },
    { request: { method: 'GET' } },
    { request: 'GET Patient' },
    'not an entry',
    { resource: 'not a resource', request: { method: 'POST', url: 'Patient' } },
    { request: { method: 'PATCH', url: 'Patient/x' }, resource: { resourceType: 'Binary', data: '!!!' } },
    { request: { method: 'GET', url: `Patient/${'x'.repeat(5000)}` } },
  ]));
  t.equal(status, 200);
  t.same(b.entry?.map((e) => e.response?.status.split(' ')[0]), ['404', '405', '400', '400', '400', '400', '400', '400', '400', '404']);
  for (const e of b.entry ?? []) t.equal(e.response?.outcome?.resourceType, 'OperationOutcome');
});

t.test('a deeply nested resource in an entry is refused, the server stays up', async (t) => {
  const app = await testApp(t);
  let deep: any = { url: 'http://x', valueString: 'leaf' };
  for (let i = 0; i < 2000; i++) deep = { url: 'http://x', extension: [deep] };
  const res = await post(app, '/fhir', transaction([{ resource: { resourceType: 'Patient', extension: [deep] }, request: { method: 'POST', url: 'Patient' } }]));
  t.ok(res.statusCode >= 400 && res.statusCode < 500, `refused with ${res.statusCode}`);
  t.equal((await app.inject('/fhir/metadata')).statusCode, 200, 'still answering');
});

const big = () => ({ resourceType: 'Patient', id: 'big', name: Array.from({ length: 400 }, (_, i) => ({ family: `Family${i}`, given: ['A'.repeat(200)] })) });

t.test('a batch of 5,000 reads of a big resource is bounded by BUNDLE_RESPONSE_LIMIT', async (t) => {
  const app = await testApp(t, { BUNDLE_RESPONSE_LIMIT: String(2 * 1024 * 1024) });
  await load(app, [big() as never]);
  const before = process.memoryUsage().heapUsed;
  const res = await post(app, '/fhir', batch(Array.from({ length: 5000 }, () => ({ request: { method: 'GET', url: 'Patient/big' } }))));
  const grown = process.memoryUsage().heapUsed - before;
  t.equal(res.statusCode, 200);
  t.ok(res.body.length < 4 * 1024 * 1024, `the answer is ${res.body.length} bytes`);
  const b = body(res) as { entry: Entry[] };
  t.equal(b.entry.length, 5000, 'every entry answered');
  const ok = b.entry.filter((e) => e.response?.status === '200 OK');
  const refused = b.entry.filter((e) => e.response?.status.startsWith('413'));
  t.ok(ok.length > 0 && ok.length < 50, `${ok.length} reads fit`);
  t.equal(ok.length + refused.length, 5000);
  t.equal(refused[0]?.response?.outcome.issue[0].code, 'too-costly');
  t.ok(grown < 200 * 1024 * 1024, `heap grew ${Math.round(grown / 1024 / 1024)} MB`);
});

t.test('a transaction whose answer would exceed the limit is refused whole and changes nothing', async (t) => {
  const app = await testApp(t, { BUNDLE_RESPONSE_LIMIT: String(256 * 1024) });
  await load(app, [big() as never]);
  const { status, body: b } = await send(app, transaction([
    { resource: { resourceType: 'Patient', id: 'new1' }, request: { method: 'PUT', url: 'Patient/new1' } },
    ...Array.from({ length: 20 }, () => ({ request: { method: 'GET', url: 'Patient/big' } })),
  ]));
  t.equal(status, 413);
  t.equal(b.issue?.[0].code, 'too-costly');
  t.equal((await app.inject('/fhir/Patient/new1')).statusCode, 404, 'rolled back');
});

t.test('in a batch, a write past the limit is done and says so, without its body', async (t) => {
  const app = await testApp(t, { BUNDLE_RESPONSE_LIMIT: String(256 * 1024) });
  const one = big();
  const { status, body: b } = await send(app, batch([
    { resource: { ...one, id: 'w1' }, request: { method: 'PUT', url: 'Patient/w1' } },
    { resource: { ...one, id: 'w2' }, request: { method: 'PUT', url: 'Patient/w2' } },
    { resource: { ...one, id: 'w3' }, request: { method: 'PUT', url: 'Patient/w3' } },
  ]));
  t.equal(status, 200);
  const statuses = b.entry?.map((e) => e.response?.status);
  t.same(statuses, ['201 Created', '201 Created', '201 Created'], 'every write reports that it was done');
  const trimmed = (b.entry ?? []).filter((e) => e.resource === undefined);
  t.ok(trimmed.length >= 1, 'at least one body was left out');
  t.equal(trimmed[0]?.response?.outcome.issue[0].code, 'too-costly');
  for (const id of ['w1', 'w2', 'w3']) t.equal((await app.inject(`/fhir/Patient/${id}`)).statusCode, 200, `${id} stored`);
});
