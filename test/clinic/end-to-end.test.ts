// The whole clinic path through the public API alone, with a second Flint as the payer:
// book → check in → encounter with observations and a prescription → finish → charges →
// claim → payer → ClaimResponse → invoice. Every value a step needs is read from an earlier
// answer, never typed again.
import t from 'tap';
import { listenFlint } from '../helpers/auth.js';
import { clinic, FHIR } from '../helpers/app.js';
import { feeSchedule, CPT, LOINC, LAB, VITALS } from '../helpers/clinic.js';

type Json = Record<string, any>;

t.test('book → check in → visit → finish → charges → claim to the payer → ClaimResponse → invoice', async (t) => {
  const payer = await listenFlint(t, { AUTH: 'off' });
  const flint = await listenFlint(t, { AUTH: 'off', PAYER_URL: payer.base });
  const api = async (method: string, path: string, payload?: unknown, type = FHIR): Promise<{ status: number; body: Json }> => {
    const res = await fetch(`${flint.base}/${path}`, { method, headers: { accept: FHIR, ...(payload !== undefined ? { 'content-type': type } : {}) }, ...(payload !== undefined ? { body: JSON.stringify(payload) } : {}) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) as Json : {} };
  };
  const ok = async (method: string, path: string, payload?: unknown, type?: string): Promise<Json> => {
    const r = await api(method, path, payload, type);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body).slice(0, 400)}`);
    return r.body;
  };
  const patch = (path: string, ops: unknown[]) => ok('PATCH', path, ops, 'application/json-patch+json');
  const matches = (bundle: Json): Json[] => (bundle.entry ?? []).filter((e: Json) => e.search?.mode === 'match').map((e: Json) => e.resource);

  // The practice as it exists before the day: the demo clinic, its fee schedule, Dr Smith's
  // schedule with two free slots, and Alice's coverage with a 25.00 co-pay.
  const setup = { resourceType: 'Bundle', type: 'transaction', entry: [
    ...clinic(), ...feeSchedule(),
    { resourceType: 'Schedule', id: 'sch-smith', active: true, actor: [{ reference: 'Practitioner/pr-smith' }] },
    { resourceType: 'Slot', id: 'slot-1', schedule: { reference: 'Schedule/sch-smith' }, status: 'free', start: '2026-12-14T15:00:00Z', end: '2026-12-14T15:30:00Z' },
    { resourceType: 'Slot', id: 'slot-2', schedule: { reference: 'Schedule/sch-smith' }, status: 'free', start: '2026-12-14T15:30:00Z', end: '2026-12-14T16:00:00Z' },
  ].map((r: Json) => ({ resource: r.id === 'cov-alice' ? { ...r, costToBeneficiary: [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/coverage-copay-type', code: 'copay' }] }, valueMoney: { value: 25, currency: 'USD' } }] } : r, request: { method: 'PUT', url: `${r.resourceType}/${r.id}` } })) };
  await ok('POST', '', setup);

  // 1. Book: the first free slot of Dr Smith that week.
  const free = matches(await ok('GET', 'Slot?schedule.actor=Practitioner/pr-smith&status=free&start=ge2026-12-14&start=lt2026-12-21&_sort=start'));
  t.same(free.map((s) => s.id), ['slot-1', 'slot-2']);
  const slot = free[0] as Json;
  const appointment = await ok('POST', 'Appointment', {
    resourceType: 'Appointment', status: 'booked', slot: [{ reference: `Slot/${slot.id}` }], start: slot.start, end: slot.end,
    participant: [{ actor: { reference: 'Patient/pat-alice' }, status: 'accepted' }, { actor: { reference: (await ok('GET', `Schedule/${slot.schedule.reference.split('/')[1]}`)).actor[0].reference }, status: 'accepted' }],
  });
  t.equal((await ok('GET', `Slot/${slot.id}`)).status, 'busy', 'booking took the slot');
  t.same(matches(await ok('GET', 'Slot?schedule.actor=Practitioner/pr-smith&status=free&start=ge2026-12-14&start=lt2026-12-21')).map((s) => s.id), ['slot-2']);

  // 2. Check in: the Appointment arrives, the visit opens.
  await patch(`Appointment/${appointment.id}`, [{ op: 'replace', path: '/status', value: 'arrived' }]);
  const [encounter] = matches(await ok('GET', `Encounter?appointment=Appointment/${appointment.id}`));
  t.equal(encounter?.status, 'in-progress');
  t.equal(encounter?.subject.reference, 'Patient/pat-alice');
  t.same(encounter?.participant.map((p: Json) => p.individual.reference), ['Practitioner/pr-smith']);
  const enc = `Encounter/${encounter?.id}`;
  const subject = encounter?.subject;

  // 3. The visit: a weight, a CBC, a prescription.
  await ok('POST', 'Observation', { resourceType: 'Observation', status: 'final', category: [VITALS], code: { coding: [{ system: LOINC, code: '29463-7' }] }, subject, encounter: { reference: enc }, valueQuantity: { value: 64, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' } });
  await ok('POST', 'Observation', { resourceType: 'Observation', status: 'final', category: [LAB], code: { coding: [{ system: LOINC, code: '58410-2' }] }, subject, encounter: { reference: enc } });
  await ok('POST', 'MedicationRequest', {
    resourceType: 'MedicationRequest', status: 'active', intent: 'order', subject, encounter: { reference: enc },
    medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '860975' }] },
  });

  // 4. Finish: the clinician codes the visit (CPT 99213) and closes it.
  await patch(enc, [{ op: 'add', path: '/type', value: [{ coding: [{ system: CPT, code: '99213' }] }] }, { op: 'replace', path: '/status', value: 'finished' }]);
  t.equal((await ok('GET', `Appointment/${appointment.id}`)).status, 'fulfilled', 'the appointment was kept');

  // 5. Charges, made when the encounter finished.
  const charges = matches(await ok('GET', `ChargeItem?context=${enc}`));
  t.same(charges.map((c) => c.code.coding[0].code).sort(), ['85025', '99213'], 'the visit and the CBC; not the weight, not the prescription');

  // 6. Bill, then 7. send the claim to the payer.
  const billed = await ok('POST', `${enc}/$bill`);
  const claim = billed.parameter.find((p: Json) => p.name === 'claim').resource;
  t.same(claim.total, { value: 128, currency: 'USD' }, '110.00 + 18.00');
  const sent = await ok('POST', `Claim/${claim.id}/$submit-to-payer`);
  const response = sent.parameter.find((p: Json) => p.name === 'claimResponse').resource;
  t.equal(response.outcome, 'complete');
  t.same(response.payment.amount, { value: 103, currency: 'USD' }, 'the payer pays all but the co-pay');
  const atPayer = await (await fetch(`${payer.base}/ClaimResponse/${response.identifier[0].value}`)).json() as Json;
  t.same(atPayer.payment, response.payment, 'the payer kept the same answer');

  // 8. The recorded ClaimResponse and the patient's invoice.
  t.same(matches(await ok('GET', `ClaimResponse?request=Claim/${claim.id}`)).map((r) => r.id), [response.id]);
  const [invoice] = matches(await ok('GET', `Invoice?subject=Patient/pat-alice&status=issued`));
  t.same(invoice?.totalNet, { value: 25, currency: 'USD' });
  t.same(invoice?.totalGross, { value: 128, currency: 'USD' });
  t.same(invoice?.lineItem.map((l: Json) => l.chargeItemReference.reference).sort(), charges.map((c) => `ChargeItem/${c.id}`).sort());
  for (const c of matches(await ok('GET', `ChargeItem?context=${enc}`))) t.equal(c.status, 'billed');
});
