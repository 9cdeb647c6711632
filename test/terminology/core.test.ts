// The terminology core over hand-made and R4 CodeSystems/ValueSets: lookup, subsumption,
// expansion with filters and paging, membership, translation; bounds and cycles.
import t from 'tap';
import type { CodeSystem, ConceptMap, ValueSet } from 'fhir/r4.js';
import { loadDefinitions } from '../../src/definitions/registry.js';
import { Expander, MAX_EXPANSION, TerminologyError, safeRegex, type TerminologySource } from '../../src/terminology/expand.js';
import { expand, lookup, subsumes, translateCode, validateCodeInSystem, validateCodeInValueSet } from '../../src/terminology/operations.js';

const CS: CodeSystem = {
  resourceType: 'CodeSystem', url: 'http://example.org/cs/shapes', version: '1', name: 'Shapes', status: 'active', content: 'complete',
  property: [{ code: 'sides', type: 'integer' }, { code: 'colour', type: 'code' }],
  concept: [
    {
      code: 'polygon', display: 'Polygon', concept: [
        { code: 'triangle', display: 'Triangle', property: [{ code: 'sides', valueInteger: 3 }, { code: 'colour', valueCode: 'red' }] },
        {
          code: 'quad', display: 'Quadrilateral', property: [{ code: 'sides', valueInteger: 4 }], concept: [
            { code: 'square', display: 'Square', designation: [{ language: 'fr', value: 'Carré' }], property: [{ code: 'colour', valueCode: 'blue' }] },
            { code: 'rhombus', display: 'Rhombus', property: [{ code: 'status', valueCode: 'retired' }] },
          ],
        },
      ],
    },
    { code: 'circle', display: 'Circle', property: [{ code: 'colour', valueCode: 'red' }] },
  ],
};

function source(cs: CodeSystem[], vs: ValueSet[]): TerminologySource {
  return {
    codeSystem: (url) => cs.find((c) => c.url === url),
    valueSet: (url) => vs.find((v) => v.url === url),
  };
}

const vs = (url: string, compose: ValueSet['compose']): ValueSet => ({ resourceType: 'ValueSet', url, status: 'active', ...(compose ? { compose } : {}) });
const codes = (v: ValueSet): string[] => (v.expansion?.contains ?? []).map((c) => c.code ?? '');
const p = (params: { parameter?: { name: string; valueBoolean?: boolean; valueString?: string; valueCode?: string }[] }, name: string) => params.parameter?.find((x) => x.name === name);

t.test('$lookup answers the display, designations, parent and child of a concept', async (t) => {
  const src = source([CS], []);
  const r = lookup(src, { system: CS.url ?? '', code: 'quad' });
  t.equal(p(r, 'display')?.valueString, 'Quadrilateral');
  t.equal(p(r, 'name')?.valueString, 'Shapes');
  const props = (r.parameter ?? []).filter((x) => x.name === 'property').map((x) => `${x.part?.[0]?.valueCode}=${x.part?.[1]?.valueCode ?? x.part?.[1]?.valueInteger ?? x.part?.[1]?.valueBoolean}`);
  t.ok(props.includes('parent=polygon'));
  t.ok(props.includes('child=square') && props.includes('child=rhombus'));
  t.ok(props.includes('sides=4'));
  const sq = lookup(src, { system: CS.url ?? '', code: 'square' });
  t.ok(sq.parameter?.some((x) => x.name === 'designation' && x.part?.some((y) => y.valueString === 'Carré')));
  t.throws(() => lookup(src, { system: CS.url ?? '', code: 'hexagon' }), TerminologyError);
  t.throws(() => lookup(src, { system: 'http://snomed.info/sct', code: '1234' }), { code: 'unknown-system' });
});

t.test('$subsumes: equivalent, subsumes, subsumed-by, not-subsumed', async (t) => {
  const src = source([CS], []);
  const out = (a: string, b: string) => subsumes(src, CS.url ?? '', a, b).parameter?.[0]?.valueCode;
  t.equal(out('square', 'square'), 'equivalent');
  t.equal(out('polygon', 'square'), 'subsumes');
  t.equal(out('square', 'polygon'), 'subsumed-by');
  t.equal(out('circle', 'square'), 'not-subsumed');
});

