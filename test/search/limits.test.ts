// Bounded work per search (README: search limits), tried as a hostile client would, on SQLite
// and on the MongoDB adapter (over mingo): long OR lists and AND repeats, a resource with very
// many repeated elements, deep chains, wide includes, and a search past its time budget.
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import { MingoDb } from '../helpers/mingo-db.js';
import { body, post } from '../helpers/app.js';

type Adapter = 'sqlite' | 'mingo';
const ADAPTERS: Adapter[] = ['sqlite', 'mingo'];

async function appOn(t: { teardown(fn: () => unknown): void }, adapter: Adapter, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const config = loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', BASE_URL: 'http://flint.test/fhir', AUTH: 'off', ...env });
  const app = await buildApp(config, adapter === 'mingo'
    ? { store: (indexer) => MongoStore.open({ db: new MingoDb('replicaset'), indexer, searchTimeoutMs: config.searchTimeoutMs }) }
    : {});
  t.teardown(() => app.close());
  return app;
}

/** Stores resources in batch Bundles of 500 entries. */
async function batch(app: FastifyInstance, resources: Record<string, unknown>[]): Promise<void> {
  for (let i = 0; i < resources.length; i += 500) {
    const entry = resources.slice(i, i + 500).map((resource) => ({ resource, request: { method: 'POST', url: String(resource.resourceType) } }));
    const res = await post(app, '/fhir', { resourceType: 'Bundle', type: 'batch', entry });
    if (res.statusCode !== 200) throw new Error(`batch: ${res.statusCode} ${res.body.slice(0, 300)}`);
  }
}

function issueOf(res: { body: string }): { code: string; diagnostics: string } {
  return body<{ issue: { code: string; diagnostics: string }[] }>(res as never).issue[0] ?? { code: '', diagnostics: '' };
}

const list = (n: number, f: (i: number) => string): string[] => Array.from({ length: n }, (_, i) => f(i));

