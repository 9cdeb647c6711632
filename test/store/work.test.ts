// The WorkStore conformance suite (src/store/work.ts): leases, the job queue and job files, on
// SQLite and on the MongoDB adapter over the in-memory emulation. "Two instances" are two
// stores on one database: two connections on one SQLite file, two adapters on one emulated
// MongoDB database.
import t from 'tap';
import type { Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { SqliteWorkStore } from '../../src/store/sqlite/work.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import { StoreError, type Store } from '../../src/store/port.js';
import type { WorkStore } from '../../src/store/work.js';
import { CHUNK_UNITS } from '../../src/store/chunks.js';
import { MingoDb } from '../helpers/mingo-db.js';

interface Pair {
  a: WorkStore;
  b: WorkStore;
  /** The store `a` belongs to (for transactions). */
  store: Store;
  close(): Promise<void>;
}

interface Adapter {
  name: string;
  pair(): Promise<Pair>;
  /** The largest stored chunk of any job file, in UTF-8 bytes (checks the 16 MB document cap is far away). */
  largestChunk?(): number;
}

const dir = mkdtempSync(join(tmpdir(), 'flint-work-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const sqlite: Adapter = {
  name: 'sqlite',
  async pair() {
    const filename = join(dir, `work${n++}.sqlite`);
    const store = SqliteStore.open({ filename });
    // A second connection on the same file, as another process would open it (the store itself
    // refuses a second owner of the file, so the work store is opened on its own).
    const conn = new Database(filename);
    conn.pragma('busy_timeout = 5000');
    const b = new SqliteWorkStore(conn, (fn) => Promise.resolve().then(fn));
    return { a: store.work, b, store, close: async () => { conn.close(); await store.close(); } };
  },
};

let lastDb: MingoDb | undefined;
const mongo: Adapter = {
  name: 'mongodb over mingo',
  async pair() {
    const db = new MingoDb('replicaset');
    lastDb = db;
    const store = await MongoStore.open({ db });
    const other = await MongoStore.open({ db: db.reopen() });
    return { a: store.work, b: other.work, store, close: async () => { await other.close(); await store.close(); } };
  },
  largestChunk: () => Math.max(0, ...(lastDb?.dump('job_chunks') ?? []).map((d) => Buffer.byteLength(String(d.t)))),
};

async function collect(it: AsyncIterable<string> | undefined): Promise<string[] | undefined> {
  if (!it) return undefined;
  const out: string[] = [];
  for await (const c of it) out.push(c);
  return out;
}

for (const adapter of [sqlite, mongo]) {
  const test = (name: string, fn: (t: Test, p: Pair) => Promise<void>): void => {
    t.test(`${adapter.name}: ${name}`, async (t) => {
      const p = await adapter.pair();
      try {
        await fn(t, p);
      } finally {
        await p.close();
      }
    });
  };

  test('a lease is exclusive until it lapses, renewable by its holder, and free after release', async (t, { a, b }) => {
    t.equal(await a.tryLease('reindex', 'A', 100, 1000), true, 'free: taken');
    t.equal(await b.tryLease('reindex', 'B', 100, 1050), false, 'held by A');
    t.equal(await a.tryLease('reindex', 'A', 100, 1050), true, 'renewed by A until 1150');
    t.equal(await b.tryLease('reindex', 'B', 100, 1149), false, 'still held at 1149');
    t.equal(await b.tryLease('reindex', 'B', 100, 1150), true, 'lapsed at 1150: taken over');
    t.equal(await a.tryLease('reindex', 'A', 100, 1160), false, 'A lost it');
    t.equal(await a.tryLease('other', 'A', 100, 1160), true, 'leases are independent by name');
    await a.releaseLease('reindex', 'A');
    t.equal(await a.tryLease('reindex', 'A', 100, 1170), false, 'a release by a non-holder changes nothing');
    await b.releaseLease('reindex', 'B');
    t.equal(await a.tryLease('reindex', 'A', 100, 1170), true, 'released: free before it would lapse');
  });

  test('concurrent lease attempts from both instances: exactly one wins', async (t, { a, b }) => {
    const wins = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).tryLease('keys', `I${i}`, 1000, 5000)));
    t.equal(wins.filter(Boolean).length, 1);
  });

  test('concurrent claims from two instances: every job is claimed exactly once', async (t, { a, b }) => {
    for (let i = 0; i < 20; i++) await a.addJob('export', `job-${String(i).padStart(2, '0')}`, { i }, 1000 + i);
    await a.addJob('import', 'other-kind', {}, 500);
    const claims = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).claimJob('export', i % 2 ? 'A' : 'B', 60_000, 2000)));
    const got = claims.filter((c) => c !== undefined).map((c) => c.id);
    t.equal(got.length, 20, 'twenty claims succeed, ten find nothing');
    t.equal(new Set(got).size, 20, 'no job claimed twice');
    for (const c of claims) if (c) t.equal(c.attempts, 1);
    t.equal((await a.getJob('other-kind'))?.state, 'queued', 'another kind is not claimed');
  });

  test('claim takes the oldest queued job and sets it running with a lease', async (t, { a }) => {
    await a.addJob('export', 'late', { n: 2 }, 2000);
    await a.addJob('export', 'early', { n: 1 }, 1000);
    const j = await a.claimJob('export', 'A', 500, 3000);
    t.equal(j?.id, 'early');
    t.equal(j?.state, 'running');
    t.equal(j?.owner, 'A');
    t.equal(j?.leaseUntil, 3500);
    t.same(j?.data, { n: 1 });
    t.equal(j?.createdAt, new Date(1000).toISOString());
    t.equal(j?.updatedAt, new Date(3000).toISOString());
  });

  test('a lapsed job is taken over; the old owner can save nothing', async (t, { a, b }) => {
    await a.addJob('export', 'j1', { step: 0 }, 0);
    t.ok(await a.claimJob('export', 'A', 100, 10));
    t.equal(await b.claimJob('export', 'B', 100, 50), undefined, 'leased to A');
    t.equal(await a.saveJob('j1', 'A', { data: { step: 1 } }, 100, 60), true, 'A renews until 160');
    t.equal(await b.claimJob('export', 'B', 100, 159), undefined, 'renewal holds');
    const taken = await b.claimJob('export', 'B', 100, 160);
    t.equal(taken?.owner, 'B');
    t.equal(taken?.attempts, 2, 'a takeover counts as another attempt');
    t.same(taken?.data, { step: 1 }, 'progress survives the takeover');
    t.equal(await a.saveJob('j1', 'A', { data: { step: 99 } }, 100, 170), false, 'refused after takeover');
    t.equal(await a.saveJob('j1', 'A', { state: 'done' }, 100, 170), false);
    t.same((await b.getJob('j1'))?.data, { step: 1 }, 'the refused save changed nothing');
    t.equal(await b.saveJob('j1', 'B', { state: 'done', data: { step: 2 } }, 100, 180), true);
    const done = await a.getJob('j1');
    t.equal(done?.state, 'done');
    t.equal(done?.owner, 'B', 'the finisher stays on record');
    t.equal(done?.leaseUntil, undefined, 'no lease once finished');
    t.equal(await b.saveJob('j1', 'B', { data: {} }, 100, 190), false, 'a finished job is not saved again');
    t.equal(await a.claimJob('export', 'A', 100, 10_000), undefined, 'a finished job is never claimed');
  });

  test('a job given back to the queue is claimable again', async (t, { a, b }) => {
    await a.addJob('reindex', 'r', {}, 0);
    await a.claimJob('reindex', 'A', 1000, 0);
    t.equal(await a.saveJob('r', 'A', { state: 'queued' }, 1000, 10), true);
    const j = await b.claimJob('reindex', 'B', 1000, 20);
    t.equal(j?.owner, 'B');
  });

  test('cancel: queued and running jobs only; the owner can save nothing after it', async (t, { a, b }) => {
    await a.addJob('export', 'q', {}, 0);
    await a.addJob('export', 'r', {}, 1);
    await a.addJob('export', 'd', {}, 2);
    t.equal(await b.cancelJob('q', 5), true, 'queued: cancelled');
    t.equal((await a.getJob('q'))?.state, 'cancelled');
    const r = await a.claimJob('export', 'A', 1000, 10);
    t.equal(r?.id, 'r', 'a cancelled job is not claimed');
    t.equal(await b.cancelJob('r', 20), true, 'running: cancelled');
    t.equal(await a.saveJob('r', 'A', { data: { x: 1 } }, 1000, 30), false, 'its owner must stop');
    await a.claimJob('export', 'A', 1000, 40);
    t.equal(await a.saveJob('d', 'A', { state: 'done' }, 1000, 50), true);
    t.equal(await b.cancelJob('d', 60), false, 'finished: not cancelled');
    t.equal((await a.getJob('d'))?.state, 'done');
    t.equal(await b.cancelJob('q', 70), false, 'already cancelled');
    t.equal(await b.cancelJob('missing', 70), false, 'missing');
    t.equal(await a.claimJob('export', 'A', 1000, 1_000_000), undefined, 'nothing left to claim, even much later');
  });

  test('listJobs: one kind, oldest first, filtered by state', async (t, { a }) => {
    await a.addJob('export', 'c', {}, 3000);
    await a.addJob('export', 'a', {}, 1000);
    await a.addJob('import', 'x', {}, 500);
    await a.addJob('export', 'b', {}, 2000);
    await a.addJob('export', 'b2', {}, 2000);
    t.same((await a.listJobs('export')).map((j) => j.id), ['a', 'b', 'b2', 'c'], 'creation time, then id');
    await a.claimJob('export', 'A', 100, 4000);
    await a.cancelJob('c');
    t.same((await a.listJobs('export', ['queued'])).map((j) => j.id), ['b', 'b2']);
    t.same((await a.listJobs('export', ['running', 'cancelled'])).map((j) => j.id), ['a', 'c']);
    t.same(await a.listJobs('export', []), []);
    t.same(await a.listJobs('nothing'), []);
  });

  test('addJob refuses an id that exists; getJob of a missing id is undefined', async (t, { a, b }) => {
    const j = await a.addJob('export', 'same', { q: 'a.b', $x: { 'c.d': [1, null, 'é'] } }, 0);
    t.same(j, { id: 'same', kind: 'export', state: 'queued', attempts: 0, createdAt: new Date(0).toISOString(), updatedAt: new Date(0).toISOString(), data: { q: 'a.b', $x: { 'c.d': [1, null, 'é'] } } });
    t.same(await b.getJob('same'), j, 'data with dots and dollars in keys round-trips');
    await t.rejects(b.addJob('import', 'same', {}), StoreError);
    t.equal(await a.getJob('nope'), undefined);
  });

  test('files: appended chunks read back in order, sizes in UTF-8 bytes, absent file undefined', async (t, { a, b }) => {
    await a.addJob('export', 'e', {}, 0);
    await a.appendFile('e', 'Patient.ndjson', '{"a":1}\n');
    await a.appendFile('e', 'Observation.ndjson', 'é\n');
    await b.appendFile('e', 'Patient.ndjson', '{"b":2}\n');
    await a.appendFile('e', 'Patient.ndjson', '');
    t.same(await collect(await b.readFile('e', 'Patient.ndjson')), ['{"a":1}\n', '{"b":2}\n', '']);
    t.same(await b.listFiles('e'), [{ name: 'Observation.ndjson', bytes: 3 }, { name: 'Patient.ndjson', bytes: 16 }]);
    t.equal(await a.readFile('e', 'Nope.ndjson'), undefined);
    t.equal(await a.readFile('other', 'Patient.ndjson'), undefined);
    t.same(await a.listFiles('other'), []);
  });

  test('a large file is stored in bounded chunks and streamed back whole, in order', async (t, { a }) => {
    await a.addJob('export', 'big', {}, 0);
    // 3 × 600k code units; the first cut (at 2^18 units) falls inside a surrogate pair.
    const piece = (k: number): string => `😀${String(k)}`.repeat(200_000);
    for (let k = 0; k < 3; k++) await a.appendFile('big', 'f', piece(k));
    const chunks = await collect(await a.readFile('big', 'f'));
    t.ok(chunks && chunks.length >= 9, `at least 9 chunks (${chunks?.length})`);
    t.ok(chunks?.every((c) => c.length <= CHUNK_UNITS), 'each chunk is bounded');
    t.ok(chunks?.every((c) => !/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/.test(c)), 'no surrogate pair is split');
    t.equal(chunks?.join(''), piece(0) + piece(1) + piece(2), 'the text comes back exactly');
    t.same(await a.listFiles('big'), [{ name: 'f', bytes: Buffer.byteLength(piece(0) + piece(1) + piece(2)) }]);
    if (adapter.largestChunk) t.ok(adapter.largestChunk() <= 1024 * 1024, `largest chunk document ${adapter.largestChunk()} bytes ≤ 1 MiB`);
  });

  test('deleteJob removes the job and every file it wrote, and nothing of other jobs', async (t, { a, b }) => {
    await a.addJob('export', 'gone', {}, 0);
    await a.addJob('export', 'kept', {}, 0);
    await a.appendFile('gone', 'x', 'one');
    await a.appendFile('gone', 'y', 'two');
    await a.appendFile('kept', 'x', 'three');
    await b.deleteJob('gone');
    t.equal(await a.getJob('gone'), undefined);
    t.same(await a.listFiles('gone'), []);
    t.equal(await a.readFile('gone', 'x'), undefined);
    t.same(await collect(await a.readFile('kept', 'x')), ['three']);
    await b.deleteJob('never-was');
  });

  test('work through a transaction neither deadlocks nor breaks the transaction', async (t, { a, store }) => {
    const got = await store.transaction(async (tx) => {
      const ok = await tx.work.tryLease('in-tx', 'A', 1000, 0);
      await tx.create({ resourceType: 'Patient', id: 'p1' });
      return ok;
    });
    t.equal(got, true);
    t.equal(await a.tryLease('in-tx', 'B', 1000, 10), false, 'the lease taken in the transaction holds');
    t.equal((await store.read('Patient', 'p1')).status, 'found');
  });
}
