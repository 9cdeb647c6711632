// The store conformance suite, the search suite and the index check on a real MongoDB server, when MONGODB_URI
// names one (a replica set, e.g. mongodb://localhost:27017/?replicaSet=rs0). Skipped, saying
// why, when it is not set: no mongod can be installed where these tests usually run.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { connectMongo } from '../../src/store/mongo/driver.js';
import { INDEXES, RESOURCES, HISTORY } from '../../src/store/mongo/layout.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import type { Store } from '../../src/store/port.js';
import { storeSuite } from '../helpers/store-suite.js';
import { searchSuite } from '../helpers/search-suite.js';

const uri = process.env.MONGODB_URI;

if (!uri) {
  const reason = 'MONGODB_URI is not set: the MongoDB adapter was not tested against a real server (the mingo-backed suites still ran)';
  console.log(`# SKIP ${reason}`);
  t.test('store suite on a real MongoDB server', { skip: reason }, async () => {});
} else {
  /** A database name per store, dropped when the test file ends. */
  const names: string[] = [];
  const urlFor = (name: string): string => uri.replace(/^(mongodb(?:\+srv)?:\/\/[^/?]+)\/?[^?]*/, `$1/${name}`);
  const byStore = new WeakMap<Store, string>();
  t.teardown(async () => {
    const client = new MongoClient(uri);
    await client.connect();
    for (const n of names) await client.db(n).dropDatabase();
    await client.close();
  });
  storeSuite(t, {
    name: 'mongodb server',
    open: async () => {
      const name = `flint_test_${randomUUID().slice(0, 8)}`;
      names.push(name);
      const s = await MongoStore.open({ db: await connectMongo(urlFor(name)) });
      byStore.set(s, name);
      return s;
    },
    reopen: async (s) => {
      const name = byStore.get(s);
      if (!name) throw new Error('unknown store');
      await s.close();
      return MongoStore.open({ db: await connectMongo(urlFor(name)) });
    },
  });
  searchSuite(t, {
    name: 'mongodb server',
    open: async (indexer) => {
      const name = `flint_test_${randomUUID().slice(0, 8)}`;
      names.push(name);
      return MongoStore.open({ db: await connectMongo(urlFor(name)), indexer });
    },
  });
  t.test('mongodb server: the indexes created are exactly the ones defined, and creating them twice is a no-op', async (t) => {
    const name = `flint_test_${randomUUID().slice(0, 8)}`;
    names.push(name);
    const db = await connectMongo(urlFor(name));
    await MongoStore.open({ db });
    await db.ensureIndexes(INDEXES);
    for (const coll of [RESOURCES, HISTORY] as const) {
      const got = (await db.listIndexes(coll)).sort((a, b) => a.name.localeCompare(b.name));
      const want = INDEXES.filter((i) => i.collection === coll).sort((a, b) => a.name.localeCompare(b.name));
      t.same(got, want, coll);
    }
    await db.close();
  });
}
