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
import { MingoDb } from '../helpers/mingo-db.js';
import { body, post, put } from '../helpers/app.js';
import { startReceiver } from '../helpers/receiver.js';


const ENV = {
  DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', BASE_URL: 'http://flint.test/fhir', AUTH: 'off', RATE_LIMIT: '0',
  JOB_POLL_MS: '20', JOB_LEASE_MS: '300', SUBSCRIPTION_ALLOW_INSECURE: '1', SUBSCRIPTION_RETRY_MS: '20',
};

async function twoInstances(t: Test): Promise<{ a: FastifyInstance; b: FastifyInstance }> {
  const db = new MingoDb('replicaset');
  const open = (id: string) => buildApp(loadConfig(ENV), { store: (indexer) => MongoStore.open({ db: db.reopen(), indexer }), instanceId: id });
  const a = await open('A');
  const b = await open('B');
  t.teardown(async () => { await a.close(); await b.close(); });
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