t.test('$subsumes follows parent properties in a flat code system', async (t) => {
  const flat: CodeSystem = {
    resourceType: 'CodeSystem', url: 'http://example.org/flat', status: 'active', content: 'complete',
    concept: [{ code: 'b', property: [{ code: 'parent', valueCode: 'a' }] }, { code: 'a' }, { code: 'c', property: [{ code: 'parent', valueCode: 'b' }] }],
  };
  t.equal(subsumes(source([flat], []), 'http://example.org/flat', 'a', 'c').parameter?.[0]?.valueCode, 'subsumes');
});

t.test('$expand: whole system, is-a, descendent-of, is-not-a, =, regex, exists', async (t) => {
  const u = CS.url ?? '';
  const src = source([CS], []);
  const run = (filter: NonNullable<ValueSet['compose']>['include'][number]['filter']) => codes(expand(src, vs('http://x/vs', { include: [{ system: u, ...(filter ? { filter } : {}) }] })));
  t.same(run(undefined), ['polygon', 'triangle', 'quad', 'square', 'rhombus', 'circle']);
  t.same(run([{ property: 'concept', op: 'is-a', value: 'quad' }]), ['quad', 'square', 'rhombus']);
  t.same(run([{ property: 'concept', op: 'descendent-of', value: 'quad' }]), ['square', 'rhombus']);
  t.same(run([{ property: 'concept', op: 'is-not-a', value: 'polygon' }]), ['circle']);
  t.same(run([{ property: 'colour', op: '=', value: 'red' }]), ['triangle', 'circle']);
  t.same(run([{ property: 'code', op: 'regex', value: '[a-z]*le' }]), ['triangle', 'circle']);
  t.same(run([{ property: 'concept', op: 'is-a', value: 'polygon' }, { property: 'colour', op: 'exists', value: 'true' }]), ['triangle', 'square']);
});

t.test('$expand: text filter, count and offset, activeOnly, excludes and nested value sets', async (t) => {
  const u = CS.url ?? '';
  const polygons = vs('http://x/polygons', { include: [{ system: u, filter: [{ property: 'concept', op: 'is-a', value: 'polygon' }] }] });
  const outer = vs('http://x/outer', { include: [{ valueSet: ['http://x/polygons'] }, { system: u, concept: [{ code: 'circle' }] }], exclude: [{ system: u, concept: [{ code: 'triangle' }] }] });
  const src = source([CS], [polygons, outer]);
  t.same(codes(expand(src, outer)), ['polygon', 'quad', 'square', 'rhombus', 'circle']);
  const paged = expand(src, outer, { count: 2, offset: 1 });
  t.same(codes(paged), ['quad', 'square']);
  t.equal(paged.expansion?.total, 5);
  t.equal(paged.expansion?.offset, 1);
  t.same(codes(expand(src, outer, { filter: 'QUA' })), ['quad', 'square']);
  t.same(codes(expand(src, outer, { activeOnly: true })), ['polygon', 'quad', 'square', 'circle'], 'retired rhombus left out');
  t.equal(expand(src, outer).expansion?.contains?.find((c) => c.code === 'rhombus')?.inactive, true);
});

t.test('a value set that imports itself is refused, not followed forever', async (t) => {
  const a = vs('http://x/a', { include: [{ valueSet: ['http://x/b'] }] });
  const b = vs('http://x/b', { include: [{ valueSet: ['http://x/a'] }] });
  t.throws(() => expand(source([], [a, b]), a), { code: 'invalid', message: /imports itself/ });
});

t.test('an expansion beyond the maximum is too-costly', async (t) => {
  const big: CodeSystem = { resourceType: 'CodeSystem', url: 'http://x/big', status: 'active', content: 'complete', concept: Array.from({ length: MAX_EXPANSION + 1 }, (_, i) => ({ code: `c${i}` })) };
  t.throws(() => expand(source([big], []), vs('http://x/all', { include: [{ system: 'http://x/big' }] })), { code: 'too-costly' });
});

