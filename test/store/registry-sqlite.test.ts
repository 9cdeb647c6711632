// The auth registry conformance suite on SQLite: a database file per test, a second instance
// being a second connection to it (as the CLI is, next to a running server).
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteRegistry } from '../../src/store/sqlite/registry.js';
import type { AuthRegistry } from '../../src/store/registry.js';
import { registrySuite } from '../helpers/registry-suite.js';

const dir = mkdtempSync(join(tmpdir(), 'flint-registry-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const files = new WeakMap<AuthRegistry, string>();

registrySuite(t, {
  name: 'sqlite',
  async open() {
    const file = join(dir, `auth-${++n}.db`);
    const r = new SqliteRegistry(file);
    files.set(r, file);
    return r;
  },
  async second(r) {
    const file = files.get(r);
    if (!file) throw new Error('not opened here');
    const s = new SqliteRegistry(file);
    files.set(s, file);
    return s;
  },
});
