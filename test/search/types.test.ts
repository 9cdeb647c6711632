// Search by parameter type, prefix and modifier (R4 search.html), through HTTP.
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { testApp, load, ids } from '../helpers/app.js';

const people = [
  { resourceType: 'Patient', id: 'p1', name: [{ family: 'Dubois', given: ['Chloé'] }], gender: 'female', birthDate: '1984-03-12', active: true,
    identifier: [{ system: 'http://mrn', value: 'A-1', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] } }],
    address: [{ city: 'Montréal', postalCode: 'H2X 1Y4' }], telecom: [{ system: 'email', value: 'chloe@example.org' }] },
  { resourceType: 'Patient', id: 'p2', name: [{ family: 'DUBOIS-SMITH', given: ['Anne', 'Marie'] }], gender: 'female', birthDate: '1984-03', active: false,
    identifier: [{ system: 'http://mrn', value: 'A-2' }, { system: 'http://ssn', value: '123' }] },
  { resourceType: 'Patient', id: 'p3', name: [{ family: 'Smith', given: ['John'] }], gender: 'male', birthDate: '1984',
    deceasedDateTime: '2020-06-01T10:00:00+02:00' },
  { resourceType: 'Patient', id: 'p4', name: [{ text: 'Zoë Ng' }], gender: 'other', birthDate: '2001-12-31' },
];

const obs = (id: string, extra: Record<string, unknown>) => ({
  resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }], text: 'Weight' },
  subject: { reference: 'Patient/p1' }, ...extra,
});

