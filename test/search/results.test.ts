// Chains, _has, includes, sorting, paging, totals, summaries and the search endpoints.
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { testApp, load, ids, clinic, body } from '../helpers/app.js';

async function setup(t: Parameters<typeof testApp>[0], env: Record<string, string> = {}): Promise<FastifyInstance> {
  const app = await testApp(t, env);
  await load(app, clinic());
  return app;
}

type Bundle = { total?: number; link: { relation: string; url: string }[]; entry?: { fullUrl?: string; resource: Record<string, any>; search: { mode: string } }[] };
const get = async (app: FastifyInstance, url: string): Promise<Bundle> => {
  const res = await app.inject(url);
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
  return body<Bundle>(res);
};
const local = (url: string): string => url.replace('http://flint.test', '');

t.test('chaining: one level, typed, and through several references', async (t) => {
  const app = await setup(t);
  t.same(await ids(app, '/fhir/Observation?subject:Patient.name=walker'), ['Observation/obs-alice-weight', 'Observation/obs-alice-hr']);
  t.same(await ids(app, '/fhir/Observation?patient.birthdate=lt1960'), ['Observation/obs-bob-hba1c', 'Observation/obs-bob-weight', 'Observation/obs-bob-bp']);
  t.same(await ids(app, '/fhir/Encounter?subject.general-practitioner.name=smith&_sort=_id'), ['Encounter/enc-alice-1', 'Encounter/enc-bob-1', 'Encounter/enc-chloe-1'], 'two levels');
  t.same(await ids(app, '/fhir/Observation?encounter.subject:Patient.gender=male&code=4548-4'), ['Observation/obs-bob-hba1c']);
  t.same(await ids(app, '/fhir/Coverage?payor:Organization.name=acme&_sort=_id'), ['Coverage/cov-alice', 'Coverage/cov-bob']);
  t.same(await ids(app, '/fhir/Claim?patient.general-practitioner:Practitioner.family=smith'), ['Claim/claim-bob-1']);
  t.same(await ids(app, '/fhir/Observation?subject:Patient.name=nobody'), []);
  const bad = await app.inject('/fhir/Observation?status.name=x');
  t.equal(bad.statusCode, 400, 'only reference parameters chain');
});

t.test('_has: reverse chaining, nested', async (t) => {
  const app = await setup(t);
  t.same(await ids(app, '/fhir/Patient?_has:Observation:patient:code=4548-4'), ['Patient/pat-bob']);
  t.same(await ids(app, '/fhir/Patient?_has:Observation:subject:code=29463-7&_sort=_id'), ['Patient/pat-alice', 'Patient/pat-bob']);
  t.same(await ids(app, '/fhir/Patient?_has:Encounter:subject:_has:Observation:encounter:code=8310-5'), ['Patient/pat-chloe'], 'nested _has');
  t.same(await ids(app, '/fhir/Practitioner?_has:Observation:performer:code=85354-9'), ['Practitioner/pr-jones']);
  t.equal((await app.inject('/fhir/Patient?_has:Observation:code:status=final')).statusCode, 400, 'the link must be a reference parameter');
});

