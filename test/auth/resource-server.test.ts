// The resource server: who may see and do what (shared/docs/smart-requirements.md §13, §21.8).
// Leak tests: a patient-scoped token must see nothing of another patient through any route,
// parameter or operation — reads, searches, includes, chains, _has, history, $everything,
// compartment search, Bundles, conditional interactions, counts.
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { authApp, seedClinic, userToken, addUser } from '../helpers/auth.js';

type Res = { statusCode: number; headers: Record<string, unknown>; body: string };

async function setup(t: { teardown(fn: () => unknown): void }) {
  const app = await authApp(t);
  await seedClinic(app);
  return app;
}

function client(app: FastifyInstance, token?: string) {
  const h = (extra: Record<string, string> = {}) => ({ ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra });
  return {
    get: (url: string): Promise<Res> => app.inject({ url, headers: h() }),
    del: (url: string): Promise<Res> => app.inject({ method: 'DELETE', url, headers: h() }),
    send: (method: string, url: string, body: unknown, extra: Record<string, string> = {}): Promise<Res> =>
      app.inject({ method: method as 'POST', url, payload: typeof body === 'string' ? body : JSON.stringify(body), headers: h({ 'content-type': 'application/fhir+json', ...extra }) }),
    ids: async (url: string): Promise<string[]> => {
      const res = await app.inject({ url, headers: h() });
      if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body.slice(0, 200)}`);
      const b = JSON.parse(res.body);
      return (b.entry ?? []).filter((e: any) => e.resource?.resourceType !== 'OperationOutcome').map((e: any) => `${e.resource.resourceType}/${e.resource.id}`).sort();
    },
  };
}

/** Values found only in Bob's records (never in a request of these tests). */
const BOB_DATA = /Martinez|1956-11-02|E11\.9|metformin|91\.5|MRN-1002|ACME-550123/;
/** Ids of Bob's resources in the answer's resources (a request may name them; an answer must not return them). */
function bobResources(body: string): string[] {
  const b = JSON.parse(body);
  const resources = b.resourceType === 'Bundle' ? (b.entry ?? []).map((e: any) => e.resource).filter(Boolean)
    .flatMap((r: any) => (r.resourceType === 'Bundle' ? (r.entry ?? []).map((e: any) => e.resource) : [r])) : [b];
  return resources.filter((r: any) => r && /bob/.test(String(r.id))).map((r: any) => `${r.resourceType}/${r.id}`);
}

t.test('no token, a bad token, an expired, revoked or foreign token: 401 with WWW-Authenticate (RS-01..05)', async (t) => {
  const app = await setup(t);
  const none = await client(app).get('/fhir/Patient/pat-alice');
  t.equal(none.statusCode, 401);
  t.match(String(none.headers['www-authenticate']), /^Bearer realm="http:\/\/flint\.test\/fhir"$/);
  t.equal(JSON.parse(none.body).resourceType, 'OperationOutcome');
  const garbage = await client(app, 'garbage').get('/fhir/Patient/pat-alice');
  t.equal(garbage.statusCode, 401);
  t.match(String(garbage.headers['www-authenticate']), /error="invalid_token"/);
  t.equal((await client(app).get('/fhir/metadata')).statusCode, 200, 'metadata is public');
  const auth = app.authService;
  const grant = { grantId: 'g-test', clientId: 'loader-app', scope: 'user/*.rs', aud: 'http://flint.test/fhir', context: {}, createdAt: Date.now(), revoked: false };
  await auth.store.putGrant(grant);
  const old = await auth.tokens.issue(grant, { now: Date.now() - 2 * 3600_000 });
  t.equal((await client(app, old.access_token).get('/fhir/Patient/pat-alice')).statusCode, 401, 'expired');
  await auth.store.putGrant({ ...grant, grantId: 'g-foreign', aud: 'https://other.example/fhir' });
  const foreign = await auth.tokens.issue({ ...grant, grantId: 'g-foreign', aud: 'https://other.example/fhir' });
  t.equal((await client(app, foreign.access_token).get('/fhir/Patient/pat-alice')).statusCode, 401, 'minted for another FHIR base');
  const live = await auth.tokens.issue(grant);
  t.equal((await client(app, live.access_token).get('/fhir/Patient/pat-alice')).statusCode, 200);
  await auth.store.revokeGrant('g-test');
  t.equal((await client(app, live.access_token).get('/fhir/Patient/pat-alice')).statusCode, 401, 'revoked: refused at once');
});

t.test('a patient token sees its own record and nothing of another patient, by any route (leak tests)', async (t) => {
  const app = await setup(t);
  const alice = client(app, await userToken(app, 'app', 'alice', 'launch/patient patient/*.cruds'));
  t.equal((await alice.get('/fhir/Patient/pat-alice')).statusCode, 200);
  // Reads of another patient's resources look exactly like absent ones.
  for (const url of ['/fhir/Patient/pat-bob', '/fhir/Observation/obs-bob-hba1c', '/fhir/Observation/obs-bob-hba1c/_history/1', '/fhir/Observation/obs-bob-hba1c/_history', '/fhir/Claim/claim-bob-1', '/fhir/Patient/pat-bob/$everything']) {
    const res = await alice.get(url);
    t.equal(res.statusCode, 404, url);
    t.notMatch(res.body, BOB_DATA, `${url}: no trace in the answer`);
  }
  const searches = [
    '/fhir/Observation', '/fhir/Observation?patient=pat-bob', '/fhir/Observation?subject=Patient/pat-bob', '/fhir/Observation?code=4548-4',
    '/fhir/Observation?subject:Patient.name=martinez', '/fhir/Observation?encounter.subject:Patient.gender=male',
    '/fhir/Patient', '/fhir/Patient?_has:Observation:patient:code=4548-4', '/fhir/Patient?gender=male',
    '/fhir/Practitioner?_has:Observation:performer:code=85354-9',
    '/fhir/Encounter?_include=Encounter:subject', '/fhir/Practitioner?_revinclude=Observation:performer&_revinclude=Encounter:participant',
    '/fhir/Patient?_revinclude=Observation:subject&_revinclude=Claim:patient', '/fhir/Observation?_include=Observation:patient&_include:iterate=Patient:organization',
    '/fhir/Organization?_revinclude=Coverage:payor&_revinclude:iterate=Claim:insurer',
    '/fhir/Patient/pat-bob/Observation', '/fhir/Patient/pat-bob/*', '/fhir?_type=Observation,Patient,Claim',
    '/fhir/Observation/_history', '/fhir/_history', '/fhir/Patient/pat-alice/$everything',
  ];
  for (const url of searches) {
    const res = await alice.get(url);
    t.equal(res.statusCode, 200, url);
    t.same(bobResources(res.body), [], `${url}: no resource of Bob`);
    t.notMatch(res.body, BOB_DATA, `${url}: none of Bob's data`);
  }
  t.same(await alice.ids('/fhir/Observation'), ['Observation/obs-alice-hr', 'Observation/obs-alice-weight']);
  t.same(await alice.ids('/fhir/Practitioner?_has:Observation:performer:code=85354-9'), [], '_has cannot reveal Bob\'s blood pressure performer');
  t.equal(JSON.parse((await alice.get('/fhir/Observation?_summary=count')).body).total, 2, 'counts count only what may be seen');
  t.equal(JSON.parse((await alice.get('/fhir/Observation?_total=accurate&_count=1')).body).total, 2);
  const rev = await alice.ids('/fhir/Practitioner?_id=pr-smith&_revinclude=Observation:performer');
  t.same(rev, ['Observation/obs-alice-hr', 'Observation/obs-alice-weight', 'Practitioner/pr-smith'], 'non-compartment types are readable; revincludes filtered');
  const batch = await alice.send('POST', '/fhir', { resourceType: 'Bundle', type: 'batch', entry: [
    { request: { method: 'GET', url: 'Patient/pat-bob' } }, { request: { method: 'GET', url: 'Observation?code=4548-4' } }, { request: { method: 'GET', url: 'Patient/pat-alice' } },
  ] });
  const b = JSON.parse(batch.body);
  t.same(b.entry.map((e: any) => e.response.status.slice(0, 3)), ['404', '200', '200']);
  t.same(bobResources(batch.body), [], 'batch reads are filtered too');
  t.notMatch(batch.body, BOB_DATA);
});

