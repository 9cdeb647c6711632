// Reader threads of the SQLite store (src/store/sqlite/reader-pool.ts) on a file database:
// searches see every write committed before them, run side by side, a thread that overruns the
// time budget or dies is replaced, and close() stops every thread.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Resource } from 'fhir/r4.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { ReaderPool, startReader } from '../../src/store/sqlite/reader-pool.js';
import { StoreError, type SearchPage, type StoreIndexer } from '../../src/store/port.js';
import type { SearchQuery } from '../../src/search/ir.js';
import { loadDefinitions } from '../../src/definitions/registry.js';
import { SearchParams } from '../../src/search/params.js';
import { Indexer } from '../../src/search/extract.js';
import { SearchParser } from '../../src/search/parse.js';

const dir = mkdtempSync(join(tmpdir(), 'flint-readers-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(dir, `db${n++}.sqlite`);

const defs = loadDefinitions();
const params = new SearchParams(defs);
const indexer: StoreIndexer = new Indexer(defs, 'http://flint.test/fhir', params);
const parser = new SearchParser(defs, params);
parser.setBaseUrl('http://flint.test/fhir');
const parse = (url: string): SearchQuery => {
  const [type = '', qs = ''] = url.split('?');
  return parser.parse({ types: [type], params: [...new URLSearchParams(qs)] as [string, string][], handling: 'strict', defaultCount: 50, maxCount: 1000 }).query;
};
const ids = (p: SearchPage): string[] => p.records.map((r) => r.id);

const patient = (i: number): Resource => ({ resourceType: 'Patient', id: `p${i}`, name: [{ family: `fam${i % 7}` }], birthDate: `19${50 + (i % 40)}-01-01` } as Resource);

/** A thread that takes jobs and never answers (a statement that does not come back), or that dies on its first job. */
function fakeThread(kind: 'stuck' | 'crash'): Worker {
  const body = kind === 'stuck'
    ? "p.on('message', () => { for (;;) {} });"
    : "p.on('message', () => process.exit(3));";
  return new Worker(`const p = require('node:worker_threads').parentPort; ${body} p.postMessage('ready');`, { eval: true });
}

t.test('a search right after a committed write sees it, every time', async (t) => {
  const s = SqliteStore.open({ filename: fresh(), indexer, readers: 2 });
  t.teardown(() => s.close());
  for (let i = 0; i < 40; i++) {
    await s.create(patient(i));
    t.same(ids(await s.search(parse(`Patient?_id=p${i}`))), [`p${i}`], `p${i} found at once`);
    await s.update({ ...patient(i), id: `p${i}`, gender: 'female' } as Resource & { id: string });
    const page = await s.search(parse(`Patient?_id=p${i}&gender=female`));
    t.equal(page.records[0]?.versionId, '2', `p${i}'s update is seen at once`);
  }
  t.equal((await s.history({ type: 'Patient', count: 100 })).records.length, 80, 'history on a thread sees every version');
});

t.test('concurrent searches on threads answer what the main thread answers', async (t) => {
  const filename = fresh();
  const urls = ['Patient?_sort=birthdate,_id&_count=7', 'Patient?name=fam3&_total=accurate', 'Patient?birthdate=ge1970&_sort=-birthdate,_id', 'Patient?_count=0&_total=accurate'];
  const alone = SqliteStore.open({ filename, indexer, readers: 0 });
  for (let i = 0; i < 120; i++) await alone.create(patient(i));
  const expected: SearchPage[] = [];
  for (const u of urls) expected.push(await alone.search(parse(u)));
  await alone.close();
  const s = SqliteStore.open({ filename, indexer, readers: 3 });
  t.teardown(() => s.close());
  const pages = await Promise.all(Array.from({ length: 24 }, (_, i) => s.search(parse(urls[i % urls.length] ?? ''))));
  pages.forEach((p, i) => t.same(p, expected[i % urls.length], `search ${i}`));
});

t.test('a job past its time budget costs its thread: answered too-costly, the next job runs on a new thread', async (t) => {
  const filename = fresh();
  SqliteStore.open({ filename, indexer, readers: 0 }).close();
  const started: Worker[] = [];
  let stuckGone: Promise<unknown> = Promise.resolve();
  const pool = new ReaderPool({
    filename, size: 1, timeoutMs: 50,
    start: (f) => {
      const w = started.length === 0 ? fakeThread('stuck') : startReader(f);
      if (started.length === 0) stuckGone = new Promise((resolve) => w.once('exit', resolve));
      started.push(w);
      return w;
    },
  });
  t.teardown(() => pool.close());
  const t0 = performance.now();
  const err = await pool.search(parse('Patient'), 0).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof StoreError && err.code === 'too-costly', 'answered too-costly');
  t.ok(performance.now() - t0 < 5000, 'within the budget and its grace');
  await stuckGone;
  t.pass('the stuck thread was terminated');
  const page = await pool.search(parse('Patient'), 0);
  t.same(page.records, [], 'the next search is answered');
  t.equal(started.length, 2, 'by a new thread');
});

t.test('a thread that dies during a job fails that job only; the next runs on a new thread', async (t) => {
  const filename = fresh();
  const store = SqliteStore.open({ filename, indexer, readers: 0 });
  await store.create(patient(1));
  await store.close();
  const started: Worker[] = [];
  const pool = new ReaderPool({
    filename, size: 1,
    start: (f) => {
      const w = started.length === 0 ? fakeThread('crash') : startReader(f);
      started.push(w);
      return w;
    },
  });
  t.teardown(() => pool.close());
  const both = await Promise.allSettled([pool.search(parse('Patient'), 0), pool.search(parse('Patient'), 0)]);
  t.equal(both[0]?.status, 'rejected');
  t.ok(both[0]?.status === 'rejected' && both[0].reason instanceof StoreError && both[0].reason.code === 'unavailable', 'the crashed job: 503 unavailable');
  t.same(both[1]?.status === 'fulfilled' && ids(both[1].value), ['p1'], 'the job queued behind it is answered');
  t.equal(started.length, 2);
});

t.test('a thread that cannot open the database fails the waiting jobs instead of restarting forever', async (t) => {
  const started: Worker[] = [];
  const pool = new ReaderPool({ filename: join(dir, 'missing', 'nothing.sqlite'), size: 2, start: (f) => { const w = startReader(f); started.push(w); return w; } });
  t.teardown(() => pool.close());
  const err = await pool.search(parse('Patient'), 0).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof StoreError && err.code === 'unavailable', 'answered unavailable');
  t.equal(started.length, 1, 'one attempt');
});

