// Charges: Encounter/[id]/$charge and finishing an Encounter turn its coded services into
// ChargeItems priced by the fee schedule; idempotent; unpriced codes are reported.
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { testApp, post, put, body, ids } from '../helpers/app.js';
import { loadClinic, patchJson, operation, outputs, feeSchedule, CPT, LOINC, LAB, VITALS } from '../helpers/clinic.js';

/** An in-progress visit of Alice with a CBC, a weight, a venipuncture and an unpriced procedure. */
async function visit(app: FastifyInstance, id: string): Promise<void> {
  const enc = `Encounter/${id}`;
  const res = await put(app, `/fhir/${enc}`, {
    resourceType: 'Encounter', id, status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
    type: [{ coding: [{ system: CPT, code: '99213' }] }],
    subject: { reference: 'Patient/pat-alice' },
    participant: [{ individual: { reference: 'Practitioner/pr-smith' } }],
    serviceProvider: { reference: 'Organization/org-clinic' },
    period: { start: '2026-12-14T09:00:00Z' },
  });
  if (res.statusCode >= 300) throw new Error(res.body);
  const subject = { reference: 'Patient/pat-alice' };
  for (const r of [
    { resourceType: 'Observation', status: 'final', category: [LAB], code: { coding: [{ system: LOINC, code: '58410-2' }] }, subject, encounter: { reference: enc } },
    { resourceType: 'Observation', status: 'final', category: [VITALS], code: { coding: [{ system: LOINC, code: '29463-7' }] }, subject, encounter: { reference: enc }, valueQuantity: { value: 70, unit: 'kg' } },
    { resourceType: 'Observation', status: 'preliminary', category: [LAB], code: { coding: [{ system: LOINC, code: '24323-8' }] }, subject, encounter: { reference: enc } },
    { resourceType: 'Procedure', status: 'completed', code: { coding: [{ system: 'http://snomed.info/sct', code: '82078001' }] }, subject, encounter: { reference: enc } },
    { resourceType: 'Procedure', status: 'completed', code: { coding: [{ system: CPT, code: '11111' }] }, subject, encounter: { reference: enc } },
  ]) {
    const r2 = await post(app, '/fhir/' + r.resourceType, r);
    if (r2.statusCode !== 201) throw new Error(r2.body);
  }
}

const codes = (items: Record<string, any>[]): string[] => items.map((c) => c.code.coding[0].code as string).sort();

