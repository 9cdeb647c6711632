// R4 http.html: create, read, vread, update, delete and their headers, through HTTP.
import t from 'tap';
import { testApp, post, put, body, FHIR } from '../helpers/app.js';
import { loadDefinitions } from '../../src/definitions/registry.js';
import { minimalResource } from '../helpers/minimal.js';

const BASE = 'http://flint.test/fhir';
const alice = { resourceType: 'Patient', name: [{ family: 'Walker', given: ['Alice'] }], birthDate: '1984-03-12' };

t.test('create answers 201 with Location, ETag, Last-Modified and the stored resource', async (t) => {
  const app = await testApp(t);
  const res = await post(app, '/fhir/Patient', alice);
  t.equal(res.statusCode, 201);
  const p = body(res);
  t.match(p.id, /^[A-Za-z0-9\-.]{1,64}$/);
  t.equal(res.headers.location, `${BASE}/Patient/${p.id}/_history/1`);
  t.equal(res.headers.etag, 'W/"1"');
  t.equal(res.headers['last-modified'], new Date(p.meta.lastUpdated).toUTCString());
  t.match(res.headers['content-type'], /^application\/fhir\+json/);
  t.same(p.name, alice.name);
  t.equal(p.meta.versionId, '1');
});

t.test('create ignores a client id and assigns its own (R4 http.html#create)', async (t) => {
  const app = await testApp(t);
  const res = await post(app, '/fhir/Patient', { ...alice, id: 'mine' });
  t.equal(res.statusCode, 201);
  t.not(body(res).id, 'mine');
  t.equal((await app.inject('/fhir/Patient/mine')).statusCode, 404);
});

t.test('server-managed meta.versionId and meta.lastUpdated override the client\'s', async (t) => {
  const app = await testApp(t);
  const res = await post(app, '/fhir/Patient', { ...alice, meta: { versionId: '42', lastUpdated: '1999-01-01T00:00:00Z', profile: ['http://example.org/p'] } });
  const p = body(res);
  t.equal(p.meta.versionId, '1');
  t.not(p.meta.lastUpdated, '1999-01-01T00:00:00Z');
  t.same(p.meta.profile, ['http://example.org/p'], 'other meta is kept');
});

t.test('read returns the current version with ETag and Last-Modified', async (t) => {
  const app = await testApp(t);
  const created = body(await post(app, '/fhir/Patient', alice));
  const res = await app.inject(`/fhir/Patient/${created.id}`);
  t.equal(res.statusCode, 200);
  t.same(body(res), created);
  t.equal(res.headers.etag, 'W/"1"');
  t.ok(res.headers['last-modified']);
});

t.test('HEAD on a resource answers the headers without a body', async (t) => {
  const app = await testApp(t);
  const created = body(await post(app, '/fhir/Patient', alice));
  const res = await app.inject({ method: 'HEAD', url: `/fhir/Patient/${created.id}` });
  t.equal(res.statusCode, 200);
  t.equal(res.headers.etag, 'W/"1"');
  t.equal(res.body, '');
});

t.test('update adds a version; vread returns each one', async (t) => {
  const app = await testApp(t);
  const v1 = body(await post(app, '/fhir/Patient', alice));
  const res = await put(app, `/fhir/Patient/${v1.id}`, { ...v1, gender: 'female' });
  t.equal(res.statusCode, 200);
  t.equal(res.headers.etag, 'W/"2"');
  t.equal(body(res).meta.versionId, '2');
  t.equal(body(res).gender, 'female');
  const old = await app.inject(`/fhir/Patient/${v1.id}/_history/1`);
  t.equal(old.statusCode, 200);
  t.equal(body(old).gender, undefined);
  t.equal(old.headers.etag, 'W/"1"');
  const cur = await app.inject(`/fhir/Patient/${v1.id}/_history/2`);
  t.equal(body(cur).gender, 'female');
  t.equal((await app.inject(`/fhir/Patient/${v1.id}/_history/3`)).statusCode, 404);
});

