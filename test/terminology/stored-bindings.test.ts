// Required bindings to ValueSets stored through the API (R4 terminologies.html#strength: the
// code SHALL be in the value set, wherever it is kept): a profile from PROFILES_DIR binds to a
// value set the definitions do not have; once it is stored, writes and $validate check codes
// against it; a code of a system Flint does not hold is "not checked", never valid or invalid.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testApp, put, post, body } from '../helpers/app.js';

const PROFILE = 'http://example.org/StructureDefinition/pat-colour';
const VS = 'http://example.org/ValueSet/colours';
const CS = 'http://example.org/CodeSystem/colours';

const dir = mkdtempSync(join(tmpdir(), 'flint-stored-vs-'));
writeFileSync(join(dir, 'pat-colour.json'), JSON.stringify({
  resourceType: 'StructureDefinition', url: PROFILE, name: 'PatColour', status: 'active', kind: 'resource', abstract: false,
  type: 'Patient', baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Patient', derivation: 'constraint',
  differential: { element: [{ id: 'Patient.maritalStatus', path: 'Patient.maritalStatus', binding: { strength: 'required', valueSet: VS } }] },
}));

const patient = (id: string, system: string, code: string) => ({
  resourceType: 'Patient', id, meta: { profile: [PROFILE] }, maritalStatus: { coding: [{ system, code }] },
});
const codeSystem = { resourceType: 'CodeSystem', id: 'colours', url: CS, status: 'active', content: 'complete', concept: [{ code: 'red' }, { code: 'green' }, { code: 'blue' }] };
const valueSet = (codes: string[]) => ({
  resourceType: 'ValueSet', id: 'colours', url: VS, status: 'active',
  compose: { include: [{ system: CS, concept: codes.map((code) => ({ code })) }, { system: 'http://snomed.info/sct', filter: [{ property: 'concept', op: 'is-a', value: '404684003' }] }] },
});

t.test('a required binding to a stored ValueSet is enforced on write', async (t) => {
  const app = await testApp(t, { PROFILES_DIR: dir });
  // Not stored yet: the binding cannot be checked, and the write is not refused for it.
  t.equal((await put(app, '/fhir/Patient/before', patient('before', CS, 'blue'))).statusCode, 201, 'value set unknown: not refused');
  t.equal((await put(app, '/fhir/CodeSystem/colours', codeSystem)).statusCode, 201);
  t.equal((await put(app, '/fhir/ValueSet/colours', valueSet(['red', 'green']))).statusCode, 201);
  t.equal((await put(app, '/fhir/Patient/red', patient('red', CS, 'red'))).statusCode, 201, 'a code in the stored value set');
  const blue = await put(app, '/fhir/Patient/blue', patient('blue', CS, 'blue'));
  t.equal(blue.statusCode, 422, 'a code not in the stored value set');
  t.match(JSON.stringify(body(blue)), /colours/);
  t.equal((await app.inject({ method: 'GET', url: '/fhir/Patient/blue' })).statusCode, 404, 'nothing stored');
  // The stored value set changes: the next write sees the new version.
  t.equal((await put(app, '/fhir/ValueSet/colours', valueSet(['red', 'green', 'blue']))).statusCode, 200);
  t.equal((await put(app, '/fhir/Patient/blue', patient('blue', CS, 'blue'))).statusCode, 201, 'in the updated value set');
});

t.test('$validate: a stored binding gives an error; a system Flint does not hold gives "not checked"', async (t) => {
  const app = await testApp(t, { PROFILES_DIR: dir });
  t.equal((await put(app, '/fhir/CodeSystem/colours', codeSystem)).statusCode, 201);
  t.equal((await put(app, '/fhir/ValueSet/colours', valueSet(['red']))).statusCode, 201);
  const validate = async (r: unknown) => body(await post(app, '/fhir/Patient/$validate', { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: r }] })) as { issue: { severity: string; diagnostics?: string }[] };
  const bad = await validate(patient('x', CS, 'green'));
  t.ok(bad.issue.some((i) => i.severity === 'error' && /colours/.test(i.diagnostics ?? '')), 'green is not in the value set');
  const good = await validate(patient('x', CS, 'red'));
  t.notOk(good.issue.some((i) => i.severity === 'error'), 'red is');
  const sct = await validate(patient('x', 'http://snomed.info/sct', '22298006'));
  t.notOk(sct.issue.some((i) => i.severity === 'error'), 'SNOMED CT: not refused');
  t.ok(sct.issue.some((i) => i.severity === 'warning' && /snomed/.test(i.diagnostics ?? '')), 'a warning names the system');
  const unknownCs = await validate(patient('x', 'http://example.org/CodeSystem/nowhere', 'red'));
  t.ok(unknownCs.issue.some((i) => i.severity === 'error'), 'a system the value set does not include is not in it');
});