t.test('$charge creates one priced ChargeItem per coded service, reports the unpriced, and is idempotent', async (t) => {
  const app = await testApp(t);
  await loadClinic(app);
  await visit(app, 'enc-v1');
  const res = await operation(app, '/fhir/Encounter/enc-v1/$charge');
  t.equal(res.statusCode, 200, res.body);
  const answer = body(res);
  t.equal(answer.resourceType, 'Parameters');
  const items = outputs(answer, 'chargeItem');
  // 99213 from Encounter.type, 85025 from the CBC (LOINC 58410-2), 36415 from the venipuncture
  // (SNOMED 82078001); the weight is a vital sign and the CMP is only preliminary.
  t.same(codes(items), ['36415', '85025', '99213']);
  for (const c of items) {
    t.equal(c.status, 'billable');
    t.equal(c.subject.reference, 'Patient/pat-alice');
    t.equal(c.context.reference, 'Encounter/enc-v1');
    t.match(c.definitionCanonical[0], /^http:\/\/riverside\.example\.org\/fhir\/ChargeItemDefinition\/fee-\w+\|2026$/);
  }
  const cbc = items.find((c) => c.code.coding[0].code === '85025');
  t.match(cbc?.service?.[0]?.reference, /^Observation\//, 'the ChargeItem points at the service it charges');
  const [outcome] = outputs(answer, 'outcome');
  const warnings = (outcome?.issue ?? []).filter((i: { severity: string }) => i.severity === 'warning');
  t.equal(warnings.length, 1, 'the unpriced procedure is reported');
  t.match(warnings[0].diagnostics, /No ChargeItemDefinition prices Procedure\/[^ ]+ \(http:\/\/www\.ama-assn\.org\/go\/cpt\|11111\)/);

  const again = body(await operation(app, '/fhir/Encounter/enc-v1/$charge'));
  t.same(codes(outputs(again, 'chargeItem')), ['36415', '85025', '99213'], 'the same three, not six');
  t.match(outputs(again, 'outcome')[0]?.issue[0].diagnostics, /^0 ChargeItem\(s\) created/);
  t.equal((await ids(app, '/fhir/ChargeItem?context=Encounter/enc-v1')).length, 3);
});

t.test('finishing an Encounter charges it once, in the same transaction; errors are OperationOutcomes', async (t) => {
  const app = await testApp(t);
  await loadClinic(app);
  await visit(app, 'enc-v2');
  t.same(await ids(app, '/fhir/ChargeItem?context=Encounter/enc-v2'), [], 'nothing is charged while in progress');
  const finished = await patchJson(app, '/fhir/Encounter/enc-v2', [{ op: 'replace', path: '/status', value: 'finished' }]);
  t.equal(finished.statusCode, 200);
  t.equal((await ids(app, '/fhir/ChargeItem?context=Encounter/enc-v2')).length, 3);
  const enc = body(finished);
  t.equal((await put(app, '/fhir/Encounter/enc-v2', { ...enc, status: 'finished' })).statusCode, 200);
  t.equal((await ids(app, '/fhir/ChargeItem?context=Encounter/enc-v2')).length, 3, 'saving it again charges nothing more');
  t.equal((await operation(app, '/fhir/Encounter/nope/$charge')).statusCode, 404);
  t.equal(body(await operation(app, '/fhir/Encounter/nope/$charge')).resourceType, 'OperationOutcome');
  t.equal((await operation(app, '/fhir/Encounter/bad$id/$charge')).statusCode, 400);
  // Imported already-finished visits are charged on request only.
  t.same(await ids(app, '/fhir/ChargeItem?context=Encounter/enc-bob-1'), []);
  const bob = body(await operation(app, '/fhir/Encounter/enc-bob-1/$charge'));
  t.same(codes(outputs(bob, 'chargeItem')), ['83036'], 'the HbA1c lab (LOINC 4548-4) is priced as CPT 83036');
});

t.test('finished in a transaction Bundle: the records written after the Encounter are charged too', async (t) => {
  const app = await testApp(t);
  await loadClinic(app);
  await visit(app, 'enc-v3');
  const enc = body(await app.inject('/fhir/Encounter/enc-v3'));
  const bundle = {
    resourceType: 'Bundle', type: 'transaction', entry: [
      { request: { method: 'PUT', url: 'Encounter/enc-v3' }, resource: { ...enc, status: 'finished' } },
      { request: { method: 'PUT', url: 'Procedure/flu-shot' }, resource: {
        resourceType: 'Procedure', id: 'flu-shot', status: 'completed', subject: { reference: 'Patient/pat-alice' }, encounter: { reference: 'Encounter/enc-v3' },
        code: { coding: [{ system: 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets', code: 'G0008' }] },
      } },
    ],
  };
  const res = await post(app, '/fhir', bundle);
  t.equal(res.statusCode, 200, res.body);
  const charged = (body(await app.inject('/fhir/ChargeItem?context=Encounter/enc-v3')).entry ?? []).map((e: any) => e.resource.code.coding[0].code).sort();
  t.same(charged, ['36415', '85025', '99213', 'G0008']);
});

t.test('next year\'s fee schedule prices next year\'s visits; a visit without a subject still finishes', async (t) => {
  const app = await testApp(t);
  await loadClinic(app);
  const fee2026 = feeSchedule().find((d) => d.id === 'fee-99213') as Record<string, any>;
  const fee2027 = {
    ...fee2026, id: 'fee-99213-2027', version: '2027', effectivePeriod: { start: '2027-01-01', end: '2027-12-31' },
    propertyGroup: [{ priceComponent: [{ type: 'base', amount: { value: 121, currency: 'USD' } }] }],
  };
  t.equal((await put(app, '/fhir/ChargeItemDefinition/fee-99213-2027', fee2027)).statusCode, 201);
  const visitOn = async (id: string, start: string, subject = true) => {
    const res = await put(app, `/fhir/Encounter/${id}`, {
      resourceType: 'Encounter', id, status: 'in-progress', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      type: [{ coding: [{ system: CPT, code: '99213' }] }], ...(subject ? { subject: { reference: 'Patient/pat-alice' } } : {}), period: { start },
      serviceProvider: { reference: 'Organization/org-clinic' },
    });
    t.equal(res.statusCode, 201);
    return patchJson(app, `/fhir/Encounter/${id}`, [{ op: 'replace', path: '/status', value: 'finished' }]);
  };
  await visitOn('enc-2026', '2026-06-01T09:00:00Z');
  await visitOn('enc-2027', '2027-02-01T09:00:00Z');
  const canonical = async (id: string) => body(await app.inject(`/fhir/ChargeItem?context=Encounter/${id}`)).entry[0].resource.definitionCanonical[0];
  t.match(await canonical('enc-2026'), /fee-99213\|2026$/);
  t.match(await canonical('enc-2027'), /fee-99213\|2027$/, 'the same canonical url, the 2027 version');
  const billed = body(await operation(app, '/fhir/Encounter/enc-2027/$bill'));
  t.equal(outputs(billed, 'claim')[0]?.item[0].unitPrice.value, 121, 'and billed at the 2027 price');
  const anonymous = await visitOn('enc-anon', '2026-06-02T09:00:00Z', false);
  t.equal(anonymous.statusCode, 200, 'finishing is not blocked by what cannot be charged');
  t.same(await ids(app, '/fhir/ChargeItem?context=Encounter/enc-anon'), []);
  const asked = await operation(app, '/fhir/Encounter/enc-anon/$charge');
  t.equal(asked.statusCode, 422);
  t.match(body(asked).issue[0].diagnostics, /no subject/);
});
