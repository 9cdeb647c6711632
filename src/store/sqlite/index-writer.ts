// Writes a resource's search index entries into the typed sp_* tables, and removes them when
// the resource changes or is deleted. Parameter ids (pid) are registered once, up front.
import type Database from 'better-sqlite3';
import type { IndexEntries } from '../../search/extract.js';
import { INDEX_TABLES } from './schema.js';

export const pidKey = (type: string, code: string): string => `${type}\u0000${code}`;

export class PidRegistry {
  private readonly map = new Map<string, number>();

  constructor(private readonly db: Database.Database) {
    for (const row of db.prepare('SELECT pid, type, code FROM sp_param').all() as { pid: number; type: string; code: string }[]) {
      this.map.set(pidKey(row.type, row.code), row.pid);
    }
  }

  /** Registers parameters (idempotent). Runs in its own transaction on the writer. */
  ensure(keys: Iterable<[string, string]>): void {
    const missing = [...keys].filter(([t, c]) => !this.map.has(pidKey(t, c)));
    if (missing.length === 0) return;
    const ins = this.db.prepare('INSERT OR IGNORE INTO sp_param (type, code) VALUES (?, ?)');
    const sel = this.db.prepare<[string, string], { pid: number }>('SELECT pid FROM sp_param WHERE type = ? AND code = ?');
    this.db.transaction(() => {
      for (const [t, c] of missing) ins.run(t, c);
    }).immediate();
    for (const [t, c] of missing) {
      const row = sel.get(t, c);
      if (row) this.map.set(pidKey(t, c), row.pid);
    }
  }

  /** How many parameters are registered (they are only ever added: reader threads catch up by it). */
  get size(): number {
    return this.map.size;
  }

  get(type: string, code: string): number | undefined {
    return this.map.get(pidKey(type, code));
  }

  /** Every resource type with registered parameters. */
  types(): string[] {
    return [...new Set([...this.map.keys()].map((k) => k.split('\u0000')[0] ?? ''))].filter(Boolean);
  }
}

type Stmt = Database.Statement;

export class IndexWriter {
  private readonly del: Stmt[];
  private readonly ins: Record<keyof IndexEntries, Stmt>;

  constructor(db: Database.Database, private readonly pids: PidRegistry) {
    this.del = INDEX_TABLES.map((t) => db.prepare(`DELETE FROM ${t} WHERE rid = ?`));
    this.ins = {
      token: db.prepare('INSERT INTO sp_token (rid, pid, system, code) VALUES (?, ?, ?, ?)'),
      text: db.prepare('INSERT INTO sp_text (rid, pid, text) VALUES (?, ?, ?)'),
      string: db.prepare('INSERT INTO sp_string (rid, pid, norm, exact) VALUES (?, ?, ?, ?)'),
      date: db.prepare('INSERT INTO sp_date (rid, pid, start, end) VALUES (?, ?, ?, ?)'),
      number: db.prepare('INSERT INTO sp_number (rid, pid, value) VALUES (?, ?, ?)'),
      quantity: db.prepare('INSERT INTO sp_quantity (rid, pid, low, high, system, code) VALUES (?, ?, ?, ?, ?, ?)'),
      reference: db.prepare('INSERT INTO sp_reference (rid, pid, ref_type, ref_id, url) VALUES (?, ?, ?, ?, ?)'),
      uri: db.prepare('INSERT INTO sp_uri (rid, pid, uri) VALUES (?, ?, ?)'),
      composite: db.prepare(`INSERT INTO sp_composite (rid, pid, c1_sys, c1_code, c1_lo, c1_hi, c1_str, c2_sys, c2_code, c2_lo, c2_hi, c2_str, c3_sys, c3_code, c3_lo, c3_hi, c3_str)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      sort: db.prepare('INSERT OR REPLACE INTO sp_sort (rid, pid, lo, hi) VALUES (?, ?, ?, ?)'),
    };
  }

  remove(rid: number): void {
    for (const d of this.del) d.run(rid);
  }

  write(rid: number, type: string, e: IndexEntries): void {
    const pid = (code: string): number => {
      const p = this.pids.get(type, code);
      if (p === undefined) throw new Error(`search parameter ${type}.${code} is not registered`);
      return p;
    };
    const seen = new Set<string>();
    const once = (key: string): boolean => {
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    };
    for (const t of e.token) if (once(`t${t.param}|${t.system}|${t.code}`)) this.ins.token.run(rid, pid(t.param), t.system, t.code);
    for (const t of e.text) if (once(`x${t.param}|${t.text}`)) this.ins.text.run(rid, pid(t.param), t.text);
    for (const s of e.string) if (once(`s${s.param}|${s.exact}`)) this.ins.string.run(rid, pid(s.param), s.norm, s.exact);
    for (const d of e.date) if (once(`d${d.param}|${d.start}|${d.end}`)) this.ins.date.run(rid, pid(d.param), d.start, d.end);
    for (const n of e.number) if (once(`n${n.param}|${n.value}`)) this.ins.number.run(rid, pid(n.param), n.value);
    for (const q of e.quantity) {
      if (once(`q${q.param}|${q.low}|${q.high}|${q.system}|${q.code}`)) this.ins.quantity.run(rid, pid(q.param), finite(q.low), finite(q.high), q.system, q.code);
    }
    for (const r of e.reference) if (once(`r${r.param}|${r.type}|${r.id}|${r.url}`)) this.ins.reference.run(rid, pid(r.param), r.type, r.id, r.url);
    for (const u of e.uri) if (once(`u${u.param}|${u.uri}`)) this.ins.uri.run(rid, pid(u.param), u.uri);
    for (const c of e.composite) {
      const cols: (string | number | null)[] = [];
      for (let i = 0; i < 3; i++) {
        const part = c.parts[i];
        cols.push(part?.sys ?? null, part?.code ?? null, part?.lo ?? null, part?.hi ?? null, part?.str ?? null);
      }
      if (once(`c${c.param}|${JSON.stringify(cols)}`)) this.ins.composite.run(rid, pid(c.param), ...cols);
    }
    for (const s of e.sort) this.ins.sort.run(rid, pid(s.param), s.lo, s.hi);
  }
}

/** SQLite REAL cannot hold ±Infinity in a STRICT table; open range ends become huge finite bounds. */
function finite(n: number): number {
  if (n === Infinity) return Number.MAX_VALUE;
  if (n === -Infinity) return -Number.MAX_VALUE;
  return n;
}
