// The store-level search suite on both adapters: SQLite, and MongoDB over mingo.
import t from 'tap';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import { MingoDb } from '../helpers/mingo-db.js';
import { searchSuite } from '../helpers/search-suite.js';

searchSuite(t, { name: 'sqlite', open: async (indexer) => SqliteStore.open({ filename: ':memory:', indexer }) });
searchSuite(t, { name: 'mongodb over mingo', open: (indexer) => MongoStore.open({ db: new MingoDb(), indexer }) });
