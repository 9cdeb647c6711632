// $practice-report: appointment volume, no-show rate, claims by status, billed vs paid.
import t from 'tap';
import { testApp, load, body } from '../helpers/app.js';

type Json = Record<string, any>;

const appt = (id: string, status: string, start: string) => ({
  resourceType: 'Appointment', id, status, start, end: start.replace(/T(\d\d)/, (_m, h: string) => `T${String(Number(h) + 1).padStart(2, '0')}`),
  participant: [{ actor: { reference: `Patient/p-${id}` }, status: 'accepted' }],
});
const claim = (id: string, status: string, created: string, total: number) => ({
  resourceType: 'Claim', id, status, use: 'claim', created, type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }] },
  patient: { reference: 'Patient/p1' }, provider: { reference: 'Organization/o1' }, priority: { coding: [{ code: 'normal' }] },
  insurance: [{ sequence: 1, focal: true, coverage: { reference: 'Coverage/c1' } }], total: { value: total, currency: 'USD' },
});
const response = (id: string, created: string, paid: number) => ({
  resourceType: 'ClaimResponse', id, status: 'active', use: 'claim', created, outcome: 'complete',
  type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }] },
  patient: { reference: 'Patient/p1' }, insurer: { reference: 'Organization/payer' }, payment: { type: { coding: [{ code: 'complete' }] }, amount: { value: paid, currency: 'USD' } },
});
const invoice = (id: string, status: string, date: string, net: number) => ({ resourceType: 'Invoice', id, status, date, totalNet: { value: net, currency: 'USD' } });

const part = (p: Json | undefined, name: string): Json[] => (p?.part ?? []).filter((x: Json) => x.name === name);
const statusCounts = (p: Json | undefined): Record<string, number> =>
  Object.fromEntries(part(p, 'status').map((s) => [s.part[0].valueCode, s.part[1].valueInteger]));

t.test('$practice-report sums the period and leaves out what is outside it', async (t) => {
  const app = await testApp(t);
  await load(app, [
    appt('a1', 'fulfilled', '2026-11-02T09:00:00Z'), appt('a2', 'fulfilled', '2026-11-03T09:00:00Z'), appt('a3', 'noshow', '2026-11-04T09:00:00Z'),
    appt('a4', 'cancelled', '2026-11-05T09:00:00Z'), appt('a5', 'booked', '2026-11-30T09:00:00Z'), appt('a6', 'noshow', '2026-10-30T09:00:00Z'),
    claim('c1', 'active', '2026-11-03', 193.5), claim('c2', 'active', '2026-11-10', 110), claim('c3', 'cancelled', '2026-11-11', 50), claim('c4', 'active', '2026-12-01', 999),
    response('r1', '2026-11-12', 168.5), response('r2', '2026-12-02', 500),
    invoice('i1', 'issued', '2026-11-12', 25), invoice('i2', 'draft', '2026-11-12', 30), invoice('i3', 'balanced', '2026-11-30', 10),
  ] as never[]);
  const res = await app.inject('/fhir/$practice-report?start=2026-11-01&end=2026-11-30');
  t.equal(res.statusCode, 200, res.body);
  const report = body(res);
  t.equal(report.resourceType, 'Parameters');
  const get = (name: string): Json[] => report.parameter.filter((p: Json) => p.name === name);
  t.same(get('period')[0]?.valuePeriod, { start: '2026-11-01', end: '2026-11-30' });
  t.equal(part(get('appointments')[0], 'total')[0]?.valueInteger, 5, 'a6 is in October');
  t.same(statusCounts(get('appointments')[0]), { booked: 1, cancelled: 1, fulfilled: 2, noshow: 1 });
  t.equal(get('noShowRate')[0]?.valueDecimal, 0.3333, '1 no-show of 3 kept or missed');
  t.same(statusCounts(get('claims')[0]), { active: 2, cancelled: 1 });
  t.same(get('billed')[0]?.valueMoney, { value: 303.5, currency: 'USD' }, 'active claims only');
  t.same(get('paid')[0]?.valueMoney, { value: 168.5, currency: 'USD' });
  t.same(get('patientInvoiced')[0]?.valueMoney, { value: 35, currency: 'USD' }, 'issued and balanced, not drafts');

  const empty = body(await app.inject('/fhir/$practice-report?start=2025-01-01&end=2025-01-31'));
  t.equal(empty.parameter.find((p: Json) => p.name === 'noShowRate'), undefined, 'no rate without appointments');
  t.same(empty.parameter.find((p: Json) => p.name === 'billed').valueMoney, { value: 0, currency: 'USD' });
});

t.test('$practice-report refuses a bad period', async (t) => {
  const app = await testApp(t);
  for (const q of ['', '?start=2026-11-01', '?start=2026-11-01&end=tomorrow', '?start=2026-11-30&end=2026-11-01', '?start=2026-11-01&end=2026-11-30&foo=1']) {
    const res = await app.inject(`/fhir/$practice-report${q}`);
    t.equal(res.statusCode, 400, q);
    t.equal(body(res).resourceType, 'OperationOutcome');
  }
});