t.test('patient token writes: only inside its compartment, 403 outside (RS-11)', async (t) => {
  const app = await setup(t);
  const alice = client(app, await userToken(app, 'app', 'alice', 'launch/patient patient/*.cruds'));
  const obs = (subject: string) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: subject } });
  t.equal((await alice.send('POST', '/fhir/Observation', obs('Patient/pat-alice'))).statusCode, 201);
  t.equal((await alice.send('POST', '/fhir/Observation', obs('Patient/pat-bob'))).statusCode, 403, 'create for another patient');
  t.equal((await alice.send('PUT', '/fhir/Observation/obs-bob-hba1c', { ...obs('Patient/pat-alice'), id: 'obs-bob-hba1c' })).statusCode, 403, 'overwrite another patient\'s');
  t.equal((await alice.del('/fhir/Observation/obs-bob-hba1c')).statusCode, 403);
  t.equal((await alice.send('PATCH', '/fhir/Observation/obs-bob-hba1c', [{ op: 'replace', path: '/status', value: 'cancelled' }], { 'content-type': 'application/json-patch+json' })).statusCode, 403);
  t.equal((await alice.send('PUT', '/fhir/Observation/obs-alice-hr', { ...obs('Patient/pat-bob'), id: 'obs-alice-hr' })).statusCode, 403, 'move own data to another patient');
  const cond = await alice.del('/fhir/Observation?code=4548-4');
  t.equal(cond.statusCode, 200);
  const tx = await alice.send('POST', '/fhir', { resourceType: 'Bundle', type: 'transaction', entry: [
    { resource: obs('Patient/pat-alice'), request: { method: 'POST', url: 'Observation' } },
    { resource: obs('Patient/pat-bob'), request: { method: 'POST', url: 'Observation' } },
  ] });
  t.equal(tx.statusCode, 403, 'a transaction with one denied entry fails whole');
  const dr = client(app, await userToken(app, 'app2', 'dr-smith', 'user/*.rs'));
  t.equal((await dr.get('/fhir/Observation/obs-bob-hba1c')).statusCode, 200, 'the conditional delete of a patient token never reached Bob\'s data');
});

