// The job runner (src/jobs/runner.ts) with two runners — two instances — on one database:
// SQLite (one store, as two workers of one process would share it) and the MongoDB adapter
// over the emulation (two adapters on one database, as two processes would have).
import t from 'tap';
import type { Test } from 'tap';
import { randomUUID } from 'node:crypto';
import { JobRunner, type JobHandler } from '../../src/jobs/runner.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import type { WorkStore } from '../../src/store/work.js';
import { MingoDb } from '../helpers/mingo-db.js';

const LEASE = 150;
const POLL = 10;

interface Two {
  a: WorkStore;
  b: WorkStore;
  close(): Promise<void>;
}

const setups: { name: string; open(): Promise<Two> }[] = [
  {
    name: 'sqlite',
    async open() {
      const s = SqliteStore.open({ filename: ':memory:' });
      return { a: s.work, b: s.work, close: () => s.close() };
    },
  },
  {
    name: 'mongodb over mingo',
    async open() {
      const db = new MingoDb();
      const a = await MongoStore.open({ db });
      const b = await MongoStore.open({ db: db.reopen() });
      return { a: a.work, b: b.work, close: async () => { await a.close(); await b.close(); } };
    },
  },
];

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!await cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

for (const setup of setups) {
  const test = (name: string, fn: (t: Test, two: Two, runners: (h: JobHandler, kind?: string) => [JobRunner, JobRunner]) => Promise<void>): void => {
    t.test(`${setup.name}: ${name}`, async (t) => {
      const two = await setup.open();
      const made: JobRunner[] = [];
      const runners = (h: JobHandler, kind = 'k'): [JobRunner, JobRunner] => {
        const a = new JobRunner({ work: two.a, pollMs: POLL, leaseMs: LEASE, instanceId: 'A', graceMs: 500 });
        const b = new JobRunner({ work: two.b, pollMs: POLL, leaseMs: LEASE, instanceId: 'B', graceMs: 500 });
        a.register(kind, h);
        b.register(kind, h);
        made.push(a, b);
        return [a, b];
      };
      try {
        await fn(t, two, runners);
      } finally {
        for (const r of made) await r.close();
        await two.close();
      }
    });
  };

  test('every job runs exactly once across two runners', async (t, { a }, runners) => {
    const runs = new Map<string, string[]>();
    const [ra, rb] = runners(async ({ job }) => {
      runs.set(job.id, [...(runs.get(job.id) ?? []), job.owner ?? '?']);
      await sleep(20);
      return { ran: true };
    });
    const ids = Array.from({ length: 20 }, () => randomUUID());
    for (const id of ids) await a.addJob('k', id, {});
    ra.start();
    rb.start();
    await until('all done', async () => (await a.listJobs('k', ['done'])).length === ids.length);
    t.equal(runs.size, ids.length);
    t.ok([...runs.values()].every((r) => r.length === 1), 'no job ran twice');
    const owners = new Set([...runs.values()].flat());
    t.same([...owners].sort(), ['A', 'B'], 'both instances took work');
    for (const j of await a.listJobs('k')) {
      t.equal(j.attempts, 1);
      t.same(j.data, { ran: true }, 'the handler result is the job data');
    }
  });

  test('a live runner keeps its job; when it dies the other takes it over', async (t, { a }, runners) => {
    const calls: string[] = [];
    let firstSignal: AbortSignal | undefined;
    let firstSave: ((c: object) => Promise<boolean>) | undefined;
    const [ra, rb] = runners(async ({ job, signal, save }) => {
      calls.push(job.owner ?? '?');
      if (calls.length === 1) {
        firstSignal = signal;
        firstSave = save;
        await save({ data: { step: 1 } });
        await new Promise(() => undefined); // hangs, as a stuck or killed process would
      }
      return { by: job.owner ?? '?', resumedFrom: job.data.step ?? null };
    });
    await a.addJob('k', 'j', {});
    ra.start();
    await until('A runs it', () => calls.length === 1);
    rb.start();
    await sleep(LEASE * 4);
    t.same(calls, ['A'], 'renewals keep the job with A past several lease periods');
    t.equal((await a.getJob('j'))?.owner, 'A');
    ra.halt(); // killed: no more renewals
    await until('B finishes it', async () => (await a.getJob('j'))?.state === 'done');
    const j = await a.getJob('j');
    t.same(calls, ['A', 'B']);
    t.equal(j?.owner, 'B');
    t.equal(j?.attempts, 2);
    t.same(j?.data, { by: 'B', resumedFrom: 1 }, 'B resumed from the progress A saved');
    t.equal(firstSignal?.aborted, true, "the dead runner's handler is told to stop");
    t.equal(await firstSave?.({ data: { late: true } }), false, 'and can write nothing more');
    t.same((await a.getJob('j'))?.data, { by: 'B', resumedFrom: 1 });
  });

  test('a cancelled job: save answers false, the signal aborts, the state stays cancelled', async (t, { a }, runners) => {
    let saves = 0;
    let lost = false;
    const [ra] = runners(async ({ save, signal }) => {
      while (await save({ data: { n: ++saves } })) await sleep(10);
      lost = signal.aborted;
      return { shouldNot: 'be kept' };
    });
    await a.addJob('k', 'c', {});
    ra.start();
    await until('running', () => saves > 2);
    t.equal(await a.cancelJob('c'), true);
    await until('handler noticed', () => lost);
    await sleep(50);
    const j = await a.getJob('c');
    t.equal(j?.state, 'cancelled');
    t.notOk('shouldNot' in (j?.data ?? {}), 'the result of a lost job is dropped');
  });

  test('a handler that throws fails its job, with the message; the runner goes on', async (t, { a }, runners) => {
    const [ra] = runners(async ({ job }) => {
      if (job.id === 'bad') throw new Error('no such type');
      return { ok: true };
    });
    await a.addJob('k', 'bad', { x: 1 }, 1);
    await a.addJob('k', 'good', {}, 2);
    ra.start();
    await until('both finished', async () => (await a.listJobs('k', ['done', 'failed'])).length === 2);
    const bad = await a.getJob('bad');
    t.equal(bad?.state, 'failed');
    t.same(bad?.data, { x: 1, error: 'no such type' });
    t.equal((await a.getJob('good'))?.state, 'done');
  });

  test('close hands a running job back to the queue at once; another runner resumes it', async (t, { a }, runners) => {
    let started = 0;
    const [ra, rb] = runners(async ({ job, signal, save }) => {
      started++;
      if (job.owner === 'A') {
        await save({ data: { half: true } });
        await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));
      }
      return { ...job.data, finishedBy: job.owner ?? '?' };
    });
    await a.addJob('k', 'h', {});
    ra.start();
    await until('A runs it', () => started === 1);
    const t0 = Date.now();
    await ra.close();
    const back = await a.getJob('h');
    t.equal(back?.state, 'queued', 'back in the queue');
    t.equal(back?.owner, undefined);
    t.same(back?.data, { half: true }, 'with its progress');
    rb.start();
    await until('B finished', async () => (await a.getJob('h'))?.state === 'done');
    t.ok(Date.now() - t0 < 5000, 'without waiting for a lease to lapse');
    t.same((await a.getJob('h'))?.data, { half: true, finishedBy: 'B' });
  });

  test('a kind without a handler here is left alone; a second handler for one kind is refused', async (t, { a }, runners) => {
    const [ra] = runners(async () => undefined, 'mine');
    t.throws(() => ra.register('mine', async () => undefined));
    await a.addJob('theirs', 'x', {});
    ra.start();
    await sleep(POLL * 5);
    t.equal((await a.getJob('x'))?.state, 'queued');
  });
}
