// Durable delivery: notifications are in the store (the outbox) from the write's own commit, so
// closing the server with some undelivered, or in the middle of a delivery, loses none; after
// a restart they arrive in order, and a notification whose answer was lost comes again with the
// same event number, so the receiver can drop it.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';
import { post, body } from '../helpers/app.js';
import { startReceiver } from '../helpers/receiver.js';

const BP = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';

async function open(dir: string): Promise<FastifyInstance> {
  const app = await buildApp(loadConfig({
    DATABASE_URL: `sqlite:${join(dir, 'flint.db')}`, LOG_LEVEL: 'silent', BASE_URL: 'http://flint.test/fhir', AUTH: 'off', RATE_LIMIT: '0',
    SUBSCRIPTION_ALLOW_INSECURE: '1', SUBSCRIPTION_RETRY_MS: '20', SUBSCRIPTION_TIMEOUT_MS: '300', SUBSCRIPTION_MAX_ATTEMPTS: '1000',
  }));
  await app.ready();
  return app;
}

function eventNumbers(b: string): string[] {
  const params = (JSON.parse(b) as { entry: { resource: { parameter: { name: string; part?: { name: string; valueString?: string }[] }[] } }[] }).entry[0]?.resource.parameter ?? [];
  return params.filter((p) => p.name === 'notification-event').map((p) => p.part?.find((x) => x.name === 'event-number')?.valueString ?? '');
}

t.test('undelivered notifications survive a restart and arrive in order; a lost answer means a detectable duplicate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flint-subs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const rx = await startReceiver(t);
  let app = await open(dir);
  const created = body(await post(app, '/fhir/Subscription', {
    resourceType: 'Subscription', status: 'requested', reason: 'restart', criteria: 'http://flint.health/fhir/SubscriptionTopic/patient-result',
    channel: { type: 'rest-hook', endpoint: rx.url, payload: 'application/fhir+json', _payload: { extension: [{ url: `${BP}/backport-payload-content`, valueCode: 'id-only' }] } },
  }));
  t.ok(created.id);
  await rx.waitFor(1);
  // Event 1 reaches the receiver, but the server never learns it did (as when it crashes
  // between sending and hearing the answer); the rest find the endpoint down.
  let hold = true;
  const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/r' } };
  rx.answer = (n, r) => {
    if (hold && n === 1) rx.received.push(r);
    return 503;
  };
  for (let i = 0; i < 3; i++) t.equal((await post(app, '/fhir/Observation', obs)).statusCode, 201);
  await rx.waitFor(2);
  await new Promise((r) => setTimeout(r, 200));
  await app.close();
  const before = rx.received.length;
  t.same(eventNumbers(rx.received[1]?.body ?? ''), ['1'], 'event 1 reached the receiver before the restart');

  hold = false;
  rx.answer = () => 200;
  app = await open(dir);
  t.teardown(() => app.close());
  const got = await rx.waitFor(before + 3, 10_000);
  const numbers = got.slice(before).map((r) => eventNumbers(r.body)[0]);
  t.same(numbers, ['1', '2', '3'], 'every event after the restart, in order');
  const seen = new Set<string>();
  const duplicates = got.slice(1).flatMap((r) => eventNumbers(r.body)).filter((n) => (seen.has(n) ? true : (seen.add(n), false)));
  t.same(duplicates, ['1'], 'the one whose answer was lost is the one duplicate, recognisable by its number');
  const status = JSON.parse((await app.inject({ url: `/fhir/Subscription/${created.id as string}/$status` })).body) as { entry: { resource: { parameter: { name: string; valueString?: string }[] } }[] };
  t.equal(status.entry[0]?.resource.parameter.find((p) => p.name === 'events-since-subscription-start')?.valueString, '3');
});
