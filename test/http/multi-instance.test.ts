// Two Flint instances on one MongoDB database (the in-process emulation, or a real server with
// FLINT_TEST_STORE=mongodb; each instance has its own connection, adapter, lock and runner, as
// two processes would): they behave as one server for reads,
// writes and conditional create, and background work runs once, moving when an instance dies.
import t from 'tap';
import type { Test } from 'tap';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import type { MongoDb } from '../../src/store/mongo/db.js';
import { body, post, put, load, sharedDatabase } from '../helpers/app.js';

const ENV = { DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', BASE_URL: 'http://flint.test/fhir', AUTH: 'off', RATE_LIMIT: '0', JOB_POLL_MS: '20', JOB_LEASE_MS: '300' };

async function twoInstances(t: Test): Promise<{ a: FastifyInstance; b: FastifyInstance; db: { handle(): Promise<MongoDb> } }> {
  const db = sharedDatabase();
  const open = async (id: string) => buildApp(loadConfig(ENV), { store: async (indexer) => MongoStore.open({ db: await db.handle(), indexer }), instanceId: id });
  const a = await open('A');
  const b = await open('B');
  t.teardown(async () => { await a.close(); await b.close(); });
  await a.ready();
  await b.ready();
  return { a, b, db };
}

async function until(what: string, cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!await cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('a write through one instance is read through the other at once', async (t) => {
  const { a, b } = await twoInstances(t);
  const created = await post(a, '/fhir/Patient', { resourceType: 'Patient', name: [{ family: 'Ash' }] });
  t.equal(created.statusCode, 201);
  const id = body(created).id as string;
  const readB = await b.inject(`/fhir/Patient/${id}`);
  t.equal(readB.statusCode, 200);
  t.equal(body(readB).name[0].family, 'Ash');
  const updated = await put(b, `/fhir/Patient/${id}`, { resourceType: 'Patient', id, name: [{ family: 'Birch' }] }, { 'if-match': 'W/"1"' });
  t.equal(updated.statusCode, 200);
  const readA = await a.inject(`/fhir/Patient/${id}`);
  t.equal(body(readA).meta.versionId, '2', 'A sees B\'s update at once');
  t.equal(body(readA).name[0].family, 'Birch');
  const stale = await put(a, `/fhir/Patient/${id}`, { resourceType: 'Patient', id, name: [{ family: 'Cedar' }] }, { 'if-match': 'W/"1"' });
  t.equal(stale.statusCode, 412, 'a stale If-Match through A is refused');
  t.same(body(await b.inject('/fhir/Patient?family=birch')).entry.map((e: any) => e.resource.id), [id], 'B searches what B wrote; A reads it too');
  t.equal(body(await a.inject('/fhir/Patient?family=birch')).total ?? body(await a.inject('/fhir/Patient?family=birch')).entry.length, 1);
  t.equal((await a.inject({ method: 'DELETE', url: `/fhir/Patient/${id}` })).statusCode, 200);
  t.equal((await b.inject(`/fhir/Patient/${id}`)).statusCode, 410, 'B sees A\'s delete at once');
  const hist = body(await b.inject(`/fhir/Patient/${id}/_history`));
  t.equal(hist.entry.length, 3, 'one history across both');
});

t.test('concurrent conditional creates through both instances: one winner', async (t) => {
  const { a, b } = await twoInstances(t);
  const patient = { resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'race-1' }] };
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) =>
    post(i % 2 ? a : b, '/fhir/Patient', patient, { 'if-none-exist': 'identifier=urn:mrn|race-1' })));
  const codes = results.map((r) => r.statusCode).sort();
  t.same(codes, [200, 200, 200, 200, 200, 200, 200, 200, 200, 201], 'one created, nine found it');
  const ids = new Set(results.map((r) => body(r).id));
  t.equal(ids.size, 1, 'everyone got the same resource');
  const found = body(await b.inject('/fhir/Patient?identifier=urn:mrn|race-1'));
  t.equal(found.entry.length, 1);
});

const NICK = 'http://clinic.example/fhir/StructureDefinition/nickname';
const nicknameParam = {
  resourceType: 'SearchParameter', url: 'http://clinic.example/fhir/SearchParameter/patient-nickname', name: 'nickname', status: 'active',
  description: 'nickname', code: 'nickname', base: ['Patient'], type: 'string',
  expression: `Patient.extension.where(url='${NICK}').value.ofType(string)`,
};

