// An export outlives the process that ran it: a restart resumes the job from its checkpoint, and
// a job whose owner died (its lease lapsed) is taken over; nothing it half-wrote is served.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildApp, openEngine } from '../../src/app.js';
import { load, clinic, ids } from '../helpers/app.js';
import { kick, poll, download } from '../helpers/export.js';

function env(file: string, extra: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_URL: `sqlite:${file}`, LOG_LEVEL: 'silent', BASE_URL: 'http://flint.test/fhir', AUTH: 'off', RATE_LIMIT: '0', ...extra };
}

async function everything(app: FastifyInstance, types: Iterable<string>): Promise<string[]> {
  const out: string[] = [];
  for (const type of types) out.push(...await ids(app, `/fhir/${type}?_count=1000`));
  return out.sort();
}

t.test('close the app while an export runs; a new app on the same database completes it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flint-export-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'flint.db');
  // Small files and many of them: the job is mid-way through when the app closes.
  const app1 = await buildApp(loadConfig(env(file, { EXPORT_FILE_MAX_BYTES: '1024' })));
  await load(app1, clinic());
  const status = await kick(app1, '/fhir/$export');
  await new Promise((r) => setTimeout(r, 30));
  await app1.close();

  const app2 = await buildApp(loadConfig(env(file, { EXPORT_FILE_MAX_BYTES: '1024' })));
  t.teardown(() => app2.close());
  const manifest = await poll(app2, status);
  const resources = (await download(app2, manifest)).map((x) => `${x.resource.resourceType}/${x.resource.id}`);
  t.equal(resources.length, new Set(resources).size, 'no resource twice');
  const types = new Set([...clinic().map((r) => r.resourceType), ...resources.map((k) => k.split('/')[0] ?? '')]);
  t.same(resources.sort(), await everything(app2, types), 'every resource, as search finds them');
});

t.test('a job whose owner died is taken over when its lease lapses; its half-written lines are never served', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flint-export-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'flint.db');
  const app1 = await buildApp(loadConfig(env(file)));
  await load(app1, clinic());
  const status = await kick(app1, '/fhir/$export?_type=Patient,Observation');
  await app1.close();

  // Another instance claims the job, writes lines it never checkpoints, and dies.
  const ghost = await openEngine(loadConfig(env(file)), { hooks: [] });
  const job = await ghost.store.work.claimJob('export', 'ghost', 1000);
  t.ok(job, 'the ghost holds the job');
  for (const name of ['Patient-1.ndjson', 'Patient-1-r2.ndjson', 'Observation-1.ndjson']) {
    await ghost.store.work.appendFile(job?.id ?? '', name, '{"resourceType":"Patient","id":"ghost-line"}\n');
  }
  await ghost.store.close();

  const app2 = await buildApp(loadConfig(env(file, { JOB_LEASE_MS: '1000', JOB_POLL_MS: '100' })));
  t.teardown(() => app2.close());
  const manifest = await poll(app2, status, 30_000);
  const resources = (await download(app2, manifest)).map((x) => `${x.resource.resourceType}/${x.resource.id}`).sort();
  t.notOk(resources.includes('Patient/ghost-line'), 'nothing the dead owner wrote');
  t.same(resources, await everything(app2, ['Observation', 'Patient']));
});
