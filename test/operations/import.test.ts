// Bulk import ($import, npm run import) and the round trip: export → import into an empty Flint →
// the same resources.
import t, { type Test as Tap } from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';
import { testApp, load, clinic, body, put } from '../helpers/app.js';
import { MingoDb } from '../helpers/mingo-db.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import { MongoRegistry } from '../../src/store/mongo/registry.js';
import { EXAMPLES_DIR, r4Examples } from '../../scripts/corpus.js';
import { exportAll } from '../helpers/export.js';

const NDJSON = 'application/fhir+ndjson';
const key = (r: Record<string, any>): string => `${r.resourceType}/${r.id}`;
/** A resource without what the server that stores it assigns. */
const content = (r: Record<string, any>): Record<string, any> => {
  const { versionId: _v, lastUpdated: _l, ...meta } = r.meta ?? {};
  return { ...r, meta };
};

function importNdjson(app: FastifyInstance, text: string, headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url: '/fhir/$import', payload: text, headers: { 'content-type': NDJSON, ...headers } });
}

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
    const res = await importNdjson(app, `${lines.join('\n')}\n`);
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

t.test('$import: each line validated on its own; refusals name the line; nothing of a refused line is written', async (t) => {
  const app = await testApp(t);
  const lines = [
    JSON.stringify({ resourceType: 'Patient', id: 'p1', gender: 'female' }),
    'not json at all',
    JSON.stringify({ resourceType: 'Patient', id: 'p2', gender: 'sometimes' }),
    JSON.stringify({ resourceType: 'NotAType', id: 'x' }),
    JSON.stringify({ hello: 'world' }),
    '',
    JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'no id: created' } }),
    JSON.stringify({ resourceType: 'Patient', id: 'p1', gender: 'male' }),
  ];
  const res = await importNdjson(app, lines.join('\n'));
  t.equal(res.statusCode, 422);
  const outcome = body(res);
  const text = outcome.issue.map((i: { diagnostics: string }) => i.diagnostics).join('\n');
  t.match(text, /Loaded 3 resources \(Observation: 1, Patient: 2\); refused 4/);
  for (const n of [2, 3, 4, 5]) t.match(text, new RegExp(`line ${n}\\b`), `line ${n} refused`);
  t.equal((await app.inject('/fhir/Patient/p2')).statusCode, 404, 'refused: not written');
  const p1 = body(await app.inject('/fhir/Patient/p1'));
  t.equal(p1.gender, 'male', 'a repeated resource gets its versions in file order');
  t.equal(p1.meta.versionId, '2');
  t.equal(body(await app.inject('/fhir/Observation')).entry.length, 1);
});

t.test('$import refuses what it cannot take, clearly', async (t) => {
  const app = await testApp(t, { BODY_LIMIT: '65536' });
  t.equal((await importNdjson(app, '')).statusCode, 400, 'empty');
  t.equal((await importNdjson(app, '\n\n\n')).statusCode, 400, 'no resources');
  t.equal((await app.inject({ method: 'POST', url: '/fhir/$import', payload: '{}', headers: { 'content-type': 'text/plain' } })).statusCode, 415);
  const huge = `${JSON.stringify({ resourceType: 'Patient', id: 'big' })}\n`.repeat(5000);
  t.equal((await importNdjson(app, huge)).statusCode, 413, 'bounded by BODY_LIMIT');
  t.equal((await app.inject('/fhir/Patient/big')).statusCode, 404, 'and nothing written');
  const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
  const res = await importNdjson(app, deep);
  t.equal(res.statusCode, 422, 'a deep line is one refusal');
  const params = await app.inject({ method: 'POST', url: '/fhir/$import', headers: { 'content-type': 'application/fhir+json' }, payload: JSON.stringify({
    resourceType: 'Parameters', parameter: [{ name: 'ndjson', valueString: JSON.stringify({ resourceType: 'Patient', id: 'via-params' }) }, { name: 'resource', resource: { resourceType: 'Patient', id: 'inline' } }],
  }) });
  t.equal(params.statusCode, 200, params.body);
  t.equal((await app.inject('/fhir/Patient/inline')).statusCode, 200);
  t.equal((await app.inject({ method: 'POST', url: '/fhir/$import', headers: { 'content-type': 'application/fhir+json' }, payload: '{"resourceType":"Patient"}' })).statusCode, 400);
  const inBundle = await app.inject({ method: 'POST', url: '/fhir', headers: { 'content-type': 'application/fhir+json' }, payload: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'POST', url: '$import' }, resource: { resourceType: 'Parameters' } }] }) });
  t.match(body(inBundle).entry[0].response.status, /^400/);
});

t.test('npm run import loads NDJSON and Bundle files into a stopped database; refusals go to the error file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flint-import-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const data = join(dir, 'data');
  spawnSync('mkdir', [data]);
  writeFileSync(join(data, 'Patient.ndjson'), [
    JSON.stringify({ resourceType: 'Patient', id: 'a', gender: 'female' }),
    JSON.stringify({ resourceType: 'Patient', id: 'b', gender: 'not-a-gender' }),
    JSON.stringify({ resourceType: 'Patient', id: 'c' }),
  ].join('\n'));
  writeFileSync(join(data, 'bundle.json'), JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Organization', id: 'o1', name: 'Org' } }] }));
  const db = join(dir, 'flint.db');
  const errors = join(dir, 'errors.ndjson');
  const run = spawnSync('npx', ['tsx', 'scripts/import.ts', '--errors', errors, data], {
    env: { ...process.env, DATABASE_URL: `sqlite:${db}`, LOG_LEVEL: 'silent' }, encoding: 'utf8', timeout: 120_000,
  });
  t.equal(run.status, 2, `exit 2 when something was refused: ${run.stderr}`);
  t.match(run.stdout, /Organization\s+1\s+0/);
  t.match(run.stdout, /Patient\s+2\s+1/);
  t.match(run.stdout, /loaded 3, refused 1 of 4/);
  t.ok(existsSync(errors));
  const refused = readFileSync(errors, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { line: number; reason: string; resource: { id: string }; file: string });
  t.equal(refused.length, 1);
  t.match(refused[0], { line: 2, resource: { id: 'b' } });
  t.match(refused[0]?.file, /Patient\.ndjson$/);
  const app = await buildApp(loadConfig({ DATABASE_URL: `sqlite:${db}`, LOG_LEVEL: 'silent', BASE_URL: 'http://flint.test/fhir', AUTH: 'off' }));
  t.teardown(() => app.close());
  t.equal((await app.inject('/fhir/Patient/a')).statusCode, 200);
  t.equal((await app.inject('/fhir/Patient/b')).statusCode, 404);
  t.equal(body(await app.inject('/fhir/Organization/o1')).name, 'Org');
});
