// $validate (R4 resource-operation-validate.html) and validation on every write path.
import t from 'tap';
import { testApp, post, put, body, load, clinic, FHIR } from '../helpers/app.js';
import { authApp, seedClinic, userToken, withToken } from '../helpers/auth.js';

type Outcome = { resourceType: string; issue: { severity: string; code: string; diagnostics: string; expression?: string[] }[] };
const US_CORE_PATIENT = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient';
const badObs = { resourceType: 'Observation', status: 'done', code: { text: 'x' }, valueQuantity: { value: '5' }, subject: { reference: 'Medication/1' } };
const errorsAt = (o: Outcome): string[] => o.issue.filter((i) => i.severity === 'error').map((i) => i.expression?.[0] ?? '').sort();
const historyCount = async (app: Awaited<ReturnType<typeof testApp>>): Promise<number> => body(await app.inject('/fhir/_history')).total ?? body(await app.inject('/fhir/_history')).entry?.length ?? 0;

t.test('type-level $validate answers 200 with the OperationOutcome, valid or not, and stores nothing', async (t) => {
  const app = await testApp(t);
  const ok = await post(app, '/fhir/Patient/$validate', { resourceType: 'Patient', gender: 'female' });
  t.equal(ok.statusCode, 200);
  const o = body<Outcome>(ok);
  t.equal(o.resourceType, 'OperationOutcome');
  t.same(o.issue.map((i) => i.severity), ['information']);
  const bad = await post(app, '/fhir/Observation/$validate', badObs);
  t.equal(bad.statusCode, 200);
  t.same(errorsAt(body<Outcome>(bad)), ['Observation.status', 'Observation.subject.reference', 'Observation.valueQuantity.value']);
  for (const i of body<Outcome>(bad).issue) {
    t.ok(i.code && i.diagnostics, 'each issue has a code and a human message');
  }
  t.equal(await historyCount(app), 0);
});

t.test('$validate takes a Parameters body with resource, mode and profile', async (t) => {
  const app = await testApp(t);
  const params = (resource: unknown, extra: unknown[] = []) => ({ resourceType: 'Parameters', parameter: [{ name: 'resource', resource }, ...extra] });
  const patient = { resourceType: 'Patient', name: [{ family: 'Doe' }] };
  const plain = body<Outcome>(await post(app, '/fhir/Patient/$validate', params(patient)));
  t.same(errorsAt(plain), []);
  const profiled = body<Outcome>(await post(app, '/fhir/Patient/$validate', params(patient, [{ name: 'profile', valueUri: US_CORE_PATIENT }])));
  t.ok(profiled.issue.some((i) => i.severity === 'error' && /identifier: minimum required = 1/.test(i.diagnostics)), 'US Core wants an identifier');
  const viaQuery = body<Outcome>(await post(app, `/fhir/Patient/$validate?profile=${encodeURIComponent(US_CORE_PATIENT)}`, patient));
  t.same(errorsAt(viaQuery), errorsAt(profiled), 'the profile parameter also comes from the query');
  const unknown = body<Outcome>(await post(app, '/fhir/Patient/$validate?profile=http://example.org/nope', patient));
  t.ok(unknown.issue.some((i) => i.severity === 'error' && i.code === 'not-supported'), 'an unknown requested profile is an error');
  const declared = body<Outcome>(await post(app, '/fhir/Patient/$validate', { ...patient, meta: { profile: ['http://example.org/nope'] } }));
  t.same(declared.issue.map((i) => [i.severity, i.expression?.[0]]), [['warning', 'Patient.meta.profile[0]']], 'an unknown meta.profile is a warning');
  const badMode = await post(app, '/fhir/Patient/$validate', params(patient, [{ name: 'mode', valueCode: 'sideways' }]));
  t.equal(badMode.statusCode, 400);
  t.equal((await post(app, '/fhir/Patient/$validate', { resourceType: 'Observation' })).statusCode, 400, 'type mismatch');
  t.equal((await app.inject({ method: 'POST', url: '/fhir/Patient/$validate', payload: '{"resourceType":', headers: { 'content-type': FHIR } })).statusCode, 400, 'unparseable');
});

t.test('instance-level $validate: the stored resource (GET), a new version (mode=update), a deletion (mode=delete)', async (t) => {
  const app = await testApp(t);
  await load(app, clinic());
  const stored = await app.inject('/fhir/Patient/pat-bob/$validate');
  t.equal(stored.statusCode, 200);
  t.same(errorsAt(body<Outcome>(stored)), []);
  t.equal((await app.inject('/fhir/Patient/nobody/$validate')).statusCode, 404);
  const asProfile = body<Outcome>(await app.inject(`/fhir/Patient/pat-bob/$validate?profile=${encodeURIComponent(US_CORE_PATIENT)}`));
  t.ok(asProfile.issue.length > 0);
  const wrongId = body<Outcome>(await post(app, '/fhir/Patient/pat-bob/$validate?mode=update', { resourceType: 'Patient', id: 'pat-other' }));
  t.same(errorsAt(wrongId), ['Patient.id']);
  const rightId = body<Outcome>(await post(app, '/fhir/Patient/pat-bob/$validate?mode=update', { resourceType: 'Patient', id: 'pat-bob' }));
  t.same(errorsAt(rightId), []);
  t.equal((await post(app, '/fhir/Patient/$validate?mode=update', { resourceType: 'Patient', id: 'x' })).statusCode, 400, 'update needs the instance');
  const del = await app.inject({ method: 'POST', url: '/fhir/Patient/pat-bob/$validate?mode=delete' });
  t.equal(del.statusCode, 200);
  t.same(errorsAt(body<Outcome>(del)), [], 'lenient integrity: deleting is fine');
  t.equal((await app.inject('/fhir/Patient/pat-bob')).statusCode, 200, 'nothing was deleted');
});

