// Scheduling: booking takes the Slot in the same transaction, double bookings are 409 even under
// concurrent requests, cancelling or a no-show frees the Slot; free-slot search by practitioner.
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { testApp, post, put, body, ids, load, clinic, FHIR } from '../helpers/app.js';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';

const schedule = (id: string, actor: string) => ({ resourceType: 'Schedule', id, active: true, actor: [{ reference: actor }] });
const slot = (id: string, sched: string, start: string, end: string, status = 'free') => ({
  resourceType: 'Slot', id, schedule: { reference: `Schedule/${sched}` }, status, start, end,
});
const appt = (slotId: string | undefined, start: string, end: string, patient = 'pat-alice', practitioner = 'pr-smith', status = 'booked') => ({
  resourceType: 'Appointment', status, start, end,
  ...(slotId ? { slot: [{ reference: `Slot/${slotId}` }] } : {}),
  participant: [
    { actor: { reference: `Patient/${patient}` }, status: 'accepted' },
    { actor: { reference: `Practitioner/${practitioner}` }, status: 'accepted' },
  ],
});

async function setup(app: FastifyInstance): Promise<void> {
  await load(app, clinic());
  await load(app, [
    schedule('sch-smith', 'Practitioner/pr-smith'), schedule('sch-jones', 'Practitioner/pr-jones'),
    slot('s-mon-9', 'sch-smith', '2026-12-14T09:00:00Z', '2026-12-14T09:30:00Z'),
    slot('s-mon-930', 'sch-smith', '2026-12-14T09:30:00Z', '2026-12-14T10:00:00Z'),
    slot('s-tue-9', 'sch-smith', '2026-12-15T09:00:00Z', '2026-12-15T09:30:00Z'),
    slot('s-next-mon', 'sch-smith', '2026-12-21T09:00:00Z', '2026-12-21T09:30:00Z'),
    slot('s-lunch', 'sch-smith', '2026-12-16T12:00:00Z', '2026-12-16T13:00:00Z', 'busy-unavailable'),
    slot('s-jones-9', 'sch-jones', '2026-12-14T09:00:00Z', '2026-12-14T09:30:00Z'),
  ] as never[]);
}

async function slotStatus(app: FastifyInstance, id: string): Promise<string> {
  return body(await app.inject(`/fhir/Slot/${id}`)).status as string;
}

t.test('booking an Appointment on a free Slot marks the Slot busy; a second booking is 409', async (t) => {
  const app = await testApp(t);
  await setup(app);
  const res = await post(app, '/fhir/Appointment', appt('s-mon-9', '2026-12-14T09:00:00Z', '2026-12-14T09:30:00Z'));
  t.equal(res.statusCode, 201, res.body);
  t.equal(await slotStatus(app, 's-mon-9'), 'busy');
  const again = await post(app, '/fhir/Appointment', appt('s-mon-9', '2026-12-14T09:00:00Z', '2026-12-14T09:30:00Z', 'pat-bob', 'pr-jones'));
  t.equal(again.statusCode, 409);
  t.equal(body(again).resourceType, 'OperationOutcome');
  t.equal(body(again).issue[0].code, 'conflict');
  t.match(body(again).issue[0].diagnostics, /Slot\/s-mon-9 is not free/);
  t.same(await ids(app, '/fhir/Appointment?slot=Slot/s-mon-9'), [`Appointment/${body(res).id}`], 'nothing was stored for the refused booking');
  const closed = await post(app, '/fhir/Appointment', appt('s-lunch', '2026-12-16T12:00:00Z', '2026-12-16T12:30:00Z'));
  t.equal(closed.statusCode, 409, 'a busy-unavailable Slot cannot be booked');
  const missing = await post(app, '/fhir/Appointment', appt('s-none', '2026-12-16T12:00:00Z', '2026-12-16T12:30:00Z'));
  t.equal(missing.statusCode, 422, 'a Slot that does not exist');
});

