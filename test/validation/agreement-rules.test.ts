// Rules found by comparing Flint with the HL7 reference validator's R4 test cases
// (bench/validate.ts --agreement): each test is named after the R4 rule it follows and tries a
// resource that keeps the rule and one that breaks it, so none passes by finding nothing.
import t from 'tap';
import type { StructureDefinition } from 'fhir/r4.js';
import { loadDefinitions } from '../../src/definitions/registry.js';
import { validateResource, type Issue } from '../../src/validation/index.js';

const defs = loadDefinitions();
const isError = (i: Issue): boolean => i.severity === 'error' || i.severity === 'fatal';
const errors = (r: unknown, d = defs, profiles: string[] = []): Issue[] => validateResource(d, r, { profiles }).filter(isError);
const at = (issues: Issue[]): (string | undefined)[] => issues.map((i) => i.expression?.[0]);

function profile(url: string, type: string, elements: Record<string, unknown>[]): StructureDefinition {
  return {
    resourceType: 'StructureDefinition', url, name: 'P', status: 'active', kind: 'resource', abstract: false, type,
    baseDefinition: `http://hl7.org/fhir/StructureDefinition/${type}`, derivation: 'constraint',
    differential: { element: elements as never },
  };
}
const withProfiles = (...sds: StructureDefinition[]) => defs.extend({ structureDefinitions: sds, valueSets: [], codeSystems: [] });

t.test('R4 elementdefinition.html minValue/maxValue: a Quantity limit in another UCUM unit is compared after conversion', async (t) => {
  const url = 'http://example.org/StructureDefinition/obs-limits';
  const d = withProfiles(profile(url, 'Observation', [
    { id: 'Observation.value[x]', path: 'Observation.value[x]', type: [{ code: 'Quantity' }] },
    { id: 'Observation.valueQuantity', path: 'Observation.valueQuantity', minValueQuantity: { value: 0, system: 'http://unitsofmeasure.org', code: 'kg' }, maxValueQuantity: { value: 2, system: 'http://unitsofmeasure.org', code: 'kg' } },
  ]));
  const obs = (value: number, code: string) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value, system: 'http://unitsofmeasure.org', code } });
  t.same(errors(obs(1500, 'g'), d, [url]), [], '1500 g is within 0..2 kg');
  t.same(at(errors(obs(-1, 'g'), d, [url])), ['Observation.valueQuantity'], '-1 g is below 0 kg');
  t.same(at(errors(obs(2001, 'g'), d, [url])), ['Observation.valueQuantity'], '2001 g is above 2 kg');
  t.same(errors(obs(5, 'mL'), d, [url]), [], 'a unit of another dimension is not comparable (not refused)');
});

t.test('minValueDuration/maxValueDuration on a date: relative to now, as the reference validator reads them', async (t) => {
  const url = 'http://example.org/StructureDefinition/pat-born';
  const d = withProfiles(profile(url, 'Patient', [
    { id: 'Patient.birthDate', path: 'Patient.birthDate', minValueDuration: { value: 100, system: 'http://unitsofmeasure.org', code: 'a' }, maxValueDuration: { value: 10, system: 'http://unitsofmeasure.org', code: 'a' } },
  ]));
  const year = new Date().getUTCFullYear();
  t.same(errors({ resourceType: 'Patient', birthDate: `${year - 50}-01-01` }, d, [url]), []);
  t.same(at(errors({ resourceType: 'Patient', birthDate: `${year - 150}-01-01` }, d, [url])), ['Patient.birthDate'], 'more than 100 years ago');
  t.same(at(errors({ resourceType: 'Patient', birthDate: `${year + 20}` }, d, [url])), ['Patient.birthDate'], 'more than 10 years ahead');
});

t.test('R4 datatypes.html#string: strings SHALL NOT exceed 1 MB', async (t) => {
  const big = 'x'.repeat(1024 * 1024 + 1);
  t.same(at(errors({ resourceType: 'Location', position: { id: big, longitude: 1, latitude: 1 } })), ['Location.position.id']);
  t.same(at(errors({ resourceType: 'Patient', name: [{ text: 'é'.repeat(600_000) }] })), ['Patient.name[0].text'], 'counted in UTF-8 bytes');
  t.same(errors({ resourceType: 'Patient', name: [{ text: 'x'.repeat(1024 * 1024) }] }), [], 'exactly 1 MB');
  t.same(errors({ resourceType: 'Binary', contentType: 'text/plain', data: 'QUFB'.repeat(300_000) }), [], 'base64Binary has no such limit');
});

