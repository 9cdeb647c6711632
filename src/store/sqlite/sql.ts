// SQL fragments with their parameters, and the comparison semantics both the compiler and the
// planner build from (R4 search.html#prefix).
import type { CompositeMatch, Prefix } from '../../search/ir.js';
import type { VersionRecord, WriteMethod } from '../port.js';
import { prefixEnd } from '../text-range.js';

export type Param = string | number | null | Buffer;

export interface Sql {
  text: string;
  params: Param[];
  /** For `alias.rid IN (…)` conditions: the query of the rids (so that ORs of them can be one list). */
  rows?: Sql;
}

export const FALSE: Sql = { text: '0', params: [] };
export const TRUE: Sql = { text: '1', params: [] };

export const ISO = (ms: number): string => new Date(ms).toISOString();

/** list: the condition's rows are materialised and drive the query; probe: checked per candidate row. */
export type Mode = 'list' | 'probe';

/** One row of the version table. */
export interface VersionRow {
  seq: number;
  type: string;
  id: string;
  version: number;
  last_updated: string;
  method: string;
  deleted: number;
  json: string | null;
}

/** A current version as a search reads it (with its sort keys k0, k1…). */
export interface Row extends VersionRow {
  rid: number;
  [k: `k${number}`]: Param;
}

export function toRecord(row: VersionRow): VersionRecord {
  return {
    type: row.type, id: row.id, versionId: String(row.version), lastUpdated: row.last_updated,
    deleted: row.deleted === 1, method: row.method as WriteMethod, seq: row.seq,
    ...(row.json !== null ? { json: row.json } : {}),
  };
}

/**
 * Joins conditions with AND or OR, nested as a balanced tree: SQLite refuses expressions more
 * than 1000 levels deep, and `a OR b OR c …` is one level per term.
 */
export function joinSql(parts: Sql[], op: ' AND ' | ' OR '): Sql {
  const text = (from: number, to: number): string => {
    if (to - from <= 16) return `(${parts.slice(from, to).map((p) => p.text).join(op)})`;
    const mid = (from + to) >> 1;
    return `(${text(from, mid)}${op}${text(mid, to)})`;
  };
  const params: Param[] = [];
  for (const p of parts) for (const v of p.params) params.push(v);
  return { text: text(0, parts.length), params };
}

/**
 * Prefix semantics over a target range [lo, hi] and a search range [start, end] (R4
 * search.html#prefix): eq = target within search; gt/lt = target extends above/below it;
 * ge/le = that, or within; sa/eb = entirely after/before; ap = overlaps a range widened by
 * 10% of the distance from now.
 */
export function rangeCompare(prefix: Prefix, lo: string, hi: string, start: number, end: number, now: number): Sql {
  switch (prefix) {
    case 'eq': return { text: `(${lo} >= ? AND ${hi} <= ?)`, params: [start, end] };
    case 'ne': return { text: `NOT (${lo} >= ? AND ${hi} <= ?)`, params: [start, end] };
    case 'gt': return { text: `${hi} > ?`, params: [end] };
    case 'lt': return { text: `${lo} < ?`, params: [start] };
    case 'ge': return { text: `(${hi} > ? OR (${lo} >= ? AND ${hi} <= ?))`, params: [end, start, end] };
    case 'le': return { text: `(${lo} < ? OR (${lo} >= ? AND ${hi} <= ?))`, params: [start, start, end] };
    case 'sa': return { text: `${lo} > ?`, params: [end] };
    case 'eb': return { text: `${hi} < ?`, params: [start] };
    case 'ap': {
      const widen = Math.max(Math.abs(now - start) * 0.1, end - start);
      return { text: `(${lo} <= ? AND ${hi} >= ?)`, params: [end + widen, start - widen] };
    }
  }
}

/** Numbers: eq/ne use the precision range of the search value; the others its exact value. */
export function numberCompare(prefix: Prefix, lo: string, hi: string, value: number, low: number, high: number): Sql {
  switch (prefix) {
    case 'eq': return { text: `(${lo} >= ? AND ${hi} < ?)`, params: [low, high] };
    case 'ne': return { text: `NOT (${lo} >= ? AND ${hi} < ?)`, params: [low, high] };
    case 'gt': case 'sa': return { text: `${hi} > ?`, params: [value] };
    case 'lt': case 'eb': return { text: `${lo} < ?`, params: [value] };
    case 'ge': return { text: `${hi} >= ?`, params: [value] };
    case 'le': return { text: `${lo} <= ?`, params: [value] };
    case 'ap': {
      // R4 search.html#prefix: within 10% of the value, and never less than eq finds (a small
      // value's precision range is wider than 10% of it).
      const d = Math.abs(value) * 0.1;
      return { text: `(${lo} <= ? AND ${hi} >= ?)`, params: [Math.max(value + d, high), Math.min(value - d, low)] };
    }
  }
}

export function compositePart(p: CompositeMatch, i: number): Sql {
  const c = `c${i}_`;
  switch (p.kind) {
    case 'token':
      if (p.system === undefined) return { text: `${c}code = ?`, params: [p.code] };
      if (p.system === null) return { text: `${c}code = ? AND ${c}sys IS NULL`, params: [p.code] };
      return { text: `${c}code = ? AND ${c}sys = ?`, params: [p.code, p.system] };
    case 'string': return { text: `${c}str >= ? AND ${c}str < ?`, params: [p.value, prefixEnd(p.value)] };
    case 'reference': return p.type ? { text: `${c}code = ? AND ${c}sys = ?`, params: [p.id, p.type] } : { text: `${c}code = ?`, params: [p.id] };
    case 'range': {
      const cmp = numberCompare(p.prefix, `${c}lo`, `${c}hi`, p.value, p.low, p.high);
      // R4 search.html#quantity: number|system|code compares the unit's system too.
      const unit = { text: (p.code ? ` AND ${c}code = ?` : '') + (p.system ? ` AND ${c}sys = ?` : ''), params: [...(p.code ? [p.code] : []), ...(p.system ? [p.system] : [])] };
      return { text: cmp.text + unit.text, params: [...cmp.params, ...unit.params] };
    }
  }
}
