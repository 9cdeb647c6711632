// The store conformance suite on the MongoDB adapter, over an in-memory mingo database (no
// server needed): replica-set semantics, with transactions.
import t from 'tap';
import { MongoStore } from '../../src/store/mongo/store.js';
import type { Store } from '../../src/store/port.js';
import { MingoDb } from '../helpers/mingo-db.js';
import { storeSuite } from '../helpers/store-suite.js';

const dbs = new WeakMap<Store, MingoDb>();
storeSuite(t, {
  name: 'mongodb over mingo',
  open: async () => {
    const db = new MingoDb('replicaset');
    const s = await MongoStore.open({ db });
    dbs.set(s, db);
    return s;
  },
  reopen: async (s) => {
    const db = dbs.get(s);
    if (!db) throw new Error('unknown store');
    await s.close();
    const again = await MongoStore.open({ db: db.reopen() });
    return again;
  },
});
