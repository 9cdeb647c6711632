// The clinic operations under SMART access control: each enforces the caller's scopes and
// patient compartment, like every other route.
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { authApp, seedClinic, userToken, withToken } from '../helpers/auth.js';
import { body, post } from '../helpers/app.js';
import { loadFeesAndSlots } from '../helpers/clinic.js';

async function setup(t: Parameters<typeof authApp>[0]): Promise<{ app: FastifyInstance; dr: FastifyInstance }> {
  const app = await authApp(t);
  await seedClinic(app);
  const dr = withToken(app, await userToken(app, 'desk', 'dr-smith', 'user/*.cruds'));
  await loadFeesAndSlots(dr);
  return { app, dr };
}

const op = (app: FastifyInstance, url: string) => app.inject({ method: 'POST', url });

t.test('a patient token cannot charge, bill, send or report on another patient', async (t) => {
  const { app, dr } = await setup(t);
  const alice = withToken(app, await userToken(app, 'portal', 'alice', 'launch/patient patient/*.cruds'));
  t.equal((await op(alice, '/fhir/Encounter/enc-bob-1/$charge')).statusCode, 404, 'Bob\'s encounter looks absent');
  t.equal((await op(alice, '/fhir/Encounter/enc-bob-1/$bill')).statusCode, 404);
  t.equal((await op(alice, '/fhir/Claim/claim-bob-1/$submit-to-payer')).statusCode, 404);
  const mine = body(await alice.inject('/fhir/$practice-report?start=2026-01-01&end=2026-12-31'));
  const all = body(await dr.inject('/fhir/$practice-report?start=2026-01-01&end=2026-12-31'));
  const claims = (r: Record<string, any>) => r.parameter.find((p: any) => p.name === 'claims').part[0].valueInteger;
  t.equal(claims(all), 1, 'the practice sees Bob\'s claim');
  t.equal(claims(mine), 0, 'Alice does not');
  t.equal((await op(dr, '/fhir/Encounter/enc-bob-1/$charge')).statusCode, 200);
});

t.test('scopes: charging needs ChargeItem create; billing needs Claim and Invoice create', async (t) => {
  const { app } = await setup(t);
  const reader = withToken(app, await userToken(app, 'desk2', 'dr-smith', 'user/Encounter.r user/ChargeItem.r'));
  const res = await op(reader, '/fhir/Encounter/enc-bob-1/$charge');
  t.equal(res.statusCode, 403);
  t.match(body(res).issue[0].diagnostics, /creating ChargeItem/);
  const charger = withToken(app, await userToken(app, 'desk3', 'dr-smith', 'user/Encounter.r user/ChargeItem.cru'));
  t.equal((await op(charger, '/fhir/Encounter/enc-bob-1/$charge')).statusCode, 200);
  t.equal((await op(charger, '/fhir/Encounter/enc-bob-1/$bill')).statusCode, 403);
});

t.test('a patient books for herself; a clash with another patient\'s booking does not reveal it', async (t) => {
  const { app, dr } = await setup(t);
  const alice = withToken(app, await userToken(app, 'portal', 'alice', 'launch/patient patient/*.cruds'));
  const booking = (patient: string, slot?: string) => ({
    resourceType: 'Appointment', status: 'booked', start: '2026-12-14T09:00:00Z', end: '2026-12-14T09:30:00Z',
    ...(slot ? { slot: [{ reference: `Slot/${slot}` }] } : {}),
    participant: [{ actor: { reference: `Patient/${patient}` }, status: 'accepted' }, { actor: { reference: 'Practitioner/pr-smith' }, status: 'accepted' }],
  });
  const bob = await post(dr, '/fhir/Appointment', booking('pat-bob'));
  t.equal(bob.statusCode, 201);
  const clash = await post(alice, '/fhir/Appointment', booking('pat-alice'));
  t.equal(clash.statusCode, 409);
  t.notMatch(clash.body, body(bob).id, 'Bob\'s appointment is not named');
  t.equal((await post(dr, '/fhir/Appointment', { ...booking('pat-bob'), status: 'cancelled' })).statusCode, 201);
  await dr.inject({ method: 'PATCH', url: `/fhir/Appointment/${body(bob).id}`, payload: JSON.stringify([{ op: 'replace', path: '/status', value: 'cancelled' }]), headers: { 'content-type': 'application/json-patch+json' } });
  const mine = await post(alice, '/fhir/Appointment', booking('pat-alice', 'slot-a'));
  t.equal(mine.statusCode, 201, 'her booking takes the Slot although her token cannot write Slots');
  t.equal(body(await dr.inject('/fhir/Slot/slot-a')).status, 'busy');
});
