// kill -9 of the real server (src/main.ts on a SQLite file) while matching writes stream in,
// group-committed with plain ones: after a restart every stored Observation has exactly one
// event and every event names a stored Observation (a write never survives without its
// notification, nor a notification without its write), the numbers run 1…N without a gap, and
// every acknowledged write is there.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverProcesses } from '../helpers/server-process.js';
import { startReceiver } from '../helpers/receiver.js';

const dir = mkdtempSync(join(tmpdir(), 'flint-subs-crash-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

// Two server starts and a stream of writes: more than tap's default on a busy machine.
t.setTimeout(400_000);
const server = serverProcesses(t, 180_000);
const start = () => server({
  AUTH: 'off', LOG_LEVEL: 'info', DATABASE_URL: `sqlite:${join(dir, 'flint.db')}`, RATE_LIMIT: '0', CLIENT_CONCURRENCY: '0',
  SUBSCRIPTION_ALLOW_INSECURE: '1', SUBSCRIPTION_RETRY_MS: '50', SUBSCRIPTION_MAX_ATTEMPTS: '1000',
});
/** Below the events kept once delivered (1,000), so $events still lists every one. */
const MAX_WRITES = 600;

const json = async (res: Response): Promise<Record<string, unknown>> => (await res.json()) as Record<string, unknown>;

t.test('kill -9 amid matching writes leaves no write without its event, nor an event without its write', async (t) => {
  const rx = await startReceiver(t);
  const first = await start();
  const sub = await json(await fetch(`${first.base}/Subscription`, {
    method: 'POST', headers: { 'content-type': 'application/fhir+json' },
    body: JSON.stringify({
      resourceType: 'Subscription', status: 'requested', reason: 'crash', criteria: 'http://flint.health/fhir/SubscriptionTopic/patient-result',
      channel: { type: 'rest-hook', endpoint: rx.url, payload: 'application/fhir+json', _payload: { extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content', valueCode: 'id-only' }] } },
    }),
  }));
  const subId = String(sub.id);
  await rx.waitFor(1, 60_000);

  const acked: string[] = [];
  let sent = 0;
  let firstAck: number | undefined;
  let stopped = false;
  const writer = async (w: number): Promise<void> => {
    while (!stopped && sent < MAX_WRITES) {
      sent++;
      // One writer in four writes what nobody subscribes to: plain writes share the batches.
      const body = w % 4 === 3
        ? { resourceType: 'Patient', name: [{ family: `W${w}` }] }
        : { resourceType: 'Observation', status: 'final', code: { text: 'k' }, subject: { reference: `Patient/p${w}` } };
      try {
        const res = await fetch(`${first.base}/${body.resourceType}`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' }, body: JSON.stringify(body) });
        await res.arrayBuffer();
        if (res.status === 201 && body.resourceType === 'Observation') {
          acked.push(/Observation\/([^/]+)/.exec(res.headers.get('location') ?? '')?.[1] ?? '');
          firstAck ??= Date.now();
        }
      } catch {
        return; // the server is gone
      }
    }
  };
  const writers = Array.from({ length: 8 }, (_, w) => writer(w));
  while ((firstAck === undefined || Date.now() - firstAck < 1000 || acked.length < 50) && sent < MAX_WRITES) await new Promise((r) => setTimeout(r, 20));
  const exited = new Promise((r) => first.child.once('exit', r));
  first.child.kill('SIGKILL');
  await exited;
  stopped = true;
  await Promise.all(writers);
  t.ok(acked.length > 0, `${acked.length} matching writes acknowledged before the kill`);

  const second = await start();
  const stored = new Set<string>();
  for (let url: string | undefined = `${second.base}/Observation?_count=500&_elements=id`; url;) {
    const page = await json(await fetch(url)) as { entry?: { resource: { id: string } }[]; link?: { relation: string; url: string }[] };
    for (const e of page.entry ?? []) stored.add(e.resource.id);
    url = page.link?.find((l) => l.relation === 'next')?.url.replace(/^http:\/\/[^/]+\/fhir/, second.base);
  }
  const numbers: number[] = [];
  const named: string[] = [];
  for (let since = 1; ;) {
    const b = await json(await fetch(`${second.base}/Subscription/${subId}/$events?eventsSinceNumber=${since}`)) as {
      entry: { fullUrl?: string; resource?: { parameter?: { name: string; part?: { name: string; valueString?: string }[] }[] } }[];
    };
    const events = (b.entry[0]?.resource?.parameter ?? []).filter((p) => p.name === 'notification-event');
    if (events.length === 0) break;
    numbers.push(...events.map((p) => Number(p.part?.find((x) => x.name === 'event-number')?.valueString)));
    named.push(...b.entry.slice(1).map((e) => /Observation\/([^/]+)$/.exec(e.fullUrl ?? '')?.[1] ?? ''));
    since = (numbers[numbers.length - 1] ?? since) + 1;
  }
  const status = await json(await fetch(`${second.base}/Subscription/${subId}/$status`)) as { entry: { resource: { parameter: { name: string; valueString?: string }[] } }[] };
  const total = Number(status.entry[0]?.resource.parameter.find((p) => p.name === 'events-since-subscription-start')?.valueString);

  t.same(numbers, Array.from({ length: numbers.length }, (_, i) => i + 1), 'event numbers run from 1 without a gap');
  t.equal(total, numbers.length, 'the subscription counted exactly the events there are');
  t.equal(new Set(named).size, named.length, 'no write has two events');
  t.same([...named].sort(), [...stored].sort(), 'the Observations stored are exactly those with an event');
  t.same(acked.filter((id) => !stored.has(id)), [], 'every acknowledged write is there');
});
