// Bulk import: the $import endpoint and `npm run import`. (The round trip across adapters:
// import-round-trip.test.ts.)
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';
import { testApp, body } from '../helpers/app.js';

const NDJSON = 'application/fhir+ndjson';
function importNdjson(app: FastifyInstance, text: string, headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url: '/fhir/$import', payload: text, headers: { 'content-type': NDJSON, ...headers } });
}

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
  // node with tsx's loader, as test/auth/cli.test.ts runs its script: npx would start npm first.
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/import.ts', '--errors', errors, data], {
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