t.test('pending holds the Slot tentatively; proposed and waitlist do not hold it', async (t) => {
  const app = await testApp(t);
  await setup(app);
  const proposed = await post(app, '/fhir/Appointment', { ...appt('s-tue-9', '2026-12-15T09:00:00Z', '2026-12-15T09:30:00Z'), status: 'proposed' });
  t.equal(proposed.statusCode, 201);
  t.equal(await slotStatus(app, 's-tue-9'), 'free');
  const first = body(proposed);
  const pending = await put(app, `/fhir/Appointment/${first.id}`, { ...first, status: 'pending' });
  t.equal(pending.statusCode, 200);
  t.equal(await slotStatus(app, 's-tue-9'), 'busy-tentative');
  const second = body(pending);
  const booked = await put(app, `/fhir/Appointment/${first.id}`, { ...second, status: 'booked' });
  t.equal(booked.statusCode, 200, 'confirming keeps the Appointment its own Slot');
  t.equal(await slotStatus(app, 's-tue-9'), 'busy');
});

t.test('cancelling (PUT), a no-show (PATCH) and deleting free the Slot', async (t) => {
  const app = await testApp(t);
  await setup(app);
  const a = body(await post(app, '/fhir/Appointment', appt('s-mon-9', '2026-12-14T09:00:00Z', '2026-12-14T09:30:00Z')));
  const cancelled = await put(app, `/fhir/Appointment/${a.id}`, { ...a, status: 'cancelled' });
  t.equal(cancelled.statusCode, 200);
  t.equal(await slotStatus(app, 's-mon-9'), 'free');
  const b = body(await post(app, '/fhir/Appointment', appt('s-mon-9', '2026-12-14T09:00:00Z', '2026-12-14T09:30:00Z', 'pat-bob')));
  t.equal(await slotStatus(app, 's-mon-9'), 'busy', 'the freed Slot can be booked again');
  const noshow = await app.inject({
    method: 'PATCH', url: `/fhir/Appointment/${b.id}`, headers: { 'content-type': 'application/json-patch+json' },
    payload: JSON.stringify([{ op: 'replace', path: '/status', value: 'noshow' }]),
  });
  t.equal(noshow.statusCode, 200);
  t.equal(await slotStatus(app, 's-mon-9'), 'free');
  const c = body(await post(app, '/fhir/Appointment', appt('s-mon-9', '2026-12-14T09:00:00Z', '2026-12-14T09:30:00Z', 'pat-chloe')));
  t.equal(await slotStatus(app, 's-mon-9'), 'busy');
  t.equal((await app.inject({ method: 'DELETE', url: `/fhir/Appointment/${c.id}` })).statusCode, 200);
  t.equal(await slotStatus(app, 's-mon-9'), 'free');
  // Moving a booking to another Slot frees the first one.
  const d = body(await post(app, '/fhir/Appointment', appt('s-mon-9', '2026-12-14T09:00:00Z', '2026-12-14T09:30:00Z')));
  const moved = await put(app, `/fhir/Appointment/${d.id}`, { ...d, slot: [{ reference: 'Slot/s-mon-930' }], start: '2026-12-14T09:30:00Z', end: '2026-12-14T10:00:00Z' });
  t.equal(moved.statusCode, 200, moved.body);
  t.equal(await slotStatus(app, 's-mon-9'), 'free');
  t.equal(await slotStatus(app, 's-mon-930'), 'busy');
});

