// R4 search.html rules on the edges of parameters: empty parameters, :missing on _lastUpdated,
// and _sort on parameters that cannot be sorted by.
import t from 'tap';
import { testApp, load, body } from '../helpers/app.js';

type Bundle = { link: { relation: string; url: string }[]; entry?: { resource: { resourceType: string; issue?: { diagnostics: string }[] }; search: { mode: string } }[] };
const matches = (b: Bundle): number => (b.entry ?? []).filter((e) => e.search.mode === 'match').length;

const PATIENTS = [
  { resourceType: 'Patient', id: 'a', name: [{ family: 'Walker' }] },
  { resourceType: 'Patient', id: 'b', name: [{ family: 'Smith' }] },
];

t.test('empty parameters are ignored (R4 search.html): Patient?family= is Patient?; strict handling refuses them', async (t) => {
  const app = await testApp(t);
  await load(app, PATIENTS);
  const res = await app.inject('/fhir/Patient?family=&name=walker');
  t.equal(res.statusCode, 200);
  const b = body<Bundle>(res);
  t.equal(matches(b), 1, 'the other criteria still apply');
  const self = b.link.find((l) => l.relation === 'self')?.url ?? '';
  t.notMatch(self, /family=/, 'the self link leaves the ignored parameter out');
  t.equal(matches(body<Bundle>(await app.inject('/fhir/Patient?family='))), 2);
  const strict = await app.inject({ url: '/fhir/Patient?family=&name=walker', headers: { prefer: 'handling=strict' } });
  t.equal(strict.statusCode, 400, 'strict: an empty parameter is an error, not a wider search');
  const del = await app.inject({ method: 'DELETE', url: '/fhir/Patient?family=' });
  t.equal(del.statusCode, 400, 'a conditional delete with empty criteria deletes nothing');
  t.equal(matches(body<Bundle>(await app.inject('/fhir/Patient'))), 2);
});

t.test('_lastUpdated:missing: every resource has a lastUpdated (true matches none, false all)', async (t) => {
  const app = await testApp(t);
  await load(app, PATIENTS);
  const none = await app.inject({ url: '/fhir/Patient?_lastUpdated:missing=true', headers: { prefer: 'handling=strict' } });
  t.equal(none.statusCode, 200);
  t.equal(matches(body<Bundle>(none)), 0);
  t.equal(matches(body<Bundle>(await app.inject('/fhir/Patient?_lastUpdated:missing=false'))), 2);
  const bad = await app.inject('/fhir/Patient?_lastUpdated:missing=maybe');
  t.equal(bad.statusCode, 400);
  t.match(body(bad).issue[0].diagnostics, /true or false/);
});

t.test('_sort by a reference parameter (R4 search.html#sort): refused when strict, left out of the self link when lenient', async (t) => {
  const app = await testApp(t);
  const observation = { resourceType: 'Observation', id: 'o', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/a' } };
  await load(app, [...PATIENTS, observation]);
  const strict = await app.inject({ url: '/fhir/Observation?_sort=subject', headers: { prefer: 'handling=strict' } });
  t.equal(strict.statusCode, 400);
  t.match(body(strict).issue[0].diagnostics, /cannot sort by/);
  const lenient = body<Bundle>(await app.inject('/fhir/Observation?_sort=subject'));
  t.notMatch(lenient.link.find((l) => l.relation === 'self')?.url ?? '', /_sort/, 'the self link does not claim the sort');
  const outcome = (lenient.entry ?? []).find((e) => e.search.mode === 'outcome');
  t.match(outcome?.resource.issue?.[0]?.diagnostics ?? '', /_sort=subject/);
  t.equal(matches(lenient), 1);
  t.equal((await app.inject({ url: '/fhir/Observation?_sort=date', headers: { prefer: 'handling=strict' } })).statusCode, 200, 'a date sorts');
});

const ucum = 'http://unitsofmeasure.org';
const OBSERVATIONS = [
  { resourceType: 'Observation', id: 'one', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/a' }, valueQuantity: { value: 1.3, system: ucum, code: 'mg' } },
  { resourceType: 'Observation', id: 'other-units', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] }, valueQuantity: { value: 70, system: 'http://example.org/units', code: 'kg' } },
  { resourceType: 'Observation', id: 'ucum', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] }, valueQuantity: { value: 70, system: ucum, code: 'kg' } },
];
const ids = (b: Bundle): string[] => (b.entry ?? []).filter((e) => e.search.mode === 'match').map((e) => (e.resource as { id?: string }).id ?? '').sort();

