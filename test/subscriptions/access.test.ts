// A subscription hears only what its creator may see: the creator's access constraint (patient
// compartment, granted types) is kept with it and applied when matching, as GET search applies it.
import t from 'tap';
import { authApp, seedClinic, userToken, withToken } from '../helpers/auth.js';
import { body } from '../helpers/app.js';
import { startReceiver } from '../helpers/receiver.js';

const FHIR = 'application/fhir+json';

t.test('a subscription made in a patient context is confined to that patient\'s compartment', async (t) => {
  const app = await authApp(t, { SUBSCRIPTION_ALLOW_INSECURE: '1', RATE_LIMIT: '0' });
  await seedClinic(app);
  const rx = await startReceiver(t);
  const dr = withToken(app, await userToken(app, 'desk', 'dr-smith', 'user/*.cruds'));
  // An app launched for alice: it manages its own Subscriptions, and reads alice's Observations only.
  const app4alice = withToken(app, await userToken(app, 'portal', 'dr-smith', 'launch/patient user/Subscription.cruds patient/Observation.rs', 'pat-alice'));
  const sub = { resourceType: 'Subscription', status: 'requested', reason: 'x', criteria: 'Observation?status=final', channel: { type: 'rest-hook', endpoint: rx.url, payload: FHIR } };
  const created = await app4alice.inject({ method: 'POST', url: '/fhir/Subscription', payload: JSON.stringify(sub), headers: { 'content-type': FHIR } });
  t.equal(created.statusCode, 201, created.body);
  await rx.waitFor(1);
  const obs = (p: string) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${p}` } });
  const written: string[] = [];
  for (const p of ['pat-bob', 'pat-alice', 'pat-chloe']) {
    const res = await dr.inject({ method: 'POST', url: '/fhir/Observation', payload: JSON.stringify(obs(p)), headers: { 'content-type': FHIR } });
    t.equal(res.statusCode, 201);
    written.push(body(res).id as string);
  }
  const got = await rx.waitFor(2);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(rx.received.length, 2, 'one notification');
  t.equal(got[1]?.url, `/hook/Observation/${written[1] ?? ''}`, "it is alice's");
  // The same criteria searched with the creator's token find the same one (one IR, one meaning).
  const found = body(await app4alice.inject({ url: `/fhir/Observation?status=final&_id=${written.join(',')}` }));
  t.same((found.entry ?? []).map((e: { resource: { id: string } }) => e.resource.id), [written[1]]);
});
