// Keyset paging for SQLite searches: the sort columns of a search, opaque cursors holding the
// boundary row's sort keys, and the condition that selects rows after (or before) it.
import type { SortKey } from '../../search/ir.js';
import { StoreError } from '../port.js';
import type { SqlCompiler } from './compile.js';
import { FALSE, type Param, type Sql } from './sql.js';

/** One ORDER BY key: an SQL expression and its direction. */
export interface SortColumn {
  expr: string;
  desc: boolean;
}

export interface CursorData {
  /** Sort key values of the boundary row (buffers as hex). */
  k: (string | number | null | { b: string })[];
  rid: number;
  /** n: rows after the boundary; p: rows before it. */
  d: 'n' | 'p';
}

export function encodeCursor(c: CursorData): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

export function decodeCursor(raw: string, keys: number): CursorData {
  try {
    const c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as CursorData;
    if (!Array.isArray(c.k) || c.k.length !== keys || typeof c.rid !== 'number' || (c.d !== 'n' && c.d !== 'p')) throw new Error('shape');
    return c;
  } catch {
    throw new StoreError('invalid-cursor', 'the paging cursor is not valid for this search');
  }
}

export const keyToParam = (v: CursorData['k'][number]): Param => (v !== null && typeof v === 'object' ? Buffer.from(v.b, 'hex') : v);
export const paramToKey = (v: Param): CursorData['k'][number] => (Buffer.isBuffer(v) ? { b: v.toString('hex') } : v);

/** Sort keys (R4 search.html#sort) as LEFT JOINs on sp_sort; parameters no searched type has are dropped. */
export function sortColumns(compiler: SqlCompiler, sort: SortKey[], types: readonly string[]): { joins: Sql; keys: SortColumn[] } {
  const joins: string[] = [];
  const params: Param[] = [];
  const keys: SortColumn[] = [];
  sort.forEach((s, i) => {
    if (s.param === '_id') keys.push({ expr: 'r.id', desc: s.descending });
    else if (s.param === '_lastUpdated') keys.push({ expr: 'r.last_updated', desc: s.descending });
    else {
      const pids = compiler.pidList(types, s.param);
      if (pids.length === 0) return;
      joins.push(`LEFT JOIN sp_sort o${i} ON o${i}.rid = r.rid AND o${i}.pid IN (${pids.map(() => '?').join(',')})`);
      params.push(...pids);
      // Ascending by the lowest value, descending by the highest; absent values last either way.
      keys.push(s.descending ? { expr: `o${i}.hi`, desc: true } : { expr: `coalesce(o${i}.lo, x'ff')`, desc: false });
    }
  });
  return { joins: { text: joins.join(' '), params }, keys };
}


/** Keyset condition: rows strictly after (or before) the boundary in the sort order. */
export function keysetCondition(keys: SortColumn[], values: Param[], backwards: boolean): Sql {
  const ors: Sql[] = [];
  for (let i = 0; i < keys.length; i++) {
    const eq: Sql[] = keys.slice(0, i).map((k, j) => ({ text: `${k.expr} IS ?`, params: [values[j] ?? null] }));
    const k = keys[i];
    if (!k) continue;
    const v = values[i] ?? null;
    const forward = k.desc === backwards; // moving towards larger values
    let step: Sql;
    if (forward) step = v === null ? { text: `${k.expr} IS NOT NULL`, params: [] } : { text: `${k.expr} > ?`, params: [v] };
    // Descending keys hold NULL for absent values, which sort last (SQLite: NULL is smallest).
    else step = v === null ? FALSE : { text: `(${k.expr} < ? OR ${k.expr} IS NULL)`, params: [v] };
    const all = [...eq, step];
    ors.push({ text: `(${all.map((x) => x.text).join(' AND ')})`, params: all.flatMap((x) => x.params) });
  }
  return { text: `(${ors.map((o) => o.text).join(' OR ')})`, params: ors.flatMap((o) => o.params) };
}