t.test('a SearchParameter written through one instance: reindexed once, searchable through both', async (t) => {
  const { a, b, db } = await twoInstances(t);
  // A takes no background work: the job A queues must run on B, with B learning the parameter
  // from the database first.
  a.jobRunner.halt();
  await load(a, Array.from({ length: 30 }, (_, i) => ({ resourceType: 'Patient', id: `n${i}`, extension: [{ url: NICK, valueString: `nick${i}` }] })));
  t.equal((await post(a, '/fhir/SearchParameter', nicknameParam)).statusCode, 201);
  const probe = await MongoStore.open({ db: await db.handle() });
  t.teardown(() => probe.close());
  await until('reindex done', async () => (await probe.work.listJobs('reindex', ['done'])).length === 1);
  const jobs = await probe.work.listJobs('reindex');
  t.equal(jobs.length, 1, 'one job for the two instances');
  t.equal(jobs[0]?.attempts, 1, 'claimed once');
  t.equal(jobs[0]?.owner, 'B', 'run by the other instance');
  t.equal(jobs[0]?.data.done, 30);
  // B learns of the parameter from the database, indexes its own writes with it, and searches it.
  await until('B knows nickname', async () => (await b.inject({ url: '/fhir/Patient?nickname=nick7', headers: { prefer: 'handling=strict' } })).statusCode === 200);
  await load(b, [{ resourceType: 'Patient', id: 'late', extension: [{ url: NICK, valueString: 'latecomer' }] }] as never);
  for (const app of [a, b]) {
    const res = body(await app.inject({ url: '/fhir/Patient?nickname=late', headers: { prefer: 'handling=strict' } }));
    t.same(res.entry.map((e: any) => e.resource.id), ['late']);
    t.equal(body(await app.inject('/fhir/Patient?nickname:exact=nick29')).entry.length, 1, 'reindexed resources found through either');
  }
  // Repeated requests while one is waiting: one queued job, not one per request.
  b.jobRunner.halt(); // nobody claims now: the first job waits
  const repeats: string[] = [];
  for (const app of [a, b, a]) repeats.push(body(await app.inject({ method: 'POST', url: '/fhir/$reindex?_type=Observation' })).parameter[0].part[0].valueString);
  t.equal(new Set(repeats).size, 1, 'a request for a waiting job joins it, through either instance');
  t.equal((await probe.work.listJobs('reindex', ['queued'])).length, 1);
  const progress = (body(await b.inject('/fhir/$reindex')).parameter as any[]).filter((p) => p.part.find((x: any) => x.name === 'types').valueString === 'Patient');
  t.equal(progress.length, 1, 'B reports the job A queued');
  t.equal(progress[0].part.find((p: any) => p.name === 'state').valueCode, 'completed');
});

t.test('a job whose instance dies moves to the live one', async (t) => {
  const { a, b, db } = await twoInstances(t);
  const ran: string[] = [];
  const handler = (name: string) => async ({ save }: { save: (c: { data: Record<string, unknown> }) => Promise<boolean> }) => {
    ran.push(name);
    await save({ data: { startedBy: name } });
    if (name === 'A') await new Promise(() => undefined); // A hangs, then is killed
    return { finishedBy: name };
  };
  // At first only A handles this kind.
  a.jobRunner.register('test-slow', handler('A'));
  const probe = await MongoStore.open({ db: await db.handle() });
  t.teardown(() => probe.close());
  await probe.work.addJob('test-slow', 'j1', {});
  await until('A runs it', async () => ran.length === 1);
  b.jobRunner.register('test-slow', handler('B'));
  await new Promise((r) => setTimeout(r, 1000));
  t.same(ran, ['A'], 'while A renews its lease (300 ms), B does not run the job');
  a.jobRunner.halt(); // killed: no more renewals
  await until('B finished it', async () => (await probe.work.getJob('j1'))?.state === 'done');
  const j = await probe.work.getJob('j1');
  t.same(ran, ['A', 'B']);
  t.equal(j?.owner, 'B');
  t.equal(j?.attempts, 2);
  t.same(j?.data, { finishedBy: 'B' });
});
