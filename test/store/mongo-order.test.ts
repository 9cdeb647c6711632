// The MongoDB adapter's change order without a counter document (src/store/mongo/order.ts):
// order values from each instance's clock, ties between instances broken by type and id, in
// history, _since, history cursors and search paging; lastUpdated never going back for one
// resource; stable points; the write window. Two stores on one emulated database stand for two
// Flint instances.
import t from 'tap';
import type { Patient } from 'fhir/r4.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import { instantOf, OrderClock, PER_MS } from '../../src/store/mongo/order.js';
import { StoreError, type HistoryQuery, type VersionRecord } from '../../src/store/port.js';
import { MATCH_ALL } from '../../src/search/ir.js';
import { MingoDb } from '../helpers/mingo-db.js';

/** A Patient with an id (typed for Store.update). */
const patient = (id: string, active: boolean): Patient & { id: string } => ({ resourceType: 'Patient', id, active });

const T0 = Date.parse('2026-03-01T10:00:00.000Z');

/** A clock the test moves by hand. */
function handClock(start = T0): { clock: OrderClock; set(ms: number): void; add(ms: number): void } {
  let now = start;
  return { clock: new OrderClock(() => now), set: (ms) => { now = ms; }, add: (ms) => { now += ms; } };
}

async function twoInstances(a = handClock(), b = handClock()): Promise<{ db: MingoDb; one: MongoStore; two: MongoStore }> {
  const db = new MingoDb('replicaset');
  const one = await MongoStore.open({ db, clock: a.clock });
  const two = await MongoStore.open({ db, clock: b.clock });
  return { db, one, two };
}

/** Every version of a history query, following `next` with pages of `count`. */
async function allPages(s: MongoStore, q: Omit<HistoryQuery, 'count' | 'cursor'>, count: number): Promise<VersionRecord[]> {
  const out: VersionRecord[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 1000; i++) {
    const page = await s.history({ ...q, count, ...(cursor ? { cursor } : {}) });
    out.push(...page.records);
    cursor = page.next;
    if (!cursor) return out;
  }
  throw new Error('history paging did not end');
}

const key = (r: VersionRecord): string => `${r.type}/${r.id}/${r.versionId}`;

/** Newest first: order value, then type, then id, all descending (the documented tie-break). */
function inOrder(rs: VersionRecord[]): boolean {
  for (let i = 1; i < rs.length; i++) {
    const a = rs[i - 1];
    const b = rs[i];
    if (!a || !b) return false;
    const cmp = a.seq - b.seq || (a.type > b.type ? 1 : a.type < b.type ? -1 : 0) || (a.id > b.id ? 1 : a.id < b.id ? -1 : 0);
    if (cmp <= 0) return false;
  }
  return true;
}

t.test('one instance: order values strictly increase even when the clock stands still or goes back', async (t) => {
  const h = handClock();
  const seen: number[] = [];
  for (let i = 0; i < 2 * PER_MS + 5; i++) seen.push(h.clock.next());
  h.add(-5_000);
  seen.push(h.clock.next());
  t.ok(seen.every((v, i) => i === 0 || v > (seen[i - 1] ?? Infinity)), 'strictly increasing');
  // Past the 1024 values of one millisecond the clock borrows the next ones.
  t.equal(instantOf(seen[seen.length - 1] ?? 0), new Date(T0 + 2).toISOString());
  t.ok(h.clock.next(1e15 * 2) > 1e15 * 2, 'next(after) moves past a value seen elsewhere');
});

