// The outbox port (src/store/outbox.ts) on both adapters: an event appended in a transaction
// commits or rolls back with it, numbers are per subscription and without gaps, delivery marks
// and pruning.
import t from 'tap';
import type { Store } from '../../src/store/port.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import { MingoDb } from '../helpers/mingo-db.js';

const adapters: [string, () => Promise<Store>][] = [
  ['sqlite', async () => SqliteStore.open({ filename: ':memory:' })],
  ['mongodb (mingo)', async () => MongoStore.open({ db: new MingoDb('replicaset') })],
];

for (const [name, open] of adapters) {
  t.test(`${name}: events commit with the write that caused them, or not at all`, async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    await store.outbox.putSubscription('s1', { phase: 'active' });
    await store.outbox.putSubscription('s2', {});
    await store.transaction(async (tx) => {
      await tx.create({ resourceType: 'Patient', id: 'p1' });
      t.equal((await tx.outbox.append('s1', { id: 'p1' }, '2026-01-01T00:00:00Z')).number, 1);
      t.equal((await tx.outbox.append('s2', { id: 'p1' }, '2026-01-01T00:00:00Z')).number, 1, 'numbers are per subscription');
    });
    await t.rejects(store.transaction(async (tx) => {
      await tx.create({ resourceType: 'Patient', id: 'p2' });
      await tx.outbox.append('s1', { id: 'p2' }, '2026-01-01T00:00:01Z');
      throw new Error('undo');
    }), /undo/);
    t.equal((await store.read('Patient', 'p2')).status, 'missing');
    const s1 = await store.outbox.getSubscription('s1');
    t.same({ events: s1?.events, delivered: s1?.delivered, data: s1?.data }, { events: 1, delivered: 0, data: { phase: 'active' } }, 'the rolled-back event took no number');
    t.equal((await store.transaction((tx) => tx.outbox.append('s1', { id: 'p3' }, '2026-01-01T00:00:02Z'))).number, 2, 'no gap');
    t.same((await store.outbox.withPending()).sort(), ['s1', 's2']);
    t.same((await store.outbox.events('s1', 1, 10, 10)).map((e) => [e.number, e.data.id]), [[1, 'p1'], [2, 'p3']]);
    await t.rejects(store.outbox.append('nope', {}, '2026-01-01T00:00:00Z'), /not registered/);
  });

  t.test(`${name}: the generation changes with every put or drop of a subscription, in its transaction`, async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    const seen = [await store.outbox.generation()];
    t.equal(seen[0], '', 'none before any subscription');
    await store.outbox.putSubscription('s1', {});
    seen.push(await store.outbox.generation());
    await store.transaction((tx) => tx.outbox.putSubscription('s2', {}));
    seen.push(await store.outbox.generation());
    const before = seen[seen.length - 1];
    await t.rejects(store.transaction(async (tx) => {
      await tx.outbox.putSubscription('s3', {});
      t.not(await tx.outbox.generation(), before, 'the transaction sees its own change');
      throw new Error('undo');
    }), /undo/);
    t.equal(await store.outbox.generation(), before, 'a rolled-back change leaves it');
    await store.transaction(async (tx) => {
      await tx.create({ resourceType: 'Patient', id: 'p1' });
      await tx.outbox.append('s1', { id: 'p1' }, '2026-01-01T00:00:00Z');
    });
    t.equal(await store.outbox.generation(), before, 'events do not change it');
    await store.outbox.dropSubscription('s1');
    seen.push(await store.outbox.generation());
    t.equal(new Set(seen).size, seen.length, 'every change gave a new value');
    t.same((await store.outbox.withPending()).sort(), [], 'the stamp is no subscription');
  });

  t.test(`${name}: acknowledgement, failures, pruning and dropping`, async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    await store.outbox.putSubscription('s', {});
    for (let i = 0; i < 10; i++) await store.outbox.append('s', { i }, '2026-01-01T00:00:00Z');
    t.equal(await store.outbox.recordFailure('s'), 1);
    t.equal(await store.outbox.recordFailure('s'), 2);
    await store.outbox.acknowledge('s', 6, 3);
    const st = await store.outbox.getSubscription('s');
    t.same([st?.delivered, st?.failures], [6, 0]);
    t.same((await store.outbox.events('s', 1, 100, 100)).map((e) => e.number), [4, 5, 6, 7, 8, 9, 10], 'the newest 3 delivered are kept');
    await store.outbox.acknowledge('s', 2, 3);
    t.equal((await store.outbox.getSubscription('s'))?.delivered, 6, 'the mark never goes back');
    await store.outbox.putSubscription('s', { phase: 'off' });
    t.same((await store.outbox.getSubscription('s'))?.events, 10, 'putting data keeps the counters');
    await store.outbox.dropSubscription('s');
    t.equal(await store.outbox.getSubscription('s'), undefined);
    t.same(await store.outbox.events('s', 1, 100, 100), []);
    t.same(await store.outbox.withPending(), []);
  });
}

for (const [name, open] of adapters) {
  t.test(`${name}: a write's follow-up events commit in its own unit of a group commit, or vanish with it`, async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    if (!store.followUps) {
      // MongoDB appends through a transaction (src/subscriptions/hook.ts onWrite), covered above.
      t.notOk(store.followUps, 'this adapter offers no follow-ups; writes with notifications take a transaction');
      return;
    }
    await store.outbox.putSubscription('s1', {});
    const generation = await store.outbox.generation();
    const seen: string[] = [];
    const to = (sub: string) => (written: { id: string }, _replaced: unknown, g: string) => {
      seen.push(g);
      return [{ subscription: sub, data: { id: written.id }, at: '2026-01-01T00:00:00Z' }];
    };
    // Queued in one event-loop turn: one group commit, each write in its own savepoint.
    const results = await Promise.allSettled([
      store.create({ resourceType: 'Patient', id: 'a' }, { followUp: to('s1') }),
      store.create({ resourceType: 'Patient', id: 'b' }, { followUp: to('unregistered') }),
      store.create({ resourceType: 'Patient', id: 'c' }, { followUp: () => { throw new Error('declined'); } }),
      store.create({ resourceType: 'Patient', id: 'd' }),
      store.update({ resourceType: 'Patient', id: 'a' }, { followUp: (w, replaced) => [{ subscription: 's1', data: { id: w.id, replaced: replaced?.versionId ?? null }, at: '2026-01-01T00:00:01Z' }] }),
    ]);
    t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'rejected', 'fulfilled', 'fulfilled']);
    t.match(String((results[1] as PromiseRejectedResult).reason), /not registered/, 'an event that cannot be appended fails its write');
    t.same(seen, [generation, generation], 'the follow-up sees the generation of its unit');
    t.equal((await store.read('Patient', 'b')).status, 'missing', 'a write whose event failed is undone');
    t.equal((await store.read('Patient', 'c')).status, 'missing', 'a write whose follow-up threw is undone');
    t.equal((await store.read('Patient', 'd')).status, 'found', 'neighbours in the batch commit');
    t.same((await store.outbox.events('s1', 1, 10, 10)).map((e) => e.data), [{ id: 'a' }, { id: 'a', replaced: '1' }],
      'one event per committed write, numbered without gaps, the update seeing the version it replaced');
    t.equal((await store.outbox.getSubscription('s1'))?.events, 2);
  });
}
