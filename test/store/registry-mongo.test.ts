// The auth registry conformance suite on the MongoDB adapter, over the in-process emulation
// (test/helpers/mingo-db.ts); a second instance is a second handle on the same data. Also: the
// collections and TTL indexes it creates, and that the audit collection only ever sees inserts
// and finds (what an operator's insert+find role allows, README "Audit on MongoDB").
import t from 'tap';
import { MongoRegistry } from '../../src/store/mongo/registry.js';
import type { AuthRegistry } from '../../src/store/registry.js';
import type { MongoDb } from '../../src/store/mongo/db.js';
import { AUTH_AUDIT, AUTH_INDEXES } from '../../src/store/mongo/layout.js';
import { MingoDb } from '../helpers/mingo-db.js';
import { registrySuite } from '../helpers/registry-suite.js';

const dbs = new WeakMap<AuthRegistry, MingoDb>();

for (const topology of ['replicaset', 'standalone'] as const) {
  registrySuite(t, {
    name: `mongo (${topology})`,
    async open() {
      const db = new MingoDb(topology);
      const r = await MongoRegistry.open({ db, ownsDb: true });
      dbs.set(r, db);
      return r;
    },
    async second(r) {
      const db = dbs.get(r)?.reopen();
      if (!db) throw new Error('not opened here');
      const s = await MongoRegistry.open({ db, ownsDb: true });
      dbs.set(s, db);
      return s;
    },
  });
}

t.test('TTL indexes on the expiry dates of tokens, codes, launches, jti entries, sign-ins in progress and management sessions', async (t) => {
  const db = new MingoDb();
  await MongoRegistry.open({ db });
  for (const coll of ['auth_tokens', 'auth_codes', 'auth_launches', 'auth_jti', 'auth_pending', 'auth_manage_sessions'] as const) {
    const ttl = (await db.listIndexes(coll)).find((i) => i.expireAfterSeconds !== undefined);
    t.same(ttl?.key, { exp: 1 }, `${coll}: TTL on exp`);
  }
  t.equal(AUTH_INDEXES.filter((i) => i.collection === AUTH_AUDIT).length, 0, 'the audit needs no index but _id');
  await MongoRegistry.open({ db });
  t.pass('opening twice (a second instance) finds the same indexes');
});

t.test('the audit collection is only ever inserted into and read', async (t) => {
  const db = new MingoDb();
  const seen = new Set<string>();
  // Records every operation by collection; the first argument of each is the collection.
  const spy = new Proxy(db, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (args[0] === AUTH_AUDIT) seen.add(String(prop));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as MongoDb;
  const r = await MongoRegistry.open({ db: spy });
  for (let i = 0; i < 20; i++) r.audit({ time: new Date().toISOString(), requestId: `r${i}`, action: 'GET /x', status: 200 });
  await r.auditLog({ limit: 5 });
  await r.auditLog({ after: 5, limit: 5 });
  await r.close();
  t.ok(seen.size > 0);
  t.same([...seen].filter((op) => !['insertMany', 'insertOne', 'find'].includes(op)), [], `operations on ${AUTH_AUDIT}: ${[...seen].join(', ')}`);
});

t.test('audit batches on a replica set take their numbers and insert in one transaction', async (t) => {
  const db = new MingoDb('replicaset');
  const r = await MongoRegistry.open({ db });
  db.calls.length = 0;
  r.audit({ time: new Date().toISOString(), requestId: 'r', action: 'GET /x', status: 200 });
  await r.flushAudit();
  t.same(db.calls, ['withTransaction', 'increment', 'insertMany']);
  await r.close();
});
