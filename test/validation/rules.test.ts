// One test per StructureDefinition rule: each with a resource that breaks it (located error) and
// one that keeps it (no error), so no test passes by finding nothing.
import t from 'tap';
import { loadDefinitions } from '../../src/definitions/registry.js';
import { validateResource, hasErrors, type Issue } from '../../src/validation/index.js';
import { SchemaValidator } from '../../src/validation/schema.js';

const defs = loadDefinitions();
const check = (r: unknown, profiles: string[] = []): Issue[] => validateResource(defs, r, { profiles });
const errors = (r: unknown, profiles: string[] = []): Issue[] => check(r, profiles).filter((i) => i.severity === 'error');
const warnings = (r: unknown): Issue[] => check(r).filter((i) => i.severity === 'warning');
const at = (issues: Issue[]): (string | undefined)[] => issues.map((i) => i.expression?.[0]);
const obs = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, ...extra });

t.test('the R4 JSON Schema is applied by Ajv, to nested resources at their own location', async (t) => {
  const schema = new SchemaValidator();
  t.same(schema.check('Patient', { resourceType: 'Patient', gender: 'male' }, 'Patient'), []);
  const bad = schema.check('Patient', { resourceType: 'Patient', birthDate: '2020-13-01', nope: 1 }, 'Bundle.entry[0].resource');
  t.same(at(bad).sort(), ['Bundle.entry[0].resource.birthDate', 'Bundle.entry[0].resource.nope']);
  t.ok(bad.every((i) => i.severity === 'error'));
  // The published schema lacks `_profile` on canonical elements; Flint adds it (json.html#primitive).
  t.same(schema.check('StructureDefinition', { resourceType: 'StructureDefinition', _url: { extension: [{ url: 'http://x', valueString: 'y' }] } }, 'StructureDefinition'), []);
});

t.test('cardinality: min and max from the definition', async (t) => {
  t.same(errors(obs()), []);
  const missing = errors({ resourceType: 'Observation', code: { text: 'x' } });
  t.same(at(missing), ['Observation']);
  t.match(missing[0]?.diagnostics, /Observation.status: minimum required = 1, but only found 0/);
  t.equal(missing[0]?.code, 'required');
  t.same(at(errors({ resourceType: 'Patient', link: [{ type: 'seealso' }] })), ['Patient.link[0]'], 'nested backbone: link.other is 1..1');
});

t.test('choice types: only the listed types, and a profile may narrow them', async (t) => {
  t.same(errors(obs({ valueQuantity: { value: 1 } })), []);
  t.same(at(errors(obs({ valueAddress: { city: 'x' } }))), ['Observation.valueAddress']);
  // The birthPlace extension allows valueAddress only.
  const ext = (value: Record<string, unknown>) => ({ resourceType: 'Patient', extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace', ...value }] });
  t.same(errors(ext({ valueAddress: { city: 'Oslo' } })), []);
  t.ok(at(errors(ext({ valueString: 'Oslo' }))).includes('Patient.extension[0].valueString'));
});

t.test('fixed and pattern values (profiles)', async (t) => {
  // R4's vital-signs body-temperature profile: code has a pattern with LOINC 8310-5; category a pattern too.
  const bt = 'http://hl7.org/fhir/StructureDefinition/bodytemp';
  const temp = (code: string) => ({
    resourceType: 'Observation', status: 'final', meta: { profile: [bt] },
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code }] },
    subject: { reference: 'Patient/p' }, effectiveDateTime: '2020-01-01',
    valueQuantity: { value: 37, unit: 'Cel', system: 'http://unitsofmeasure.org', code: 'Cel' },
  });
  t.same(errors(temp('8310-5')), []);
  const bad = errors(temp('1234-5'));
  t.ok(bad.some((i) => /pattern/.test(i.diagnostics) || /slice/i.test(i.diagnostics)), 'the wrong code is refused');
});

