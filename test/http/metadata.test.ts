// GET /metadata: a CapabilityStatement generated from what Flint implements.
import t from 'tap';
import { testApp, body } from '../helpers/app.js';
import { loadDefinitions } from '../../src/definitions/registry.js';
import { minimalResource } from '../helpers/minimal.js';

t.test('the CapabilityStatement lists every R4 resource type with the implemented interactions', async (t) => {
  const app = await testApp(t);
  const res = await app.inject('/fhir/metadata');
  t.equal(res.statusCode, 200);
  const cs = body(res);
  t.equal(cs.resourceType, 'CapabilityStatement');
  t.equal(cs.fhirVersion, '4.0.1');
  t.equal(cs.kind, 'instance');
  t.equal(cs.implementation.url, 'http://flint.test/fhir');
  t.ok(cs.format.includes('application/fhir+json'));
  t.ok(cs.format.includes('application/fhir+xml') && cs.format.includes('xml'), 'XML is listed (R4 capabilitystatement format)');
  t.same(cs.patchFormat, ['application/json-patch+json']);
  const defs = loadDefinitions();
  const types = cs.rest[0].resource.map((r: any) => r.type);
  t.same(types, [...defs.resourceTypes]);
  for (const name of ['Patient', 'Encounter', 'Observation', 'MedicationRequest', 'Appointment', 'Claim', 'Invoice']) {
    t.ok(types.includes(name), name);
  }
  const patient = cs.rest[0].resource.find((r: any) => r.type === 'Patient');
  t.same(patient.interaction.map((i: any) => i.code).sort(),
    ['create', 'delete', 'history-instance', 'history-type', 'patch', 'read', 'search-type', 'update', 'vread']);
  const names = patient.searchParam.map((p: any) => p.name);
  for (const n of ['_id', '_lastUpdated', 'name', 'birthdate', 'identifier', 'general-practitioner']) t.ok(names.includes(n), `Patient search parameter ${n}`);
  t.ok(patient.searchInclude.includes('Patient:general-practitioner'));
  t.ok(patient.searchRevInclude.includes('Observation:subject'));
  t.equal(patient.versioning, 'versioned-update');
  t.equal(patient.updateCreate, true);
  t.same(cs.rest[0].interaction, [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }, { code: 'search-system' }]);
});

t.test('what the CapabilityStatement claims, the server does', async (t) => {
  const app = await testApp(t);
  const cs = body(await app.inject('/fhir/metadata'));
  const claims = new Set(cs.rest[0].resource[0].interaction.map((i: any) => i.code));
  const type = cs.rest[0].resource[0].type;
  const created = await app.inject({ method: 'POST', url: `/fhir/${type}`, payload: JSON.stringify(minimalResource(loadDefinitions(), type)), headers: { 'content-type': 'application/fhir+json' } });
  t.equal(claims.has('create'), created.statusCode === 201);
  const id = body(created).id;
  t.equal(claims.has('read'), (await app.inject(`/fhir/${type}/${id}`)).statusCode === 200);
  t.equal(claims.has('vread'), (await app.inject(`/fhir/${type}/${id}/_history/1`)).statusCode === 200);
  t.equal(claims.has('history-instance'), (await app.inject(`/fhir/${type}/${id}/_history`)).statusCode === 200);
  t.equal(claims.has('history-type'), (await app.inject(`/fhir/${type}/_history`)).statusCode === 200);
  t.equal(claims.has('search-type'), (await app.inject(`/fhir/${type}`)).statusCode === 200);
});
