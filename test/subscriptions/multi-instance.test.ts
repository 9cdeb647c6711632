// Two Flint instances on one MongoDB database (the in-process emulation, each instance with its
// own adapter, as two processes would): a write through either instance sees every Subscription
// committed before it, wherever that was written — no window in which another instance has not
// yet heard of a new, changed or deleted Subscription.
import t from 'tap';
import type { Test } from 'tap';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import { body, post, put, sharedDatabase } from '../helpers/app.js';
import { connectWs, type WsClient } from '../helpers/ws-client.js';
import { startReceiver } from '../helpers/receiver.js';


const ENV = {
  DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', BASE_URL: 'http://flint.test/fhir', AUTH: 'off', RATE_LIMIT: '0',
  JOB_POLL_MS: '20', JOB_LEASE_MS: '300', SUBSCRIPTION_ALLOW_INSECURE: '1', SUBSCRIPTION_RETRY_MS: '20',
};

/** Opens instances on one shared database, closed when the test ends. */
function cluster(t: Test): (id: string) => Promise<FastifyInstance> {
  const shared = sharedDatabase();
  const opened: FastifyInstance[] = [];
  t.teardown(async () => { for (const app of opened) await app.close(); });
  return async (id) => {
    const db = await shared.handle();
    const app = await buildApp(loadConfig(ENV), { store: (indexer) => MongoStore.open({ db, indexer }), instanceId: id });
    opened.push(app);
    return app;
  };
}

async function twoInstances(t: Test): Promise<{ a: FastifyInstance; b: FastifyInstance }> {
  const open = cluster(t);
  const a = await open('A');
  const b = await open('B');
  await a.ready();
  await b.ready();
  return { a, b };
}

const obs = (patient: string, code: string) => ({
  resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code }] }, subject: { reference: `Patient/${patient}` },
});

/** events-since-subscription-start, as $status on `app` reports it. */
async function events(app: FastifyInstance, id: string): Promise<number> {
  const res = await app.inject({ url: `/fhir/Subscription/${id}/$status` });
  const params = body(res).entry[0].resource.parameter as { name: string; valueString?: string }[];
  return Number(params.find((p) => p.name === 'events-since-subscription-start')?.valueString);
}

t.test('a Subscription created through A hears of the very next matching write through B', { timeout: 240_000 }, async (t) => {
  const { a, b } = await twoInstances(t);
  const rx = await startReceiver(t);
  // B has matched writes before: its view of the subscriptions is loaded, and must not go stale.
  t.equal((await post(b, '/fhir/Observation', obs('p1', '1111-1'))).statusCode, 201);
  const created = await post(a, '/fhir/Subscription', {
    resourceType: 'Subscription', status: 'requested', reason: 'test', criteria: 'Observation?code=http://loinc.org|2222-2',
    channel: { type: 'rest-hook', endpoint: rx.url },
  });
  t.equal(created.statusCode, 201, created.body);
  const id = body(created).id as string;
  t.equal((await post(b, '/fhir/Observation', obs('p1', '2222-2'))).statusCode, 201);
  t.equal((await post(b, '/fhir/Observation', obs('p1', '3333-3'))).statusCode, 201);
  t.equal(await events(a, id), 1, 'the write through B right after the create through A was recorded');
  t.equal(await events(b, id), 1);

  // A change of criteria through A applies to B's next write.
  const sub = body(await a.inject({ url: `/fhir/Subscription/${id}` }));
  t.equal((await put(a, `/fhir/Subscription/${id}`, { ...sub, criteria: 'Observation?code=http://loinc.org|3333-3' })).statusCode, 200);
  t.equal((await post(b, '/fhir/Observation', obs('p1', '2222-2'))).statusCode, 201);
  t.equal((await post(b, '/fhir/Observation', obs('p1', '3333-3'))).statusCode, 201);
  t.equal(await events(b, id), 2, 'B matched the new criteria, not the old');

  // A deletion through A: B's next write records nothing for it (and does not fail).
  t.equal((await a.inject({ method: 'DELETE', url: `/fhir/Subscription/${id}` })).statusCode, 200);
  t.equal((await post(b, '/fhir/Observation', obs('p1', '3333-3'))).statusCode, 201);
  t.equal((await b.inject({ url: `/fhir/Subscription/${id}/$status` })).statusCode, 404);
});

t.test('a Subscription on a type no instance subscribed to before is heard through the other instance at once', { timeout: 240_000 }, async (t) => {
  const { a, b } = await twoInstances(t);
  const rx = await startReceiver(t);
  const created = await post(b, '/fhir/Subscription', {
    resourceType: 'Subscription', status: 'requested', reason: 'test', criteria: 'Condition?patient=p9',
    channel: { type: 'rest-hook', endpoint: rx.url },
  });
  t.equal(created.statusCode, 201, created.body);
  const id = body(created).id as string;
  const cond = (patient: string) => ({ resourceType: 'Condition', subject: { reference: `Patient/${patient}` }, code: { text: 'x' } });
  t.equal((await post(a, '/fhir/Condition', cond('p8'))).statusCode, 201);
  t.equal((await post(a, '/fhir/Condition', cond('p9'))).statusCode, 201);
  t.equal(await events(a, id), 1, 'only the matching Condition, through the instance that never saw the Subscription written');
});

