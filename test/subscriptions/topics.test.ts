// Topic-based subscriptions for R4 (Subscriptions R5 Backport IG STU 1.1): canonical topics,
// filters, notification Bundles with SubscriptionStatus (R4 Parameters form) and event numbers,
// $status and $events to find and fill gaps, heartbeats.
import t from 'tap';
import { testApp, post, put, body } from '../helpers/app.js';
import { startReceiver, type Received } from '../helpers/receiver.js';

const INSECURE = { SUBSCRIPTION_ALLOW_INSECURE: '1', SUBSCRIPTION_RETRY_MS: '20' };
const BP = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
const TOPIC = 'http://flint.health/fhir/SubscriptionTopic';

function topicSub(endpoint: string, topic: string, filters: string[], content = 'id-only', heartbeat?: number) {
  return {
    resourceType: 'Subscription', status: 'requested', reason: 'test',
    meta: { profile: [`${BP}/backport-subscription`] },
    criteria: `${TOPIC}/${topic}`,
    ...(filters.length ? { _criteria: { extension: filters.map((f) => ({ url: `${BP}/backport-filter-criteria`, valueString: f })) } } : {}),
    channel: {
      type: 'rest-hook', endpoint, payload: 'application/fhir+json',
      _payload: { extension: [{ url: `${BP}/backport-payload-content`, valueCode: content }] },
      ...(heartbeat ? { extension: [{ url: `${BP}/backport-heartbeat-period`, valueUnsignedInt: heartbeat }] } : {}),
    },
  };
}

type Param = { name: string; valueString?: string; valueCode?: string; valueReference?: { reference: string }; part?: Param[] };

function status(r: Received | Record<string, any>): { type?: string; events?: string; numbers: string[]; focus: string[]; bundle: Record<string, any> } {
  const bundle: Record<string, any> = 'body' in r && typeof r.body === 'string' ? JSON.parse(r.body) as Record<string, any> : r;
  const params = bundle.entry[0].resource.parameter as Param[];
  const ev = params.filter((p) => p.name === 'notification-event');
  return {
    bundle,
    type: params.find((p) => p.name === 'type')?.valueCode,
    events: params.find((p) => p.name === 'events-since-subscription-start')?.valueString,
    numbers: ev.map((e) => e.part?.find((p) => p.name === 'event-number')?.valueString ?? ''),
    focus: ev.map((e) => e.part?.find((p) => p.name === 'focus')?.valueReference?.reference ?? ''),
  };
}

const obs = (patient: string) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${patient}` } });

t.test('patient-result with a patient filter: handshake, then numbered notification-event Bundles for that patient only', async (t) => {
  const app = await testApp(t, INSECURE);
  const rx = await startReceiver(t);
  const created = await post(app, '/fhir/Subscription', topicSub(rx.url, 'patient-result', ['Observation?patient=Patient/a', 'DiagnosticReport?patient=Patient/a'], 'full-resource'));
  t.equal(created.statusCode, 201, created.body);
  const id = body(created).id as string;
  const [hs] = await rx.waitFor(1);
  const h = status(hs as Received);
  t.equal(h.type, 'handshake');
  t.equal(h.bundle.type, 'history');
  t.equal(h.bundle.entry[0].resource.resourceType, 'Parameters');
  const o1 = body(await post(app, '/fhir/Observation', obs('a')));
  await post(app, '/fhir/Observation', obs('b'));
  const dr = body(await post(app, '/fhir/DiagnosticReport', { resourceType: 'DiagnosticReport', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/a' } }));
  const got = await rx.waitFor(3);
  const n1 = status(got[1] as Received);
  const n2 = status(got[2] as Received);
  t.equal(n1.type, 'event-notification');
  t.same([n1.numbers, n2.numbers], [['1'], ['2']], 'event numbers without gaps');
  t.equal(n1.focus[0], `http://flint.test/fhir/Observation/${o1.id as string}`);
  t.equal(n2.focus[0], `http://flint.test/fhir/DiagnosticReport/${dr.id as string}`);
  t.equal(n1.bundle.entry[1].resource.id, o1.id, 'full-resource carries the resource');
  t.equal(n1.bundle.entry[1].request.method, 'POST');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(rx.received.length, 3, "patient b's result is not announced");
  // $status and $events: a client that lost notification 1 fetches it.
  const st = status(body(await app.inject({ url: `/fhir/Subscription/${id}/$status` })));
  t.equal(st.type, 'query-status');
  t.equal(st.events, '2');
  const ev = status(body(await app.inject({ url: `/fhir/Subscription/${id}/$events?eventsSinceNumber=1&eventsUntilNumber=1` })));
  t.equal(ev.type, 'query-event');
  t.same(ev.numbers, ['1']);
  t.same(ev.focus, [`http://flint.test/fhir/Observation/${o1.id as string}`]);
  const all = status(body(await app.inject({ method: 'POST', url: `/fhir/Subscription/${id}/$events`, headers: { 'content-type': 'application/fhir+json' }, payload: JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'eventsSinceNumber', valueString: '1' }] }) })));
  t.same(all.numbers, ['1', '2']);
  for (const bad of ['eventsSinceNumber=-1', 'eventsSinceNumber=abc', 'eventsSinceNumber=1&eventsSinceNumber=2', `eventsUntilNumber=${'9'.repeat(40)}`, 'content=everything']) {
    t.equal((await app.inject({ url: `/fhir/Subscription/${id}/$events?${bad}` })).statusCode, 400, bad);
  }
  t.equal((await app.inject({ url: '/fhir/Subscription/nope/$status' })).statusCode, 404);
});