t.test('_include, _include:iterate, _revinclude and *', async (t) => {
  const app = await setup(t);
  const b = await get(app, '/fhir/MedicationRequest?_id=mr-bob-metformin&_include=MedicationRequest:subject&_include=MedicationRequest:requester');
  t.same(b.entry?.map((e) => `${e.search.mode}:${e.resource.resourceType}/${e.resource.id}`),
    ['match:MedicationRequest/mr-bob-metformin', 'include:Patient/pat-bob', 'include:Practitioner/pr-smith']);
  const typed = await get(app, '/fhir/Encounter?_id=enc-bob-1&_include=Encounter:participant:Practitioner');
  t.same(typed.entry?.map((e) => e.resource.id), ['enc-bob-1', 'pr-smith']);
  const iter = await get(app, '/fhir/Observation?_id=obs-bob-hba1c&_include=Observation:patient&_include:iterate=Patient:organization');
  t.same(iter.entry?.map((e) => e.resource.id), ['obs-bob-hba1c', 'pat-bob', 'org-clinic'], 'an include of an include');
  const noIter = await get(app, '/fhir/Observation?_id=obs-bob-hba1c&_include=Observation:patient&_include=Patient:organization');
  t.same(noIter.entry?.filter((e) => e.search.mode !== 'outcome').map((e) => e.resource.id), ['obs-bob-hba1c', 'pat-bob'], 'without :iterate only the matches are followed');
  t.equal(noIter.entry?.at(-1)?.search.mode, 'outcome', 'and the ignored _include is reported');
  const rev = await get(app, '/fhir/Patient?_id=pat-chloe&_revinclude=Observation:subject&_revinclude=Encounter:subject');
  t.same(rev.entry?.map((e) => e.resource.id).sort(), ['enc-chloe-1', 'obs-chloe-temp', 'pat-chloe']);
  const star = await get(app, '/fhir/Claim?_include=*');
  t.same(star.entry?.filter((e) => e.search.mode === 'include').map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort(),
    ['Encounter/enc-bob-1', 'Organization/org-clinic', 'Organization/org-payer', 'Patient/pat-bob', 'Practitioner/pr-smith']);
  const revIter = await get(app, '/fhir/Organization?_id=org-payer&_revinclude=Coverage:payor&_revinclude:iterate=Claim:insurer');
  t.same(revIter.entry?.map((e) => e.resource.id).sort(), ['claim-bob-1', 'cov-alice', 'cov-bob', 'org-payer']);
});

t.test('_sort: several keys, descending, absent values last', async (t) => {
  const app = await setup(t);
  t.same(await ids(app, '/fhir/Patient?_sort=birthdate'), ['Patient/pat-bob', 'Patient/pat-alice', 'Patient/pat-chloe']);
  t.same(await ids(app, '/fhir/Patient?_sort=-birthdate'), ['Patient/pat-chloe', 'Patient/pat-alice', 'Patient/pat-bob']);
  t.same(await ids(app, '/fhir/Observation?_sort=-date,_id&patient=pat-bob'), ['Observation/obs-bob-hba1c', 'Observation/obs-bob-bp', 'Observation/obs-bob-weight'], 'ties broken by the next key');
  t.same(await ids(app, '/fhir/Practitioner?_sort=family'), ['Practitioner/pr-jones', 'Practitioner/pr-smith']);
  t.same(await ids(app, '/fhir/Appointment?_sort=-date'), ['Appointment/appt-bob-2', 'Appointment/appt-chloe-2', 'Appointment/appt-alice-1']);
  const { load: l } = await import('../helpers/app.js');
  await l(app, [{ resourceType: 'Patient', id: 'pat-nodate', name: [{ family: 'Aaron' }] } as never]);
  const asc = await ids(app, '/fhir/Patient?_sort=birthdate');
  const desc = await ids(app, '/fhir/Patient?_sort=-birthdate');
  t.equal(asc.at(-1), 'Patient/pat-nodate', 'absent values last ascending');
  t.equal(desc.at(-1), 'Patient/pat-nodate', 'and descending');
  t.same(await ids(app, '/fhir/Patient?_sort=-_lastUpdated&_count=1'), ['Patient/pat-nodate']);
});

