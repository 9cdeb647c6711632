// Required bindings checked through the terminology core: in, not in, and not checked (a warning
// naming the system) for code systems Flint does not hold.
import t from 'tap';
import type { ValueSet } from 'fhir/r4.js';
import { loadDefinitions } from '../../src/definitions/registry.js';
import { Terminology } from '../../src/validation/bindings.js';
import { validateResource } from '../../src/validation/index.js';

const mixed: ValueSet = {
  resourceType: 'ValueSet', url: 'http://example.org/vs/mixed', status: 'active',
  compose: { include: [{ system: 'http://snomed.info/sct', filter: [{ property: 'concept', op: 'is-a', value: '404684003' }] }, { system: 'http://hl7.org/fhir/administrative-gender' }] },
};
const defs = loadDefinitions().extend({ structureDefinitions: [], valueSets: [mixed], codeSystems: [] });
const term = new Terminology(defs);
const required = { strength: 'required', valueSet: mixed.url ?? '' };

t.test('a code of a held system is in or out of a required value set', async (t) => {
  t.same(term.check(required, { system: 'http://hl7.org/fhir/administrative-gender', code: 'male' }, 'Coding', 'X'), []);
  const out = term.check(required, { system: 'http://hl7.org/fhir/administrative-gender', code: 'nope' }, 'Coding', 'X');
  t.equal(out[0]?.severity, 'error');
});

t.test('a SNOMED CT code is not checked: one warning that names the system', async (t) => {
  const out = term.check(required, { coding: [{ system: 'http://snomed.info/sct', code: '22298006' }] }, 'CodeableConcept', 'X');
  t.equal(out.length, 1);
  t.equal(out[0]?.severity, 'warning');
  t.match(out[0]?.diagnostics, /http:\/\/snomed\.info\/sct/);
});

t.test('BCP-13 MIME types are checked by form', async (t) => {
  const base = { resourceType: 'Binary', contentType: 'text/plain', data: 'aGk=' };
  t.same(validateResource(defs, base).filter((i) => i.severity !== 'information'), []);
  const bad = validateResource(defs, { ...base, contentType: 'not a mime type' });
  t.ok(bad.some((i) => i.severity === 'error' && /MIME/.test(i.diagnostics ?? '')));
});

t.test('the same question asked many times stays bounded and consistent', async (t) => {
  for (let i = 0; i < 2_000; i++) term.check(required, { system: 'http://hl7.org/fhir/administrative-gender', code: `c${i}` }, 'Coding', 'X');
  t.equal(term.check(required, { system: 'http://hl7.org/fhir/administrative-gender', code: 'female' }, 'Coding', 'X').length, 0);
});