t.test('R4 searchparameter.html derivedFrom: a derived SearchParameter keeps the type and bases of the one it derives from', async (t) => {
  const sp = (over: Record<string, unknown>) => JSON.parse(JSON.stringify({
    resourceType: 'SearchParameter', url: 'http://example.org/SearchParameter/org-name', name: 'n', status: 'active', description: 'd',
    code: 'name', base: ['Organization'], type: 'string', expression: 'Organization.name | Organization.alias',
    derivedFrom: 'http://hl7.org/fhir/SearchParameter/Organization-name', ...over,
  })) as unknown;
  t.same(errors(sp({})), []);
  t.equal(errors(sp({ type: 'token' })).length, 1, 'another type');
  t.equal(errors(sp({ base: ['Patient'] })).length, 2, 'a base the parent does not have, and an expression about another type');
  t.same(errors(sp({ derivedFrom: undefined, base: ['Patient'], expression: 'Patient.name' })), [], 'not derived: its own bases');
  t.same(errors(sp({ derivedFrom: undefined, base: ['Resource'], expression: 'Patient.name | Organization.name' })), [], 'base Resource covers every type');
});

t.test('R4 capabilitystatement.html rest.resource.searchParam: the type is that of the definition named', async (t) => {
  const cs = (type: string) => ({
    resourceType: 'CapabilityStatement', status: 'active', date: '2020-01-01', kind: 'instance', fhirVersion: '4.0.1', format: ['json'],
    implementation: { description: 'x' },
    rest: [{ mode: 'server', resource: [{ type: 'AllergyIntolerance', searchParam: [{ name: 'clinical-status', definition: 'http://hl7.org/fhir/SearchParameter/AllergyIntolerance-clinical-status', type }] }] }],
  });
  t.same(errors(cs('token')), []);
  t.same(at(errors(cs('date'))), ['CapabilityStatement.rest[0].resource[0].searchParam[0]']);
});

t.test('R4 http.html#paging: each link relation of a Bundle occurs once', async (t) => {
  const b = (rels: string[]) => ({ resourceType: 'Bundle', type: 'searchset', link: rels.map((relation) => ({ relation, url: `http://x/Patient?r=${relation}` })) });
  t.same(errors(b(['self', 'first', 'next', 'last'])), []);
  t.same(at(errors(b(['self', 'self', 'first', 'first']))), ['Bundle.link[1]', 'Bundle.link[3]']);
});

t.test('R4 profiling.html: a differential element the base does not define constrains nothing', async (t) => {
  const url = 'http://example.org/StructureDefinition/pat-typo';
  const d = withProfiles(profile(url, 'Patient', [{ id: 'Patient.dateOfBirth', path: 'Patient.dateOfBirth', min: 1 }, { id: 'Patient.gender', path: 'Patient.gender', min: 1 }]));
  t.same(errors({ resourceType: 'Patient', gender: 'other' }, d, [url]), [], 'Patient.dateOfBirth is not an element of Patient');
  t.equal(errors({ resourceType: 'Patient' }, d, [url]).length, 1, 'the known element is still constrained');
  // Children under a content reference (Parameters.parameter.part → #Parameters.parameter) are known.
  const purl = 'http://example.org/StructureDefinition/params-part';
  const pd = withProfiles(profile(purl, 'Parameters', [
    { id: 'Parameters.parameter', path: 'Parameters.parameter' },
    { id: 'Parameters.parameter.part', path: 'Parameters.parameter.part', min: 1 },
    { id: 'Parameters.parameter.part.name', path: 'Parameters.parameter.part.name', fixedString: 'a' },
  ]));
  t.same(errors({ resourceType: 'Parameters', parameter: [{ name: 'p', part: [{ name: 'a', valueString: 'x' }] }] }, pd, [purl]), []);
  t.equal(errors({ resourceType: 'Parameters', parameter: [{ name: 'p', part: [{ name: 'b', valueString: 'x' }] }] }, pd, [purl]).length, 1, 'the part name is fixed');
});
