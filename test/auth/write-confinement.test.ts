// Write confinement (issue 13 item 4; README "SMART on FHIR and access control"): a
// patient-context token writes only resources of its own patient's compartment that name no
// other patient; shared types are read-only for it; definitional types need a system-level
// scope or the administrator grant. Every refusal is a 403 that changes nothing (read back).
import t from 'tap';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { authApp, seedClinic, userToken, withToken, BASE } from '../helpers/auth.js';
import { body } from '../helpers/app.js';
import { loadFeesAndSlots } from '../helpers/clinic.js';

const FHIR = 'application/fhir+json';
const PATCH = 'application/json-patch+json';

async function setup(t: { teardown(fn: () => unknown): void }) {
  const app = await authApp(t);
  await seedClinic(app);
  const dr = withToken(app, await userToken(app, 'desk', 'dr-smith', 'user/*.cruds'));
  await loadFeesAndSlots(dr);
  const alice = withToken(app, await userToken(app, 'portal', 'alice', 'launch/patient patient/*.cruds'));
  return { app, dr, alice };
}

/** A token for a grant made directly (system-level scopes, the administrator grant). */
async function grantToken(app: FastifyInstance, scope: string, fhirUser?: string): Promise<FastifyInstance> {
  const auth = app.authService;
  const grant = { grantId: `g-${Math.random().toString(36).slice(2)}`, clientId: 'desk', scope, aud: BASE, context: {}, createdAt: Date.now(), revoked: false, ...(fhirUser ? { fhirUser } : {}) };
  await auth.store.putGrant(grant);
  return withToken(app, (await auth.tokens.issue(grant)).access_token);
}

const send = (app: FastifyInstance, method: string, url: string, payload: unknown, type = FHIR): Promise<LightMyRequestResponse> =>
  app.inject({ method: method as 'POST', url, payload: JSON.stringify(payload), headers: { 'content-type': type } });
const read = async (app: FastifyInstance, url: string): Promise<Record<string, any>> => body(await app.inject(url));
const count = async (app: FastifyInstance, query: string): Promise<number> => (await read(app, `/fhir/${query}${query.includes('?') ? '&' : '?'}_summary=count`)).total;
const obs = (subject: string, extra: Record<string, unknown> = {}) => ({ resourceType: 'Observation', status: 'final', code: { text: 'home reading' }, subject: { reference: subject }, ...extra });
const booking = (patients: string[], slot: string) => ({
  resourceType: 'Appointment', status: 'booked', start: '2026-12-14T09:00:00Z', end: '2026-12-14T09:30:00Z', slot: [{ reference: `Slot/${slot}` }],
  participant: [...patients.map((p) => ({ actor: { reference: `Patient/${p}` }, status: 'accepted' })), { actor: { reference: 'Practitioner/pr-smith' }, status: 'accepted' }],
});

t.test('types outside the Patient compartment are read-only for a patient token: fee schedule, Slot, Organization, Practitioner', async (t) => {
  const { dr, alice } = await setup(t);
  const fee = await read(dr, '/fhir/ChargeItemDefinition/fee-99213');
  const cheaper = { ...fee, propertyGroup: [{ priceComponent: [{ type: 'base', amount: { value: 1, currency: 'USD' } }] }] };
  t.equal((await send(alice, 'PUT', '/fhir/ChargeItemDefinition/fee-99213', cheaper)).statusCode, 403, 're-pricing the fee schedule');
  t.equal((await send(alice, 'POST', '/fhir/ChargeItemDefinition', { ...cheaper, id: undefined })).statusCode, 403, 'adding to the fee schedule');
  t.equal((await read(dr, '/fhir/ChargeItemDefinition/fee-99213')).propertyGroup[0].priceComponent[0].amount.value, 110, 'the price is unchanged');
  t.equal((await send(alice, 'PATCH', '/fhir/Slot/slot-a', [{ op: 'replace', path: '/status', value: 'busy-unavailable' }], PATCH)).statusCode, 403);
  const slot = await read(dr, '/fhir/Slot/slot-a');
  t.equal((await send(alice, 'PUT', '/fhir/Slot/slot-a', { ...slot, status: 'busy-unavailable' })).statusCode, 403);
  t.equal((await read(dr, '/fhir/Slot/slot-a')).status, 'free', 'the Slot is still free');
  for (const url of ['/fhir/Organization/org-clinic', '/fhir/Practitioner/pr-jones', '/fhir/Schedule/sch', '/fhir/Location/loc-main']) {
    t.equal((await alice.inject({ method: 'DELETE', url })).statusCode, 403, `DELETE ${url}`);
    t.equal((await dr.inject(url)).statusCode, 200, `${url} is still there`);
  }
  t.equal((await send(alice, 'POST', '/fhir/Practitioner', { resourceType: 'Practitioner', name: [{ family: 'Fake' }] })).statusCode, 403);
  t.equal(await count(dr, 'Practitioner?family=Fake'), 0);
  const asUser = withToken(alice, await userToken(alice, 'portal2', 'alice', 'user/*.cruds'));
  t.equal((await send(asUser, 'PUT', '/fhir/ChargeItemDefinition/fee-99213', cheaper)).statusCode, 403, 'user/ scopes of a user who is a Patient: the same');
  t.equal((await asUser.inject({ method: 'DELETE', url: '/fhir/Organization/org-clinic' })).statusCode, 403);
  t.equal((await send(asUser, 'POST', '/fhir/Observation', obs('Patient/pat-alice'))).statusCode, 201, 'and her own record stays writable');
  t.equal((await send(dr, 'PUT', '/fhir/ChargeItemDefinition/fee-99213', { ...fee, title: 'renamed by the practice' })).statusCode, 200, 'the practice keeps its fee schedule');
});

