// Searches on reader threads (SQLITE_READERS, a SQLite file): a search sees the writes answered
// before it, and one past SEARCH_TIMEOUT_MS is answered 403 too-costly while the server keeps
// serving (bench/neighbour.ts measures how little a long search slows the others).
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';
import { body, post } from '../helpers/app.js';

// Loading the patients takes a while on a busy machine.
t.setTimeout(300_000);

const dir = mkdtempSync(join(tmpdir(), 'flint-reader-threads-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** Flint on `name` (a file in `dir`) with two reader threads. */
function open(name: string, env: Record<string, string> = {}): Promise<FastifyInstance> {
  return buildApp(loadConfig({
    DATABASE_URL: `sqlite:${join(dir, `${name}.sqlite`)}`, AUTH_DB: join(dir, `${name}-auth.sqlite`), SQLITE_READERS: '2',
    LOG_LEVEL: 'silent', BASE_URL: 'http://flint.test/fhir', AUTH: 'off', RATE_LIMIT: '0', ...env,
  }));
}

const N = 3000;
/** Hundreds of ms on N patients: two sort keys, a total and a page of 1,000. */
const BIG_SORT = '/fhir/Patient?_sort=-birthdate,name&_count=1000&_total=accurate';

t.before(async () => {
  const app = await open('big', { SQLITE_SYNCHRONOUS: 'normal' });
  for (let i = 0; i < N; i += 500) {
    const entry = Array.from({ length: 500 }, (_, j) => ({
      resource: { resourceType: 'Patient', id: `p${i + j}`, birthDate: `1950-01-${String(((i + j) % 28) + 1).padStart(2, '0')}`, name: [{ family: `f${i + j}` }] },
      request: { method: 'PUT', url: `Patient/p${i + j}` },
    }));
    const res = await post(app, '/fhir', { resourceType: 'Bundle', type: 'batch', entry });
    if (res.statusCode !== 200) throw new Error(res.body.slice(0, 300));
  }
  await app.close();
});

t.test('searches, history and $everything see every write answered before them', async (t) => {
  const app = await open('small');
  t.teardown(() => app.close());
  for (let i = 0; i < 20; i++) {
    const created = await post(app, '/fhir/Patient', { resourceType: 'Patient', identifier: [{ system: 'urn:t', value: `v${i}` }] });
    const id = body(created).id as string;
    const found = body(await app.inject(`/fhir/Patient?identifier=urn:t|v${i}`));
    t.same(found.entry?.map((e: { resource: { id: string } }) => e.resource.id), [id], `v${i} found at once`);
    await post(app, '/fhir/Observation', { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${id}` } });
    const everything = body(await app.inject(`/fhir/Patient/${id}/$everything`));
    t.same(everything.entry?.map((e: { resource: { resourceType: string } }) => e.resource.resourceType).sort(), ['Observation', 'Patient'], 'and in $everything');
  }
  const history = body(await app.inject('/fhir/Patient/_history?_count=100'));
  t.equal(history.entry?.length, 20, 'history on a thread sees every version');
});

t.test('a search past SEARCH_TIMEOUT_MS is answered 403 too-costly and the server keeps serving', async (t) => {
  const app = await open('big', { SEARCH_TIMEOUT_MS: '5' });
  t.teardown(() => app.close());
  const [slow, ...others] = await Promise.all([
    app.inject(BIG_SORT), app.inject(BIG_SORT), app.inject(BIG_SORT), app.inject('/fhir/Patient/p7'), app.inject('/fhir/metadata'),
  ]);
  for (const res of [slow, others[0], others[1]]) {
    t.equal(res?.statusCode, 403, res?.body.slice(0, 200));
    t.equal(body(res as never).issue?.[0]?.code, 'too-costly');
  }
  t.equal(others[2]?.statusCode, 200, 'a read by id beside them is answered');
  t.equal(others[3]?.statusCode, 200);
  t.equal((await app.inject('/fhir/Patient/p8')).statusCode, 200, 'and after them');
});