t.test('required bindings on code, Coding and CodeableConcept', async (t) => {
  t.same(at(errors({ resourceType: 'Patient', gender: 'woman' })), ['Patient.gender']);
  t.equal(errors({ resourceType: 'Patient', gender: 'woman' })[0]?.code, 'code-invalid');
  t.same(errors({ resourceType: 'Patient', gender: 'female' }), []);
  // AllergyIntolerance.clinicalStatus: CodeableConcept, required binding.
  const ai = (cc: unknown) => ({ resourceType: 'AllergyIntolerance', patient: { reference: 'Patient/p' }, clinicalStatus: cc });
  t.same(errors(ai({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] })), []);
  t.same(at(errors(ai({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'gone' }] }))).includes('AllergyIntolerance.clinicalStatus'), true);
  t.same(at(errors(ai({ text: 'active' }))), ['AllergyIntolerance.clinicalStatus'], 'text alone does not meet a required binding');
});

t.test('codes of CodeSystems Flint holds in full', async (t) => {
  const coding = (system: string, code: string) => obs({ category: [{ coding: [{ system, code }] }] });
  t.same(errors(coding('http://hl7.org/fhir/observation-status', 'final')), []);
  t.same(at(errors(coding('http://hl7.org/fhir/observation-status', 'nope'))), ['Observation.category[0].coding[0].code']);
  t.same(errors(coding('http://example.org/local', 'anything')), [], 'unknown systems are not judged');
});

t.test('invariants: error severity blocks, warning severity does not', async (t) => {
  // per-1 (Period): start <= end.
  t.same(errors({ resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, period: { start: '2020-01-01', end: '2020-02-01' } }), []);
  const bad = errors({ resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, period: { start: '2020-03-01', end: '2020-02-01' } });
  t.same(at(bad), ['Encounter.period']);
  t.match(bad[0]?.diagnostics, /per-1/);
  t.equal(bad[0]?.code, 'invariant');
  // csd-0 (warning): a CodeSystem name should be usable as a code-generation name.
  const cs = (name: string) => ({ resourceType: 'CodeSystem', status: 'draft', content: 'not-present', name });
  t.same(warnings(cs('Good')).filter((i) => /csd-0/.test(i.diagnostics)), []);
  const w = check(cs('bad name'));
  t.ok(w.some((i) => i.severity === 'warning' && /csd-0/.test(i.diagnostics)), 'a warning is reported');
  t.notOk(hasErrors(w), 'and does not block');
});

t.test('unknown elements and primitive formats', async (t) => {
  t.same(at(errors({ resourceType: 'Patient', nickname: 'x' })), ['Patient.nickname']);
  t.same(at(errors({ resourceType: 'Patient', birthDate: '2021-02-29' })), ['Patient.birthDate']);
  t.same(at(errors(obs({ issued: '2020-01-01T10:00:00' }))), ['Observation.issued'], 'an instant needs its time zone');
});

t.test('reference formats and target types', async (t) => {
  t.same(errors(obs({ subject: { reference: 'Patient/123' } })), []);
  t.same(errors(obs({ subject: { reference: 'http://other.example/fhir/Patient/123' } })), []);
  t.same(errors(obs({ subject: { reference: 'urn:uuid:c757873d-ec9a-4326-a141-556f43239520' } })), []);
  t.same(at(errors(obs({ subject: { reference: 'Patient/' } }))), ['Observation.subject.reference']);
  t.same(at(errors(obs({ subject: { reference: 'Unicorn/1' } }))), ['Observation.subject.reference']);
  t.same(at(errors(obs({ subject: { reference: 'Medication/1' } }))), ['Observation.subject.reference'], 'subject may not be a Medication');
  t.same(at(errors(obs({ subject: { reference: '#p1' } }))), ['Observation.subject.reference'], 'an unresolved #reference');
  t.same(errors(obs({ contained: [{ resourceType: 'Patient', id: 'p1' }], subject: { reference: '#p1' } })), []);
  // dom-3: a contained resource must be referred to (or refer to its container).
  t.same(at(errors(obs({ contained: [{ resourceType: 'Patient', id: 'p1' }] }))), ['Observation.contained[0]']);
  t.same(errors(obs({ contained: [{ resourceType: 'Provenance', id: 'v', target: [{ reference: '#' }], recorded: '2020-01-01T00:00:00Z', agent: [{ who: { display: 'x' } }] }] })), [], 'or refer to the container');
});

