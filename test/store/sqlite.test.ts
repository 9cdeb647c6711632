// The store conformance suite on the embedded SQLite adapter in memory. (On a file, and on a file
// with searches and history on reader threads: sqlite-file.test.ts.)
import t from 'tap';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { storeSuite } from '../helpers/store-suite.js';

storeSuite(t, { name: 'sqlite :memory:', open: async () => SqliteStore.open({ filename: ':memory:' }) });

t.test('sqlite: the read cache can be turned off and reads still see every write', async (t) => {
  const s = SqliteStore.open({ filename: ':memory:', readCacheBytes: 0 });
  const r = await s.create({ resourceType: 'Patient' });
  await s.update({ resourceType: 'Patient', id: r.id, active: true } as never);
  const cur = await s.read('Patient', r.id);
  t.equal(cur.status === 'found' && cur.record.versionId, '2');
  await s.close();
});
