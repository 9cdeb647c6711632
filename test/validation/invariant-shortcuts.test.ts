// Invariants decided from the JSON alone (src/validation/invariants.ts) must give fhirpath.js's
// verdict: each expression is run both ways on elements with and without the names it tests.
import t from 'tap';
import fhirpath from 'fhirpath';
import r4model from 'fhirpath/fhir-context/r4';
import { Invariants } from '../../src/validation/invariants.js';
import { loadDefinitions } from '../../src/definitions/registry.js';
import { validateResource } from '../../src/validation/index.js';

/** fhirpath.js's verdict, as `holds` reads it: true only for a single `true`. */
function reference(base: string, expression: string, focus: unknown, resource: unknown): boolean {
  const out = fhirpath.evaluate(focus as object, { base, expression }, { resource, rootResource: resource }, r4model) as unknown[];
  return out.length === 1 && out[0] === true;
}

const code = { coding: [{ system: 'http://loinc.org', code: '1-8' }] };
const cases: { base: string; expression: string; foci: Record<string, unknown>[] }[] = [
  {
    // obs-3
    base: 'Observation.referenceRange',
    expression: 'low.exists() or high.exists() or text.exists()',
    foci: [{}, { low: { value: 1 } }, { high: { value: 2 } }, { text: 'normal' }, { appliesTo: [{ text: 'x' }] }, { _text: { extension: [{ url: 'http://x', valueString: 'y' }] } }],
  },
  {
    // obs-7
    base: 'Observation',
    expression: 'value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()',
    foci: [
      { resourceType: 'Observation', status: 'final', code },
      { resourceType: 'Observation', status: 'final', code, valueQuantity: { value: 1 } },
      { resourceType: 'Observation', status: 'final', code, valueQuantity: { value: 1 }, component: [{ code }] },
      { resourceType: 'Observation', status: 'final', code, valueQuantity: { value: 1 }, component: [{ code: { coding: [{ system: 'http://loinc.org', code: '2-6' }] } }] },
      { resourceType: 'Observation', status: 'final', code, component: [{ code }] },
    ],
  },
  {
    // Not decidable from the JSON: `exists()` after `where` is not an `empty()` chain; fhirpath.js decides.
    base: 'Observation',
    expression: 'value.empty() or component.where(code.exists()).exists()',
    foci: [
      { resourceType: 'Observation', status: 'final', code, valueString: 'x' },
      { resourceType: 'Observation', status: 'final', code, valueString: 'x', component: [{ code }] },
    ],
  },
  {
    base: 'Period',
    expression: 'start.empty() or end.empty()',
    foci: [{}, { start: '2020' }, { start: '2020', end: '2021' }],
  },
];

t.test('invariants decided from the JSON agree with fhirpath.js', async (t) => {
  const inv = new Invariants();
  for (const c of cases) {
    for (const focus of c.foci) {
      const expected = reference(c.base, c.expression, focus, focus);
      t.equal(inv.holds(c.base, c.expression, focus, focus, focus), expected, `${c.expression} on ${JSON.stringify(focus)}`);
    }
  }
});

t.test('obs-3 and obs-7 still refuse the resources that break them', async (t) => {
  const defs = loadDefinitions();
  const errors = (r: unknown): string[] => validateResource(defs, r, { profiles: [] }).filter((i) => i.severity === 'error').map((i) => i.diagnostics ?? '');
  const base = { resourceType: 'Observation', status: 'final', code };
  t.same(errors({ ...base, valueQuantity: { value: 1 }, referenceRange: [{ low: { value: 0 } }] }), []);
  t.match(errors({ ...base, valueQuantity: { value: 1 }, referenceRange: [{ appliesTo: [{ text: 'adults' }] }] }).join('\n'), /obs-3/);
  t.same(errors({ ...base, valueQuantity: { value: 1 }, component: [{ code: { text: 'other' }, valueString: 'x' }] }), []);
  t.match(errors({ ...base, valueQuantity: { value: 1 }, component: [{ code, valueString: 'x' }] }).join('\n'), /obs-7/);
});