t.test('extensions are checked against their definitions; unknown ones warn', async (t) => {
  const p = (ext: unknown) => ({ resourceType: 'Patient', extension: [ext] });
  t.same(errors(p({ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '2020-01-01T10:00:00Z' })), []);
  t.same(at(errors(p({ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '2020-01-01T10:00:00Z', extension: [{ url: 'x', valueString: 'y' }] }))).includes('Patient.extension[0]'), true, 'ext-1');
  const unknown = check(p({ url: 'http://example.org/ext/unknown', valueString: 'x' }));
  t.same(unknown.map((i) => [i.severity, i.expression?.[0]]), [['warning', 'Patient.extension[0]']]);
});

t.test('profiles in meta.profile: US Core 5.0.1 is loaded; an unknown profile warns', async (t) => {
  const usCore = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient';
  const patient = {
    resourceType: 'Patient', meta: { profile: [usCore] }, gender: 'female',
    identifier: [{ system: 'http://hospital.example/mrn', value: '12345' }], name: [{ family: 'Doe', given: ['Jane'] }],
  };
  t.same(errors(patient), []);
  const { identifier: _i, ...noId } = patient;
  void _i;
  const e = errors(noId);
  t.ok(e.some((i) => /identifier: minimum required = 1/.test(i.diagnostics) && /us-core-patient/.test(i.diagnostics)), 'US Core requires an identifier');
  const { meta: _m, ...plain } = noId;
  void _m;
  t.same(errors(plain), [], 'the base definition does not');
  const unknown = check({ resourceType: 'Patient', meta: { profile: ['http://example.org/StructureDefinition/nope'] } });
  t.same(unknown.map((i) => [i.severity, i.code, i.expression?.[0]]), [['warning', 'not-supported', 'Patient.meta.profile[0]']]);
  t.same(at(errors({ resourceType: 'Observation', status: 'final', code: { text: 'x' } }, [usCore])), ['Observation'], 'a profile of another type is an error');
});

t.test('slicing: value/pattern discriminators (US Core blood pressure components)', async (t) => {
  const bp = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-blood-pressure';
  const comp = (code: string, v: number) => ({ code: { coding: [{ system: 'http://loinc.org', code }] }, valueQuantity: { value: v, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } });
  const obsBp = (components: unknown[]) => ({
    resourceType: 'Observation', status: 'final', meta: { profile: [bp] },
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] }, subject: { reference: 'Patient/p' }, effectiveDateTime: '2020-01-01',
    component: components,
  });
  t.same(errors(obsBp([comp('8480-6', 120), comp('8462-4', 80)])), []);
  const noDia = errors(obsBp([comp('8480-6', 120)]));
  t.ok(noDia.some((i) => /diastolic/i.test(i.diagnostics) && /minimum required = 1/.test(i.diagnostics)), 'the diastolic slice is required');
  // Inside a slice, its own rules apply: valueQuantity.code is fixed to mm[Hg].
  const wrongUnit = errors(obsBp([comp('8480-6', 120), { ...comp('8462-4', 80), valueQuantity: { value: 80, unit: 'kPa', system: 'http://unitsofmeasure.org', code: 'kPa' } }]));
  t.ok(wrongUnit.some((i) => i.expression?.[0]?.startsWith('Observation.component[1].valueQuantity')), 'slice content is checked');
});