t.test('update of a new id creates it: 201 with Location (update-as-create)', async (t) => {
  const app = await testApp(t);
  const res = await put(app, '/fhir/Patient/pat-1', { ...alice, id: 'pat-1' });
  t.equal(res.statusCode, 201);
  t.equal(res.headers.location, `${BASE}/Patient/pat-1/_history/1`);
  t.equal((await app.inject('/fhir/Patient/pat-1')).statusCode, 200);
});

t.test('If-Match: the right version updates, a stale one is 412 and changes nothing', async (t) => {
  const app = await testApp(t);
  const v1 = body(await post(app, '/fhir/Patient', alice));
  const stale = await put(app, `/fhir/Patient/${v1.id}`, { ...v1, gender: 'male' }, { 'if-match': 'W/"9"' });
  t.equal(stale.statusCode, 412);
  t.equal(body(stale).resourceType, 'OperationOutcome');
  t.equal(body(await app.inject(`/fhir/Patient/${v1.id}`)).meta.versionId, '1');
  const ok = await put(app, `/fhir/Patient/${v1.id}`, { ...v1, gender: 'male' }, { 'if-match': 'W/"1"' });
  t.equal(ok.statusCode, 200);
  const replay = await put(app, `/fhir/Patient/${v1.id}`, { ...v1, gender: 'other' }, { 'if-match': 'W/"1"' });
  t.equal(replay.statusCode, 412, 'the same If-Match cannot win twice');
  const bad = await put(app, `/fhir/Patient/${v1.id}`, v1, { 'if-match': 'not-an-etag' });
  t.equal(bad.statusCode, 400);
});

t.test('delete: 200 with an OperationOutcome, then read answers 410 and vread of the deletion 410', async (t) => {
  const app = await testApp(t);
  const v1 = body(await post(app, '/fhir/Patient', alice));
  const del = await app.inject({ method: 'DELETE', url: `/fhir/Patient/${v1.id}` });
  t.equal(del.statusCode, 200);
  t.equal(body(del).resourceType, 'OperationOutcome');
  t.equal(del.headers.etag, 'W/"2"');
  const read = await app.inject(`/fhir/Patient/${v1.id}`);
  t.equal(read.statusCode, 410);
  t.equal(body(read).issue[0].code, 'deleted');
  t.equal((await app.inject(`/fhir/Patient/${v1.id}/_history/2`)).statusCode, 410);
  t.equal((await app.inject(`/fhir/Patient/${v1.id}/_history/1`)).statusCode, 200, 'older versions stay readable');
  const again = await app.inject({ method: 'DELETE', url: `/fhir/Patient/${v1.id}` });
  t.equal(again.statusCode, 200, 'deleting again is not an error');
  const minimal = await app.inject({ method: 'DELETE', url: '/fhir/Patient/never-was', headers: { prefer: 'return=minimal' } });
  t.equal(minimal.statusCode, 204);
  t.equal(minimal.body, '');
});

t.test('delete with a stale If-Match is 412 and deletes nothing', async (t) => {
  const app = await testApp(t);
  const v1 = body(await post(app, '/fhir/Patient', alice));
  const res = await app.inject({ method: 'DELETE', url: `/fhir/Patient/${v1.id}`, headers: { 'if-match': 'W/"5"' } });
  t.equal(res.statusCode, 412);
  t.equal((await app.inject(`/fhir/Patient/${v1.id}`)).statusCode, 200);
});

t.test('a deleted resource can be recreated by update, continuing its versions', async (t) => {
  const app = await testApp(t);
  const v1 = body(await post(app, '/fhir/Patient', alice));
  await app.inject({ method: 'DELETE', url: `/fhir/Patient/${v1.id}` });
  const res = await put(app, `/fhir/Patient/${v1.id}`, v1);
  t.equal(res.statusCode, 201);
  t.equal(body(res).meta.versionId, '3');
});

