// Opens one better-sqlite3 connection with the settings every Flint connection shares: the
// writer, the main thread's reader and each reader thread's (reader-worker.ts).
import Database from 'better-sqlite3';

export function openConnection(filename: string, readonly: boolean, synchronous = 'FULL'): Database.Database {
  const db = new Database(filename, { readonly });
  db.pragma('busy_timeout = 5000');
  // A larger page cache and memory-mapped reads: index lookups stay in memory at a million
  // resources instead of going through read() for every page.
  db.pragma('cache_size = -65536');
  db.pragma('mmap_size = 268435456');
  if (!readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous}`);
    db.pragma('foreign_keys = ON');
  }
  return db;
}
