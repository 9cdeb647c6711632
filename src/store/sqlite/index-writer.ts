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
type Value = string | number | null;

/** Each index table's INSERT: the verb and the columns, one row of `?` per entry. */
const INSERTS: Record<keyof IndexEntries, { verb: string; table: string; columns: string[] }> = {
  token: { verb: 'INSERT', table: 'sp_token', columns: ['rid', 'pid', 'system', 'code'] },
  text: { verb: 'INSERT', table: 'sp_text', columns: ['rid', 'pid', 'text'] },
  string: { verb: 'INSERT', table: 'sp_string', columns: ['rid', 'pid', 'norm', 'exact'] },
  date: { verb: 'INSERT', table: 'sp_date', columns: ['rid', 'pid', 'start', 'end'] },
  number: { verb: 'INSERT', table: 'sp_number', columns: ['rid', 'pid', 'value'] },
  quantity: { verb: 'INSERT', table: 'sp_quantity', columns: ['rid', 'pid', 'low', 'high', 'system', 'code'] },
  reference: { verb: 'INSERT', table: 'sp_reference', columns: ['rid', 'pid', 'ref_type', 'ref_id', 'url'] },
  uri: { verb: 'INSERT', table: 'sp_uri', columns: ['rid', 'pid', 'uri'] },
  composite: {
    verb: 'INSERT', table: 'sp_composite',
    columns: ['rid', 'pid', 'c1_sys', 'c1_code', 'c1_lo', 'c1_hi', 'c1_str', 'c2_sys', 'c2_code', 'c2_lo', 'c2_hi', 'c2_str', 'c3_sys', 'c3_code', 'c3_lo', 'c3_hi', 'c3_str'],
  },
  sort: { verb: 'INSERT OR REPLACE', table: 'sp_sort', columns: ['rid', 'pid', 'lo', 'hi'] },
};

/** Rows per multi-row INSERT (a resource's rows of one table rarely reach it). */
const ROWS_PER_INSERT = 32;

export class IndexWriter {
  private readonly del: Stmt[];
  /** Multi-row INSERTs by table and row count, prepared on first use. */
  private readonly ins = new Map<string, Stmt>();

  constructor(private readonly db: Database.Database, private readonly pids: PidRegistry) {
    this.del = INDEX_TABLES.map((t) => db.prepare(`DELETE FROM ${t} WHERE rid = ?`));
  }

  remove(rid: number): void {
    for (const d of this.del) d.run(rid);
  }

  /**
   * Inserts one table's rows of a resource with as few statements as possible: one
   * multi-row INSERT per table instead of one statement per row (the write path's hot spot).
   */
  private insert(kind: keyof IndexEntries, rows: Value[][]): void {
    const spec = INSERTS[kind];
    for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
      const chunk = rows.slice(i, i + ROWS_PER_INSERT);
      const key = `${kind}:${chunk.length}`;
      let st = this.ins.get(key);
      if (!st) {
        const one = `(${spec.columns.map(() => '?').join(', ')})`;
        st = this.db.prepare(`${spec.verb} INTO ${spec.table} (${spec.columns.join(', ')}) VALUES ${Array.from({ length: chunk.length }, () => one).join(', ')}`);
        this.ins.set(key, st);
      }
      st.run(...chunk.flat());
    }
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
    const rows = (kind: keyof IndexEntries, list: Value[][]): void => {
      if (list.length) this.insert(kind, list);
    };
    rows('token', e.token.filter((t) => once(`t${t.param}|${t.system}|${t.code}`)).map((t) => [rid, pid(t.param), t.system, t.code]));
    rows('text', e.text.filter((t) => once(`x${t.param}|${t.text}`)).map((t) => [rid, pid(t.param), t.text]));
    rows('string', e.string.filter((s) => once(`s${s.param}|${s.exact}`)).map((s) => [rid, pid(s.param), s.norm, s.exact]));
    rows('date', e.date.filter((d) => once(`d${d.param}|${d.start}|${d.end}`)).map((d) => [rid, pid(d.param), d.start, d.end]));
    rows('number', e.number.filter((n) => once(`n${n.param}|${n.value}`)).map((n) => [rid, pid(n.param), n.value]));
    rows('quantity', e.quantity.filter((q) => once(`q${q.param}|${q.low}|${q.high}|${q.system}|${q.code}`))
      .map((q) => [rid, pid(q.param), finite(q.low), finite(q.high), q.system, q.code]));
    rows('reference', e.reference.filter((r) => once(`r${r.param}|${r.type}|${r.id}|${r.url}`)).map((r) => [rid, pid(r.param), r.type, r.id, r.url]));
    rows('uri', e.uri.filter((u) => once(`u${u.param}|${u.uri}`)).map((u) => [rid, pid(u.param), u.uri]));
    const composites: Value[][] = [];
    for (const c of e.composite) {
      const cols: Value[] = [];
      for (let i = 0; i < 3; i++) {
        const part = c.parts[i];
        cols.push(part?.sys ?? null, part?.code ?? null, part?.lo ?? null, part?.hi ?? null, part?.str ?? null);
      }
      if (once(`c${c.param}|${JSON.stringify(cols)}`)) composites.push([rid, pid(c.param), ...cols]);
    }
    rows('composite', composites);
    // One row per (rid, pid): a later duplicate replaces an earlier one, as row-by-row inserts did.
    const sorts = new Map<number, Value[]>();
    for (const s of e.sort) {
      const p = pid(s.param);
      sorts.delete(p);
      sorts.set(p, [rid, p, s.lo, s.hi]);
    }
    rows('sort', [...sorts.values()]);
  }
}

/** SQLite REAL cannot hold ±Infinity in a STRICT table; open range ends become huge finite bounds. */
function finite(n: number): number {
  if (n === Infinity) return Number.MAX_VALUE;
  if (n === -Infinity) return -Number.MAX_VALUE;
  return n;
}
