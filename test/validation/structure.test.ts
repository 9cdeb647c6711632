// Structural checks against the base StructureDefinitions.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDefinitions } from '../../src/definitions/registry.js';
import { checkStructure } from '../../src/validation/structure.js';
import { r4Examples } from '../../scripts/corpus.js';

const defs = loadDefinitions();
const check = (r: unknown) => checkStructure(defs, r);
const where = (r: unknown) => check(r).map((i) => i.expression?.[0]);

t.test('every official R4 example in the corpus is structurally valid', async (t) => {
  let n = 0;
  for (const { file: f, resource: json } of r4Examples()) {
    n++;
    t.same(check(json), [], f);
  }
  t.ok(n >= 70, `${n} examples checked`);
});

t.test('every Synthea bundle in the corpus is structurally valid', async (t) => {
  const dir = join('..', 'shared', 'corpus', 'synthea');
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    t.same(check(JSON.parse(readFileSync(join(dir, f), 'utf8'))), [], f);
  }
});

t.test('unknown elements are errors, at every depth', async (t) => {
  t.same(where({ resourceType: 'Patient', foo: 1 }), ['Patient.foo']);
  t.same(where({ resourceType: 'Patient', name: [{ family: 'x', nickname: 'y' }] }), ['Patient.name[0].nickname']);
  t.same(where({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, component: [{ code: { text: 'c' }, bogus: true }] }), ['Observation.component[0].bogus']);
  t.same(where({ resourceType: 'Patient', _foo: {} }), ['Patient._foo']);
  t.same(where({ resourceType: 'Patient', valueString: 'x' }), ['Patient.valueString'], 'choice names only where a choice exists');
});

t.test('arrays exactly where max > 1', async (t) => {
  t.same(where({ resourceType: 'Patient', name: { family: 'x' } }), ['Patient.name']);
  t.same(where({ resourceType: 'Patient', gender: ['male'] }), ['Patient.gender']);
  t.same(where({ resourceType: 'Patient', name: [] }), ['Patient.name']);
  t.same(where({ resourceType: 'Patient', name: [{ given: 'Anna' }] }), ['Patient.name[0].given']);
});

t.test('primitive JSON types and lexical forms', async (t) => {
  const cases: [string, unknown, boolean][] = [
    ['active', true, true], ['active', 'true', false], ['active', 1, false],
    ['birthDate', '2020', true], ['birthDate', '2020-02', true], ['birthDate', '2020-02-29', true],
    ['birthDate', '2021-02-29', false], ['birthDate', '2020-13-01', false], ['birthDate', '20200101', false], ['birthDate', 2020, false],
    ['deceasedDateTime', '2020-01-01T10:00:00Z', true], ['deceasedDateTime', '2020-01-01T10:00:00+05:30', true],
    ['deceasedDateTime', '2020-01-01T10:00:00', false], ['deceasedDateTime', '2020-01-01T25:00:00Z', false],
    ['multipleBirthInteger', 2, true], ['multipleBirthInteger', 2.5, false], ['multipleBirthInteger', '2', false],
    ['multipleBirthInteger', 2 ** 31, false],
    ['gender', 'female', true], ['gender', ' female', false], ['gender', '', false],
    ['implicitRules', 'http://x', true], ['implicitRules', 'has space', false],
    ['language', 'en-US', true],
  ];
  for (const [el, value, ok] of cases) {
    const issues = check({ resourceType: 'Patient', [el]: value });
    t.equal(issues.length === 0, ok, `${el}=${JSON.stringify(value)} ${ok ? 'accepted' : 'refused'}`);
  }
  t.same(where({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: '5' } }), ['Observation.valueQuantity.value']);
  t.same(where({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, issued: '2020-01-01' }), ['Observation.issued'], 'instant needs time and zone');
  t.same(where({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueTime: '10:61:00' }), ['Observation.valueTime']);
  t.same(where({ resourceType: 'Binary', contentType: 'text/plain', data: 'aGVsbG8=' }), []);
  t.same(where({ resourceType: 'Binary', contentType: 'text/plain', data: 'not base64!' }), ['Binary.data']);
  t.same(where({ resourceType: 'Patient', name: [{ family: '' }] }), ['Patient.name[0].family'], 'strings are never empty');
  t.same(where({ resourceType: 'Patient', id: 'a b' }), ['Patient.id']);
  t.same(where({ resourceType: 'Patient', id: 'x'.repeat(65) }), ['Patient.id']);
});

t.test('primitive extensions (_element) align with their values', async (t) => {
  t.same(check({ resourceType: 'Patient', birthDate: '2020-01-01', _birthDate: { extension: [{ url: 'http://x', valueString: 'y' }] } }), []);
  t.same(check({ resourceType: 'Patient', _birthDate: { extension: [{ url: 'http://x', valueString: 'y' }] } }), [], 'an extension without a value');
  t.same(check({ resourceType: 'Patient', name: [{ given: ['A', null], _given: [null, { extension: [{ url: 'http://x', valueString: 'y' }] }] }] }), []);
  t.same(where({ resourceType: 'Patient', name: [{ given: ['A', null] }] }), ['Patient.name[0].given[1]'], 'a null needs its _element entry');
  t.same(where({ resourceType: 'Patient', name: [{ given: ['A'], _given: [null, null] }] }), ['Patient.name[0].given']);
  t.same(where({ resourceType: 'Patient', _birthDate: 'x' }), ['Patient.birthDate']);
  t.same(where({ resourceType: 'Patient', _name: {} }), ['Patient._name'], 'only primitives have _elements');
});

t.test('nested resources (contained, Bundle entries) are checked as resources', async (t) => {
  t.same(where({ resourceType: 'Patient', contained: [{ resourceType: 'Organization', id: 'o', nme: 'x' }] }), ['Patient.contained[0].nme']);
  t.same(where({ resourceType: 'Patient', contained: [{ resourceType: 'Nope' }] }), ['Patient.contained[0]']);
  t.same(where({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Patient', active: 'no' } }] }), ['Bundle.entry[0].resource.active']);
});

t.test('nulls, empty objects and hostile depth', async (t) => {
  t.same(where({ resourceType: 'Patient', gender: null }), ['Patient.gender']);
  t.same(where({ resourceType: 'Patient', maritalStatus: {} }), ['Patient.maritalStatus']);
  let ext: Record<string, unknown> = { url: 'http://x', valueString: 'v' };
  for (let i = 0; i < 200; i++) ext = { url: 'http://x', extension: [ext] };
  const issues = check({ resourceType: 'Patient', extension: [ext] });
  t.equal(issues.length, 1);
  t.equal(issues[0]?.code, 'too-costly');
});

t.test('a resource must be an object with a known resourceType', async (t) => {
  t.equal(check([])[0]?.code, 'structure');
  t.equal(check({})[0]?.code, 'required');
  t.equal(check({ resourceType: 'Unicorn' })[0]?.code, 'not-supported');
  t.equal(check({ resourceType: 'Resource' })[0]?.code, 'not-supported', 'abstract types are not instantiable');
});