t.test('definitional resources need a system-level scope or the administrator grant, whatever the token', async (t) => {
  const { app, dr, alice } = await setup(t);
  const sp = (code: string) => ({
    resourceType: 'SearchParameter', url: `http://flint.test/SearchParameter/${code}`, name: code, status: 'active', description: 'x',
    code, base: ['Patient'], type: 'string', expression: 'Patient.name.family',
  });
  t.equal((await send(alice, 'POST', '/fhir/SearchParameter', sp('by-alice'))).statusCode, 403, 'a patient token');
  t.equal((await send(dr, 'POST', '/fhir/SearchParameter', sp('by-dr'))).statusCode, 403, 'a practitioner\'s user/*.cruds');
  t.equal((await send(dr, 'POST', '/fhir/ValueSet', { resourceType: 'ValueSet', status: 'draft', url: 'http://flint.test/vs/x' })).statusCode, 403, 'ValueSet too');
  t.equal((await send(dr, 'POST', '/fhir/CodeSystem', { resourceType: 'CodeSystem', status: 'draft', content: 'not-present', url: 'http://flint.test/cs/x' })).statusCode, 403, 'CodeSystem too');
  t.equal(await count(dr, 'SearchParameter?url=http://flint.test/SearchParameter/by-alice,http://flint.test/SearchParameter/by-dr'), 0, 'nothing was stored');
  const system = await grantToken(app, 'system/SearchParameter.cruds system/SearchParameter.r');
  const created = await send(system, 'POST', '/fhir/SearchParameter', sp('by-system'));
  t.equal(created.statusCode, 201, 'system/SearchParameter.c');
  const admin = await grantToken(app, 'user/*.cruds __admin', 'Practitioner/pr-smith');
  t.equal((await admin.inject({ method: 'DELETE', url: `/fhir/SearchParameter/${body(created).id}` })).statusCode, 200, 'the administrator grant');
  const onlyObs = await grantToken(app, 'system/Observation.cruds');
  t.equal((await send(onlyObs, 'POST', '/fhir/SearchParameter', sp('by-obs'))).statusCode, 403, 'a system scope for another type grants nothing here');
});