t.test('two instances in one clock tick: equal order values, history ordered by the tie-break, every version once', async (t) => {
  const { one, two } = await twoInstances();
  // Same ids on both sides, types interleaved: the tie-break decides the order.
  await Promise.all([
    one.create({ resourceType: 'Patient', id: 'a' }), two.create({ resourceType: 'Patient', id: 'b' }),
    one.create({ resourceType: 'Observation', id: 'b', status: 'final', code: {} } as never),
    two.create({ resourceType: 'Observation', id: 'a', status: 'final', code: {} } as never),
  ]);
  await one.update(patient('b', true));
  await two.update(patient('a', true));
  await two.delete('Observation', 'b');

  const all = (await one.history({ count: 100 })).records;
  t.equal(all.length, 7);
  t.ok(new Set(all.map((r) => r.seq)).size < all.length, 'some order values tie across the instances');
  t.ok(inOrder(all), 'ordered by (order value, type, id), newest first');
  for (const size of [1, 2, 3]) {
    const paged = await allPages(two, {}, size);
    t.same(paged.map(key), all.map(key), `system history in pages of ${size}: every version once, same order`);
  }
  t.same((await allPages(one, { type: 'Patient' }, 1)).map(key), all.filter((r) => r.type === 'Patient').map(key), 'type history paged');
  t.same((await allPages(one, { type: 'Patient', id: 'a' }, 1)).map(key), ['Patient/a/2', 'Patient/a/1'], 'instance history paged');
});

t.test('many concurrent writes from two instances on live clocks: history is total and every version is served once', async (t) => {
  const { one, two } = await twoInstances(handClock(), handClock());
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < 40; i++) {
    const s = i % 2 ? one : two;
    writes.push(s.update(patient(`p${i % 10}`, i % 3 === 0)));
  }
  await Promise.all(writes);
  const all = await allPages(one, {}, 7);
  t.equal(all.length, 40);
  t.equal(new Set(all.map(key)).size, 40, 'no version twice');
  t.ok(inOrder(all));
  // One resource's versions: newer version, larger order value, lastUpdated never earlier.
  for (let p = 0; p < 10; p++) {
    const versions = all.filter((r) => r.id === `p${p}`);
    t.same(versions.map((r) => r.versionId), ['4', '3', '2', '1'], `p${p}: versions newest first`);
  }
});

t.test('a resource written by an instance whose clock is behind: its lastUpdated does not go back', async (t) => {
  const ahead = handClock(T0 + 30_000);
  const behind = handClock(T0);
  const { one, two } = await twoInstances(ahead, behind);
  const v1 = await one.create({ resourceType: 'Patient', id: 'skew' });
  const v2 = (await two.update(patient('skew', true))).record;
  t.ok(v2.seq > v1.seq, 'larger order value');
  t.ok(v2.lastUpdated >= v1.lastUpdated, `${v2.lastUpdated} is not before ${v1.lastUpdated}`);
  const read = await two.read('Patient', 'skew');
  t.equal(read.status === 'found' && JSON.parse(read.record.json ?? '{}').meta.lastUpdated, v2.lastUpdated, 'meta.lastUpdated is the stored one');
  // The instance behind now writes after what it saw: its next value of any resource is later too.
  const other = await two.create({ resourceType: 'Patient', id: 'later' });
  t.ok(other.seq > v2.seq);
});

t.test('a store opening on a database written by a clock ahead of its own starts after the newest value', async (t) => {
  const db = new MingoDb('replicaset');
  const first = await MongoStore.open({ db, clock: handClock(T0 + 60_000).clock });
  const v1 = await first.create({ resourceType: 'Patient', id: 'x' });
  const second = await MongoStore.open({ db, clock: handClock(T0).clock });
  const v2 = await second.create({ resourceType: 'Patient', id: 'y' });
  t.ok(v2.seq > v1.seq, 'a new resource on the slow instance still sorts after');
});

t.test('_since with ties: exactly the versions at or after the instant, in order', async (t) => {
  const a = handClock();
  const b = handClock();
  const { one, two } = await twoInstances(a, b);
  await one.create({ resourceType: 'Patient', id: 'early1' });
  await two.create({ resourceType: 'Patient', id: 'early2' });
  a.add(1000);
  b.add(1000);
  const since = new Date(T0 + 1000).toISOString();
  await Promise.all([one.create({ resourceType: 'Patient', id: 'l1' }), two.create({ resourceType: 'Patient', id: 'l2' })]);
  await two.update(patient('early1', true));
  const got = await allPages(one, { since }, 1);
  t.same(got.map(key).sort(), ['Patient/early1/2', 'Patient/l1/1', 'Patient/l2/1']);
  t.ok(got.every((r) => r.lastUpdated >= since));
  t.ok(inOrder(got));
});