for (const adapter of ADAPTERS) {
  t.test(`${adapter}: an OR list of 1,000 values is refused with 400 too-costly; 100 values are searched`, async (t) => {
    const app = await appOn(t, adapter);
    await batch(app, [{ resourceType: 'Patient', name: [{ family: 'n99' }] }]);
    const long = await app.inject(`/fhir/Patient?name=${list(1000, (i) => `n${i}`).join(',')}`);
    t.equal(long.statusCode, 400);
    t.equal(issueOf(long).code, 'too-costly');
    t.match(issueOf(long).diagnostics, /at most 100/);
    const ids = await app.inject(`/fhir/Patient?_id=${list(1000, (i) => `id${i}`).join(',')}`);
    t.equal(ids.statusCode, 400, '_id lists are bounded too');
    const ok = await app.inject(`/fhir/Patient?name=${list(100, (i) => `n${i}`).join(',')}`);
    t.equal(ok.statusCode, 200);
    t.equal(body(ok).entry?.length, 1, 'the one match among 100 values is found');
  });

  t.test(`${adapter}: 1,000 AND repeats are refused with 400 too-costly; 100 are searched`, async (t) => {
    const app = await appOn(t, adapter);
    await batch(app, [{ resourceType: 'Patient', name: [{ family: 'walker' }] }]);
    const many = await app.inject(`/fhir/Patient?${list(1000, () => 'name=walker').join('&')}`);
    t.equal(many.statusCode, 400);
    t.equal(issueOf(many).code, 'too-costly');
    const ok = await app.inject(`/fhir/Patient?${list(100, () => 'name=walker').join('&')}`);
    t.equal(ok.statusCode, 200);
    t.equal(body(ok).entry?.length, 1);
  });

  t.test(`${adapter}: a search expanding to more than 1,000 conditions is refused, not compiled`, async (t) => {
    const app = await appOn(t, adapter);
    // 20 criteria × 100 values = 2,000 conditions.
    const q = list(20, () => `name=${list(100, (i) => `x${i}`).join(',')}`).join('&');
    const res = await app.inject(`/fhir/Patient?${q}`);
    t.equal(res.statusCode, 400);
    t.equal(issueOf(res).code, 'too-costly');
    t.equal((await app.inject('/fhir/Patient?_sort=birthdate,name,gender,_id,family,given')).statusCode, 400, 'at most 5 sort keys');
  });

  t.test(`${adapter}: a Patient with 150,000 identifiers is refused with 422 (not 500) and the server keeps serving`, async (t) => {
    const app = await appOn(t, adapter);
    const identifier = list(150_000, (i) => `v${i}`).map((value) => ({ system: 'urn:x', value }));
    const res = await post(app, '/fhir/Patient', { resourceType: 'Patient', identifier });
    t.equal(res.statusCode, 422, res.body.slice(0, 200));
    t.equal(issueOf(res).code, 'too-costly');
    t.equal((await app.inject('/fhir/Patient?identifier=urn:x|v1')).statusCode, 200);
    t.equal(body(await app.inject('/fhir/Patient?identifier=urn:x|v1')).entry, undefined, 'nothing of it was stored');
    // Below the limit, many repeats are indexed without spreading them into one call.
    const fine = await post(app, '/fhir/Patient', { resourceType: 'Patient', identifier: identifier.slice(0, 20_000) });
    t.equal(fine.statusCode, 201);
    t.equal(body(await app.inject('/fhir/Patient?identifier=urn:x|v19999')).entry?.length, 1);
  });

  t.test(`${adapter}: chains up to 4 levels are searched, deeper ones refused`, async (t) => {
    const app = await appOn(t, adapter);
    await batch(app, [{ resourceType: 'Patient', name: [{ family: 'deep' }] }]);
    const four = await app.inject('/fhir/Observation?subject:Patient.link:Patient.link:Patient.link:Patient.name=deep');
    t.equal(four.statusCode, 200);
    const five = await app.inject('/fhir/Observation?subject:Patient.link:Patient.link:Patient.link:Patient.link:Patient.name=deep');
    t.equal(five.statusCode, 400);
  });

  t.test(`${adapter}: _include=* with :iterate on a dense graph stops at 1,000 included resources with a warning`, async (t) => {
    const app = await appOn(t, adapter);
    const patients = list(40, (i) => `p${i}`);
    // Every patient links to every other one; 1,200 observations point at them.
    for (const id of patients) {
      const link = patients.filter((o) => o !== id).map((o) => ({ other: { reference: `Patient/${o}` }, type: 'seealso' }));
      const res = await app.inject({ method: 'PUT', url: `/fhir/Patient/${id}`, payload: JSON.stringify({ resourceType: 'Patient', id, link }), headers: { 'content-type': 'application/fhir+json' } });
      if (res.statusCode >= 300) throw new Error(res.body);
    }
    await batch(app, list(1200, (i) => `o${i}`).map((id, i) => ({ resourceType: 'Observation', status: 'final', code: { text: id }, subject: { reference: `Patient/p${i % 40}` } })));
    const res = await app.inject('/fhir/Patient?_id=p0&_include:iterate=*&_revinclude:iterate=Observation:subject&_include:iterate=Patient:link');
    t.equal(res.statusCode, 200);
    const entries = body(res).entry as { search: { mode: string }; resource: { issue?: { diagnostics: string }[] } }[];
    const included = entries.filter((e) => e.search.mode === 'include').length;
    t.ok(included <= 1000, `included ${included}`);
    t.ok(included >= 40, 'the linked patients are included');
    const outcome = entries.find((e) => e.search.mode === 'outcome');
    t.match(outcome?.resource.issue?.[0]?.diagnostics ?? '', /first 1000 included/);
  });

  t.test(`${adapter}: a sort over a big table past a tiny time budget is answered 403 too-costly`, async (t) => {
    const app = await appOn(t, adapter, { SEARCH_TIMEOUT_MS: '1' });
    await batch(app, list(3000, (i) => `1950-01-${String((i % 28) + 1).padStart(2, '0')}`).map((birthDate, i) => ({ resourceType: 'Patient', birthDate, name: [{ family: `f${i}` }] })));
    const res = await app.inject('/fhir/Patient?_sort=-birthdate,name&_count=1000&_total=accurate');
    t.equal(res.statusCode, 403, res.body.slice(0, 200));
    t.equal(issueOf(res).code, 'too-costly');
    t.match(issueOf(res).diagnostics, /time budget/);
    t.equal((await app.inject('/fhir/metadata')).statusCode, 200, 'the server keeps serving');
  });
}

t.test('the same big sort within the default budget is answered', async (t) => {
  const app = await appOn(t, 'sqlite');
  await batch(app, list(3000, (i) => `f${i}`).map((family) => ({ resourceType: 'Patient', birthDate: '1950-01-01', name: [{ family }] })));
  const res = await app.inject('/fhir/Patient?_sort=-birthdate,name&_count=1000&_total=accurate');
  t.equal(res.statusCode, 200);
  t.equal(body(res).total, 3000);
});

t.test('history pages are bounded by MAX_COUNT whatever _count asks', async (t) => {
  const app = await appOn(t, 'sqlite', { MAX_COUNT: '50' });
  await batch(app, list(120, () => 'x').map(() => ({ resourceType: 'Patient' })));
  const res = await app.inject('/fhir/Patient/_history?_count=100000');
  t.equal(res.statusCode, 200);
  t.equal(body(res).entry.length, 50);
});

t.test('hostile searches leave memory bounded', async (t) => {
  const app = await appOn(t, 'sqlite');
  const url = `/fhir/Patient?name=${list(1000, (i) => `n${i}`).join(',')}`;
  for (let i = 0; i < 20; i++) await app.inject(url);
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 200; i++) t.equal((await app.inject(url)).statusCode, 400);
  global.gc?.();
  const grown = process.memoryUsage().heapUsed - before;
  t.ok(grown < 64 * 1024 * 1024, `heap grew by ${Math.round(grown / 1024 / 1024)} MB over 200 refused searches`);
});