t.test('codes from a system Flint does not hold are not checked, never valid or invalid', async (t) => {
  const snomed = vs('http://x/sct', { include: [{ system: 'http://snomed.info/sct', filter: [{ property: 'concept', op: 'is-a', value: '404684003' }] }, { system: CS.url ?? '', concept: [{ code: 'circle' }] }] });
  const src = source([CS], [snomed]);
  const r = validateCodeInValueSet(src, snomed, [{ system: 'http://snomed.info/sct', code: '22298006' }]);
  t.equal(p(r, 'result'), undefined, 'no result');
  t.match(p(r, 'message')?.valueString, /http:\/\/snomed\.info\/sct/);
  t.equal(p(validateCodeInValueSet(src, snomed, [{ system: CS.url ?? '', code: 'circle' }]), 'result')?.valueBoolean, true);
  t.equal(p(validateCodeInValueSet(src, snomed, [{ system: CS.url ?? '', code: 'square' }]), 'result')?.valueBoolean, false);
  t.throws(() => expand(src, snomed), { code: 'unknown-system', system: 'http://snomed.info/sct' });
  t.equal(p(validateCodeInSystem(src, { system: 'http://loinc.org', code: '1234-5' }), 'result'), undefined);
});

t.test('$validate-code checks the display against the display and designations', async (t) => {
  const src = source([CS], []);
  t.equal(p(validateCodeInSystem(src, { system: CS.url ?? '', code: 'square', display: 'carré' }), 'result')?.valueBoolean, true);
  const wrong = validateCodeInSystem(src, { system: CS.url ?? '', code: 'square', display: 'Circle' });
  t.equal(p(wrong, 'result')?.valueBoolean, false);
  t.match(p(wrong, 'message')?.valueString, /should be "Square"/);
  t.equal(p(validateCodeInSystem(src, { system: CS.url ?? '', code: 'hexagon' }), 'result')?.valueBoolean, false);
});

t.test('R4 value sets expand from the definitions (administrative-gender, a filter over v3 codes)', async (t) => {
  const defs = loadDefinitions();
  const src: TerminologySource = { codeSystem: (u) => defs.codeSystem(u), valueSet: (u) => defs.valueSet(u) };
  const gender = defs.valueSet('http://hl7.org/fhir/ValueSet/administrative-gender');
  t.ok(gender);
  if (gender) t.same(codes(expand(src, gender)).sort(), ['female', 'male', 'other', 'unknown']);
  const ex = new Expander(src);
  const actReason = defs.valueSet('http://terminology.hl7.org/ValueSet/v3-ActEncounterCode');
  if (actReason) t.ok(ex.expand(actReason).some((c) => c.code === 'AMB'), 'v3 ActEncounterCode has AMB');
});

t.test('$translate maps forwards, backwards and applies unmapped', async (t) => {
  const cm: ConceptMap = {
    resourceType: 'ConceptMap', url: 'http://x/cm', status: 'active',
    group: [{ source: 'http://x/a', target: 'http://x/b', element: [{ code: '1', target: [{ code: 'one', equivalence: 'equivalent' }] }, { code: '2', target: [{ code: 'two', equivalence: 'disjoint' }] }], unmapped: { mode: 'fixed', code: 'other' } }],
  };
  const fwd = translateCode([cm], { system: 'http://x/a', code: '1' });
  t.equal(p(fwd, 'result')?.valueBoolean, true);
  t.equal(fwd.parameter?.find((x) => x.name === 'match')?.part?.find((y) => y.name === 'concept')?.valueCoding?.code, 'one');
  t.equal(p(translateCode([cm], { system: 'http://x/a', code: '2' }), 'result')?.valueBoolean, false, 'disjoint is no match');
  t.equal(translateCode([cm], { system: 'http://x/a', code: '9' }).parameter?.find((x) => x.name === 'match')?.part?.find((y) => y.name === 'concept')?.valueCoding?.code, 'other');
  const back = translateCode([cm], { system: 'http://x/b', code: 'one' }, { reverse: true });
  t.equal(back.parameter?.find((x) => x.name === 'match')?.part?.find((y) => y.name === 'concept')?.valueCoding?.code, '1');
});

t.test('regex filters with nested quantifiers or huge patterns are refused', async (t) => {
  t.throws(() => safeRegex('(a+)+b'), { code: 'not-supported' });
  t.throws(() => safeRegex('a'.repeat(300)), { code: 'too-costly' });
  t.throws(() => safeRegex('(['), { code: 'invalid' });
  t.ok(safeRegex('[A-Z]{2}\\d+').test('AB12'));
});