t.test('a patient token writes only its own record, never one that names another patient', async (t) => {
  const { dr, alice } = await setup(t);
  const bobsBefore = await count(dr, 'Observation?subject=Patient/pat-bob');
  const sneaky = obs('Patient/pat-bob', { performer: [{ reference: 'Patient/pat-alice' }] });
  t.equal((await send(alice, 'POST', '/fhir/Observation', sneaky)).statusCode, 403, 'subject Bob, performer Alice');
  t.equal((await send(alice, 'POST', '/fhir/Observation', obs(`${BASE}/Patient/pat-bob`, { performer: [{ reference: 'Patient/pat-alice' }] }))).statusCode, 403, 'absolute reference to Bob');
  t.equal((await send(alice, 'POST', '/fhir/Observation', obs('Patient/pat-alice', { focus: [{ reference: 'Patient/pat-bob' }] }))).statusCode, 403, 'Bob named outside the compartment parameters');
  t.equal((await send(alice, 'POST', '/fhir/Observation', obs('Patient/pat-alice', { extension: [{ url: 'http://x.example/about', valueReference: { reference: 'Patient/pat-bob' } }] }))).statusCode, 403, 'Bob named in an extension');
  t.equal((await send(alice, 'POST', '/fhir/Observation', obs('Patient/pat-alice', { focus: [{ reference: 'https://elsewhere.example/fhir/Patient/1' }] }))).statusCode, 403, 'a Patient on another server');
  let deep: Record<string, unknown> = { url: 'http://x.example/n', valueReference: { reference: 'Patient/pat-bob' } };
  for (let i = 0; i < 40; i++) deep = { url: 'http://x.example/n', extension: [deep] };
  t.equal((await send(alice, 'POST', '/fhir/Observation', obs('Patient/pat-alice', { extension: [deep] }))).statusCode, 403, 'Bob named 40 extensions deep');
  const many = Array.from({ length: 2000 }, () => ({ reference: 'Patient/pat-alice' }));
  t.equal((await send(alice, 'POST', '/fhir/Observation', obs('Patient/pat-alice', { focus: [...many, { reference: 'Patient/pat-bob' }] }))).statusCode, 403, 'Bob after 2000 references to herself');
  t.equal(await count(dr, 'Observation?subject=Patient/pat-bob'), bobsBefore, 'nothing reached Bob\'s record');
  t.equal(await count(dr, 'Observation?focus=Patient/pat-bob'), 0);
  const slotBefore = (await read(dr, '/fhir/Slot/slot-a')).status;
  t.equal((await send(alice, 'POST', '/fhir/Appointment', booking(['pat-alice', 'pat-bob'], 'slot-a'))).statusCode, 403, 'an Appointment listing both');
  t.equal((await read(dr, '/fhir/Slot/slot-a')).status, slotBefore, 'and it took no Slot');
  const me = await read(dr, '/fhir/Patient/pat-alice');
  t.equal((await send(alice, 'PUT', '/fhir/Patient/pat-alice', { ...me, link: [{ other: { reference: 'Patient/pat-bob' }, type: 'seealso' }] })).statusCode, 403, 'linking herself to Bob');
  t.equal((await read(dr, '/fhir/Patient/pat-alice')).link, undefined);

  const mine = await send(alice, 'POST', '/fhir/Observation', obs('Patient/pat-alice', { performer: [{ reference: 'Patient/pat-alice' }] }));
  t.equal(mine.statusCode, 201, 'her own Observation');
  const booked = await send(alice, 'POST', '/fhir/Appointment', booking(['pat-alice'], 'slot-a'));
  t.equal(booked.statusCode, 201, 'her own Appointment on a free Slot');
  t.equal((await read(dr, '/fhir/Slot/slot-a')).status, 'busy', 'the Slot is taken by the system on her behalf');
  const cancelled = await send(alice, 'PATCH', `/fhir/Appointment/${body(booked).id}`, [{ op: 'replace', path: '/status', value: 'cancelled' }], PATCH);
  t.equal(cancelled.statusCode, 200, 'she cancels it');
  t.equal((await read(dr, '/fhir/Slot/slot-a')).status, 'free', 'and the system frees the Slot');
});

t.test('a patient token cannot move a resource out of another patient\'s compartment or into its own', async (t) => {
  const { dr, alice } = await setup(t);
  const shared = body(await send(dr, 'POST', '/fhir/Observation', obs('Patient/pat-bob', { performer: [{ reference: 'Patient/pat-alice' }] })));
  const before = JSON.stringify(await read(dr, `/fhir/Observation/${shared.id}`));
  t.equal((await send(alice, 'PUT', `/fhir/Observation/${shared.id}`, { ...shared, subject: { reference: 'Patient/pat-alice' } })).statusCode, 403, 'taking a shared Observation into her own record');
  t.equal((await send(alice, 'PATCH', `/fhir/Observation/${shared.id}`, [{ op: 'replace', path: '/subject/reference', value: 'Patient/pat-alice' }], PATCH)).statusCode, 403, 'the same by PATCH');
  t.equal((await alice.inject({ method: 'DELETE', url: `/fhir/Observation/${shared.id}` })).statusCode, 403, 'deleting what is also Bob\'s');
  t.equal(JSON.stringify(await read(dr, `/fhir/Observation/${shared.id}`)), before, 'the shared Observation is unchanged');
  const bobs = await read(dr, '/fhir/Observation/obs-bob-hba1c');
  t.equal((await send(alice, 'PUT', '/fhir/Observation/obs-bob-hba1c', { ...bobs, subject: { reference: 'Patient/pat-alice' } })).statusCode, 403, 'Bob\'s own Observation');
  const hr = await read(dr, '/fhir/Observation/obs-alice-hr');
  t.equal((await send(alice, 'PUT', '/fhir/Observation/obs-alice-hr', { ...hr, subject: { reference: 'Patient/pat-bob' } })).statusCode, 403, 'her Observation given to Bob');
  t.equal((await read(dr, '/fhir/Observation/obs-alice-hr')).subject.reference, 'Patient/pat-alice');
  t.equal((await read(dr, '/fhir/Observation/obs-bob-hba1c')).subject.reference, 'Patient/pat-bob');
});

