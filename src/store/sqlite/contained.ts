// The index of contained resources (R4 search.html#contained): each one a container's
// references point at gets a row in sp_contained under a fresh negative rid, and its index
// entries go into the sp_* tables under that rid (compile.ts chains reach them through it).
import type Database from 'better-sqlite3';
import type { ContainedIndex } from '../../search/extract.js';
import type { IndexWriter } from './index-writer.js';

export class ContainedWriter {
  private readonly insert: Database.Statement<[number, string, string], { rid: number }>;
  private readonly ofContainer: Database.Statement<[number], { rid: number }>;
  private readonly drop: Database.Statement<[number]>;

  constructor(db: Database.Database, private readonly index: IndexWriter) {
    this.insert = db.prepare('INSERT INTO sp_contained (rid, container, type, id) VALUES ((SELECT min(0, ifnull(min(rid), 0)) - 1 FROM sp_contained), ?, ?, ?) RETURNING rid');
    this.ofContainer = db.prepare('SELECT rid FROM sp_contained WHERE container = ?');
    this.drop = db.prepare('DELETE FROM sp_contained WHERE container = ?');
  }

  /** Indexes a container's contained resources (inside the container's write transaction). */
  write(container: number, list: readonly ContainedIndex[] | undefined): void {
    for (const c of list ?? []) {
      const row = this.insert.get(container, c.type, c.id);
      if (!row) throw new Error('sp_contained insert returned no row');
      this.index.write(row.rid, c.type, c.entries);
    }
  }

  /** Drops the index of a container's contained resources (on update, delete and reindex). */
  remove(container: number): void {
    const rows = this.ofContainer.all(container);
    if (rows.length === 0) return;
    for (const { rid } of rows) this.index.remove(rid);
    this.drop.run(container);
  }
}
