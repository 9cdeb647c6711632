// The clinic's pure builders on their own, from the fixtures' real FHIR JSON (no store, no HTTP):
// fee schedule and ChargeItems, pricing, Claim, Invoice, adjudication into a ClaimResponse, the
// settled Invoice, the visit's Encounter and the practice figures.
import t from 'tap';
import { readFileSync } from 'node:fs';
import type { Appointment, ChargeItem, ChargeItemDefinition, Claim, ClaimResponse, Condition, Coverage, Encounter, Invoice } from 'fhir/r4.js';
import { FhirError } from '../../src/fhir/errors.js';
import { chargeItemFor, definitionFor, feeSchedule, sourceId, CHARGE_SOURCE } from '../../src/clinic/charges.js';
import { basePrice, priceCharges, priceOf } from '../../src/clinic/pricing.js';
import { billingParties, claimDiagnoses, claimFor } from '../../src/clinic/claim.js';
import { invoiceFor, settledInvoice } from '../../src/clinic/invoice.js';
import { adjudication } from '../../src/clinic/adjudication.js';
import { allocate, patientShareCents } from '../../src/clinic/share.js';
import { encounterFor } from '../../src/clinic/visit.js';
import { practiceFigures } from '../../src/clinic/reports.js';

const BASE = 'http://flint.test/fhir';
const CPT = 'http://www.ama-assn.org/go/cpt';
type Entry = { resource: { resourceType: string; id: string } };
const bundle = (name: string): Entry['resource'][] =>
  (JSON.parse(readFileSync(new URL(`../../fixtures/${name}`, import.meta.url), 'utf8')) as { entry: Entry[] }).entry.map((e) => e.resource);
const clinic = bundle('clinic.json');
const fees = bundle('fee-schedule.json') as unknown as ChargeItemDefinition[];
function fixture<T>(type: string, id: string): T & { id: string } {
  const r = clinic.find((x) => x.resourceType === type && x.id === id);
  if (!r) throw new Error(`${type}/${id} not in fixtures/clinic.json`);
  return structuredClone(r) as unknown as T & { id: string };
}

const encounter = (): Encounter & { id: string; subject: { reference: string } } => {
  const e = fixture<Encounter>('Encounter', 'enc-bob-1');
  return { ...e, subject: { reference: 'Patient/pat-bob' }, type: [{ coding: [{ system: CPT, code: '99214' }] }], diagnosis: [{ condition: { reference: 'Condition/cond-bob-diabetes' }, rank: 1 }] };
};
const hba1c = { ref: 'Observation/obs-bob-hba1c', concept: { coding: [{ system: 'http://loinc.org', code: '4548-4' }] } };

function charges(): (ChargeItem & { id: string })[] {
  const enc = encounter();
  const schedule = feeSchedule(fees, '2026-10-12');
  return [{ concept: enc.type?.[0] }, hba1c].map((s, i) => {
    const def = definitionFor(schedule, s);
    if (!def) throw new Error('unpriced');
    return { ...chargeItemFor(enc, s, def, '2026-10-12T20:00:00Z'), id: `ci-${i + 1}` };
  });
}

t.test('a ChargeItem per service: billing code, pinned definition, subject, context, performer and source', async (t) => {
  const enc = encounter();
  const schedule = feeSchedule(fees, '2026-10-12');
  const def = definitionFor(schedule, hba1c);
  t.equal(def?.id, 'fee-83036', 'a clinical code (LOINC 4548-4) is priced by the definition that lists it');
  const item = chargeItemFor(enc, hba1c, def as ChargeItemDefinition, '2026-10-12T20:00:00Z');
  t.same(item.code?.coding, [{ system: CPT, code: '83036', display: (def as ChargeItemDefinition).code?.coding?.[0]?.display }], 'the billing code, not the clinical one');
  t.same(item.definitionCanonical, ['http://riverside.example.org/fhir/ChargeItemDefinition/fee-83036|2026']);
  t.same(item.subject, { reference: 'Patient/pat-bob' });
  t.same(item.context, { reference: 'Encounter/enc-bob-1' });
  t.same(item.performer, [{ actor: { reference: 'Practitioner/pr-smith' } }]);
  t.same(item.performingOrganization, { reference: 'Organization/org-clinic' });
  t.same(item.service, [{ reference: 'Observation/obs-bob-hba1c' }]);
  t.same(item.identifier, [{ system: CHARGE_SOURCE, value: sourceId('enc-bob-1', hba1c, def as ChargeItemDefinition) }]);
  t.equal(item.status, 'billable');
  t.equal(definitionFor(schedule, { concept: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] } }), undefined, 'a code no definition lists is not priced');
});