t.test('scopes decide types and interactions: 403 when a scope is missing (RS-10, RS-12, RS-17..21)', async (t) => {
  const app = await setup(t);
  const onlyPatient = client(app, await userToken(app, 'app', 'alice', 'launch/patient patient/Patient.rs'));
  t.equal((await onlyPatient.get('/fhir/Patient/pat-alice')).statusCode, 200);
  const forbidden = await onlyPatient.get('/fhir/Observation?patient=pat-alice');
  t.equal(forbidden.statusCode, 403, 'a type without scope: 403, not an empty Bundle');
  t.match(String(forbidden.headers['www-authenticate']), /insufficient_scope/);
  t.equal((await onlyPatient.get('/fhir/Observation/obs-alice-hr')).statusCode, 403);
  const readOnly = client(app, await userToken(app, 'app', 'alice', 'launch/patient patient/Observation.r'));
  t.equal((await readOnly.get('/fhir/Observation/obs-alice-hr')).statusCode, 200, '.r reads');
  t.equal((await readOnly.get('/fhir/Observation?patient=pat-alice')).statusCode, 403, '.r does not search');
  const searchOnly = client(app, await userToken(app, 'app', 'alice', 'launch/patient patient/Observation.s'));
  t.equal((await searchOnly.get('/fhir/Observation')).statusCode, 200, '.s searches');
  t.equal((await searchOnly.get('/fhir/Observation/obs-alice-hr')).statusCode, 403, '.s does not read');
  const v1 = client(app, await userToken(app, 'app', 'alice', 'launch/patient patient/*.read'));
  t.equal((await v1.get('/fhir/Observation/obs-alice-hr')).statusCode, 200, 'v1 *.read');
  t.equal((await v1.send('PUT', '/fhir/Patient/pat-alice', { resourceType: 'Patient', id: 'pat-alice' })).statusCode, 403, 'v1 read cannot write');
  const practitioner = client(app, await userToken(app, 'app', 'dr-smith', 'user/*.rs'));
  t.same((await practitioner.ids('/fhir/Patient?_sort=_id')).length, 3, 'a practitioner with user/ scopes sees every patient');
  t.equal((await practitioner.get('/fhir/$reindex')).statusCode, 403, 'administration needs an admin token');
  const medsOnly = client(app, await userToken(app, 'app', 'alice', 'launch/patient patient/Practitioner.rs'));
  t.equal((await medsOnly.get('/fhir/Practitioner/pr-smith')).statusCode, 200, 'patient/ scope on a non-compartment type');
});

t.test('the fhirUser resource is always readable by its user (OIDC-04)', async (t) => {
  const app = await setup(t);
  const dr = client(app, await userToken(app, 'app', 'dr-smith', 'openid fhirUser launch/patient patient/Observation.rs', 'pat-alice'));
  t.equal((await dr.get('/fhir/Practitioner/pr-smith')).statusCode, 200);
  t.equal((await dr.get('/fhir/Practitioner/pr-jones')).statusCode, 403, 'but only that one');
});

t.test('granular scopes: only the granted categories, in reads, searches and counts (RS-13..16)', async (t) => {
  const app = await setup(t);
  await addUser(app, 'bob2', 'Patient/pat-bob');
  const lab = 'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory';
  const bob = client(app, await userToken(app, 'app', 'bob2', `launch/patient patient/Patient.rs ${lab}`));
  t.same(await bob.ids('/fhir/Observation?patient=pat-bob'), ['Observation/obs-bob-hba1c'], 'exactly the laboratory Observations');
  t.equal(JSON.parse((await bob.get('/fhir/Observation?_summary=count')).body).total, 1);
  t.same(await bob.ids('/fhir/Observation?patient=pat-bob&category=vital-signs'), [], 'another category: empty');
  t.equal((await bob.get('/fhir/Observation/obs-bob-hba1c')).statusCode, 200);
  t.equal((await bob.get('/fhir/Observation/obs-bob-weight')).statusCode, 404, 'a vital sign is not readable');
  const vital = 'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs';
  const both = client(app, await userToken(app, 'app', 'bob2', `launch/patient ${lab} ${vital}`));
  t.same(await both.ids('/fhir/Observation'), ['Observation/obs-bob-bp', 'Observation/obs-bob-hba1c', 'Observation/obs-bob-weight'], 'two granular scopes are ORed');
  const anded = client(app, await userToken(app, 'app', 'bob2', 'launch/patient patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs&code=http://loinc.org|29463-7'));
  t.same(await anded.ids('/fhir/Observation'), ['Observation/obs-bob-weight'], 'parameters within one scope are ANDed');
});