t.test('ap (R4 search.html#prefix): approximately equal finds at least what eq finds, on quantities', async (t) => {
  const app = await testApp(t);
  await load(app, [...PATIENTS, ...OBSERVATIONS]);
  // eq1 covers [0.5, 1.5), so finds 1.3; 10% of 1 alone would be [0.9, 1.1].
  const eq = ids(body<Bundle>(await app.inject('/fhir/Observation?value-quantity=1')));
  const ap = ids(body<Bundle>(await app.inject('/fhir/Observation?value-quantity=ap1')));
  t.same(eq, ['one']);
  t.same(ap, ['one'], 'ap finds what eq finds');
  t.same(ids(body<Bundle>(await app.inject('/fhir/Observation?value-quantity=ap75'))), ['other-units', 'ucum'], 'within 10%');
  t.same(ids(body<Bundle>(await app.inject('/fhir/Observation?value-quantity=ap90'))), [], 'not beyond 10%');
});

t.test('composite quantity values compare the unit system (R4 search.html#composite, #quantity: number|system|code)', async (t) => {
  const app = await testApp(t);
  await load(app, [...PATIENTS, ...OBSERVATIONS]);
  t.same(ids(body<Bundle>(await app.inject(`/fhir/Observation?code-value-quantity=http://loinc.org|29463-7$70|${ucum}|kg`))), ['ucum']);
  t.same(ids(body<Bundle>(await app.inject('/fhir/Observation?code-value-quantity=http://loinc.org|29463-7$70||kg'))), ['other-units', 'ucum'], 'no system: any');
});

t.test('_elements (R4 search.html#elements): mandatory elements kept; included resources of other types returned whole', async (t) => {
  const app = await testApp(t);
  await load(app, [...PATIENTS, ...OBSERVATIONS]);
  const b = body<Bundle>(await app.inject('/fhir/Observation?_id=one&_elements=value&_include=Observation:subject'));
  const obs = b.entry?.find((e) => e.search.mode === 'match')?.resource as Record<string, unknown>;
  t.ok(obs.status && obs.code && obs.valueQuantity, 'status and code are mandatory');
  t.notOk(obs.subject, 'subject was not asked for');
  t.equal((obs.meta as { tag: { code: string }[] }).tag.at(-1)?.code, 'SUBSETTED');
  const pat = b.entry?.find((e) => e.search.mode === 'include')?.resource as Record<string, unknown>;
  t.same(pat.name, [{ family: 'Walker' }], 'the included Patient is whole');
});

t.test('chains reach contained resources in the context of their container (R4 search.html#contained); _contained=true is refused', async (t) => {
  const app = await testApp(t);
  const contained = (id: string, family: string, subject: string) => ({
    resourceType: 'Observation', id, status: 'final', code: { text: 'x' }, subject: { reference: subject },
    contained: [{ resourceType: 'Patient', id: 'pt', name: [{ family }] }], performer: [{ reference: '#pt' }],
  });
  await load(app, [...PATIENTS, contained('in-subject', 'Zimmer', '#pt'), contained('in-performer', 'Zimmer', 'Patient/a')]);
  const ids = (b: Bundle): string[] => (b.entry ?? []).filter((e) => e.search.mode === 'match').map((e) => (e.resource as { id?: string }).id ?? '');
  t.same(ids(body<Bundle>(await app.inject('/fhir/Observation?subject.name=zimmer'))), ['in-subject'], 'through the contained subject only');
  t.same(ids(body<Bundle>(await app.inject('/fhir/Observation?subject.name=walker'))), ['in-performer'], 'a stored subject still chains');
  t.same(ids(body<Bundle>(await app.inject('/fhir/Observation?performer:Patient.name=zimmer&_sort=_id'))), ['in-performer', 'in-subject']);
  const included = body<Bundle>(await app.inject('/fhir/Observation?_include=Observation:subject&_sort=_id'));
  t.same((included.entry ?? []).map((e) => `${e.search.mode}:${(e.resource as { id?: string }).id}`), ['match:in-performer', 'match:in-subject', 'include:a'],
    '_include leaves contained references alone');
  for (const url of ['/fhir/Observation?_contained=true', '/fhir/Observation?_contained=both', '/fhir/Observation?_containedType=contained']) {
    const res = await app.inject(url);
    t.equal(res.statusCode, 400, url);
    t.equal(body(res).issue[0].code, 'not-supported', url);
  }
  const plain = await app.inject({ url: '/fhir/Observation?_contained=false', headers: { prefer: 'handling=strict' } });
  t.equal(plain.statusCode, 200, '_contained=false is what every search does');
  t.equal(matches(body<Bundle>(plain)), 2);
});