t.test('the fee schedule prefers the definition in force on the visit day', async (t) => {
  const old = { ...structuredClone(fees[0] as ChargeItemDefinition), id: 'fee-99213-2025', version: '2025', effectivePeriod: { start: '2025-01-01', end: '2025-12-31' } };
  const code = { concept: { coding: [{ system: CPT, code: '99213' }] } };
  t.equal(definitionFor(feeSchedule([old, ...fees], '2026-03-01'), code)?.version, '2026');
  t.equal(definitionFor(feeSchedule([...fees, old], '2025-03-01'), code)?.version, '2025');
  t.equal(definitionFor(feeSchedule([old], '2026-03-01'), code)?.version, '2025', 'out of its period, still better than unpriced');
});

t.test('pricing: the pinned definition\'s base price × quantity, priceOverride first, 422 without a price', async (t) => {
  t.same(basePrice(fees[1] as ChargeItemDefinition), { value: 165, currency: 'USD' });
  const [visit, lab] = charges();
  const priced = priceCharges([visit!, { ...lab!, quantity: { value: 2 } }], fees);
  t.same(priced.lines.map((l) => [l.unit, l.quantity, l.net]), [[16500, 1, 16500], [2850, 2, 5700]]);
  t.equal(priced.total, 22200);
  t.equal(priced.currency, 'USD');
  t.same(priceOf({ ...visit!, priceOverride: { value: 99.99, currency: 'USD' } }, fees), { value: 99.99, currency: 'USD' });
  t.equal(priceOf({ ...visit!, definitionCanonical: [`${fees[1]?.url}|1999`] }, fees), undefined, 'a version the schedule does not hold');
  let refused: unknown;
  try { priceCharges([{ ...visit!, definitionCanonical: ['http://nowhere.example/fee'] }], fees); } catch (err) { refused = err; }
  t.ok(refused instanceof FhirError && refused.status === 422, 'a ChargeItem nothing prices: 422');
  t.throws(() => priceCharges([visit!, { ...lab!, priceOverride: { value: 1, currency: 'EUR' } }], fees), /different currencies/);
});

t.test('the Claim: professional, one item per ChargeItem, diagnoses by rank then the encounter\'s, focal Coverage, payor as insurer', async (t) => {
  const enc = encounter();
  const coverage = fixture<Coverage>('Coverage', 'cov-bob');
  const diabetes = fixture<Condition>('Condition', 'cond-bob-diabetes');
  const fever: Condition & { id: string } = { ...fixture<Condition>('Condition', 'cond-chloe-fever'), id: 'cond-bob-htn', subject: { reference: 'Patient/pat-bob' } };
  const noCode: Condition & { id: string } = { resourceType: 'Condition', id: 'cond-nocode', subject: { reference: 'Patient/pat-bob' } };
  const diagnoses = claimDiagnoses(enc, [fever, noCode, diabetes], BASE);
  t.same(diagnoses.map((d) => d.diagnosisCodeableConcept?.coding?.[0]?.code), ['E11.9', 'R50.9'], 'ranked first, then the others with a code');
  const priced = priceCharges(charges(), fees);
  const parties = billingParties(enc, BASE);
  t.same(parties, { provider: { reference: 'Organization/org-clinic' }, practitioner: { reference: 'Practitioner/pr-smith' } });
  const identifier = [{ system: 'urn:flint:bill', value: 'b-1' }];
  const claim: Claim = claimFor({ encounter: enc, patient: 'Patient/pat-bob', ...priced, coverage, diagnoses, parties, identifier, created: '2026-10-13' });
  t.equal(claim.resourceType, 'Claim');
  t.equal(claim.type.coding?.[0]?.code, 'professional');
  t.equal(claim.use, 'claim');
  t.same(claim.insurer, { reference: 'Organization/org-payer' });
  t.same(claim.insurance, [{ sequence: 1, focal: true, coverage: { reference: 'Coverage/cov-bob' } }]);
  t.same(claim.billablePeriod, { start: '2026-10-12', end: '2026-10-12' });
  t.same(claim.item?.map((i) => [i.sequence, i.productOrService.coding?.[0]?.code, i.unitPrice?.value, i.net?.value, i.diagnosisSequence, i.careTeamSequence]),
    [[1, '99214', 165, 165, [1, 2], [1]], [2, '83036', 28.5, 28.5, [1, 2], [1]]]);
  t.same(claim.total, { value: 193.5, currency: 'USD' });
  t.same(claim.careTeam?.[0]?.provider, { reference: 'Practitioner/pr-smith' });
  t.same(claim.identifier, identifier);
  const bare = { ...enc, serviceProvider: undefined, participant: [] };
  t.throws(() => billingParties(bare, BASE), /names no serviceProvider or Practitioner/);
});

