// Encounter/[id]/$bill: ChargeItems → a professional Claim to the insurer and an Invoice for the
// patient's share; ChargeItems become billed and point at both.
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { testApp, post, put, body, ids } from '../helpers/app.js';
import { clinic } from '../helpers/app.js';
import { loadClinic, patchJson, operation, outputs, CPT, LOINC, LAB } from '../helpers/clinic.js';

async function finishedVisit(app: FastifyInstance, id: string, patient: string): Promise<void> {
  const enc = `Encounter/${id}`;
  const r = await put(app, `/fhir/${enc}`, {
    resourceType: 'Encounter', id, status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
    type: [{ coding: [{ system: CPT, code: '99214' }] }],
    subject: { reference: `Patient/${patient}` },
    participant: [{ individual: { reference: 'Practitioner/pr-smith' } }],
    serviceProvider: { reference: 'Organization/org-clinic' },
    period: { start: '2026-12-14T09:00:00Z', end: '2026-12-14T09:30:00Z' },
    diagnosis: [{ condition: { reference: 'Condition/cond-bob-diabetes' }, rank: 1 }],
  });
  if (r.statusCode >= 300) throw new Error(r.body);
  const subject = { reference: `Patient/${patient}` };
  await post(app, '/fhir/Observation', { resourceType: 'Observation', status: 'final', category: [LAB], code: { coding: [{ system: LOINC, code: '4548-4' }] }, subject, encounter: { reference: enc } });
  await post(app, '/fhir/Condition', {
    resourceType: 'Condition', code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'I10', display: 'Essential hypertension' }] }, subject, encounter: { reference: enc },
  });
  const fin = await patchJson(app, `/fhir/${enc}`, [{ op: 'replace', path: '/status', value: 'finished' }]);
  if (fin.statusCode !== 200) throw new Error(fin.body);
}

t.test('$bill makes a Claim for the insurer and a draft Invoice for the co-pay; ChargeItems become billed', async (t) => {
  const app = await testApp(t);
  await loadClinic(app);
  const cov = clinic().find((r) => r.id === 'cov-bob') as Record<string, unknown>;
  await put(app, '/fhir/Coverage/cov-bob', { ...cov, costToBeneficiary: [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/coverage-copay-type', code: 'copay' }] }, valueMoney: { value: 25, currency: 'USD' } }] });
  await finishedVisit(app, 'enc-b1', 'pat-bob');
  const res = await operation(app, '/fhir/Encounter/enc-b1/$bill');
  t.equal(res.statusCode, 200, res.body);
  const [claim] = outputs(body(res), 'claim');
  const [invoice] = outputs(body(res), 'invoice');
  t.ok(claim?.id && invoice?.id, 'both stored');
  t.equal(claim?.type.coding[0].code, 'professional');
  t.equal(claim?.insurer.reference, 'Organization/org-payer');
  t.equal(claim?.insurance[0].coverage.reference, 'Coverage/cov-bob');
  t.equal(claim?.provider.reference, 'Organization/org-clinic');
  t.same(claim?.diagnosis.map((d: any) => d.diagnosisCodeableConcept.coding[0].code), ['E11.9', 'I10'], 'Encounter.diagnosis first, then the encounter\'s Conditions');
  t.same(claim?.item.map((i: any) => [i.productOrService.coding[0].code, i.quantity.value, i.unitPrice.value, i.net.value]).sort(), [['83036', 1, 28.5, 28.5], ['99214', 1, 165, 165]]);
  t.same(claim?.total, { value: 193.5, currency: 'USD' });
  t.equal(invoice?.status, 'draft', 'an estimate until the payer answers');
  t.same(invoice?.totalGross, { value: 193.5, currency: 'USD' });
  t.same(invoice?.totalNet, { value: 25, currency: 'USD' });
  const lineShares = invoice?.lineItem.map((l: any) => l.priceComponent[0].amount.value - (l.priceComponent[1]?.amount.value ?? 0));
  t.equal(Math.round(lineShares.reduce((a: number, b: number) => a + b, 0) * 100), 2500, 'the lines add up to the co-pay');
  // Stored and readable, and the same identifier ties them.
  t.equal((await app.inject(`/fhir/Claim/${claim?.id}`)).statusCode, 200);
  t.same(await ids(app, `/fhir/Invoice?identifier=${encodeURIComponent(`urn:flint:bill|${claim?.identifier[0].value}`)}`), [`Invoice/${invoice?.id}`]);
  const charges = (body(await app.inject('/fhir/ChargeItem?context=Encounter/enc-b1')).entry ?? []).map((e: any) => e.resource);
  t.equal(charges.length, 2);
  for (const c of charges) {
    t.equal(c.status, 'billed');
    t.same(c.supportingInformation.map((r: any) => r.reference), [`Claim/${claim?.id}`, `Invoice/${invoice?.id}`]);
  }
  const again = await operation(app, '/fhir/Encounter/enc-b1/$bill');
  t.equal(again.statusCode, 422, 'nothing left to bill');
  t.equal(body(again).issue[0].code, 'business-rule');
  t.equal((await ids(app, '/fhir/Claim?patient=Patient/pat-bob')).length, 2, 'the fixture claim and this one; no second');
});

t.test('without Coverage there is no Claim and the Invoice is for everything, issued', async (t) => {
  const app = await testApp(t);
  await loadClinic(app);
  await finishedVisit(app, 'enc-c1', 'pat-chloe');
  const res = await operation(app, '/fhir/Encounter/enc-c1/$bill');
  t.equal(res.statusCode, 200, res.body);
  t.same(outputs(body(res), 'claim'), []);
  const [invoice] = outputs(body(res), 'invoice');
  t.equal(invoice?.status, 'issued');
  t.same(invoice?.totalNet, { value: 193.5, currency: 'USD' });
  t.equal(invoice?.lineItem.length, 2);
  t.equal((await operation(app, '/fhir/Encounter/enc-none/$bill')).statusCode, 404);
});