t.test('close() stops every thread and refuses later jobs', async (t) => {
  const filename = fresh();
  const store = SqliteStore.open({ filename, indexer, readers: 0 });
  await store.create(patient(1));
  await store.close();
  const exits: Promise<unknown>[] = [];
  const pool = new ReaderPool({ filename, size: 3, start: (f) => { const w = startReader(f); exits.push(new Promise((r) => w.once('exit', r))); return w; } });
  await Promise.all([1, 2, 3].map(() => pool.search(parse('Patient'), 0)));
  t.ok(exits.length >= 1, `${exits.length} threads ran`);
  await pool.close();
  await Promise.all(exits);
  t.pass('every thread exited');
  const err = await pool.search(parse('Patient'), 0).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof StoreError && err.code === 'unavailable');
});

t.test('waiting searches take turns between clients (lanes), not first come first served', async (t) => {
  // One thread that answers each job with the tag it was given, so the order of answers is the
  // order in which the pool handed the jobs out.
  const echo = (): Worker => new Worker(`const p = require('node:worker_threads').parentPort;
    p.on('message', (job) => p.postMessage({ id: job.id, ok: true, value: { tag: job.query.types[0] } }));
    p.postMessage('ready');`, { eval: true });
  const pool = new ReaderPool({ filename: fresh(), size: 1, start: echo });
  t.teardown(() => pool.close());
  const order: string[] = [];
  const job = (lane: string, tag: string): Promise<void> => pool.search({ ...parse('Patient'), types: [tag], lane }, 0)
    .then((page) => {
      order.push((page as unknown as { tag: string }).tag);
    });
  // All submitted before the thread is ready: the busy client's four, then the quiet client's one.
  await Promise.all([job('busy', 'b1'), job('busy', 'b2'), job('busy', 'b3'), job('busy', 'b4'), job('quiet', 'q1'), job('', 'engine')]);
  t.same(order, ['b1', 'q1', 'engine', 'b2', 'b3', 'b4'], 'the quiet client and the engine go after one of the busy client\'s, not after all four');
});