t.test('the Invoice: base price per line, the insurer\'s part as a deduction, draft when insured, issued when self-pay', async (t) => {
  const priced = priceCharges(charges(), fees);
  const coverage = fixture<Coverage>('Coverage', 'cov-bob');
  const copay: Coverage = { ...coverage, costToBeneficiary: [{ type: { coding: [{ code: 'copay' }] }, valueMoney: { value: 25, currency: 'USD' } }] };
  const share = patientShareCents(copay, priced.total);
  t.equal(share.cents, 2500);
  const shares = allocate(priced.lines.map((l) => l.net), share.cents);
  t.equal(shares.reduce((a, b) => a + b, 0), 2500, 'the lines add up to the share');
  const lines = priced.lines.map((l, i) => ({ sequence: i + 1, chargeItem: `ChargeItem/${l.charge.id}`, net: l.net, share: shares[i] ?? 0 }));
  const base = { patient: 'Patient/pat-bob', lines, currency: 'USD', total: priced.total, identifier: [{ system: 'urn:flint:bill', value: 'b-1' }], date: '2026-10-13T10:00:00Z' };
  const insured = invoiceFor({ ...base, insured: true, share: share.cents, issuer: { reference: 'Organization/org-clinic' } });
  t.equal(insured.status, 'draft');
  t.same(insured.totalGross, { value: 193.5, currency: 'USD' });
  t.same(insured.totalNet, { value: 25, currency: 'USD' });
  t.same(insured.lineItem?.[0]?.priceComponent?.map((p) => [p.type, p.amount?.value]), [['base', 165], ['deduction', 165 - (shares[0] ?? 0) / 100]]);
  const selfPay = invoiceFor({ ...base, insured: false, share: patientShareCents(undefined, priced.total).cents });
  t.equal(selfPay.status, 'issued');
  t.same(selfPay.totalNet, { value: 193.5, currency: 'USD' });
  t.same(selfPay.lineItem?.map((l) => l.priceComponent?.length), [1, 1], 'no deduction without an insurer');
});

t.test('adjudication: eligible = net, copay from the Coverage, benefit and payment = the rest', async (t) => {
  const coverage: Coverage = { ...fixture<Coverage>('Coverage', 'cov-bob'), costToBeneficiary: [{ type: { coding: [{ code: 'copaypct' }] }, valueQuantity: { value: 20, unit: '%' } }] };
  const claim = fixture<Claim>('Claim', 'claim-bob-1');
  const nets = (claim.item ?? []).map((i) => Math.round((i.net?.value ?? (i.unitPrice?.value ?? 0) * (i.quantity?.value ?? 1)) * 100));
  const total = nets.reduce((a, b) => a + b, 0);
  const response: ClaimResponse = adjudication(claim, coverage, '2026-10-14T08:00:00Z');
  t.equal(response.outcome, 'complete');
  t.same(response.request, { reference: 'Claim/claim-bob-1' });
  t.same(response.insurer, claim.insurer);
  const totals = Object.fromEntries((response.total ?? []).map((x) => [x.category.coding?.[0]?.code, Math.round((x.amount.value ?? 0) * 100)]));
  t.same(totals, { submitted: total, eligible: total, copay: Math.round(total * 0.2), benefit: total - Math.round(total * 0.2) });
  t.equal(Math.round((response.payment?.amount?.value ?? 0) * 100), total - Math.round(total * 0.2));
  t.equal(response.item?.length, claim.item?.length, 'one adjudicated item per claim item');
  const none = adjudication(claim, undefined, '2026-10-14T08:00:00Z');
  t.equal(Math.round((none.payment?.amount?.value ?? 0) * 100), total, 'a Coverage the payer does not hold: no patient share');
  t.throws(() => adjudication({ ...claim, insurer: undefined } as unknown as Claim & { id: string }, undefined, '2026-10-14'), /no insurer/);
});

