// History on one SQLite connection (R4 http.html#history): newest first, keyset paged by seq,
// filtered in the query for a restricted caller. Runs on the writer inside a transaction, and
// on a reader (a reader thread when the pool is on) otherwise.
import type Database from 'better-sqlite3';
import type { HistoryPage, HistoryQuery } from '../port.js';
import { decodeCursor, historyPage } from '../history-cursor.js';
import type { SqliteSearch } from './search.js';
import { toRecord, type VersionRow } from './sql.js';

const MAX_SEQ = Number.MAX_SAFE_INTEGER;

function prepare(db: Database.Database) {
  const cols = 'seq, type, id, version, last_updated, method, deleted, json';
  return {
    firstSeqSince: db.prepare<[string], { seq: number }>(
      'SELECT seq FROM version WHERE last_updated >= ? ORDER BY last_updated, seq LIMIT 1'),
    lastSeqBefore: db.prepare<[string], { seq: number }>(
      'SELECT seq FROM version WHERE last_updated <= ? ORDER BY last_updated DESC, seq DESC LIMIT 1'),
    system: db.prepare<[number, number, number], VersionRow>(
      `SELECT ${cols} FROM version WHERE seq <= ? AND seq >= ? ORDER BY seq DESC LIMIT ?`),
    type: db.prepare<[string, number, number, number], VersionRow>(
      `SELECT ${cols} FROM version WHERE type = ? AND seq <= ? AND seq >= ? ORDER BY seq DESC LIMIT ?`),
    instance: db.prepare<[string, string, number, number, number], VersionRow>(
      `SELECT ${cols} FROM version WHERE type = ? AND id = ? AND seq <= ? AND seq >= ? ORDER BY seq DESC LIMIT ?`),
    countInstance: db.prepare<[string, string, number, number], { n: number }>(
      'SELECT count(*) AS n FROM version WHERE type = ? AND id = ? AND seq <= ? AND seq >= ?'),
  };
}

export class SqliteHistory {
  private readonly s: ReturnType<typeof prepare>;

  constructor(private readonly db: Database.Database, private readonly search: SqliteSearch) {
    this.s = prepare(db);
  }

  run(q: HistoryQuery): HistoryPage {
    const s = this.s;
    const upper = q.cursor !== undefined ? decodeCursor(q.cursor) - 1 : MAX_SEQ;
    let lower = 0;
    if (q.since) {
      const first = s.firstSeqSince.get(q.since);
      if (!first) return { records: [], ...(q.id ? { total: 0 } : {}) };
      lower = first.seq;
    }
    let top = upper;
    if (q.before) top = Math.min(top, s.lastSeqBefore.get(q.before)?.seq ?? 0);
    const limit = q.count + 1;
    let rows: VersionRow[];
    let total: number | undefined;
    if ((q.access || q.snapshot) && !(q.type && q.id)) {
      // A restricted caller sees the versions of resources it may see: filtered in the query.
      const filter = q.access ? this.search.historyFilter(q.access, q.type) : { text: '1', params: [] };
      // A snapshot keeps the versions current at `before`: live, and not followed by one written by then.
      const current = q.snapshot && q.before
        ? { text: `deleted = 0 AND NOT EXISTS (SELECT 1 FROM version w WHERE w.type = version.type AND w.id = version.id AND w.version > version.version AND w.last_updated <= ?)`, params: [q.before] }
        : { text: '1', params: [] };
      rows = this.db.prepare(`SELECT seq, type, id, version, last_updated, method, deleted, json FROM version
        WHERE ${q.type ? 'type = ? AND ' : ''}seq <= ? AND seq >= ? AND ${current.text} AND ${filter.text} ORDER BY seq DESC LIMIT ?`)
        .all(...(q.type ? [q.type] : []), top, lower, ...current.params, ...filter.params, limit) as VersionRow[];
    } else if (q.type && q.id) {
      rows = s.instance.all(q.type, q.id, top, lower, limit);
      if (q.cursor === undefined) total = s.countInstance.get(q.type, q.id, top, lower)?.n;
    } else if (q.type) {
      rows = s.type.all(q.type, top, lower, limit);
    } else {
      rows = s.system.all(top, lower, limit);
    }
    return historyPage(rows.map(toRecord), q.count, total);
  }
}
