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
