// R4 Subscriptions over rest-hook (R4 subscription.html), end to end on real sockets: a test
// receiver on 127.0.0.1 (SUBSCRIPTION_ALLOW_INSECURE=1 lifts the https and public-address rules).
import t from 'tap';
import { testApp, post, put, body } from '../helpers/app.js';
import { startReceiver } from '../helpers/receiver.js';

const INSECURE = { SUBSCRIPTION_ALLOW_INSECURE: '1', SUBSCRIPTION_RETRY_MS: '20' };

function subscription(endpoint: string, criteria: string, extra: Record<string, unknown> = {}) {
  return {
    resourceType: 'Subscription', status: 'requested', reason: 'test', criteria,
    channel: { type: 'rest-hook', endpoint, header: ['Authorization: Bearer secret-1'], ...extra },
  };
}

const obs = (patient: string, code = '1234-5') => ({
  resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code }] }, subject: { reference: `Patient/${patient}` },
});

async function waitStatus(app: Awaited<ReturnType<typeof testApp>>, id: string, status: string, ms = 5000): Promise<Record<string, any>> {
  const until = Date.now() + ms;
  for (;;) {
    const res = await app.inject({ url: `/fhir/Subscription/${id}` });
    const sub = body(res);
    if (sub.status === status) return sub;
    if (Date.now() > until) throw new Error(`Subscription/${id} is ${String(sub.status)}, not ${status}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('a requested subscription is activated by a handshake, then an empty-payload POST announces each match', async (t) => {
  const app = await testApp(t, INSECURE);
  const rx = await startReceiver(t);
  await put(app, '/fhir/Patient/p1', { resourceType: 'Patient', id: 'p1' });
  const created = await post(app, '/fhir/Subscription', subscription(rx.url, 'Observation?code=http://loinc.org|1234-5'));
  t.equal(created.statusCode, 201, created.body);
  const id = body(created).id as string;
  await rx.waitFor(1);
  t.equal(rx.received[0]?.method, 'POST');
  t.equal(rx.received[0]?.body, '', 'the handshake has no body');
  t.equal(rx.received[0]?.headers.authorization, 'Bearer secret-1', 'channel headers are sent');
  await waitStatus(app, id, 'active');
  t.equal((await post(app, '/fhir/Observation', obs('p1', '9999-9'))).statusCode, 201);
  t.equal((await post(app, '/fhir/Observation', obs('p1'))).statusCode, 201);
  await rx.waitFor(2);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(rx.received.length, 2, 'only the matching Observation is announced');
  t.equal(rx.received[1]?.body, '');
  const status = body(await app.inject({ url: `/fhir/Subscription/${id}/$status` }));
  const params = status.entry[0].resource.parameter as { name: string; valueString?: string; valueCode?: string }[];
  t.equal(params.find((p) => p.name === 'events-since-subscription-start')?.valueString, '1');
  t.equal(params.find((p) => p.name === 'status')?.valueCode, 'active');
});

t.test('with a payload the matching version is PUT to [endpoint]/[type]/[id]', async (t) => {
  const app = await testApp(t, INSECURE);
  const rx = await startReceiver(t);
  const created = await post(app, '/fhir/Subscription', subscription(rx.url, 'Observation?subject=Patient/p2', { payload: 'application/fhir+json' }));
  t.equal(created.statusCode, 201, created.body);
  await rx.waitFor(1);
  const o = body(await post(app, '/fhir/Observation', obs('p2')));
  await put(app, `/fhir/Observation/${o.id as string}`, { ...obs('p2'), id: o.id, status: 'amended' });
  const got = await rx.waitFor(3);
  t.equal(got[1]?.method, 'PUT');
  t.equal(got[1]?.url, `/hook/Observation/${o.id as string}`);
  t.equal(JSON.parse(got[1]?.body ?? '{}').meta.versionId, '1', 'the version that matched, not a later one');
  t.equal(JSON.parse(got[2]?.body ?? '{}').status, 'amended');
  t.equal(got[1]?.headers['content-type'], 'application/fhir+json');
});

t.test('bad criteria and malformed channels are refused and store nothing', async (t) => {
  const app = await testApp(t, INSECURE);
  const bad: [string, unknown][] = [
    ['no type', subscription('http://127.0.0.1:1/x', '?code=1')],
    ['unknown type', subscription('http://127.0.0.1:1/x', 'Nothing?code=1')],
    ['unknown parameter', subscription('http://127.0.0.1:1/x', 'Observation?nonsense=1')],
    ['result parameter', subscription('http://127.0.0.1:1/x', 'Observation?_count=1')],
    ['huge criteria', subscription('http://127.0.0.1:1/x', `Observation?code=${'x'.repeat(100_000)}`)],
    ['no endpoint', { ...subscription('', 'Observation'), channel: { type: 'rest-hook' } }],
    ['bad endpoint', subscription('not a url', 'Observation')],
    ['ftp endpoint', subscription('ftp://example.org/x', 'Observation')],
    ['credentials in endpoint', subscription('https://u:p@example.org/x', 'Observation')],
    ['header with a line break', { ...subscription('https://example.org/x', 'Observation'), channel: { type: 'rest-hook', endpoint: 'https://example.org/x', header: ['A: b\r\nHost: evil'] } }],
    ['too many headers', { ...subscription('https://example.org/x', 'Observation'), channel: { type: 'rest-hook', endpoint: 'https://example.org/x', header: Array.from({ length: 50 }, (_, i) => `X-${i}: v`) } }],
    ['unknown channel', { ...subscription('https://example.org/x', 'Observation'), channel: { type: 'carrier-pigeon', endpoint: 'https://example.org/x' } }],
    ['unknown topic', subscription('https://example.org/x', 'http://example.org/SubscriptionTopic/nope')],
  ];
  for (const [name, sub] of bad) {
    const res = await post(app, '/fhir/Subscription', sub);
    t.ok(res.statusCode >= 400 && res.statusCode < 500, `${name}: ${res.statusCode}`);
    t.equal(body(res).resourceType, 'OperationOutcome', name);
  }
  const all = body(await app.inject({ url: '/fhir/Subscription' }));
  t.equal(all.total ?? (all.entry ?? []).length, 0, 'nothing was stored');
});

t.test('an endpoint that is down is retried with backoff; events arrive in order once it is up', async (t) => {
  const app = await testApp(t, INSECURE);
  const rx = await startReceiver(t);
  let down = true;
  rx.answer = () => (down ? 503 : 200);
  const created = body(await post(app, '/fhir/Subscription', subscription(rx.url, 'Observation?subject=Patient/p3', { payload: 'application/fhir+json' })));
  // Requested until the handshake succeeds; events meanwhile are kept.
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push(body(await post(app, '/fhir/Observation', obs('p3'))).id as string);
  await new Promise((r) => setTimeout(r, 150));
  t.equal(rx.received.length, 0);
  down = false;
  const got = await rx.waitFor(6);
  t.same(got.slice(1).map((r) => r.url), ids.map((id) => `/hook/Observation/${id}`), 'in event order');
  await waitStatus(app, created.id as string, 'active');
});

t.test('an endpoint that keeps failing puts the subscription in error with Subscription.error; off stops it', async (t) => {
  const app = await testApp(t, { ...INSECURE, SUBSCRIPTION_MAX_ATTEMPTS: '3' });
  const rx = await startReceiver(t);
  rx.answer = () => 500;
  const created = body(await post(app, '/fhir/Subscription', subscription(rx.url, 'Observation')));
  const sub = await waitStatus(app, created.id as string, 'error');
  t.match(sub.error, /answered 500/);
  t.notMatch(sub.error, /127\.0\.0\.1|hook/, 'the error names no endpoint');
  const audit = await app.authService.store.auditLog({ limit: 1000 });
  t.ok(audit.some((e) => e.action === 'subscription-error' && e.target === `Subscription/${created.id as string}`), 'giving up is audited');
  // A client sets it requested again: a new handshake, and it recovers.
  rx.answer = () => 200;
  const { error: _e, ...rest } = sub;
  void _e;
  t.equal((await put(app, `/fhir/Subscription/${created.id as string}`, { ...rest, status: 'requested' })).statusCode, 200);
  await waitStatus(app, created.id as string, 'active');
  const n = rx.received.length;
  const cur = body(await app.inject({ url: `/fhir/Subscription/${created.id as string}` }));
  t.equal((await put(app, `/fhir/Subscription/${created.id as string}`, { ...cur, status: 'off' })).statusCode, 200);
  await post(app, '/fhir/Observation', obs('p4'));
  await new Promise((r) => setTimeout(r, 200));
  t.equal(rx.received.length, n, 'an off subscription hears nothing');
});
