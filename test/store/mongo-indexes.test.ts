// The exact index specifications the MongoDB adapter creates at start. Pinned here literally:
// changing an index is a deliberate act that updates this test and src/store/mongo/README.md.
import t from 'tap';
import { MongoStore } from '../../src/store/mongo/store.js';
import { INDEXES } from '../../src/store/mongo/layout.js';
import { MingoDb } from '../helpers/mingo-db.js';

const EXPECTED = {
  resources: [
    { name: 'type_created_id', key: { t: 1, c: 1, _id: 1 } },
    { name: 'type_updated', key: { t: 1, lu: 1 } },
    { name: 'order', key: { s: 1, t: 1, i: 1 } },
    { name: 'type_order', key: { t: 1, s: 1, i: 1 } },
    { name: 'x_token', key: { t: 1, 'x.tk.p': 1, 'x.tk.c': 1, 'x.tk.s': 1 } },
    { name: 'x_text', key: { t: 1, 'x.tx.p': 1, 'x.tx.t': 1 } },
    { name: 'x_string', key: { t: 1, 'x.st.p': 1, 'x.st.n': 1 } },
    { name: 'x_string_exact', key: { t: 1, 'x.st.p': 1, 'x.st.e': 1 } },
    { name: 'x_date', key: { t: 1, 'x.dt.p': 1, 'x.dt.lo': 1, 'x.dt.hi': 1 } },
    { name: 'x_number', key: { t: 1, 'x.nm.p': 1, 'x.nm.v': 1 } },
    { name: 'x_quantity', key: { t: 1, 'x.qt.p': 1, 'x.qt.c': 1, 'x.qt.lo': 1 } },
    { name: 'x_reference', key: { 'x.rf.i': 1, 'x.rf.t': 1, 'x.rf.p': 1 } },
    { name: 'x_reference_url', key: { 'x.rf.u': 1 }, sparse: true },
    { name: 'x_uri', key: { t: 1, 'x.ur.p': 1, 'x.ur.u': 1 } },
    { name: 'x_composite', key: { t: 1, 'x.cp.p': 1, 'x.cp.c1': 1 } },
    { name: 'x_contained', key: { t: 1, 'x.cx.t': 1 } },
  ],
  history: [
    { name: 'instance_seq', key: { t: 1, i: 1, s: 1 } },
    { name: 'type_order', key: { t: 1, s: 1, i: 1 } },
    { name: 'order', key: { s: 1, t: 1, i: 1 } },
  ],
  meta: [],
  leases: [],
  jobs: [{ name: 'kind_created', key: { k: 1, c: 1, _id: 1 } }],
  job_files: [{ name: 'job', key: { j: 1 } }],
  job_chunks: [{ name: 'file_part', key: { j: 1, f: 1, n: 1 }, unique: true }],
};

t.test('opening the store creates exactly the pinned indexes, key order included', async (t) => {
  const db = new MingoDb();
  await MongoStore.open({ db });
  for (const [coll, want] of Object.entries(EXPECTED)) {
    const got = await db.listIndexes(coll as 'resources');
    t.same(got.map(({ collection: _c, ...rest }) => rest), want, coll);
    // t.same ignores key order; a compound index's meaning depends on it.
    t.same(got.map((i) => Object.keys(i.key)), want.map((i) => Object.keys(i.key)), `${coll}: key order`);
  }
});

t.test('every index on resources but the reference indexes is led by the resource type', async (t) => {
  for (const i of INDEXES.filter((x) => x.collection === 'resources')) {
    const first = Object.keys(i.key)[0];
    t.ok(i.name.startsWith('x_reference') ? first?.startsWith('x.rf.') : first === 't' || first === 's', i.name);
  }
});

t.test('index creation at start is idempotent: a second open over the same data changes nothing', async (t) => {
  const db = new MingoDb();
  const a = await MongoStore.open({ db });
  await a.create({ resourceType: 'Patient', id: 'p1' });
  await a.close();
  const again = db.reopen();
  const b = await MongoStore.open({ db: again });
  t.equal((await again.listIndexes('resources')).length, EXPECTED.resources.length);
  t.equal((await b.read('Patient', 'p1')).status, 'found');
  await b.close();
});
