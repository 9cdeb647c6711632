// SearchParameters posted at runtime become searchable after a background reindex.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { testApp, load, ids, post, body } from '../helpers/app.js';

const NICK = 'http://clinic.example/fhir/StructureDefinition/nickname';
const nicknameParam = {
  resourceType: 'SearchParameter', url: 'http://clinic.example/fhir/SearchParameter/patient-nickname', name: 'nickname', status: 'active',
  description: 'A patient\'s nickname (extension)', code: 'nickname', base: ['Patient'], type: 'string',
  expression: `Patient.extension.where(url='${NICK}').value.ofType(string)`,
};
const patient = (id: string, nick: string) => ({ resourceType: 'Patient', id, extension: [{ url: NICK, valueString: nick }] });

async function waitForJobs(app: FastifyInstance): Promise<any[]> {
  for (let i = 0; i < 200; i++) {
    const jobs = body(await app.inject('/fhir/$reindex')).parameter ?? [];
    const states = jobs.map((j: any) => j.part.find((p: any) => p.name === 'state').valueCode);
    if (states.every((s: string) => s !== 'running' && s !== 'queued')) return jobs;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('reindex did not finish');
}

t.test('a new SearchParameter indexes existing resources in the background, then searches', async (t) => {
  const app = await testApp(t);
  await load(app, [patient('n1', 'Bobby'), patient('n2', 'Bea'), patient('n3', 'Robert')]);
  const before = await app.inject({ url: '/fhir/Patient?nickname=b', headers: { prefer: 'handling=strict' } });
  t.equal(before.statusCode, 400, 'unknown before it is defined');
  const created = await post(app, '/fhir/SearchParameter', nicknameParam);
  t.equal(created.statusCode, 201);
  const jobs = await waitForJobs(app);
  const job = jobs[0].part;
  t.equal(job.find((p: any) => p.name === 'state').valueCode, 'completed');
  t.equal(job.find((p: any) => p.name === 'types').valueString, 'Patient');
  t.equal(job.find((p: any) => p.name === 'done').valueInteger, 3);
  t.same(await ids(app, '/fhir/Patient?nickname=b&_sort=_id'), ['Patient/n1', 'Patient/n2'], 'existing resources were reindexed');
  await load(app, [patient('n4', 'Billy')]);
  t.same(await ids(app, '/fhir/Patient?nickname=bil'), ['Patient/n4'], 'new writes are indexed at once');
  t.same(await ids(app, '/fhir/Patient?nickname:exact=Robert'), ['Patient/n3']);
  const cs = body(await app.inject('/fhir/metadata'));
  t.ok(cs.rest[0].resource.find((r: any) => r.type === 'Patient').searchParam.some((p: any) => p.name === 'nickname'), 'listed in the CapabilityStatement');
});

t.test('a SearchParameter whose expression does not compile is refused and changes nothing', async (t) => {
  const app = await testApp(t);
  const res = await post(app, '/fhir/SearchParameter', { ...nicknameParam, expression: 'Patient.extension.where(url=' });
  t.equal(res.statusCode, 422);
  t.match(body(res).issue[0].diagnostics, /does not compile/);
  const bad = await post(app, '/fhir/SearchParameter', { ...nicknameParam, base: ['Unicorn'] });
  t.equal(bad.statusCode, 422);
  t.equal(body(await app.inject('/fhir/SearchParameter')).total, 0);
});

t.test('deleting a SearchParameter makes it unknown again', async (t) => {
  const app = await testApp(t);
  const created = body(await post(app, '/fhir/SearchParameter', nicknameParam));
  await waitForJobs(app);
  t.equal((await app.inject({ url: '/fhir/Patient?nickname=x', headers: { prefer: 'handling=strict' } })).statusCode, 200);
  await app.inject({ method: 'DELETE', url: `/fhir/SearchParameter/${created.id}` });
  t.equal((await app.inject({ url: '/fhir/Patient?nickname=x', headers: { prefer: 'handling=strict' } })).statusCode, 400);
});

t.test('POST $reindex starts a job whose progress is readable', async (t) => {
  const app = await testApp(t);
  await load(app, [patient('r1', 'A'), patient('r2', 'B'), { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'x' } } as never]);
  const res = await app.inject({ method: 'POST', url: '/fhir/$reindex?_type=Patient' });
  t.equal(res.statusCode, 202);
  const location = String(res.headers['content-location']);
  t.match(location, /\$reindex\?job=/);
  await waitForJobs(app);
  const job = body(await app.inject(location.replace('http://flint.test', ''))).parameter[0].part;
  t.equal(job.find((p: any) => p.name === 'state').valueCode, 'completed');
  t.equal(job.find((p: any) => p.name === 'done').valueInteger, 2, 'only the named types');
  t.equal((await app.inject('/fhir/$reindex?job=nope')).statusCode, 404);
  t.equal((await app.inject({ method: 'POST', url: '/fhir/$reindex?_type=Nope' })).statusCode, 400);
});

t.test('searches keep working during a reindex, and say the index is being rebuilt', async (t) => {
  const app = await testApp(t);
  await load(app, Array.from({ length: 1500 }, (_, i) => patient(`m${i}`, `nick${i}`)));
  await post(app, '/fhir/SearchParameter', nicknameParam);
  const during = await app.inject('/fhir/Patient?_id=m1');
  t.equal(during.statusCode, 200);
  const jobs = await waitForJobs(app);
  t.equal(jobs[0].part.find((p: any) => p.name === 'done').valueInteger, 1500);
  // The job reindexes in batches of 500 between requests; the search ran while it was under way.
  const outcome = body(during).entry.find((e: any) => e.search.mode === 'outcome');
  t.match(outcome?.resource.issue[0].diagnostics, /being rebuilt/);
  t.same(await ids(app, '/fhir/Patient?nickname:exact=nick1499'), ['Patient/m1499']);
});

t.test('stored SearchParameters are active again after a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flint-sp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = { DATABASE_URL: `sqlite:${join(dir, 'flint.db')}` };
  const { loadConfig } = await import('../../src/config.js');
  const { buildApp } = await import('../../src/app.js');
  const first = await buildApp(loadConfig({ ...env, LOG_LEVEL: 'silent', BASE_URL: 'http://flint.test/fhir', AUTH: 'off' }));
  await load(first, [patient('s1', 'Sunny')]);
  await post(first, '/fhir/SearchParameter', nicknameParam);
  await waitForJobs(first);
  await first.close();
  const second = await buildApp(loadConfig({ ...env, LOG_LEVEL: 'silent', BASE_URL: 'http://flint.test/fhir', AUTH: 'off' }));
  t.teardown(() => second.close());
  t.same(await ids(second, '/fhir/Patient?nickname=sun'), ['Patient/s1']);
});