t.test('Prefer: return=minimal, representation and OperationOutcome', async (t) => {
  const app = await testApp(t);
  const minimal = await post(app, '/fhir/Patient', alice, { prefer: 'return=minimal' });
  t.equal(minimal.statusCode, 201);
  t.equal(minimal.body, '');
  t.ok(minimal.headers.location);
  t.equal(minimal.headers.etag, 'W/"1"');
  const rep = await post(app, '/fhir/Patient', alice, { prefer: 'return=representation' });
  t.equal(body(rep).resourceType, 'Patient');
  const oo = await post(app, '/fhir/Patient', alice, { prefer: 'return=OperationOutcome' });
  t.equal(oo.statusCode, 201);
  t.equal(body(oo).resourceType, 'OperationOutcome');
  t.equal(body(oo).issue[0].severity, 'information');
  const id = (minimal.headers.location as string).split('/')[5];
  const upd = await put(app, `/fhir/Patient/${id}`, { ...alice, id }, { prefer: 'return=minimal' });
  t.equal(upd.statusCode, 200);
  t.equal(upd.body, '');
});

t.test('conditional read: If-None-Match and If-Modified-Since answer 304', async (t) => {
  const app = await testApp(t);
  const v1 = body(await post(app, '/fhir/Patient', alice));
  const url = `/fhir/Patient/${v1.id}`;
  const same = await app.inject({ url, headers: { 'if-none-match': 'W/"1"' } });
  t.equal(same.statusCode, 304);
  t.equal(same.body, '');
  t.equal(same.headers.etag, 'W/"1"');
  t.equal((await app.inject({ url, headers: { 'if-none-match': 'W/"0"' } })).statusCode, 200);
  const future = new Date(Date.now() + 60_000).toUTCString();
  t.equal((await app.inject({ url, headers: { 'if-modified-since': future } })).statusCode, 304);
  const past = new Date(Date.now() - 3_600_000).toUTCString();
  t.equal((await app.inject({ url, headers: { 'if-modified-since': past } })).statusCode, 200);
  await put(app, url, { ...v1, active: true });
  t.equal((await app.inject({ url, headers: { 'if-none-match': 'W/"1"' } })).statusCode, 200, 'a changed resource is sent again');
});

t.test('every R4 resource type can be created and read', async (t) => {
  const app = await testApp(t);
  const meta = body(await app.inject('/fhir/metadata'));
  const types: string[] = meta.rest[0].resource.map((r: { type: string }) => r.type);
  t.ok(types.length >= 145, `${types.length} types`);
  let ok = 0;
  for (const type of types) {
    // The smallest valid body: every write is validated against the type's definition.
    // A Subscription is checked further (R4 subscription.html: criteria a search, a rest-hook
    // endpoint); one that is off contacts nobody.
    const extra = type === 'Subscription' ? { status: 'off', criteria: 'Patient', channel: { type: 'rest-hook', endpoint: 'https://example.org/hook' } } : {};
    const res = await post(app, `/fhir/${type}`, { ...minimalResource(loadDefinitions(), type), ...extra, id: 'ignored' });
    if (res.statusCode === 201 && (await app.inject(`/fhir/${type}/${body(res).id}`)).statusCode === 200) ok++;
    else t.fail(`${type}: ${res.statusCode} ${res.body.slice(0, 200)}`);
  }
  t.equal(ok, types.length);
});

t.test('application/json is accepted and answered when asked for', async (t) => {
  const app = await testApp(t);
  const res = await app.inject({ method: 'POST', url: '/fhir/Patient', payload: JSON.stringify(alice), headers: { 'content-type': 'application/json', accept: 'application/json' } });
  t.equal(res.statusCode, 201);
  t.match(res.headers['content-type'], /^application\/json/);
  const fhir = await app.inject({ method: 'POST', url: '/fhir/Patient', payload: JSON.stringify(alice), headers: { 'content-type': `${FHIR}; charset=utf-8; fhirVersion=4.0` } });
  t.equal(fhir.statusCode, 201);
  t.match(fhir.headers['content-type'], /^application\/fhir\+json/);
});
