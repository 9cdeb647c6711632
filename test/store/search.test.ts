// The store-level search suite on both adapters: SQLite (in memory, and on a file with its
// searches on reader threads), and MongoDB over mingo.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import { MingoDb } from '../helpers/mingo-db.js';
import { searchSuite } from '../helpers/search-suite.js';

searchSuite(t, { name: 'sqlite', open: async (indexer) => SqliteStore.open({ filename: ':memory:', indexer }) });
searchSuite(t, { name: 'mongodb over mingo', open: (indexer) => MongoStore.open({ db: new MingoDb(), indexer }) });

const dir = mkdtempSync(join(tmpdir(), 'flint-search-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
searchSuite(t, { name: 'sqlite file, reader threads', open: async (indexer) => SqliteStore.open({ filename: join(dir, `db${n++}.sqlite`), indexer, readers: 2 }) });
