// Defects found by validating the complete official R4 example set (hl7.fhir.r4.examples): each
// test is named after the R4 rule it follows, and tries a resource that breaks the rule too, so
// none passes by finding nothing.
import t from 'tap';
import { loadDefinitions } from '../../src/definitions/registry.js';
import { validateResource, type Issue } from '../../src/validation/index.js';

const defs = loadDefinitions();
const errors = (r: unknown): Issue[] => validateResource(defs, r).filter((i) => i.severity === 'error' || i.severity === 'fatal');
const at = (issues: Issue[]): (string | undefined)[] => issues.map((i) => i.expression?.[0]);

t.test('R4 datatypes.html#string: [ \\r\\n\\t\\S]+ is an XML Schema regex, so NO-BREAK SPACE is a character like any other', async (t) => {
  // As in CodeSystem-program.json: "display": "Program\u00a0A".
  const cs = (display: string, code = 'a') => ({ resourceType: 'CodeSystem', status: 'active', content: 'complete', concept: [{ code, display }] });
  t.same(errors(cs('Program\u00a0A')), [], 'U+00A0 inside a string');
  t.same(errors(cs('\u00a0')), [], 'a string of one U+00A0 is not empty');
  t.same(errors(cs('a', 'x\u00a0y')), [], 'code: U+00A0 is not whitespace in XML Schema either');
  t.same(at(errors(cs(''))), ['CodeSystem.concept[0].display'], 'an empty string still fails');
  t.same(at(errors(cs('a', 'x  y'))), ['CodeSystem.concept[0].code'], 'code: two spaces still fail');
  t.same(at(errors({ resourceType: 'Patient', implicitRules: 'http://x/a b' })), ['Patient.implicitRules'], 'uri: a space still fails');
  t.same(errors({ resourceType: 'Patient', implicitRules: 'http://x/a\u00a0b' }), [], 'uri: U+00A0 is not \\s in XML Schema');
});

t.test('R4 ext-1: an extension whose value is a primitive with only extensions (_valueString) has a value', async (t) => {
  // As in CodeSystem-v2-0207.json.
  const withExt = (ext: Record<string, unknown>) => ({ resourceType: 'Patient', extension: [{ url: 'http://example.org/x', ...ext }] });
  const absentReason = { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }] };
  t.same(errors(withExt({ _valueString: absentReason })), []);
  const ext1 = (r: unknown) => errors(r).filter((i) => /ext-1/.test(i.diagnostics ?? ''));
  t.equal(ext1(withExt({})).length, 1, 'neither value nor extensions');
  t.equal(ext1(withExt({ valueString: 'a', extension: [{ url: 'http://example.org/y', valueString: 'b' }] })).length, 1, 'both');
  t.equal(ext1(withExt({ _valueString: absentReason, extension: [{ url: 'http://example.org/y', valueString: 'b' }] })).length, 1, 'both, the value being extensions only');
});

t.test('R4 que-7: operator exists implies (answer is Boolean), and answerBoolean is a Boolean', async (t) => {
  // As in Questionnaire-bb.json. R4 fhirpath.html#types: FHIR boolean is FHIRPath Boolean.
  const q = (enableWhen: Record<string, unknown>) => ({
    resourceType: 'Questionnaire', status: 'draft',
    item: [{ linkId: 'a', type: 'boolean' }, { linkId: 'b', type: 'string', enableWhen: [{ question: 'a', operator: 'exists', ...enableWhen }] }],
  });
  t.same(errors(q({ answerBoolean: true })), []);
  const que7 = errors(q({ answerString: 'yes' })).filter((i) => /que-7/.test(i.diagnostics ?? ''));
  t.same(at(que7), ['Questionnaire.item[1].enableWhen[0]'], 'exists with a string answer fails');
});
