// History at instance, type and system level (R4 http.html#history).
import t from 'tap';
import { testApp, post, put, body } from '../helpers/app.js';

const BASE = 'http://flint.test/fhir';

t.test('instance history lists every version newest first, deletions included', async (t) => {
  const app = await testApp(t);
  const p = body(await post(app, '/fhir/Patient', { resourceType: 'Patient', active: true }));
  await put(app, `/fhir/Patient/${p.id}`, { ...p, active: false });
  await app.inject({ method: 'DELETE', url: `/fhir/Patient/${p.id}` });
  const res = await app.inject(`/fhir/Patient/${p.id}/_history`);
  t.equal(res.statusCode, 200);
  const b = body(res);
  t.equal(b.resourceType, 'Bundle');
  t.equal(b.type, 'history');
  t.equal(b.total, 3);
  t.same(b.entry.map((e: any) => e.request.method), ['DELETE', 'PUT', 'POST']);
  t.equal(b.entry[0].resource, undefined, 'a deletion has no resource');
  t.equal(b.entry[0].request.url, `Patient/${p.id}`);
  t.equal(b.entry[2].request.url, 'Patient');
  t.equal(b.entry[2].response.status, '201 Created');
  t.equal(b.entry[1].response.etag, 'W/"2"');
  t.equal(b.entry[1].fullUrl, `${BASE}/Patient/${p.id}`);
  t.equal(b.entry[1].resource.active, false);
  t.equal(b.link[0].relation, 'self');
});

t.test('instance history of an unknown resource is 404', async (t) => {
  const app = await testApp(t);
  t.equal((await app.inject('/fhir/Patient/nobody/_history')).statusCode, 404);
});

t.test('type history holds only that type; system history holds all', async (t) => {
  const app = await testApp(t);
  await post(app, '/fhir/Patient', { resourceType: 'Patient' });
  await post(app, '/fhir/Observation', { resourceType: 'Observation', status: 'final', code: { text: 'x' } });
  const type = body(await app.inject('/fhir/Patient/_history'));
  t.same(type.entry.map((e: any) => e.resource.resourceType), ['Patient']);
  const sys = body(await app.inject('/fhir/_history'));
  t.same(sys.entry.map((e: any) => e.resource.resourceType), ['Observation', 'Patient']);
});

t.test('_count pages with next links that walk every version exactly once', async (t) => {
  const app = await testApp(t);
  for (let i = 0; i < 12; i++) await post(app, '/fhir/Patient', { resourceType: 'Patient', name: [{ family: `P${i}` }] });
  const seen: string[] = [];
  let url: string | undefined = '/fhir/Patient/_history?_count=5';
  let pages = 0;
  while (url && pages < 10) {
    const b: any = body(await app.inject(url));
    seen.push(...b.entry.map((e: any) => e.resource.id));
    const next: any = b.link.find((l: any) => l.relation === 'next');
    t.ok(b.link.find((l: any) => l.relation === 'self').url.startsWith(`${BASE}/Patient/_history?`));
    url = next ? next.url.slice('http://flint.test'.length) : undefined;
    pages++;
  }
  t.equal(pages, 3);
  t.equal(seen.length, 12);
  t.equal(new Set(seen).size, 12);
});

t.test('_since keeps versions at or after the instant', async (t) => {
  const app = await testApp(t);
  await post(app, '/fhir/Patient', { resourceType: 'Patient' });
  await new Promise((r) => setTimeout(r, 15));
  const mark = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 15));
  const late = body(await post(app, '/fhir/Patient', { resourceType: 'Patient' }));
  const b = body(await app.inject(`/fhir/_history?_since=${encodeURIComponent(mark)}`));
  t.same(b.entry.map((e: any) => e.resource.id), [late.id]);
  t.match(b.link[0].url, /_since=/);
  const none = body(await app.inject('/fhir/_history?_since=2999-01-01T00:00:00Z'));
  t.equal(none.entry, undefined);
  const dateOnly = body(await app.inject('/fhir/_history?_since=2000-01-01'));
  t.equal(dateOnly.entry.length, 2);
});

t.test('bad history parameters are 400', async (t) => {
  const app = await testApp(t);
  for (const q of ['_count=abc', '_count=-1', '_since=yesterday', '_cursor=bogus', '_at=2020-01-01', '_count=1&_count=2']) {
    const res = await app.inject(`/fhir/_history?${q}`);
    t.equal(res.statusCode, 400, q);
    t.equal(body(res).resourceType, 'OperationOutcome');
  }
});

t.test('_count is capped at MAX_COUNT', async (t) => {
  const app = await testApp(t, { MAX_COUNT: '3', DEFAULT_COUNT: '2' });
  for (let i = 0; i < 5; i++) await post(app, '/fhir/Patient', { resourceType: 'Patient' });
  t.equal(body(await app.inject('/fhir/_history')).entry.length, 2);
  t.equal(body(await app.inject('/fhir/_history?_count=100')).entry.length, 3);
});