t.test('paging: next and previous walk a sorted result exactly once each way', async (t) => {
  const app = await testApp(t);
  const { load: l } = await import('../helpers/app.js');
  const pts = Array.from({ length: 23 }, (_, i) => ({ resourceType: 'Patient', id: `pg${String(i).padStart(2, '0')}`, birthDate: `19${50 + (i % 7)}-01-01`, ...(i % 5 === 0 ? {} : { name: [{ family: `F${i % 4}` }] }) }));
  await l(app, pts as never[]);
  for (const sort of ['birthdate', '-birthdate', 'family,-_id', '_id', '-family']) {
    const all = await ids(app, `/fhir/Patient?_sort=${sort}&_count=100`);
    t.equal(all.length, 23);
    const forward: string[] = [];
    let page = await get(app, `/fhir/Patient?_sort=${sort}&_count=5`);
    const pages: Bundle[] = [page];
    for (;;) {
      forward.push(...(page.entry ?? []).map((e) => `Patient/${e.resource.id}`));
      const next = page.link.find((l) => l.relation === 'next');
      if (!next) break;
      page = await get(app, local(next.url));
      pages.push(page);
    }
    t.same(forward, all, `forward pages in order (${sort})`);
    const backward: string[] = [];
    for (;;) {
      backward.unshift(...(page.entry ?? []).map((e) => `Patient/${e.resource.id}`));
      const prev = page.link.find((l) => l.relation === 'previous');
      if (!prev) break;
      page = await get(app, local(prev.url));
    }
    t.same(backward, all, `previous links lead back over the same pages (${sort})`);
    t.equal(pages.length, 5);
  }
  const tampered = await app.inject('/fhir/Patient?_sort=birthdate&_cursor=eyJrIjpbXX0');
  t.equal(tampered.statusCode, 400);
});

t.test('paging stays stable while resources are added', async (t) => {
  const app = await setup(t);
  const first = await get(app, '/fhir/Observation?_count=3&_sort=_id');
  const { load: l } = await import('../helpers/app.js');
  await l(app, [{ resourceType: 'Observation', id: 'aaa-new', status: 'final', code: { text: 'x' } } as never]);
  const next = first.link.find((x) => x.relation === 'next');
  const second = await get(app, local(next?.url ?? ''));
  const seen = [...(first.entry ?? []), ...(second.entry ?? [])].map((e) => e.resource.id);
  t.equal(new Set(seen).size, seen.length, 'no resource twice');
  t.notOk(seen.includes('aaa-new'), 'a resource sorting before the cursor does not shift the pages');
});

t.test('_total, _count=0 and _summary=count', async (t) => {
  const app = await setup(t);
  t.equal((await get(app, '/fhir/Observation?_total=accurate&_count=2')).total, 6);
  t.equal((await get(app, '/fhir/Observation?_total=none')).total, undefined);
  t.equal((await get(app, '/fhir/Observation')).total, 6, 'cheap totals by default');
  const count = await get(app, '/fhir/Observation?_summary=count');
  t.equal(count.total, 6);
  t.equal(count.entry, undefined);
  const zero = await get(app, '/fhir/Patient?_count=0');
  t.equal(zero.total, 3);
  t.equal(zero.entry, undefined);
});

t.test('_summary and _elements return marked subsets', async (t) => {
  const app = await setup(t);
  const sum = await get(app, '/fhir/Patient?_id=pat-alice&_summary=true');
  const p = sum.entry?.[0]?.resource ?? {};
  t.ok(p.name && p.birthDate && p.identifier, 'summary elements kept');
  t.notOk(p.telecom && p.address === undefined, 'telecom is a summary element in R4');
  t.notOk(p.contact, 'non-summary elements dropped');
  t.same(p.meta.tag.at(-1).code, 'SUBSETTED');
  const data = await get(app, '/fhir/Observation?_id=obs-bob-bp&_summary=data');
  t.notOk(data.entry?.[0]?.resource.text);
  t.ok(data.entry?.[0]?.resource.component);
  const text = await get(app, '/fhir/Observation?_id=obs-bob-bp&_summary=text');
  t.ok(text.entry?.[0]?.resource.status, 'mandatory elements kept with text');
  t.notOk(text.entry?.[0]?.resource.component);
  const el = await get(app, '/fhir/Observation?_id=obs-bob-hba1c&_elements=code,value');
  const o = el.entry?.[0]?.resource ?? {};
  t.same(Object.keys(o).sort(), ['code', 'id', 'meta', 'resourceType', 'status', 'valueQuantity'], 'the mandatory status is kept (R4 search.html#elements)');
  t.match(el.link[0]?.url, /_elements=code%2Cvalue/);
});

