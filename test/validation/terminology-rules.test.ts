// Authoring rules of CodeSystem and ValueSet resources on create (R4 codesystem.html#invs,
// codesystem.html#properties, valueset.html#compositions, references.html#canonical), through HTTP.
import t from 'tap';
import { body, post, testApp } from '../helpers/app.js';

const cs = (extra: Record<string, unknown>) => ({
  resourceType: 'CodeSystem', url: 'http://example.org/fhir/CodeSystem/t', status: 'active', content: 'complete',
  concept: [{ code: 'a', concept: [{ code: 'b' }] }, { code: 'c' }], ...extra,
});
const vs = (include: unknown[], extra: Record<string, unknown> = {}) => ({
  resourceType: 'ValueSet', url: 'http://example.org/fhir/ValueSet/t', status: 'active', compose: { include }, ...extra,
});

t.test('CodeSystem and ValueSet authoring rules', async (t) => {
  const app = await testApp(t);
  const errors = async (r: unknown): Promise<string[]> => {
    const res = await post(app, `/fhir/${(r as { resourceType: string }).resourceType}`, r);
    if (res.statusCode < 300) return [];
    return (body(res).issue as { severity: string; diagnostics: string }[]).filter((i) => i.severity === 'error').map((i) => i.diagnostics);
  };

  t.same(await errors(cs({})), [], 'a well-formed CodeSystem is accepted');
  t.match(await errors(cs({ concept: [{ code: 'a', concept: [{ code: 'a' }] }] })), [/csd-1.*"a" is defined more than once/], 'csd-1: a code repeated at another level');
  t.match(await errors(cs({ count: 5 })), [/number of concepts \(3\) does not match.*count = 5/], 'count of a complete system');
  t.same(await errors(cs({ content: 'fragment', count: 10 })), [], 'a fragment may count more than it holds');
  t.match(await errors(cs({ content: 'fragment', count: 2 })), [/holds 3 concepts, more than/]);
  t.match(await errors(cs({ supplements: 'http://hl7.org/fhir/administrative-gender' })), [/Supplements SHALL have a content value of 'supplement'/, /not declared in the base CodeSystem/]);
  t.same(await errors(cs({ supplements: 'http://hl7.org/fhir/administrative-gender', content: 'supplement', concept: [{ code: 'male', designation: [{ language: 'fr', value: 'homme' }] }] })), [],
    'a supplement of codes of its base');
  t.match(await errors(cs({ content: 'supplement' })), [/SHALL name the code system it supplements/]);
  t.match(await errors(cs({
    property: [{ code: 'flag', type: 'boolean' }, { code: 'flag', type: 'string' }, { code: 'gone', uri: 'http://hl7.org/fhir/concept-properties#deprecationDate', type: 'code' }],
    concept: [{ code: 'a', property: [{ code: 'flag', valueString: 'yes' }] }],
  })), [/already defined with the code 'flag'/, /normally assigned the code 'deprecationDate'/, /Wrong type 'code'/, /'flag' has the invalid type 'string', when it is defined to have the type 'boolean'/]);
  t.match(await errors(cs({ url: 'CodeSystem/t' })), [/Canonical URLs must be absolute/]);
  t.match(await errors(cs({ url: 'urn:uuid:6A2EE390-978E-42C6-8F88-C17DFF3BD8A3' })), [/UUIDs must be valid and lowercase/]);

  const G = 'http://hl7.org/fhir/administrative-gender';
  t.same(await errors(vs([{ system: G, concept: [{ code: 'male' }] }])), [], 'a well-formed ValueSet is accepted');
  t.match(await errors(vs([{ system: G, concept: [{ code: 'man' }] }])), [/The code 'man' is not valid in the system/], 'an unknown code of a system held in full');
  t.same(await errors(vs([{ system: 'http://snomed.info/sct', concept: [{ code: '1' }] }])), [], 'a system Flint does not hold is not judged');
  t.match(await errors(vs([{ system: '#cs1' }], { contained: [{ ...cs({ url: 'cs1' }), id: 'cs1' }] })),
    [/include.system must be absolute/, /Canonical URLs in contained resources must be absolute/]);
  t.match(await errors(vs([{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', filter: [{ property: 'concept', op: 'is-a', value: 'no-such-code' }] }])),
    [/must be a valid code from the system/], 'an is-a filter on a code the system lacks');
  t.match(await errors(vs([{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', filter: [{ property: 'notSelectable', op: '=', value: '1' }] }])),
    [/must be either 'true' or 'false', not '1'/]);
});