const observations = [
  obs('o1', { valueQuantity: { value: 100, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' }, effectiveDateTime: '2024-01-15T09:30:00Z' }),
  obs('o2', { valueQuantity: { value: 100.4, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' }, effectiveDateTime: '2024-01-15T23:30:00-05:00' }),
  obs('o3', { valueQuantity: { value: 99.4, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' }, effectivePeriod: { start: '2024-02-01', end: '2024-02-10' } }),
  obs('o4', { valueQuantity: { value: 220, unit: 'lb', system: 'http://unitsofmeasure.org', code: '[lb_av]' }, effectivePeriod: { start: '2023-12-20' }, subject: { reference: 'Patient/p2' } }),
  obs('o5', { code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] }, valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    effectiveInstant: '2024-01-15T09:30:00.123Z', subject: { reference: 'http://flint.test/fhir/Patient/p3' } }),
  obs('o6', { status: 'preliminary', valueString: 'pending', effectiveDateTime: '2024', subject: { reference: 'Patient/p4', display: 'Zoë' } }),
  obs('o7', { valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '260385009', display: 'Negative' }] }, subject: { identifier: { system: 'http://mrn', value: 'A-9' } } }),
];

async function setup(t: Parameters<typeof testApp>[0]): Promise<FastifyInstance> {
  const app = await testApp(t);
  await load(app, [...people, ...observations]);
  return app;
}

t.test('string: starts-with, ignoring case and accents; :exact; :contains', async (t) => {
  const app = await setup(t);
  t.same(await ids(app, '/fhir/Patient?name=dubois'), ['Patient/p1', 'Patient/p2']);
  t.same(await ids(app, '/fhir/Patient?name=CHLOE'), ['Patient/p1'], 'accents fold');
  t.same(await ids(app, '/fhir/Patient?given=chlo'), ['Patient/p1'], 'prefix');
  t.same(await ids(app, '/fhir/Patient?name=zoe'), ['Patient/p4'], 'HumanName.text');
  t.same(await ids(app, '/fhir/Patient?family:exact=Dubois'), ['Patient/p1']);
  t.same(await ids(app, '/fhir/Patient?family:exact=dubois'), [], ':exact is case-sensitive');
  t.same(await ids(app, '/fhir/Patient?family:contains=smi'), ['Patient/p2', 'Patient/p3']);
  t.same(await ids(app, '/fhir/Patient?address-city=montreal'), ['Patient/p1']);
  t.same(await ids(app, '/fhir/Patient?name=smith,zo'), ['Patient/p3', 'Patient/p4'], 'comma is OR');
  t.same(await ids(app, '/fhir/Patient?name=ng'), [], 'starts-with applies to the whole string, not to words');
  t.same(await ids(app, '/fhir/Patient?name=dubois&given=anne'), ['Patient/p2'], 'repetition is AND');
  t.same(await ids(app, '/fhir/Patient?given=anne&given=marie'), ['Patient/p2']);
});

t.test('token: code, system|code, |code, system|, :not, :text, :of-type, booleans, identifiers', async (t) => {
  const app = await setup(t);
  t.same(await ids(app, '/fhir/Observation?code=8867-4'), ['Observation/o5']);
  t.same(await ids(app, '/fhir/Observation?code=http://loinc.org|8867-4'), ['Observation/o5']);
  t.same(await ids(app, '/fhir/Observation?code=http://snomed.info/sct|8867-4'), []);
  t.same(await ids(app, '/fhir/Observation?code=|8867-4'), [], '|code means no system');
  t.same((await ids(app, '/fhir/Observation?code=http://loinc.org|')).length, 7, 'system| means any code of the system');
  t.same(await ids(app, '/fhir/Observation?status:not=final'), ['Observation/o6']);
  t.same(await ids(app, '/fhir/Observation?code:text=heart'), ['Observation/o5']);
  t.same(await ids(app, '/fhir/Patient?gender=female'), ['Patient/p1', 'Patient/p2']);
  t.same(await ids(app, '/fhir/Patient?gender=http://hl7.org/fhir/administrative-gender|male'), ['Patient/p3'], 'codes carry their bound code system');
  t.same(await ids(app, '/fhir/Patient?active=false'), ['Patient/p2']);
  t.same(await ids(app, '/fhir/Patient?identifier=http://mrn|A-2'), ['Patient/p2']);
  t.same(await ids(app, '/fhir/Patient?identifier=123'), ['Patient/p2']);
  t.same(await ids(app, '/fhir/Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|A-1'), ['Patient/p1']);
  t.same(await ids(app, '/fhir/Patient?email=chloe@example.org'), ['Patient/p1']);
  t.same(await ids(app, '/fhir/Observation?value-concept=http://snomed.info/sct|260385009'), ['Observation/o7']);
  t.same(await ids(app, '/fhir/Patient?gender:in=http://hl7.org/fhir/ValueSet/administrative-gender&gender:not=female'), ['Patient/p3', 'Patient/p4']);
});

t.test('date: precision ranges, every prefix, time zones and periods', async (t) => {
  const app = await setup(t);
  t.same(await ids(app, '/fhir/Patient?birthdate=1984'), ['Patient/p1', 'Patient/p2', 'Patient/p3'], 'year covers finer values inside it');
  t.same(await ids(app, '/fhir/Patient?birthdate=1984-03'), ['Patient/p1', 'Patient/p2']);
  t.same(await ids(app, '/fhir/Patient?birthdate=1984-03-12'), ['Patient/p1'], 'a month value is not inside one day');
  t.same(await ids(app, '/fhir/Patient?birthdate=ne1984'), ['Patient/p4']);
  t.same(await ids(app, '/fhir/Patient?birthdate=gt1984-03-12'), ['Patient/p2', 'Patient/p3', 'Patient/p4'], 'gt: ranges extending after');
  t.same(await ids(app, '/fhir/Patient?birthdate=lt1984-03-12'), ['Patient/p2', 'Patient/p3'], 'lt: ranges starting before');
  t.same(await ids(app, '/fhir/Patient?birthdate=ge2001-12-31'), ['Patient/p4']);
  t.same(await ids(app, '/fhir/Patient?birthdate=le1984-02'), ['Patient/p3'], 'le: starts before, or inside');
  t.same(await ids(app, '/fhir/Patient?birthdate=le1984-01'), [], 'a year starting with the month is neither before nor inside it');
  t.same(await ids(app, '/fhir/Patient?birthdate=sa1984-12-31'), ['Patient/p4'], 'sa: starts after');
  t.same(await ids(app, '/fhir/Patient?birthdate=eb1985'), ['Patient/p1', 'Patient/p2', 'Patient/p3'], 'eb: ends before');
  t.same(await ids(app, '/fhir/Patient?birthdate=ge1984&birthdate=lt1985'), ['Patient/p1', 'Patient/p2', 'Patient/p3'], 'a range as two bounds');
  // o2 is 2024-01-15T23:30-05:00 = 2024-01-16T04:30Z: outside the UTC day of the 15th
  t.same(await ids(app, '/fhir/Observation?date=2024-01-15'), ['Observation/o1', 'Observation/o5']);
  t.same(await ids(app, '/fhir/Observation?date=2024-01-16'), ['Observation/o2']);
  t.same(await ids(app, '/fhir/Observation?date=2024-01-15T09:30:00Z'), ['Observation/o1', 'Observation/o5'], 'seconds precision contains the instant');
  t.same(await ids(app, '/fhir/Observation?date=2024-01-15T04:30:00-05:00'), ['Observation/o1', 'Observation/o5'], 'offsets are honoured');
  t.same(await ids(app, '/fhir/Observation?date=2024-01-15T04:30:00%2B00:00'), [], 'a different instant');
  t.same(await ids(app, '/fhir/Observation?date=2024-02'), ['Observation/o3'], 'a period inside the month');
  t.same(await ids(app, '/fhir/Observation?date=2024-02-05'), [], 'a period larger than the day is not eq');
  t.same(await ids(app, '/fhir/Observation?date=ge2024-02-05&date=le2024-02-05'), ['Observation/o3', 'Observation/o4', 'Observation/o6'], 'ranges overlapping the day; an open end is ongoing');
  t.same(await ids(app, '/fhir/Observation?date=gt2030'), ['Observation/o4'], 'an open-ended period extends past any date');
  // ap widens the day by 10% of its distance from now (about 100 days here)
  t.same(await ids(app, '/fhir/Observation?date=ap2024-01-15'), ['Observation/o1', 'Observation/o2', 'Observation/o3', 'Observation/o4', 'Observation/o5', 'Observation/o6']);
  t.same(await ids(app, '/fhir/Observation?date=ap2020-01-15'), []);
  t.same(await ids(app, '/fhir/Patient?death-date=2020-06-01T08:00:00Z'), ['Patient/p3']);
});

t.test('number and quantity: significant digits, prefixes, units', async (t) => {
  const app = await setup(t);
  t.same(await ids(app, '/fhir/Observation?value-quantity=100'), ['Observation/o1', 'Observation/o2'], '100 means [99.5, 100.5)');
  t.same(await ids(app, '/fhir/Observation?value-quantity=100.0'), ['Observation/o1'], '100.0 means [99.95, 100.05)');
  t.same(await ids(app, '/fhir/Observation?value-quantity=1e2'), ['Observation/o1', 'Observation/o2', 'Observation/o3', 'Observation/o5'], '1e2 means [50, 150)');
  t.same(await ids(app, '/fhir/Observation?value-quantity=gt100'), ['Observation/o2', 'Observation/o4']);
  t.same(await ids(app, '/fhir/Observation?value-quantity=le99.4'), ['Observation/o3', 'Observation/o5']);
  // UCUM quantities compare in canonical form: 220 [lb_av] is 99.79 kg (test/search/ucum.test.ts).
  t.same(await ids(app, '/fhir/Observation?value-quantity=gt99|http://unitsofmeasure.org|kg'), ['Observation/o1', 'Observation/o2', 'Observation/o3', 'Observation/o4']);
  t.same(await ids(app, '/fhir/Observation?value-quantity=220||[lb_av]'), ['Observation/o4']);
  t.same(await ids(app, '/fhir/Observation?value-quantity=ap95|http://unitsofmeasure.org|kg'), ['Observation/o1', 'Observation/o2', 'Observation/o3', 'Observation/o4']);
  t.same(await ids(app, '/fhir/Observation?value-quantity=ne100'), ['Observation/o3', 'Observation/o4', 'Observation/o5']);
});

t.test('reference: id, Type/id, absolute URL, :Type, :identifier, :missing', async (t) => {
  const app = await setup(t);
  t.same(await ids(app, '/fhir/Observation?subject=Patient/p2'), ['Observation/o4']);
  t.same(await ids(app, '/fhir/Observation?subject=p2'), ['Observation/o4']);
  t.same(await ids(app, '/fhir/Observation?patient=p3'), ['Observation/o5'], 'absolute URLs to this server are local references');
  t.same(await ids(app, '/fhir/Observation?subject=http://flint.test/fhir/Patient/p3'), ['Observation/o5']);
  t.same(await ids(app, '/fhir/Observation?subject:Patient=p4'), ['Observation/o6']);
  t.same(await ids(app, '/fhir/Observation?subject:Group=p4'), []);
  t.same(await ids(app, '/fhir/Observation?subject:identifier=http://mrn|A-9'), ['Observation/o7']);
  t.same(await ids(app, '/fhir/Observation?encounter:missing=false'), []);
  t.same((await ids(app, '/fhir/Observation?encounter:missing=true')).length, 7);
  t.same(await ids(app, '/fhir/Observation?subject:missing=true'), ['Observation/o7'], 'an identifier-only reference has no literal target');
  t.same(await ids(app, '/fhir/Observation?subject=Patient/p1,Patient/p2&code=8867-4'), []);
});

t.test('uri: exact, :below, :above', async (t) => {
  const app = await testApp(t);
  await load(app, [
    { resourceType: 'ValueSet', id: 'v1', url: 'http://example.org/fhir/ValueSet/a', status: 'active' },
    { resourceType: 'ValueSet', id: 'v2', url: 'http://example.org/fhir/ValueSet/a/b', status: 'active' },
    { resourceType: 'ValueSet', id: 'v3', url: 'http://other.org/ValueSet/c', status: 'active' },
  ] as never[]);
  t.same(await ids(app, '/fhir/ValueSet?url=http://example.org/fhir/ValueSet/a'), ['ValueSet/v1']);
  t.same(await ids(app, '/fhir/ValueSet?url:below=http://example.org/fhir'), ['ValueSet/v1', 'ValueSet/v2']);
  t.same(await ids(app, '/fhir/ValueSet?url:above=http://example.org/fhir/ValueSet/a/b/c'), ['ValueSet/v1', 'ValueSet/v2']);
});

t.test('composite: code and value together, within one element', async (t) => {
  const app = await setup(t);
  t.same(await ids(app, '/fhir/Observation?code-value-quantity=http://loinc.org|29463-7$gt100'), ['Observation/o2', 'Observation/o4']);
  t.same(await ids(app, '/fhir/Observation?code-value-quantity=8867-4$lt100'), ['Observation/o5']);
  t.same(await ids(app, '/fhir/Observation?code-value-quantity=8867-4$gt100'), []);
  t.same(await ids(app, '/fhir/Observation?code-value-string=29463-7$pend'), ['Observation/o6']);
});

t.test('_id, _lastUpdated, _tag, _profile, _security, _source', async (t) => {
  const app = await testApp(t);
  const before = new Date(Date.now() - 1000).toISOString();
  await load(app, [
    { resourceType: 'Patient', id: 'm1', meta: { tag: [{ system: 'http://t', code: 'vip' }], profile: ['http://p/1'], source: 'http://lab/1', security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] } },
    { resourceType: 'Patient', id: 'm2' },
  ] as never[]);
  t.same(await ids(app, '/fhir/Patient?_id=m2'), ['Patient/m2']);
  t.same(await ids(app, '/fhir/Patient?_id=m1,m2&_id:not=m1'), ['Patient/m2']);
  t.same(await ids(app, '/fhir/Patient?_tag=http://t|vip'), ['Patient/m1']);
  t.same(await ids(app, '/fhir/Patient?_profile=http://p/1'), ['Patient/m1']);
  t.same(await ids(app, '/fhir/Patient?_source=http://lab/1'), ['Patient/m1']);
  t.same(await ids(app, '/fhir/Patient?_security=R'), ['Patient/m1']);
  t.same(await ids(app, `/fhir/Patient?_lastUpdated=ge${encodeURIComponent(before)}`), ['Patient/m1', 'Patient/m2']);
  t.same(await ids(app, '/fhir/Patient?_lastUpdated=lt2000-01-01'), []);
});

t.test('updates and deletes change what matches', async (t) => {
  const app = await setup(t);
  const { put } = await import('../helpers/app.js');
  await put(app, '/fhir/Patient/p3', { resourceType: 'Patient', id: 'p3', name: [{ family: 'Renamed' }] });
  t.same(await ids(app, '/fhir/Patient?name=smith'), []);
  t.same(await ids(app, '/fhir/Patient?name=renamed'), ['Patient/p3']);
  await app.inject({ method: 'DELETE', url: '/fhir/Patient/p3' });
  t.same(await ids(app, '/fhir/Patient?name=renamed'), []);
  t.same(await ids(app, '/fhir/Patient?_id=p3'), []);
});

t.test('bad values are 400; unknown parameters are ignored (lenient) or refused (strict)', async (t) => {
  const app = await setup(t);
  for (const q of ['birthdate=yesterday', 'value-quantity=lots', '_count=x', 'name:foo=x', 'birthdate:exact=2000', '_sort=-', '_total=many', 'code-value-quantity=x']) {
    const res = await app.inject(`/fhir/Observation?${q}`.replace('Observation?birthdate', 'Patient?birthdate').replace('Observation?name', 'Patient?name'));
    t.ok(res.statusCode === 400 || (q === '_sort=-' && res.statusCode === 200), `${q}: ${res.statusCode}`);
  }
  const lenient = await app.inject('/fhir/Patient?unknown=1&name=dubois');
  t.equal(lenient.statusCode, 200);
  const b = JSON.parse(lenient.body);
  t.notMatch(b.link[0].url, /unknown/, 'an ignored parameter is left out of the self link');
  t.match(b.link[0].url, /name=dubois/);
  t.equal(b.entry.at(-1).search.mode, 'outcome');
  const strict = await app.inject({ url: '/fhir/Patient?unknown=1', headers: { prefer: 'handling=strict' } });
  t.equal(strict.statusCode, 400);
  t.match(JSON.parse(strict.body).issue[0].diagnostics, /unknown/);
});