t.test('POST _search takes form parameters and answers like GET', async (t) => {
  const app = await setup(t);
  const res = await app.inject({ method: 'POST', url: '/fhir/Observation/_search', payload: 'patient=pat-bob&code=4548-4', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal(res.statusCode, 200);
  t.same(body<Bundle>(res).entry?.map((e) => e.resource.id), ['obs-bob-hba1c']);
  const mixed = await app.inject({ method: 'POST', url: '/fhir/Observation/_search?patient=pat-bob', payload: 'code=29463-7', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.same(body<Bundle>(mixed).entry?.map((e) => e.resource.id), ['obs-bob-weight']);
  const json = await app.inject({ method: 'POST', url: '/fhir/Observation/_search', payload: '{}', headers: { 'content-type': 'application/fhir+json' } });
  t.equal(json.statusCode, 415);
  const formCreate = await app.inject({ method: 'POST', url: '/fhir/Patient', payload: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal(formCreate.statusCode, 415, 'forms are for _search only');
});

t.test('compartment search: /Patient/:id/Type', async (t) => {
  const app = await setup(t);
  t.same(await ids(app, '/fhir/Patient/pat-bob/Observation?_sort=_id'), ['Observation/obs-bob-bp', 'Observation/obs-bob-hba1c', 'Observation/obs-bob-weight']);
  t.same(await ids(app, '/fhir/Patient/pat-bob/Observation?code=4548-4'), ['Observation/obs-bob-hba1c']);
  t.same(await ids(app, '/fhir/Patient/pat-bob/Claim'), ['Claim/claim-bob-1']);
  t.same(await ids(app, '/fhir/Patient/pat-bob/Appointment'), ['Appointment/appt-bob-2'], 'through Appointment.actor');
  t.same(await ids(app, '/fhir/Patient/pat-bob/Practitioner'), [], 'Practitioner is not in the Patient compartment');
  const inc = await get(app, '/fhir/Patient/pat-bob/Encounter?_revinclude=Observation:encounter');
  t.same(inc.entry?.map((e) => e.resource.id).sort(), ['enc-bob-1', 'obs-bob-bp', 'obs-bob-hba1c', 'obs-bob-weight']);
  const all = await get(app, '/fhir/Patient/pat-chloe/*?_count=100');
  t.same(all.entry?.map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort(),
    ['Appointment/appt-chloe-2', 'Condition/cond-chloe-fever', 'Encounter/enc-chloe-1', 'MedicationRequest/mr-chloe-paracetamol', 'Observation/obs-chloe-temp', 'Patient/pat-chloe']);
  t.equal((await app.inject('/fhir/Encounter/enc-bob-1/Observation')).statusCode, 400, 'only the Patient compartment is defined here');
});

t.test('system search with _type and common parameters', async (t) => {
  const app = await setup(t);
  t.same(await ids(app, '/fhir?_type=Practitioner,Organization&_sort=_id'), ['Organization/org-clinic', 'Organization/org-payer', 'Practitioner/pr-jones', 'Practitioner/pr-smith']);
  t.same(await ids(app, '/fhir?_id=pat-bob,pr-smith&_sort=_id'), ['Patient/pat-bob', 'Practitioner/pr-smith']);
  const res = await app.inject('/fhir?_type=Nope');
  t.equal(res.statusCode, 400);
});

t.test('the self link repeats the understood parameters; links page with _cursor', async (t) => {
  const app = await setup(t);
  const b = await get(app, '/fhir/Observation?code=29463-7&_count=1&_sort=-date');
  t.equal(b.link[0]?.url, 'http://flint.test/fhir/Observation?code=29463-7&_count=1&_sort=-date');
  const next = b.link.find((l) => l.relation === 'next');
  t.match(next?.url, /_cursor=/);
  const second = await get(app, local(next?.url ?? ''));
  t.ok(second.link.find((l) => l.relation === 'first'));
  t.ok(second.link.find((l) => l.relation === 'previous'));
  t.equal(second.entry?.[0]?.fullUrl, `http://flint.test/fhir/Observation/${second.entry?.[0]?.resource.id}`);
});
