// The round trip across adapters: export → import into an empty Flint → the same resources,
// SQLite → MongoDB (mingo) → SQLite. (The $import endpoint and `npm run import`: import.test.ts.)
import t, { type Test as Tap } from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { readFileSync, existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';
import { load, clinic, put } from '../helpers/app.js';
import { MingoDb } from '../helpers/mingo-db.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import { MongoRegistry } from '../../src/store/mongo/registry.js';
import { EXAMPLES_DIR, r4Examples } from '../../scripts/corpus.js';
import { exportAll } from '../helpers/export.js';

const key = (r: Record<string, any>): string => `${r.resourceType}/${r.id}`;
/** A resource without what the server that stores it assigns. */
const content = (r: Record<string, any>): Record<string, any> => {
  const { versionId: _v, lastUpdated: _l, ...meta } = r.meta ?? {};
  return { ...r, meta };
};

/** A test app on SQLite (in memory) or on the MongoDB adapter over mingo, whatever FLINT_TEST_STORE says. */
async function appOn(t: Tap, store: 'sqlite' | 'mingo'): Promise<FastifyInstance> {
  const config = loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', BASE_URL: 'http://flint.test/fhir', AUTH: 'off', RATE_LIMIT: '0' });
  const db = new MingoDb('replicaset');
  const app = await buildApp(config, store === 'sqlite' ? {} : { store: (indexer) => MongoStore.open({ db, indexer }), registry: () => MongoRegistry.open({ db }) });
  t.teardown(() => app.close());
  return app;
}

/** Loads the official R4 examples the server accepts (PUT, validated); how many it took. */
async function loadExamples(app: FastifyInstance): Promise<number> {
  let n = 0;
  for (const { resource } of r4Examples()) {
    const r = resource as { resourceType?: unknown; id?: unknown };
    if (typeof r.resourceType !== 'string' || typeof r.id !== 'string') continue;
    if ((await put(app, `/fhir/${r.resourceType}/${r.id}`, r)).statusCode < 300) n++;
  }
  return n;
}

/** Imports an export into `app` file by file (one NDJSON body per type), as a client moving its data would. */
async function importAll(t: Tap, app: FastifyInstance, resources: Record<string, any>[]): Promise<void> {
  const byType = new Map<string, string[]>();
  for (const r of resources) byType.set(r.resourceType, [...(byType.get(r.resourceType) ?? []), JSON.stringify(r)]);
  for (const [type, lines] of byType) {
    const res = await app.inject({ method: 'POST', url: '/fhir/$import', payload: `${lines.join('\n')}\n`, headers: { 'content-type': 'application/fhir+ndjson' } });
    t.equal(res.statusCode, 200, `${type}: ${res.body.slice(0, 300)}`);
  }
}

function sameResources(t: Tap, got: Record<string, any>[], want: Record<string, any>[], label: string): void {
  const index = new Map(got.map((r) => [key(r), r]));
  t.equal(got.length, want.length, `${label}: as many resources`);
  const differ = want.filter((r) => !isDeepStrictEqual(content(index.get(key(r)) ?? {}), content(r)));
  t.same(differ.map(key), [], `${label}: equal resource by resource`);
  const first = differ[0];
  if (first) t.same(content(index.get(key(first)) ?? {}), content(first), `${label}: the first that differs, ${key(first)}`);
}

t.test('round trip across adapters: the clinic and the official R4 examples, SQLite → mingo → SQLite, equal resource by resource', async (t) => {
  const a = await appOn(t, 'sqlite');
  await load(a, clinic());
  const fees = JSON.parse(readFileSync('fixtures/fee-schedule.json', 'utf8')) as { entry: { resource: { resourceType: string; id: string } }[] };
  await load(a, fees.entry.map((e) => e.resource));
  const examples = existsSync(EXAMPLES_DIR) ? await loadExamples(a) : 0;
  if (!existsSync(EXAMPLES_DIR)) t.comment(`${EXAMPLES_DIR} is absent: the clinic data only`);
  else t.ok(examples >= 50, `${examples} official examples loaded`);
  const first = await exportAll(a, '/fhir/$export');
  t.ok(first.resources.length >= clinic().length + examples, 'the clinic, its fee schedule, the examples and what the hooks made');

  const b = await appOn(t, 'mingo');
  await importAll(t, b, first.resources);
  const second = await exportAll(b, '/fhir/$export');
  sameResources(t, second.resources, first.resources, 'SQLite → MongoDB (mingo)');

  const c = await appOn(t, 'sqlite');
  await importAll(t, c, second.resources);
  const third = await exportAll(c, '/fhir/$export');
  sameResources(t, third.resources, first.resources, 'MongoDB (mingo) → SQLite');
});