t.test('encounter-finished fires on the transition to finished only; claim-answered on a new ClaimResponse', async (t) => {
  const app = await testApp(t, INSECURE);
  const rx = await startReceiver(t);
  t.equal((await post(app, '/fhir/Subscription', topicSub(rx.url, 'encounter-finished', []))).statusCode, 201);
  t.equal((await post(app, '/fhir/Subscription', topicSub(rx.url, 'claim-answered', ['ClaimResponse?patient=Patient/c']))).statusCode, 201);
  await rx.waitFor(2);
  const enc = { resourceType: 'Encounter', id: 'e1', status: 'in-progress', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: 'Patient/c' } };
  await put(app, '/fhir/Encounter/e1', enc);
  await put(app, '/fhir/Encounter/e1', { ...enc, status: 'finished' });
  await put(app, '/fhir/Encounter/e1', { ...enc, status: 'finished', period: { end: '2026-01-01' } });
  const cr = { resourceType: 'ClaimResponse', status: 'active', type: { text: 'x' }, use: 'claim', patient: { reference: 'Patient/c' }, created: '2026-01-01', insurer: { display: 'p' }, outcome: 'complete' };
  await post(app, '/fhir/ClaimResponse', cr);
  await post(app, '/fhir/ClaimResponse', { ...cr, patient: { reference: 'Patient/other' } });
  const got = await rx.waitFor(4);
  await new Promise((r) => setTimeout(r, 150));
  t.equal(rx.received.length, 4, 'one finished Encounter, one answered Claim of patient c');
  const focus = got.slice(2).map((r) => status(r).focus[0] ?? '').sort();
  t.match(focus[0], /ClaimResponse\//);
  t.equal(focus[1], 'http://flint.test/fhir/Encounter/e1');
});

t.test('topic filters are limited to the topic\'s parameters and types', async (t) => {
  const app = await testApp(t, INSECURE);
  for (const f of ['Patient?name=x', 'Observation?value-quantity=5', 'Encounter?patient=Patient/a']) {
    const res = await post(app, '/fhir/Subscription', topicSub('http://127.0.0.1:1/x', 'patient-result', [f]));
    t.equal(res.statusCode, 422, f);
  }
  const many = await post(app, '/fhir/Subscription', topicSub('http://127.0.0.1:1/x', 'patient-result', Array.from({ length: 50 }, () => 'Observation?patient=Patient/a')));
  t.equal(many.statusCode, 422, 'too many filters');
  const content = await post(app, '/fhir/Subscription', topicSub('http://127.0.0.1:1/x', 'patient-result', [], 'everything'));
  t.equal(content.statusCode, 422, 'unknown payload content');
});

t.test('heartbeats arrive on an idle topic subscription', async (t) => {
  const app = await testApp(t, INSECURE);
  const rx = await startReceiver(t);
  // The shortest heartbeat period Flint honours is 10 s; this waits for one.
  t.equal((await post(app, '/fhir/Subscription', topicSub(rx.url, 'patient-result', [], 'empty', 1))).statusCode, 201);
  const got = await rx.waitFor(2, 15_000);
  t.equal(status(got[1] as Received).type, 'heartbeat');
  t.same(status(got[1] as Received).numbers, [], 'a heartbeat carries no event');
});
