// Chooses the adapter from DATABASE_URL. The composition root calls this; nothing else does.
import type { Store, StoreIndexer } from './port.js';
import { SqliteStore } from './sqlite/store.js';
import { MongoStore } from './mongo/store.js';
import type { MongoDb } from './mongo/db.js';

export type DatabaseTarget =
  | { kind: 'sqlite'; filename: string }
  | { kind: 'mongodb'; url: string };

export interface OpenOptions {
  /** SQLite: bytes of current versions kept in memory for reads. */
  readCacheBytes?: number;
  /** Search index extraction (src/search/extract.ts). */
  indexer?: StoreIndexer;
  /** SQLite: FULL (default) or NORMAL durability. */
  synchronous?: 'FULL' | 'NORMAL';
  /** Time budget of one search, in ms (SEARCH_TIMEOUT_MS). */
  searchTimeoutMs?: number;
  /** SQLite file databases: reader threads for searches and history (0: in this thread). */
  readers?: number;
}

/**
 * Connects to MongoDB (src/store/mongo/driver.ts). The driver is loaded here, on first use: a
 * SQLite deployment never pays for it (importing it alone costs ~7 MB of heap and a 17 MB
 * buffer the BSON serializer allocates up front).
 */
export async function connectMongo(url: string): Promise<MongoDb> {
  const driver = await import('./mongo/driver.js');
  return driver.connectMongo(url);
}

/**
 * @param db MongoDB only: use this database handle instead of connecting to `target.url`
 * (one connection pool shared with the auth registry; tests pass the in-process emulation).
 * The store closes it.
 */
export async function openStore(target: DatabaseTarget, opts: OpenOptions = {}, db?: MongoDb): Promise<Store> {
  switch (target.kind) {
    case 'sqlite':
      return SqliteStore.open({ filename: target.filename, ...opts });
    case 'mongodb': {
      db ??= await connectMongo(target.url);
      try {
        return await MongoStore.open({
          db, ...(opts.indexer ? { indexer: opts.indexer } : {}), ...(opts.searchTimeoutMs !== undefined ? { searchTimeoutMs: opts.searchTimeoutMs } : {}),
        });
      } catch (err) {
        await db.close();
        throw err;
      }
    }
  }
}