t.test('slicing: closed slicing refuses what matches no slice; exists and type discriminators', async (t) => {
  const url = 'http://example.org/StructureDefinition/closed-ids';
  const base = defs.baseDefinition('Patient');
  if (!base?.snapshot) throw new Error('no Patient');
  const elements = base.snapshot.element.map((e) => (e.path === 'Patient.identifier'
    ? { ...e, slicing: { discriminator: [{ type: 'value' as const, path: 'system' }, { type: 'exists' as const, path: 'period' }], rules: 'closed' as const } }
    : e));
  const at2 = elements.findIndex((e) => e.path === 'Patient.identifier') + 1;
  elements.splice(at2, 0,
    { id: 'Patient.identifier:mrn', path: 'Patient.identifier', sliceName: 'mrn', min: 1, max: '1', type: [{ code: 'Identifier' }] },
    { id: 'Patient.identifier:mrn.system', path: 'Patient.identifier.system', min: 1, max: '1', type: [{ code: 'uri' }], fixedUri: 'http://hospital.example/mrn' },
    { id: 'Patient.identifier:mrn.period', path: 'Patient.identifier.period', min: 0, max: '0', type: [{ code: 'Period' }] });
  const sd = { ...base, url, derivation: 'constraint' as const, snapshot: { element: elements } };
  const d = defs.extend({ structureDefinitions: [sd], valueSets: [], codeSystems: [] });
  const run = (ids: unknown[]) => validateResource(d, { resourceType: 'Patient', identifier: ids }, { profiles: [url] }).filter((i) => i.severity === 'error');
  t.same(run([{ system: 'http://hospital.example/mrn', value: '1' }]), []);
  t.same(at(run([{ system: 'http://hospital.example/mrn', value: '1' }, { system: 'http://other', value: '2' }])), ['Patient.identifier[1]'], 'closed');
  t.ok(run([{ system: 'http://hospital.example/mrn', value: '1', period: { start: '2020' } }]).length > 0, 'exists: a period takes it out of the slice');
  t.ok(run([]).some((i) => /mrn/.test(i.diagnostics)), 'the slice is required');
});

/** The definitions plus a constraint on Observation given by its differential only. */
function observationConstraint(url: string, element: Record<string, unknown>[]) {
  const sd = {
    resourceType: 'StructureDefinition' as const, url, name: 'Constraint', status: 'draft' as const, kind: 'resource' as const, abstract: false,
    type: 'Observation', baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Observation', derivation: 'constraint' as const,
    differential: { element: element as never },
  };
  return defs.extend({ structureDefinitions: [sd], valueSets: [], codeSystems: [] });
}

t.test('a profile with a differential only gets a snapshot; minValue, maxValue and maxLength apply', async (t) => {
  const url = 'http://example.org/StructureDefinition/diff-only';
  const d = observationConstraint(url, [
    { id: 'Observation.subject', path: 'Observation.subject', min: 1 },
    { id: 'Observation.valueQuantity', path: 'Observation.valueQuantity', minValueQuantity: { value: 1, system: 'http://unitsofmeasure.org', code: 'kg' }, maxValueQuantity: { value: 500, system: 'http://unitsofmeasure.org', code: 'kg' } },
    { id: 'Observation.note.text', path: 'Observation.note.text', maxLength: 10 },
  ]);
  const kg = (value: number) => ({ value, system: 'http://unitsofmeasure.org', code: 'kg' });
  const run = (extra: Record<string, unknown>) => validateResource(d, obs({ meta: { profile: [url] }, subject: { reference: 'Patient/p' }, ...extra })).filter((i) => i.severity === 'error');
  t.same(run({ valueQuantity: kg(70), note: [{ text: 'short' }] }), []);
  t.same(at(run({ valueQuantity: kg(0.5) })), ['Observation.valueQuantity']);
  t.same(at(run({ valueQuantity: kg(501) })), ['Observation.valueQuantity']);
  t.same(at(run({ valueString: 'heavy' })), ['Observation.valueString'], 'the renamed choice narrows value[x] to Quantity');
  t.same(at(run({ note: [{ text: 'far too long a note' }] })), ['Observation.note[0].text'], 'a path into a data type');
  const noSubject = validateResource(d, obs({ meta: { profile: [url] } })).filter((i) => i.severity === 'error');
  t.ok(noSubject.some((i) => /subject: minimum required = 1/.test(i.diagnostics)));
});

