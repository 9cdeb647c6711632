// Signing-key rotation with several instances on one database: one KeyRing per instance over one
// shared auth store, leases from one work store. When the key is due, exactly one instance
// makes the new key; the others keep signing with the newest stored key.
import t from 'tap';
import type { Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthStore } from '../../src/auth/store.js';
import { KeyRing } from '../../src/auth/keys.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import { MingoDb } from '../helpers/mingo-db.js';
import type { WorkStore } from '../../src/store/work.js';

const DAY = 86_400_000;

async function rings(t: Test, work: [WorkStore, WorkStore, WorkStore]): Promise<{ store: AuthStore; rings: KeyRing[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'flint-keys-'));
  const store = new AuthStore(join(dir, 'auth.db'));
  t.teardown(() => { store.close(); rmSync(dir, { recursive: true, force: true }); });
  const list = work.map((w, i) => {
    const ring = new KeyRing(store, 30 * DAY);
    ring.guardRotation(() => w.tryLease('auth:signing-key-rotation', `I${i}`, 60_000));
    return ring;
  });
  return { store, rings: list };
}

const cases: { name: string; open(): Promise<{ work: [WorkStore, WorkStore, WorkStore]; close(): Promise<void> }> }[] = [
  { name: 'sqlite', async open() {
    const s = SqliteStore.open({ filename: ':memory:' });
    return { work: [s.work, s.work, s.work], close: () => s.close() };
  } },
  { name: 'mongodb over mingo', async open() {
    const db = new MingoDb();
    const stores = await Promise.all([MongoStore.open({ db }), MongoStore.open({ db: db.reopen() }), MongoStore.open({ db: db.reopen() })]);
    return { work: [stores[0].work, stores[1].work, stores[2].work], close: async () => { for (const s of stores) await s.close(); } };
  } },
];

for (const c of cases) {
  t.test(`${c.name}: a due key is rotated by one instance only`, async (t) => {
    const w = await c.open();
    t.teardown(() => w.close());
    const { store, rings: [a, b, cc] } = await rings(t, w.work);
    const t0 = Date.now() - 31 * DAY; // the first key is already past its rotation period
    const first = await a!.rotate(t0);
    t.equal(store.signingKeys().length, 1);
    const now = Date.now();
    const signed = await Promise.all([a!, b!, cc!, a!, b!, cc!].map((r) => r.signing(now)));
    const live = store.signingKeys().filter((k) => k.retiredAt === undefined);
    t.equal(live.length, 1, 'one live key');
    t.equal(store.signingKeys().length, 2, 'exactly one new key was made');
    t.not(live[0]?.kid, first.kid, 'the live key is the new one');
    const kids = new Set(signed.map((k) => k.kid));
    t.ok([...kids].every((k) => k === first.kid || k === live[0]?.kid), 'everyone signs with a stored key');
    // Once the new key is stored, every instance signs with it.
    const later = await Promise.all([a!, b!, cc!].map((r) => r.signing(now + 1000)));
    t.same(later.map((k) => k.kid), [live[0]?.kid, live[0]?.kid, live[0]?.kid]);
  });
}
