// Patient/$everything and Encounter/$everything.
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { testApp, load, clinic, body } from '../helpers/app.js';

type Bundle = { total?: number; link: { relation: string; url: string }[]; entry?: { resource: { resourceType: string; id: string }; search: { mode: string } }[] };
const all = async (app: FastifyInstance, url: string): Promise<string[]> => {
  const out: string[] = [];
  let next: string | undefined = url;
  for (let i = 0; next && i < 100; i++) {
    const res: Awaited<ReturnType<FastifyInstance["inject"]>> = await app.inject(next);
    if (res.statusCode !== 200) throw new Error(`${next}: ${res.statusCode} ${res.body}`);
    const b: Bundle = body<Bundle>(res);
    out.push(...(b.entry ?? []).map((e) => `${e.resource.resourceType}/${e.resource.id}`));
    next = b.link.find((l) => l.relation === 'next')?.url.replace('http://flint.test', '');
  }
  return [...new Set(out)].sort();
};

const BOB = ['Appointment/appt-bob-2', 'Claim/claim-bob-1', 'Condition/cond-bob-diabetes', 'Coverage/cov-bob', 'Encounter/enc-bob-1',
  'Invoice/inv-bob-1', 'MedicationRequest/mr-bob-metformin', 'Observation/obs-bob-bp', 'Observation/obs-bob-hba1c', 'Observation/obs-bob-weight', 'Patient/pat-bob'];
const BOB_REFS = ['Location/loc-main', 'Organization/org-clinic', 'Organization/org-payer', 'Practitioner/pr-jones', 'Practitioner/pr-smith'];

t.test('Patient/$everything: the compartment and what it references', async (t) => {
  const app = await testApp(t);
  await load(app, clinic());
  t.same(await all(app, '/fhir/Patient/pat-bob/$everything'), [...BOB, ...BOB_REFS].sort());
  const chloe = await all(app, '/fhir/Patient/pat-chloe/$everything');
  t.notOk(chloe.some((x) => BOB.includes(x)), 'nothing of another patient');
});

t.test('paging walks the whole record: no hidden cap', async (t) => {
  const app = await testApp(t);
  await load(app, clinic());
  const paged = await all(app, '/fhir/Patient/pat-bob/$everything?_count=2');
  t.same(paged, [...BOB, ...BOB_REFS].sort());
  const first = body<Bundle>(await app.inject('/fhir/Patient/pat-bob/$everything?_count=2'));
  t.equal(first.entry?.filter((e) => e.search.mode === 'match').length, 2);
  t.ok(first.link.find((l) => l.relation === 'next'));
});

t.test('_type, _since, start and end narrow the record', async (t) => {
  const app = await testApp(t);
  await load(app, clinic());
  const obs = (await all(app, '/fhir/Patient/pat-bob/$everything?_type=Observation,Patient')).filter((x) => !BOB_REFS.includes(x));
  t.same(obs, ['Observation/obs-bob-bp', 'Observation/obs-bob-hba1c', 'Observation/obs-bob-weight', 'Patient/pat-bob']);
  const future = await all(app, '/fhir/Patient/pat-bob/$everything?_since=2999-01-01T00:00:00Z');
  t.same(future, []);
  const dec = (await all(app, '/fhir/Patient/pat-bob/$everything?start=2026-12-01&_type=Appointment,Observation,Encounter'));
  t.same(dec.filter((x) => !BOB_REFS.includes(x)), ['Appointment/appt-bob-2'], 'care dates from December on');
  const oct = (await all(app, '/fhir/Patient/pat-bob/$everything?start=2026-10-01&end=2026-10-31&_type=Appointment,Observation'));
  t.same(oct.filter((x) => !BOB_REFS.includes(x)), ['Observation/obs-bob-bp', 'Observation/obs-bob-hba1c', 'Observation/obs-bob-weight']);
  const post = await app.inject({ method: 'POST', url: '/fhir/Patient/pat-bob/$everything', payload: JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: '_type', valueString: 'Claim' }] }), headers: { 'content-type': 'application/fhir+json' } });
  t.same(body<Bundle>(post).entry?.filter((e) => e.search.mode === 'match').map((e) => e.resource.id), ['claim-bob-1']);
});

t.test('Encounter/$everything and the type-level operation', async (t) => {
  const app = await testApp(t);
  await load(app, clinic());
  const enc = await all(app, '/fhir/Encounter/enc-bob-1/$everything');
  for (const x of ['Encounter/enc-bob-1', 'Observation/obs-bob-bp', 'Observation/obs-bob-hba1c', 'Condition/cond-bob-diabetes', 'MedicationRequest/mr-bob-metformin']) t.ok(enc.includes(x), x);
  t.notOk(enc.includes('Observation/obs-alice-weight'));
  const everyone = await all(app, '/fhir/Patient/$everything?_type=Patient');
  t.same(everyone.filter((x) => x.startsWith('Patient/')), ['Patient/pat-alice', 'Patient/pat-bob', 'Patient/pat-chloe']);
});

t.test('errors: unknown or deleted patient, unknown parameter', async (t) => {
  const app = await testApp(t);
  await load(app, clinic());
  t.equal((await app.inject('/fhir/Patient/nobody/$everything')).statusCode, 404);
  t.equal((await app.inject('/fhir/Patient/pat-bob/$everything?color=red')).statusCode, 400);
  await load(app, [{ resourceType: 'Patient', id: 'gone' } as never]);
  await app.inject({ method: 'DELETE', url: '/fhir/Patient/gone' });
  t.equal((await app.inject('/fhir/Patient/gone/$everything')).statusCode, 410);
});
