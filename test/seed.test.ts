// The demo clinic in fixtures/ and `npm run seed`.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import { buildApp } from '../src/app.js';

interface Res { resourceType: string; id: string; [k: string]: unknown }
const bundle = JSON.parse(readFileSync('fixtures/clinic.json', 'utf8')) as { entry: { resource: Res }[] };
const resources = bundle.entry.map((e) => e.resource);
const fees = (JSON.parse(readFileSync('fixtures/fee-schedule.json', 'utf8')) as { entry: { resource: Res }[] }).entry.map((e) => e.resource);

function references(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) v.forEach((x) => references(x, out));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === 'reference' && typeof x === 'string') out.push(x);
      else references(x, out);
    }
  }
  return out;
}

t.test('the demo clinic has every kind of record the issue asks for', async (t) => {
  const types = new Set(resources.map((r) => r.resourceType));
  for (const type of ['Organization', 'Practitioner', 'Patient', 'Encounter', 'Observation', 'MedicationRequest', 'Appointment', 'Coverage', 'Claim', 'Invoice']) {
    t.ok(types.has(type), type);
  }
  const ids = new Set(resources.map((r) => `${r.resourceType}/${r.id}`));
  t.equal(ids.size, resources.length, 'ids are unique');
  for (const r of resources) {
    for (const ref of references(r)) t.ok(ids.has(ref), `${r.resourceType}/${r.id} → ${ref} resolves inside the clinic`);
  }
});

t.test('npm run seed loads the clinic into the configured database, and reseeding only adds versions', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flint-seed-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, DATABASE_URL: `sqlite:${join(dir, 'flint.db')}`, LOG_LEVEL: 'silent', AUTH: 'off' };
  for (let run = 1; run <= 2; run++) {
    const res = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/seed.ts'], { env, encoding: 'utf8', timeout: 60_000 });
    t.equal(res.status, 0, res.stderr);
    t.match(res.stdout, new RegExp(`done: ${resources.length + fees.length} resources`), 'the clinic and its fee schedule');
  }
  const app = await buildApp(loadConfig(env));
  t.teardown(() => app.close());
  for (const r of [...resources, ...fees]) {
    const got = await app.inject(`/fhir/${r.resourceType}/${r.id}`);
    t.equal(got.statusCode, 200, `${r.resourceType}/${r.id}`);
    t.equal(JSON.parse(got.body).meta.versionId, '2');
  }
});

t.test('seed refuses an invalid file and leaves the database untouched', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flint-seed-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, DATABASE_URL: `sqlite:${join(dir, 'flint.db')}`, AUTH: 'off' };
  const bad = join(dir, 'bad.json');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(bad, JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: [
    { resource: { resourceType: 'Patient', id: 'ok' } },
    { resource: { resourceType: 'Patient', id: 'bad', birthDate: 'not-a-date' } },
  ] }));
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/seed.ts', bad], { env, encoding: 'utf8', timeout: 60_000 });
  t.equal(res.status, 1);
  t.match(res.stderr, /refused/);
  const app = await buildApp(loadConfig({ ...env, LOG_LEVEL: 'silent' }));
  t.teardown(() => app.close());
  t.equal((await app.inject('/fhir/Patient/ok')).statusCode, 404, 'the whole file is one transaction');
});