t.test('mode=delete reports what a strict-integrity delete would refuse', async (t) => {
  const app = await testApp(t, { REFERENTIAL_INTEGRITY: 'strict' });
  await load(app, clinic());
  const del = body<Outcome>(await app.inject({ method: 'POST', url: '/fhir/Patient/pat-bob/$validate?mode=delete' }));
  t.ok(del.issue.some((i) => i.severity === 'error' && /referenced by/.test(i.diagnostics)));
});

t.test('writes are validated: 422 with one located issue per problem; warnings never block', async (t) => {
  const app = await testApp(t);
  const res = await post(app, '/fhir/Observation', badObs);
  t.equal(res.statusCode, 422);
  const o = body<Outcome>(res);
  t.same(errorsAt(o), ['Observation.status', 'Observation.subject.reference', 'Observation.valueQuantity.value']);
  t.ok(o.issue.every((i) => i.severity && i.code && i.diagnostics && i.expression?.length));
  const warned = await post(app, '/fhir/Patient', { resourceType: 'Patient', extension: [{ url: 'http://example.org/unknown', valueString: 'x' }] });
  t.equal(warned.statusCode, 201, 'an unknown extension warns and is stored');
  const id = body(warned).id as string;
  const update = await put(app, `/fhir/Patient/${id}`, { resourceType: 'Patient', id, gender: 'woman' });
  t.equal(update.statusCode, 422);
  t.same(errorsAt(body<Outcome>(update)), ['Patient.gender']);
  const patch = await app.inject({ method: 'PATCH', url: `/fhir/Patient/${id}`, payload: JSON.stringify([{ op: 'add', path: '/birthDate', value: '2021-02-29' }]), headers: { 'content-type': 'application/json-patch+json' } });
  t.equal(patch.statusCode, 422, 'a patch whose result is invalid');
  t.same(errorsAt(body<Outcome>(patch)), ['Patient.birthDate']);
  t.equal(body(await app.inject(`/fhir/Patient/${id}`)).meta.versionId, '1', 'nothing changed');
});

t.test('bundle entries are validated like any write', async (t) => {
  const app = await testApp(t);
  const entry = (resource: unknown) => ({ resource, request: { method: 'POST', url: (resource as { resourceType: string }).resourceType } });
  const tx = await post(app, '/fhir', { resourceType: 'Bundle', type: 'transaction', entry: [entry({ resourceType: 'Patient' }), entry(badObs)] });
  t.equal(tx.statusCode, 422);
  t.ok(body<Outcome>(tx).issue.some((i) => i.expression?.[0] === 'Bundle.entry[1].resource.status'), 'located inside the Bundle');
  t.equal((await app.inject('/fhir/Patient')).statusCode, 200);
  t.equal(body(await app.inject('/fhir/Patient')).entry?.length ?? 0, 0, 'the transaction changed nothing');
  const batch = body(await post(app, '/fhir', { resourceType: 'Bundle', type: 'batch', entry: [entry({ resourceType: 'Patient' }), entry(badObs)] }));
  t.same(batch.entry.map((e: { response: { status: string } }) => e.response.status.slice(0, 3)), ['201', '422']);
});

t.test('the CapabilityStatement lists $validate', async (t) => {
  const app = await testApp(t);
  const cs = body(await app.inject('/fhir/metadata'));
  t.ok(cs.rest[0].operation.some((o: { name: string; definition: string }) => o.name === 'validate' && o.definition === 'http://hl7.org/fhir/OperationDefinition/Resource-validate'));
});

t.test('instance $validate respects the caller\'s read access', async (t) => {
  const app = await authApp(t);
  await seedClinic(app);
  const alice = withToken(app, await userToken(app, 'app', 'alice', 'launch/patient patient/*.cruds'));
  t.equal((await alice.inject('/fhir/Patient/pat-alice/$validate')).statusCode, 200);
  const other = await alice.inject('/fhir/Patient/pat-bob/$validate');
  t.equal(other.statusCode, 404, 'another patient looks absent');
  t.notMatch(other.body, /"resourceType":"Patient"|family/, 'and nothing of it is shown');
  const noScope = withToken(app, await userToken(app, 'app2', 'alice', 'launch/patient patient/Observation.rs'));
  t.equal((await noScope.inject({ method: 'POST', url: '/fhir/Patient/pat-alice/$validate?mode=update', payload: JSON.stringify({ resourceType: 'Patient', id: 'pat-alice' }), headers: { 'content-type': FHIR } })).statusCode, 403);
});