const BP = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';

async function port(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  return typeof addr === 'object' && addr ? addr.port : 0;
}

async function bindingToken(app: FastifyInstance, id: string): Promise<string> {
  const res = await app.inject({ url: `/fhir/Subscription/${id}/$get-ws-binding-token` });
  return (body(res).parameter as { name: string; valueString?: string }[]).find((x) => x.name === 'token')?.valueString ?? '';
}

/** Connects to the websocket URL on port `p` and binds with `token`. */
async function bindOn(p: number, token: string): Promise<WsClient> {
  const ws = await connectWs(p, '/fhir/websocket');
  ws.sendText(`bind-with-token ${token}`);
  return ws;
}

/** The event numbers a notification Bundle carries, and its type. */
function notification(text: string): { type?: string; numbers: (string | undefined)[] } {
  const params = (JSON.parse(text) as { entry: { resource?: { parameter: { name: string; valueCode?: string; part?: { name: string; valueString?: string }[] }[] } }[] }).entry[0]?.resource?.parameter ?? [];
  return {
    type: params.find((x) => x.name === 'type')?.valueCode,
    numbers: params.filter((x) => x.name === 'notification-event').map((x) => x.part?.find((y) => y.name === 'event-number')?.valueString),
  };
}

async function status(app: FastifyInstance, id: string): Promise<string | undefined> {
  const params = body(await app.inject({ url: `/fhir/Subscription/${id}/$status` })).entry[0].resource.parameter as { name: string; valueCode?: string }[];
  return params.find((x) => x.name === 'status')?.valueCode;
}

t.test('a websocket bound on B hears of writes through A while A holds the delivery lease (no sticky sessions)', { timeout: 240_000 }, async (t) => {
  const open = cluster(t);
  const a = await open('A');
  const pa = await port(a);
  const sub = (patient: string) => ({
    resourceType: 'Subscription', status: 'requested', reason: 'test', criteria: 'http://flint.health/fhir/SubscriptionTopic/patient-result',
    _criteria: { extension: [{ url: `${BP}/backport-filter-criteria`, valueString: `Observation?patient=Patient/${patient}` }] },
    channel: { type: 'websocket', payload: 'application/fhir+json', _payload: { extension: [{ url: `${BP}/backport-payload-content`, valueCode: 'id-only' }] } },
  });
  const id = body(await post(a, '/fhir/Subscription', sub('p1'))).id as string;
  // Activation is the lease holder's work: while A is alone, A takes the lease (60 s, renewed).
  for (let i = 0; i < 100 && await status(a, id) !== 'active'; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(await status(a, id), 'active', 'A holds the delivery lease');
  const b = await open('B');
  const pb = await port(b);

  // The token comes from A, the socket goes to B: a load balancer without sticky sessions.
  const token = await bindingToken(a, id);
  const onB = await bindOn(pb, token);
  t.equal((await onB.next()).text, `bound ${id}`, 'a token A issued binds on B');
  const reused = await bindOn(pa, token);
  t.same([(await reused.next()).code], [1008], 'and only once, on any instance');
  t.equal((await post(a, '/fhir/Observation', obs('p1', '1111-1'))).statusCode, 201);
  t.same(notification((await onB.next(10_000)).text), { type: 'event-notification', numbers: ['1'] }, 'the write through A reaches the socket on B');
  t.equal((await post(b, '/fhir/Observation', obs('p1', '1111-1'))).statusCode, 201);
  t.same(notification((await onB.next(10_000)).text), { type: 'event-notification', numbers: ['2'] }, 'a write through B too, numbered next');
  t.equal((await post(a, '/fhir/Observation', obs('p2', '1111-1'))).statusCode, 201);
  await t.rejects(onB.next(2500), 'nothing for another patient');

  // The client goes; events wait in the store; it comes back on A and gets them, in order.
  onB.socket.destroy();
  await onB.ended;
  await new Promise((r) => setTimeout(r, 100));
  t.equal((await post(b, '/fhir/Observation', obs('p1', '1111-1'))).statusCode, 201);
  t.equal((await post(a, '/fhir/Observation', obs('p1', '1111-1'))).statusCode, 201);
  const onA = await bindOn(pa, await bindingToken(b, id));
  t.equal((await onA.next()).text, `bound ${id}`);
  const got = [notification((await onA.next(10_000)).text), notification((await onA.next(10_000)).text)];
  t.same(got, [{ type: 'event-notification', numbers: ['3'] }, { type: 'event-notification', numbers: ['4'] }], 'the waiting events, once each, in order');
  await t.rejects(onA.next(1500), 'nothing sent twice');
  onA.socket.destroy();
});