t.test('a practitioner cannot hold two overlapping appointments', async (t) => {
  const app = await testApp(t);
  await setup(app);
  t.equal((await post(app, '/fhir/Appointment', appt(undefined, '2026-12-14T09:00:00Z', '2026-12-14T09:30:00Z'))).statusCode, 201);
  const overlap = await post(app, '/fhir/Appointment', appt(undefined, '2026-12-14T09:15:00Z', '2026-12-14T09:45:00Z', 'pat-bob'));
  t.equal(overlap.statusCode, 409);
  t.match(body(overlap).issue[0].diagnostics, /Practitioner\/pr-smith already has an appointment/);
  const adjacent = await post(app, '/fhir/Appointment', appt(undefined, '2026-12-14T09:30:00Z', '2026-12-14T10:00:00Z', 'pat-bob'));
  t.equal(adjacent.statusCode, 201, 'back-to-back appointments do not overlap');
  const other = await post(app, '/fhir/Appointment', appt(undefined, '2026-12-14T09:15:00Z', '2026-12-14T09:45:00Z', 'pat-chloe', 'pr-jones'));
  t.equal(other.statusCode, 201, 'another practitioner is free');
  const waitlist = await post(app, '/fhir/Appointment', { ...appt(undefined, '2026-12-14T09:15:00Z', '2026-12-14T09:45:00Z', 'pat-chloe'), status: 'waitlist' });
  t.equal(waitlist.statusCode, 201, 'a waitlist entry holds no time');
  // Through a transaction Bundle: the second entry clashes with the first, nothing is kept.
  const bundle = {
    resourceType: 'Bundle', type: 'transaction', entry: [
      { request: { method: 'POST', url: 'Appointment' }, resource: appt(undefined, '2026-12-17T09:00:00Z', '2026-12-17T10:00:00Z') },
      { request: { method: 'POST', url: 'Appointment' }, resource: appt(undefined, '2026-12-17T09:30:00Z', '2026-12-17T10:30:00Z', 'pat-bob') },
    ],
  };
  const tx = await post(app, '/fhir', bundle);
  t.equal(tx.statusCode, 409);
  t.same(await ids(app, '/fhir/Appointment?date=ge2026-12-17&date=lt2026-12-18'), [], 'the whole transaction was undone');
  const long = await post(app, '/fhir/Appointment', appt(undefined, '2026-12-20T09:00:00Z', '2026-12-21T10:00:00Z'));
  t.equal(long.statusCode, 422, 'more than 24 hours');
});

t.test('in a transaction Bundle the rules see every entry: a Slot PUT after the booking is taken', async (t) => {
  const app = await testApp(t);
  await setup(app);
  const bundle = {
    resourceType: 'Bundle', type: 'transaction', entry: [
      { request: { method: 'POST', url: 'Appointment' }, resource: appt('s-new', '2026-12-22T09:00:00Z', '2026-12-22T09:30:00Z') },
      { request: { method: 'PUT', url: 'Slot/s-new' }, resource: slot('s-new', 'sch-smith', '2026-12-22T09:00:00Z', '2026-12-22T09:30:00Z') },
    ],
  };
  const res = await post(app, '/fhir', bundle);
  t.equal(res.statusCode, 200, res.body);
  t.equal(await slotStatus(app, 's-new'), 'busy');
  const twice = {
    resourceType: 'Bundle', type: 'transaction', entry: [
      { request: { method: 'POST', url: 'Appointment' }, resource: appt('s-jones-9', '2026-12-14T09:00:00Z', '2026-12-14T09:30:00Z', 'pat-alice', 'pr-jones') },
      { request: { method: 'POST', url: 'Appointment' }, resource: appt('s-jones-9', '2026-12-14T09:00:00Z', '2026-12-14T09:30:00Z', 'pat-bob', 'pr-smith') },
    ],
  };
  t.equal((await post(app, '/fhir', twice)).statusCode, 409, 'one Slot booked twice in one Bundle');
  t.equal(await slotStatus(app, 's-jones-9'), 'free', 'nothing of it was kept');
});

t.test('an Appointment on a Slot lies within the Slot\'s time (422 otherwise)', async (t) => {
  const app = await testApp(t);
  await setup(app);
  const late = await post(app, '/fhir/Appointment', appt('s-mon-9', '2026-12-14T09:15:00Z', '2026-12-14T09:45:00Z'));
  t.equal(late.statusCode, 422);
  t.match(body(late).issue[0].diagnostics, /does not lie within Slot\/s-mon-9/);
  t.equal(await slotStatus(app, 's-mon-9'), 'free', 'the refused booking took nothing');
  t.equal((await post(app, '/fhir/Appointment', appt('s-mon-9', '2026-12-14T09:00:00Z', '2026-12-14T09:20:00Z'))).statusCode, 201, 'a shorter visit inside the Slot is fine');
});