t.test('conditional update, patch and delete by a patient token are confined the same way', async (t) => {
  const { dr, alice } = await setup(t);
  t.equal((await send(alice, 'PUT', '/fhir/Observation?code=nothing-matches', obs('Patient/pat-bob'))).statusCode, 403, 'conditional update creating for Bob');
  t.equal((await send(alice, 'PUT', '/fhir/Observation?_id=obs-alice-hr', { ...(await read(dr, '/fhir/Observation/obs-alice-hr')), subject: { reference: 'Patient/pat-bob' } })).statusCode, 403, 'conditional update moving hers to Bob');
  t.equal((await send(alice, 'PATCH', '/fhir/Slot?_id=slot-a', [{ op: 'replace', path: '/status', value: 'busy-unavailable' }], PATCH)).statusCode, 403, 'conditional patch of a Slot');
  t.equal((await send(alice, 'PATCH', '/fhir/Observation?_id=obs-alice-hr', [{ op: 'add', path: '/focus', value: [{ reference: 'Patient/pat-bob' }] }], PATCH)).statusCode, 403, 'conditional patch naming Bob');
  t.equal((await alice.inject({ method: 'DELETE', url: '/fhir/Organization?_id=org-clinic' })).statusCode, 403, 'conditional delete of an Organization');
  const shared = body(await send(dr, 'POST', '/fhir/Observation', obs('Patient/pat-bob', { performer: [{ reference: 'Patient/pat-alice' }], code: { text: 'shared-one' } })));
  t.equal((await alice.inject({ method: 'DELETE', url: '/fhir/Observation?code:text=shared-one' })).statusCode, 403, 'conditional delete of a shared Observation');
  t.equal((await dr.inject(`/fhir/Observation/${shared.id}`)).statusCode, 200);
  t.equal((await read(dr, '/fhir/Slot/slot-a')).status, 'free');
  t.equal((await dr.inject('/fhir/Organization/org-clinic')).statusCode, 200);
  t.equal((await read(dr, '/fhir/Observation/obs-alice-hr')).subject.reference, 'Patient/pat-alice');
  t.equal((await read(dr, '/fhir/Observation/obs-alice-hr')).focus, undefined);
  t.equal((await send(alice, 'PUT', '/fhir/Observation?code=nothing-matches', obs('Patient/pat-alice'))).statusCode, 201, 'conditional create of her own');
});

t.test('Bundle entries are refused the same way and the transaction rolls back', async (t) => {
  const { dr, alice } = await setup(t);
  const mineBefore = await count(dr, 'Observation?subject=Patient/pat-alice');
  const slot = await read(dr, '/fhir/Slot/slot-b');
  const cases: [string, Record<string, unknown>][] = [
    ['a Slot', { resource: { ...slot, status: 'busy-unavailable' }, request: { method: 'PUT', url: 'Slot/slot-b' } }],
    ['an Organization', { request: { method: 'DELETE', url: 'Organization/org-clinic' } }],
    ['an Observation naming Bob', { resource: obs('Patient/pat-bob', { performer: [{ reference: 'Patient/pat-alice' }] }), request: { method: 'POST', url: 'Observation' } }],
    ['a SearchParameter', { resource: { resourceType: 'SearchParameter', url: 'http://flint.test/sp/b', name: 'b', status: 'active', description: 'x', code: 'b', base: ['Patient'], type: 'string', expression: 'Patient.name' }, request: { method: 'POST', url: 'SearchParameter' } }],
  ];
  for (const [what, entry] of cases) {
    const res = await send(alice, 'POST', '/fhir', { resourceType: 'Bundle', type: 'transaction', entry: [
      { resource: obs('Patient/pat-alice'), request: { method: 'POST', url: 'Observation' } }, entry,
    ] });
    t.equal(res.statusCode, 403, `a transaction writing ${what}`);
  }
  t.equal(await count(dr, 'Observation?subject=Patient/pat-alice'), mineBefore, 'none of her own entries was kept');
  t.equal((await read(dr, '/fhir/Slot/slot-b')).status, 'free');
  t.equal((await dr.inject('/fhir/Organization/org-clinic')).statusCode, 200);
  const batch = body(await send(alice, 'POST', '/fhir', { resourceType: 'Bundle', type: 'batch', entry: [
    { resource: obs('Patient/pat-alice'), request: { method: 'POST', url: 'Observation' } }, cases[0]?.[1],
  ] }));
  t.same(batch.entry.map((e: any) => e.response.status.slice(0, 3)), ['201', '403'], 'a batch: her entry written, the Slot refused');
  t.equal((await read(dr, '/fhir/Slot/slot-b')).status, 'free');
});