t.test('history cursors: keyed, refused when forged, and a layout-1 cursor still pages', async (t) => {
  const { one } = await twoInstances();
  for (const id of ['a', 'b', 'c']) await one.create({ resourceType: 'Patient', id });
  const first = await one.history({ count: 1 });
  t.ok(first.next);
  t.match(Buffer.from(first.next ?? '', 'base64url').toString(), /^h[0-9]+~Patient\/c$/, 'the cursor names the tie-break');
  for (const bad of ['h1~Patient/', 'h1~/a', 'h0', 'x', Buffer.from('h1~Pat ient/a').toString('base64url'), 'h'.repeat(5000)]) {
    await t.rejects(one.history({ count: 1, cursor: Buffer.from(bad).toString('base64url') }), StoreError, `refused: ${bad.slice(0, 20)}`);
  }
  const top = first.records[0]?.seq ?? 0;
  const legacy = Buffer.from(`h${top}`).toString('base64url');
  t.same((await one.history({ count: 10, cursor: legacy })).records.map((r) => r.id), ['b', 'a'], 'an unkeyed cursor pages by order value');
});

t.test('search paging breaks ties of creation order by _id: every match once, across pages', async (t) => {
  const { one, two } = await twoInstances();
  await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((id, n) => (n % 2 ? one : two).create({ resourceType: 'Patient', id })));
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 10; i++) {
    const page = await one.search({ types: ['Patient'], where: MATCH_ALL, sort: [], count: 1, total: 'none', include: [], revinclude: [], ...(cursor ? { cursor } : {}) });
    seen.push(...page.records.map((r) => r.id));
    cursor = page.next;
    if (!cursor) break;
  }
  t.equal(seen.length, 6);
  t.equal(new Set(seen).size, 6, 'no resource twice');
});

t.test('stable point: nothing at or before it appears later; everything after it is later', async (t) => {
  const h = handClock();
  const { one } = await twoInstances(h, handClock());
  await one.create({ resourceType: 'Patient', id: 'before' });
  h.add(70_000);
  const point = await one.stablePoint();
  t.equal(point.time, new Date(T0).toISOString(), 'settle window behind the clock');
  const after = await one.create({ resourceType: 'Patient', id: 'after' });
  t.ok(after.seq > point.seq, 'a write after the point is after it');
  const hist = (await one.history({ count: 10 })).records;
  const upTo = hist.filter((r) => r.seq <= point.seq).map((r) => r.id);
  t.same(upTo, ['before']);
  t.ok(hist.filter((r) => r.seq <= point.seq).every((r) => r.lastUpdated <= point.time));
});

t.test('a write that runs past the write window is refused and changes nothing', async (t) => {
  const h = handClock();
  const { one } = await twoInstances(h, handClock());
  const err = await one.transaction(async (tx) => {
    await tx.create({ resourceType: 'Patient', id: 'slow' });
    h.add(61_000);
    return 'committed';
  }).catch((e: unknown) => e);
  t.ok(err instanceof StoreError && err.code === 'too-busy', 'refused with too-busy (503, retry)');
  t.equal((await one.read('Patient', 'slow')).status, 'missing');
  t.equal((await one.create({ resourceType: 'Patient', id: 'fast' })).id, 'fast', 'the next write goes through');
});

