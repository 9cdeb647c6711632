// The R4 definitions and profiles/ loading.
import t from 'tap';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDefinitions } from '../../src/definitions/registry.js';

t.test('R4 4.0.1 core: every resource type, a model for each, search parameters, the Patient compartment', async (t) => {
  const defs = loadDefinitions();
  t.equal(defs.fhirVersion, '4.0.1');
  t.equal(defs.resourceTypes.length, 146, 'R4 has 146 concrete resource types');
  for (const type of ['Patient', 'Encounter', 'Observation', 'MedicationRequest', 'Appointment', 'Claim', 'Invoice', 'Bundle', 'Parameters', 'Binary']) {
    t.ok(defs.isResourceType(type), type);
  }
  t.notOk(defs.isResourceType('Resource'), 'abstract types are not servable');
  t.notOk(defs.isResourceType('HumanName'));
  for (const type of defs.resourceTypes) t.ok(defs.typeModel(type)?.elements.size, `${type} has a structure`);
  const obs = defs.typeModel('Observation');
  t.equal(obs?.elements.get('valueQuantity')?.type, 'Quantity', 'choice types are expanded');
  t.equal(obs?.elements.get('component')?.children?.elements.get('valueString')?.type, 'string', 'backbone elements are nested');
  const q = defs.typeModel('Questionnaire');
  t.equal(q?.elements.get('item')?.children?.elements.get('item')?.children, q?.elements.get('item')?.children, 'content references resolve');
  const codes = defs.searchParameters('Patient').map((p) => p.code);
  for (const c of ['_id', '_lastUpdated', 'name', 'birthdate', 'identifier', 'family', 'general-practitioner']) t.ok(codes.includes(c), c);
  t.equal(defs.patientCompartment?.code, 'Patient');
  t.ok(defs.valueSet('http://hl7.org/fhir/ValueSet/administrative-gender'));
  t.ok(defs.codeSystem('http://hl7.org/fhir/administrative-gender'));
  t.ok(defs.structureDefinition('http://hl7.org/fhir/StructureDefinition/vitalsigns'), 'core profiles load');
});

t.test('every JSON file in profiles/ loads; broken files are reported, not fatal', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flint-profiles-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'sd.json'), JSON.stringify({
    resourceType: 'StructureDefinition', url: 'http://clinic.example/StructureDefinition/my-patient', name: 'MyPatient',
    status: 'active', kind: 'resource', abstract: false, type: 'Patient', derivation: 'constraint',
    baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Patient',
  }));
  writeFileSync(join(dir, 'sp.json'), JSON.stringify({
    resourceType: 'Bundle', type: 'collection', entry: [{ resource: {
      resourceType: 'SearchParameter', url: 'http://clinic.example/SearchParameter/patient-nickname', name: 'nickname',
      status: 'active', code: 'nickname', base: ['Patient'], type: 'string', expression: 'Patient.name.where(use=\'nickname\').given',
      description: 'x',
    } }],
  }));
  writeFileSync(join(dir, 'broken.json'), '{ not json');
  const defs = loadDefinitions(dir);
  t.ok(defs.structureDefinition('http://clinic.example/StructureDefinition/my-patient'));
  t.equal(defs.userDefinitions.length, 1);
  t.ok(defs.searchParameters('Patient').some((p) => p.code === 'nickname'));
  t.equal(defs.rejected.length, 1);
  t.match(defs.rejected[0]?.file, /broken\.json$/);
  t.ok(defs.isResourceType('Patient'), 'a profile does not replace the base type');
});