/** A constraint on `type` built from its base snapshot: `slicing` on one element and extra slice elements after it. */
function sliced(type: string, url: string, path: string, slicing: Record<string, unknown>, extra: Record<string, unknown>[]) {
  const base = defs.baseDefinition(type);
  if (!base?.snapshot) throw new Error(`no ${type}`);
  const elements: Record<string, unknown>[] = base.snapshot.element.map((e) => (e.id === path ? { ...e, slicing } : { ...e }));
  const at = elements.findIndex((e) => e.id === path);
  let end = at + 1;
  while (end < elements.length && String(elements[end]?.id).startsWith(`${path}.`)) end++;
  elements.splice(end, 0, ...extra);
  const sd = { ...base, url, derivation: 'constraint' as const, snapshot: { element: elements as never } };
  return defs.extend({ structureDefinitions: [sd], valueSets: [], codeSystems: [] });
}

t.test('slicing: a type discriminator tells components apart by the type of their value', async (t) => {
  const url = 'http://example.org/StructureDefinition/typed-components';
  const d = sliced('Observation', url, 'Observation.component', { discriminator: [{ type: 'type', path: 'value' }], rules: 'open' }, [
    { id: 'Observation.component:q', path: 'Observation.component', sliceName: 'q', min: 1, max: '1', type: [{ code: 'BackboneElement' }] },
    { id: 'Observation.component:q.code', path: 'Observation.component.code', min: 1, max: '1', type: [{ code: 'CodeableConcept' }] },
    { id: 'Observation.component:q.value[x]', path: 'Observation.component.value[x]', min: 1, max: '1', type: [{ code: 'Quantity' }] },
  ]);
  const run = (components: unknown[]) => validateResource(d, obs({ component: components }), { profiles: [url] }).filter((i) => i.severity === 'error');
  t.same(run([{ code: { text: 'a' }, valueString: 's' }, { code: { text: 'b' }, valueQuantity: { value: 1 } }]), []);
  const missing = run([{ code: { text: 'a' }, valueString: 's' }]);
  t.ok(missing.some((i) => /Observation.component:q: minimum required = 1/.test(i.diagnostics)), 'no component has a Quantity');
});

t.test('slicing: a profile discriminator matches entries that conform to the slice\'s profile', async (t) => {
  const url = 'http://example.org/StructureDefinition/bundle-with-us-core-patient';
  const usCore = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient';
  const d = sliced('Bundle', url, 'Bundle.entry', { discriminator: [{ type: 'profile', path: 'resource' }], rules: 'open' }, [
    { id: 'Bundle.entry:pat', path: 'Bundle.entry', sliceName: 'pat', min: 1, max: '1', type: [{ code: 'BackboneElement' }] },
    { id: 'Bundle.entry:pat.resource', path: 'Bundle.entry.resource', min: 1, max: '1', type: [{ code: 'Patient', profile: [usCore] }] },
  ]);
  const patient = (extra: Record<string, unknown>) => ({ resourceType: 'Patient', gender: 'male', name: [{ family: 'Roe' }], ...extra });
  const bundle = (p: unknown) => ({ resourceType: 'Bundle', type: 'collection', entry: [{ fullUrl: 'urn:uuid:c757873d-ec9a-4326-a141-556f43239520', resource: p }] });
  const run = (b: unknown) => validateResource(d, b, { profiles: [url] }).filter((i) => i.severity === 'error');
  t.same(run(bundle(patient({ identifier: [{ system: 'http://x', value: '1' }] }))), []);
  t.ok(run(bundle(patient({}))).some((i) => /Bundle.entry:pat: minimum required = 1/.test(i.diagnostics)), 'a patient without an identifier is not a US Core patient');
});