/** Records the collection and filter of every operation (what a mongos would route on). */
class RecordingDb extends MingoDb {
  readonly ops: { coll: string; filter: Record<string, unknown> }[] = [];
  override find(...a: Parameters<MingoDb['find']>): ReturnType<MingoDb['find']> {
    this.ops.push({ coll: a[0], filter: a[1] });
    return super.find(...a);
  }
  override replaceOne(...a: Parameters<MingoDb['replaceOne']>): ReturnType<MingoDb['replaceOne']> {
    this.ops.push({ coll: a[0], filter: a[1] });
    return super.replaceOne(...a);
  }
  override insertOne(...a: Parameters<MingoDb['insertOne']>): ReturnType<MingoDb['insertOne']> {
    this.ops.push({ coll: a[0], filter: { _id: a[1]._id, t: a[1].t, i: a[1].i } });
    return super.insertOne(...a);
  }
}

t.test('reads and writes of one resource carry the shard key of every collection they touch (targeted, not scattered)', async (t) => {
  const { SHARD_KEYS } = await import('../../src/store/mongo/layout.js');
  const db = new RecordingDb('replicaset');
  const s = await MongoStore.open({ db });
  db.ops.length = 0;
  await s.create({ resourceType: 'Patient', id: 'k' });
  await s.update(patient('k', true));
  await s.read('Patient', 'k');
  await s.vread('Patient', 'k', '1');
  await s.delete('Patient', 'k');
  const page = await s.history({ type: 'Patient', id: 'k', count: 1 });
  await s.history({ type: 'Patient', id: 'k', count: 1, cursor: page.next ?? '' });
  t.ok(db.ops.length >= 10);
  for (const op of db.ops) {
    const shardKey = SHARD_KEYS[op.coll as 'resources'];
    if (!shardKey) continue;
    // A filter under $and (a history page after a cursor) routes on its first part.
    const routed = Array.isArray(op.filter.$and) ? (op.filter.$and[0] as Record<string, unknown>) : op.filter;
    for (const field of Object.keys(shardKey)) {
      t.equal(typeof routed[field], 'string', `${op.coll} ${JSON.stringify(op.filter).slice(0, 80)}: has ${field}`);
    }
  }
  // Every shard key is backed by an index that starts with it, or by _id (MongoDB needs one).
  for (const [coll, shardKey] of Object.entries(SHARD_KEYS)) {
    const fields = Object.keys(shardKey ?? {});
    const backed = fields.join() === '_id' || (await db.listIndexes(coll as 'history')).some((i) => Object.keys(i.key).slice(0, fields.length).join() === fields.join());
    t.ok(backed, `${coll}: an index starts with the shard key ${fields.join(', ')}`);
  }
});

t.test('a layout-1 database (counter values) opens in place: layout 2 recorded, new versions after the old ones', async (t) => {
  const db = new MingoDb('replicaset');
  const v1 = { t: 'Patient', i: 'old', v: 1, d: false, lu: '2026-01-01T00:00:00.000Z', s: 41, m: 'PUT', j: '{"resourceType":"Patient","id":"old","meta":{"versionId":"1","lastUpdated":"2026-01-01T00:00:00.000Z"}}' };
  await db.insertOne('resources', { _id: 'Patient/old', ...v1, c: 41, x: { tk: [], tx: [], st: [], dt: [], nm: [], qt: [], rf: [], ur: [], cp: [], so: {} } });
  await db.insertOne('meta', { _id: 'schema', version: 1 });
  await db.insertOne('meta', { _id: 'seq', seq: 41, time: v1.lu });
  const s = await MongoStore.open({ db });
  t.equal(db.dump('meta').find((d) => d._id === 'schema')?.version, 2);
  const v2 = (await s.update(patient('old', true))).record;
  const fresh = await s.create({ resourceType: 'Patient', id: 'new' });
  t.ok(v2.seq > 41 && fresh.seq > v2.seq);
  t.same((await allPages(s, {}, 1)).map(key), ['Patient/new/1', 'Patient/old/2', 'Patient/old/1']);
  await db.replaceOne('meta', { _id: 'schema' }, { _id: 'schema', version: 3 }, false);
  await t.rejects(MongoStore.open({ db }), { code: 'unavailable' }, 'a newer layout is refused');
});
