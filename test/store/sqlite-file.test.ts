// The store conformance suite on the embedded SQLite adapter on a file (closed and reopened for
// the durability checks), and on a file with searches and history on reader threads; one owner
// per file. (In memory: sqlite.test.ts.)
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/port.js';
import { storeSuite } from '../helpers/store-suite.js';

const dir = mkdtempSync(join(tmpdir(), 'flint-store-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const files = new WeakMap<Store, string>();
storeSuite(t, {
  name: 'sqlite file',
  open: async () => {
    const filename = join(dir, `db${n++}.sqlite`);
    const s = SqliteStore.open({ filename });
    files.set(s, filename);
    return s;
  },
  reopen: async (s) => {
    const filename = files.get(s);
    if (!filename) throw new Error('unknown store');
    await s.close();
    return SqliteStore.open({ filename });
  },
});

storeSuite(t, { name: 'sqlite file, reader threads', open: async () => SqliteStore.open({ filename: join(dir, `db${n++}.sqlite`), readers: 2 }) });

t.test('sqlite file: a second store cannot open a database that is in use, and can once it is closed', async (t) => {
  const filename = join(dir, 'owned.sqlite');
  const first = SqliteStore.open({ filename });
  t.throws(() => SqliteStore.open({ filename }), /in use by another Flint process/);
  await first.close();
  const second = SqliteStore.open({ filename });
  t.equal((await second.history({ count: 1 })).records.length, 0);
  await second.close();
});