t.test('the payer\'s answer settles the draft Invoice: issued with the adjudicated share, cancelled at 0', async (t) => {
  const enc = encounter();
  const priced = priceCharges(charges(), fees);
  const coverage = fixture<Coverage>('Coverage', 'cov-bob');
  const parties = billingParties(enc, BASE);
  const identifier = [{ system: 'urn:flint:bill', value: 'b-1' }];
  const claim = { ...claimFor({ encounter: enc, patient: 'Patient/pat-bob', ...priced, coverage, diagnoses: [], parties, identifier, created: '2026-10-13' }), id: 'c-1' };
  const lines = priced.lines.map((l, i) => ({ sequence: i + 1, chargeItem: `ChargeItem/${l.charge.id}`, net: l.net, share: 0 }));
  const draft: Invoice = invoiceFor({ patient: 'Patient/pat-bob', lines, currency: 'USD', insured: true, total: priced.total, share: 0, identifier, date: '2026-10-13T10:00:00Z' });
  const tenPct = adjudication(claim, { ...coverage, costToBeneficiary: [{ valueQuantity: { value: 10, unit: '%' } }] }, '2026-10-14T08:00:00Z');
  const settled = settledInvoice(draft, claim, tenPct);
  t.equal(settled.invoice.status, 'issued');
  t.equal(settled.share, Math.round(priced.total / 10));
  t.same(settled.invoice.totalNet, { value: Math.round(priced.total / 10) / 100, currency: 'USD' });
  const all = settledInvoice(draft, claim, adjudication(claim, coverage, '2026-10-14T08:00:00Z'));
  t.equal(all.invoice.status, 'cancelled', 'the payer pays everything');
  t.equal(all.share, 0);
});

t.test('checking in opens an in-progress Encounter for the Appointment\'s patient, practitioners and locations', async (t) => {
  const appt = fixture<Appointment>('Appointment', 'appt-bob-2');
  const enc = encounterFor(BASE, appt.id, appt, '2026-12-14T20:00:00Z');
  t.equal(enc?.status, 'in-progress');
  t.same(enc?.subject, { reference: 'Patient/pat-bob' });
  t.same(enc?.appointment, [{ reference: 'Appointment/appt-bob-2' }]);
  t.same(enc?.period, { start: '2026-12-14T20:00:00Z' });
  t.ok(enc?.participant?.some((p) => p.individual?.reference === 'Practitioner/pr-smith'));
  const noPatient = { ...appt, participant: (appt.participant ?? []).filter((p) => !p.actor?.reference?.startsWith('Patient/')) };
  t.equal(encounterFor(BASE, appt.id, noPatient, '2026-12-14T20:00:00Z'), undefined, 'no patient, no visit');
});

t.test('practice figures: counts per status, no-show rate over kept or missed, sums per currency', async (t) => {
  const appts = clinic.filter((r) => r.resourceType === 'Appointment') as unknown as Appointment[];
  const noshow: Appointment = { ...(appts[0] as Appointment), id: 'x', status: 'noshow' };
  const claim = fixture<Claim>('Claim', 'claim-bob-1');
  const invoice = fixture<Invoice>('Invoice', 'inv-bob-1');
  const figures = practiceFigures({ start: '2026-01-01', end: '2026-12-31' }, { appointments: [...appts, noshow], claims: [claim], responses: [], invoices: [invoice] });
  const p = (name: string) => figures.parameter?.filter((x) => x.name === name) ?? [];
  t.equal(p('appointments')[0]?.part?.[0]?.valueInteger, appts.length + 1);
  t.equal(p('noShowRate')[0]?.valueDecimal, 0.5, 'one fulfilled, one no-show');
  t.same(p('billed').map((x) => x.valueMoney), [claim.total]);
  t.same(p('paid').map((x) => x.valueMoney), [{ value: 0, currency: 'USD' }]);
  t.same(p('patientInvoiced').map((x) => x.valueMoney), [invoice.totalNet]);
});