t.test('a Slot held by an Appointment cannot be freed or deleted behind its back (409); cancelling frees it', async (t) => {
  const app = await testApp(t);
  await setup(app);
  const booked = body(await post(app, '/fhir/Appointment', appt('s-mon-9', '2026-12-14T09:00:00Z', '2026-12-14T09:30:00Z')));
  const freed = await put(app, '/fhir/Slot/s-mon-9', slot('s-mon-9', 'sch-smith', '2026-12-14T09:00:00Z', '2026-12-14T09:30:00Z'));
  t.equal(freed.statusCode, 409);
  t.match(body(freed).issue[0].diagnostics, /held by an appointment/);
  t.equal(await slotStatus(app, 's-mon-9'), 'busy');
  t.equal((await app.inject({ method: 'DELETE', url: '/fhir/Slot/s-mon-9' })).statusCode, 409, 'nor deleted');
  t.equal((await put(app, '/fhir/Slot/s-tue-9', slot('s-tue-9', 'sch-smith', '2026-12-15T09:00:00Z', '2026-12-15T09:30:00Z', 'busy-unavailable'))).statusCode, 200, 'a free Slot the schedule closes is fine');
  // One transaction that cancels the Appointment and touches the Slot: judged on its final state.
  const both = {
    resourceType: 'Bundle', type: 'transaction', entry: [
      { request: { method: 'PUT', url: 'Slot/s-mon-9' }, resource: slot('s-mon-9', 'sch-smith', '2026-12-14T09:00:00Z', '2026-12-14T09:30:00Z') },
      { request: { method: 'PUT', url: `Appointment/${booked.id}` }, resource: { ...booked, status: 'cancelled' } },
    ],
  };
  const res = await post(app, '/fhir', both);
  t.equal(res.statusCode, 200, res.body);
  t.equal(await slotStatus(app, 's-mon-9'), 'free');
});

t.test('free slots for a practitioner this week: Slot?schedule.actor=…&status=free&start=ge…&start=lt…', async (t) => {
  const app = await testApp(t);
  await setup(app);
  await post(app, '/fhir/Appointment', appt('s-mon-9', '2026-12-14T09:00:00Z', '2026-12-14T09:30:00Z'));
  const found = await ids(app, '/fhir/Slot?schedule.actor=Practitioner/pr-smith&status=free&start=ge2026-12-14&start=lt2026-12-21&_sort=start');
  t.same(found, ['Slot/s-mon-930', 'Slot/s-tue-9']);
});

t.test('concurrent bookings of one Slot over real sockets: exactly one wins', async (t) => {
  const app = await buildApp(loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', PORT: '0', AUTH: 'off' }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  await setup(app);
  const address = app.server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/fhir`;
  const patients = ['pat-alice', 'pat-bob', 'pat-chloe'];
  const book = (i: number, slotId: string | undefined, practitioner: string) => fetch(`${base}/Appointment`, {
    method: 'POST', headers: { 'content-type': FHIR },
    body: JSON.stringify(appt(slotId, '2026-12-15T09:00:00Z', '2026-12-15T09:30:00Z', patients[i % 3], practitioner)),
  }).then(async (r) => ({ status: r.status, body: await r.json() as { issue?: { code: string }[] } }));
  const slotRace = await Promise.all(Array.from({ length: 20 }, (_, i) => book(i, 's-tue-9', i % 2 ? 'pr-smith' : 'pr-jones')));
  t.equal(slotRace.filter((r) => r.status === 201).length, 1, 'one booking of the Slot');
  t.ok(slotRace.filter((r) => r.status !== 201).every((r) => r.status === 409 && r.body.issue?.[0]?.code === 'conflict'), 'the others are 409 conflict');
  const slotNow = await (await fetch(`${base}/Slot/s-tue-9`)).json() as { status: string };
  t.equal(slotNow.status, 'busy');
  // Without Slots: the practitioner's time is the contended resource.
  const practitionerRace = await Promise.all(Array.from({ length: 20 }, (_, i) => fetch(`${base}/Appointment`, {
    method: 'POST', headers: { 'content-type': FHIR },
    body: JSON.stringify(appt(undefined, '2026-12-18T09:00:00Z', '2026-12-18T09:30:00Z', patients[i % 3], 'pr-jones')),
  }).then((r) => r.status)));
  t.equal(practitionerRace.filter((s) => s === 201).length, 1);
  t.equal(practitionerRace.filter((s) => s === 409).length, 19);
  t.equal((await ids(app, '/fhir/Appointment?actor=Practitioner/pr-jones&date=ge2026-12-18&date=lt2026-12-19')).length, 1);
});