t.test('Attachment.size matches its data; Bundle fullUrls are absolute', async (t) => {
  const media = (size: number) => ({ resourceType: 'Media', status: 'completed', content: { contentType: 'text/plain', data: 'aGVsbG8=', size } });
  t.same(errors(media(5)), [], '"hello" is 5 bytes');
  t.same(at(errors(media(100))), ['Media.content.size']);
  const bundle = (fullUrl: string) => ({ resourceType: 'Bundle', type: 'collection', entry: [{ fullUrl, resource: { resourceType: 'Patient' } }] });
  t.same(errors(bundle('http://example.org/fhir/Patient/1')), []);
  t.same(errors(bundle('urn:uuid:c757873d-ec9a-4326-a141-556f43239520')), []);
  t.same(at(errors(bundle('Patient/1'))), ['Bundle.entry[0].fullUrl']);
});

t.test('R4 profiling.html#discriminator: with two pattern discriminators, a slice that leaves one unconstrained is told apart by the other', async (t) => {
  const url = 'http://example.org/StructureDefinition/two-pattern-discriminators';
  const d = sliced('Patient', url, 'Patient.identifier', { discriminator: [{ type: 'pattern', path: 'system' }, { type: 'pattern', path: 'use' }], rules: 'closed' }, [
    { id: 'Patient.identifier:a', path: 'Patient.identifier', sliceName: 'a', min: 0, max: '1', type: [{ code: 'Identifier' }] },
    { id: 'Patient.identifier:a.use', path: 'Patient.identifier.use', min: 0, max: '1', type: [{ code: 'code' }], patternCode: 'official' },
    { id: 'Patient.identifier:a.system', path: 'Patient.identifier.system', min: 0, max: '1', type: [{ code: 'uri' }], patternUri: 'http://a' },
    { id: 'Patient.identifier:b', path: 'Patient.identifier', sliceName: 'b', min: 1, max: '1', type: [{ code: 'Identifier' }] },
    { id: 'Patient.identifier:b.system', path: 'Patient.identifier.system', min: 0, max: '1', type: [{ code: 'uri' }], patternUri: 'http://b' },
  ]);
  const run = (identifier: unknown[]) => validateResource(d, { resourceType: 'Patient', identifier }, { profiles: [url] }).filter((i) => i.severity === 'error');
  t.same(run([{ system: 'http://b', value: '1' }]), [], 'slice b: use is not constrained there');
  t.same(run([{ system: 'http://a', use: 'official', value: '1' }, { system: 'http://b', use: 'usual', value: '2' }]), [], 'both slices');
  const none = run([{ system: 'http://c', value: '1' }]);
  t.ok(none.some((i) => /Patient.identifier:b: minimum required = 1/.test(i.diagnostics)), 'another system is not slice b');
  t.ok(none.some((i) => /does not match any known slice/.test(i.diagnostics)), 'and matches no slice (closed)');
  t.ok(run([{ system: 'http://a', use: 'usual', value: '1' }, { system: 'http://b', value: '2' }]).some((i) => /does not match any known slice/.test(i.diagnostics)), 'slice a constrains both');
});

t.test('R4 ElementDefinition.type.profile: with several profiles the element conforms to any one of them', async (t) => {
  const url = 'http://example.org/StructureDefinition/simple-or-money';
  const d = observationConstraint(url, [{
    id: 'Observation.value[x]', path: 'Observation.value[x]',
    type: [{ code: 'Quantity', profile: ['http://hl7.org/fhir/StructureDefinition/SimpleQuantity', 'http://hl7.org/fhir/StructureDefinition/MoneyQuantity'] }],
  }]);
  const run = (valueQuantity: Record<string, unknown>) => validateResource(d, obs({ valueQuantity }), { profiles: [url] }).filter((i) => i.severity === 'error');
  t.same(run({ value: 70, system: 'http://unitsofmeasure.org', code: 'kg' }), [], 'a SimpleQuantity');
  // SimpleQuantity forbids a comparator (sqty-1); MoneyQuantity allows it for a currency.
  t.same(run({ value: 70, comparator: '<', system: 'urn:iso:std:iso:4217', code: 'USD' }), [], 'not simple, but a MoneyQuantity');
  const neither = run({ value: 70, comparator: '<', system: 'http://unitsofmeasure.org', code: 'kg' });
  t.ok(neither.some((i) => /does not conform to any of the profiles/.test(i.diagnostics)), 'neither');
});
