// Search IR → SQL over the typed index tables, with keyset paging on any sort.
import type Database from 'better-sqlite3';
import { MAX_INCLUDES, type AccessConstraint, type CompartmentConstraint, type CompositeMatch, type Condition, type Expr, type IncludeSpec, type Prefix, type SearchQuery, type SortKey } from '../../search/ir.js';
import { StoreError, type SearchPage, type VersionRecord, type WriteMethod } from '../port.js';
import type { PidRegistry } from './index-writer.js';
import { IncludeRounds } from '../includes.js';
import { pageLinks } from '../paging.js';
import { prefixEnd, uriPrefixes } from '../text-range.js';
import { visibility } from '../visibility.js';

type Param = string | number | null | Buffer;

interface Sql {
  text: string;
  params: Param[];
}

const FALSE: Sql = { text: '0', params: [] };
const TRUE: Sql = { text: '1', params: [] };
/** Sorts after every number and string: resources without the sort value come last (ascending). */
const LAST = Buffer.from([0xff]);
/** `_total=estimate` counts at most this many matches; beyond, no total is given. */
const ESTIMATE_CAP = 1_000;
/** A condition matching at least this many index rows is not selective enough to drive. */
const SELECTIVE_CAP = 2_000;

const ISO = (ms: number): string => new Date(ms).toISOString();

interface Row {
  rid: number;
  type: string;
  id: string;
  seq: number;
  version: number;
  last_updated: string;
  method: string;
  deleted: number;
  json: string | null;
  [k: `k${number}`]: Param;
}

function toRecord(row: Row): VersionRecord {
  return {
    type: row.type, id: row.id, versionId: String(row.version), lastUpdated: row.last_updated,
    deleted: row.deleted === 1, method: row.method as WriteMethod, seq: row.seq,
    ...(row.json !== null ? { json: row.json } : {}),
  };
}

interface CursorData {
  /** Sort key values of the boundary row (buffers as hex). */
  k: (string | number | null | { b: string })[];
  rid: number;
  /** n: rows after the boundary; p: rows before it. */
  d: 'n' | 'p';
}

function encodeCursor(c: CursorData): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(raw: string, keys: number): CursorData {
  try {
    const c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as CursorData;
    if (!Array.isArray(c.k) || c.k.length !== keys || typeof c.rid !== 'number' || (c.d !== 'n' && c.d !== 'p')) throw new Error('shape');
    return c;
  } catch {
    throw new StoreError('invalid-cursor', 'the paging cursor is not valid for this search');
  }
}

const keyToParam = (v: CursorData['k'][number]): Param => (v !== null && typeof v === 'object' ? Buffer.from(v.b, 'hex') : v);
const paramToKey = (v: Param): CursorData['k'][number] => (Buffer.isBuffer(v) ? { b: v.toString('hex') } : v);

export class SqliteSearch {
  /** Prepared statements by SQL text: a search shape is compiled by SQLite once. */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database, private readonly pids: PidRegistry) {}

  private prepare(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      if (this.statements.size >= 500) this.statements.delete(this.statements.keys().next().value as string);
      this.statements.set(sql, st);
    }
    return st;
  }

  private pidList(types: readonly string[], code: string): number[] {
    const out: number[] = [];
    for (const t of types) {
      const p = this.pids.get(t, code);
      if (p !== undefined) out.push(p);
    }
    return out;
  }

  private inPids(types: readonly string[], code: string): Sql | undefined {
    const list = this.pidList(types, code);
    if (list.length === 0) return undefined;
    return list.length === 1 ? { text: 'pid = ?', params: list } : { text: `pid IN (${list.map(() => '?').join(',')})`, params: list };
  }

  /**
   * A condition on an index table, as a list (`alias.rid IN (SELECT rid …)`: SQLite builds the
   * list and probes resources by rowid, best for the most selective condition) or as a probe
   * (`EXISTS (… WHERE rid = alias.rid …)`: checked per candidate row, best for the others).
   */
  private indexed(alias: string, table: string, types: readonly string[], code: string, cond: Sql, mode: Mode): Sql {
    const pid = this.inPids(types, code);
    if (!pid) return FALSE;
    if (this.capture) this.captured = { table, where: { text: `${pid.text} AND ${cond.text}`, params: [...pid.params, ...cond.params] } };
    return mode === 'list'
      ? { text: `${alias}.rid IN (SELECT rid FROM ${table} WHERE ${pid.text} AND ${cond.text})`, params: [...pid.params, ...cond.params] }
      : { text: `EXISTS (SELECT 1 FROM ${table} WHERE rid = ${alias}.rid AND ${pid.text} AND ${cond.text})`, params: [...pid.params, ...cond.params] };
  }

  /**
   * Compiles a filter. In an AND, the condition likely to match fewest rows drives (as a list);
   * the others are probed per row, so that a selective condition is never intersected with a
   * huge materialised list (a date range, a status) and LIMIT can stop early.
   */
  compile(expr: Expr, alias: string, types: readonly string[], mode: Mode = 'list', driverOverride?: number): Sql {
    if ('and' in expr) {
      if (expr.and.length === 0) return TRUE;
      let driver = 0;
      expr.and.forEach((e, i) => { if (rank(e) < rank(expr.and[driver] ?? e)) driver = i; });
      if (driverOverride !== undefined) driver = driverOverride;
      const parts = expr.and.map((e, i) => this.compile(e, alias, types, mode === 'list' && i === driver ? 'list' : 'probe'));
      return { text: `(${parts.map((p) => p.text).join(' AND ')})`, params: parts.flatMap((p) => p.params) };
    }
    if ('or' in expr) {
      if (expr.or.length === 0) return FALSE;
      const parts = expr.or.map((e) => this.compile(e, alias, types, mode));
      return { text: `(${parts.map((p) => p.text).join(' OR ')})`, params: parts.flatMap((p) => p.params) };
    }
    if ('not' in expr) {
      const inner = this.compile(expr.not, alias, types, 'probe');
      return { text: `NOT ${inner.text}`, params: inner.params };
    }
    return this.condition(expr.cond, alias, types, mode);
  }

  private condition(c: Condition, a: string, types: readonly string[], mode: Mode): Sql {
    switch (c.kind) {
      case 'token': {
        const param = c.variant ? `${c.param}:${c.variant}` : c.param;
        if (c.codes) {
          if (c.codes.length === 0) return FALSE;
          const ors = c.codes.map((x) => (x.system === null ? '(code = ?)' : '(code = ? AND system = ?)'));
          return this.indexed(a, 'sp_token', types, param, { text: `(${ors.join(' OR ')})`, params: c.codes.flatMap((x) => (x.system === null ? [x.code] : [x.code, x.system])) }, mode);
        }
        const parts: string[] = [];
        const params: Param[] = [];
        if (c.code !== undefined) { parts.push('code = ?'); params.push(c.code); }
        if (c.system === null) parts.push('system IS NULL');
        else if (c.system !== undefined) { parts.push('system = ?'); params.push(c.system); }
        return this.indexed(a, 'sp_token', types, param, { text: parts.join(' AND ') || '1', params }, mode);
      }
      case 'token-text':
        return this.indexed(a, 'sp_text', types, c.param, { text: 'text >= ? AND text < ?', params: [c.text, prefixEnd(c.text)] }, mode);
      case 'string':
        switch (c.match) {
          case 'exact': return this.indexed(a, 'sp_string', types, c.param, { text: 'exact = ?', params: [c.value] }, mode);
          case 'contains': return this.indexed(a, 'sp_string', types, c.param, { text: 'instr(norm, ?) > 0', params: [c.value] }, mode);
          default: return this.indexed(a, 'sp_string', types, c.param, { text: 'norm >= ? AND norm < ?', params: [c.value, prefixEnd(c.value)] }, mode);
        }
      case 'date':
        return this.indexed(a, 'sp_date', types, c.param, rangeCompare(c.prefix, 'start', 'end', c.start, c.end, Date.now()), mode);
      case 'lastUpdated': {
        const r = rangeCompare(c.prefix, `${a}.last_updated`, `${a}.last_updated`, c.start, c.end, Date.now());
        return { text: r.text, params: r.params.map((p) => (typeof p === 'number' ? ISO(p) : p)) };
      }
      case 'number':
        return this.indexed(a, 'sp_number', types, c.param, numberCompare(c.prefix, 'value', 'value', c.value, c.low, c.high), mode);
      case 'quantity': {
        const cmp = numberCompare(c.prefix, 'low', 'high', c.value, c.low, c.high);
        const unit: Sql = c.system && c.code ? { text: ' AND system = ? AND code = ?', params: [c.system, c.code] }
          : c.code ? { text: ' AND code = ?', params: [c.code] } : c.system ? { text: ' AND system = ?', params: [c.system] } : { text: '', params: [] };
        return this.indexed(a, 'sp_quantity', types, c.param, { text: cmp.text + unit.text, params: [...cmp.params, ...unit.params] }, mode);
      }
      case 'reference': {
        if (c.url !== undefined) {
          // A canonical without a version matches every version of it (R4 search.html#versions).
          const plain = !c.url.includes('|');
          return this.indexed(a, 'sp_reference', types, c.param, plain
            ? { text: '(url = ? OR (url >= ? AND url < ?))', params: [c.url, `${c.url}|`, prefixEnd(`${c.url}|`)] }
            : { text: 'url = ?', params: [c.url] }, mode);
        }
        if (c.type !== undefined) return this.indexed(a, 'sp_reference', types, c.param, { text: 'ref_id = ? AND ref_type = ?', params: [c.id ?? '', c.type] }, mode);
        const allowed = c.types ?? [];
        return this.indexed(a, 'sp_reference', types, c.param, allowed.length
          ? { text: `ref_id = ? AND ref_type IN (${allowed.map(() => '?').join(',')})`, params: [c.id ?? '', ...allowed] }
          : { text: 'ref_id = ?', params: [c.id ?? ''] }, mode);
      }
      case 'uri':
        switch (c.match) {
          case 'below': return this.indexed(a, 'sp_uri', types, c.param, { text: 'uri >= ? AND uri < ?', params: [c.value, prefixEnd(c.value)] }, mode);
          case 'above': {
            const prefixes = uriPrefixes(c.value);
            return this.indexed(a, 'sp_uri', types, c.param, { text: `uri IN (${prefixes.map(() => '?').join(',')})`, params: prefixes }, mode);
          }
          default: return this.indexed(a, 'sp_uri', types, c.param, { text: 'uri = ?', params: [c.value] }, mode);
        }
      case 'missing': {
        const table = `sp_${c.table}`;
        const pid = this.inPids(types, c.param);
        if (!pid) return c.missing ? TRUE : FALSE;
        const sub = c.missing || mode === 'probe'
          ? `EXISTS (SELECT 1 FROM ${table} WHERE rid = ${a}.rid AND ${pid.text})`
          : `${a}.rid IN (SELECT rid FROM ${table} WHERE ${pid.text})`;
        return { text: c.missing ? `NOT ${sub}` : sub, params: pid.params };
      }
      case 'type':
        if (c.types.length === 0) return FALSE;
        return { text: `${a}.type IN (${c.types.map(() => '?').join(',')})`, params: c.types };
      case 'id':
        if (c.ids.length === 0) return FALSE;
        return { text: `${a}.id IN (${c.ids.map(() => '?').join(',')})`, params: c.ids };
      case 'composite': {
        const conds = c.parts.map((p, i) => compositePart(p, i + 1));
        return this.indexed(a, 'sp_composite', types, c.param, { text: conds.map((x) => x.text).join(' AND '), params: conds.flatMap((x) => x.params) }, mode);
      }
      case 'chain': {
        const pid = this.inPids(types, c.param);
        if (!pid) return FALSE;
        const t = `t${aliasCounter++}`;
        const branches = c.targetTypes.map((target) => {
          const inner = this.compile(c.where, t, [target]);
          const vis = this.visible(t, [target]);
          return {
            text: `(ref_type = ? AND ref_id IN (SELECT ${t}.id FROM resource ${t} WHERE ${t}.type = ? AND ${t}.deleted = 0 AND ${inner.text} AND ${vis.text}))`,
            params: [target, target, ...inner.params, ...vis.params],
          };
        });
        const match = `${pid.text} AND (${branches.map((b) => b.text).join(' OR ')})`;
        return {
          text: mode === 'list'
            ? `${a}.rid IN (SELECT rid FROM sp_reference WHERE ${match})`
            : `EXISTS (SELECT 1 FROM sp_reference WHERE rid = ${a}.rid AND ${match})`,
          params: [...pid.params, ...branches.flatMap((b) => b.params)],
        };
      }
      case 'has': {
        const pid = this.inPids([c.sourceType], c.param);
        if (!pid) return FALSE;
        const s = `s${aliasCounter++}`;
        if (mode === 'probe') {
          // Per candidate row: the references to it, then the referring resource's conditions.
          const inner = this.compile(c.where, s, [c.sourceType], 'probe');
          const vis = this.visible(s, [c.sourceType]);
          return {
            text: `EXISTS (SELECT 1 FROM sp_reference x JOIN resource ${s} ON ${s}.rid = x.rid WHERE x.ref_id = ${a}.id AND x.ref_type = ${a}.type AND x.${pid.text} AND ${s}.deleted = 0 AND ${inner.text} AND ${vis.text})`,
            params: [...pid.params, ...inner.params, ...vis.params],
          };
        }
        const inner = this.compile(c.where, s, [c.sourceType]);
        const vis = this.visible(s, [c.sourceType]);
        // Not correlated with the outer row (the target types are literals): SQLite runs the
        // subquery once and probes its result, instead of once per candidate row.
        return {
          text: `${a}.id IN (SELECT x.ref_id FROM sp_reference x JOIN resource ${s} ON ${s}.rid = x.rid WHERE x.${pid.text} AND x.ref_type IN (${types.map(() => '?').join(',')}) AND ${s}.deleted = 0 AND ${inner.text} AND ${vis.text})`,
          params: [...pid.params, ...types, ...inner.params, ...vis.params],
        };
      }
    }
  }

  /** The compartment constraint, for whatever types the rows may have. */
  private compartment(q: SearchQuery, a: string, types: readonly string[]): Sql {
    return q.compartment ? this.compartmentSql(q.compartment, a, types) : TRUE;
  }

  private compartmentSql(c: CompartmentConstraint, a: string, types: readonly string[]): Sql {
    const branches: Sql[] = [];
    for (const t of types) {
      if (t === c.type) {
        branches.push({ text: `(${a}.type = ? AND ${a}.id = ?)`, params: [t, c.id] });
        continue;
      }
      const params = c.params[t];
      if (!params?.length) continue;
      const pids = params.flatMap((p) => this.pidList([t], p));
      if (!pids.length) continue;
      branches.push({
        text: `(${a}.type = ? AND ${a}.rid IN (SELECT rid FROM sp_reference WHERE pid IN (${pids.map(() => '?').join(',')}) AND ref_id = ? AND ref_type = ?))`,
        params: [t, ...pids, c.id, c.type],
      });
    }
    if (branches.length === 0) return FALSE;
    return { text: `(${branches.map((b) => b.text).join(' OR ')})`, params: branches.flatMap((b) => b.params) };
  }

  /**
   * What the caller's access policy lets it see of rows of `types`: applied to the matches, to
   * included resources and inside chains and _has (a restricted caller must not even learn,
   * through a chain, that a resource it cannot read exists).
   */
  private visible(a: string, types: readonly string[]): Sql {
    const access = this.access;
    if (!access) return TRUE;
    const { plain, restricted } = visibility(access, types);
    const branches: Sql[] = [];
    for (const r of restricted) {
      const parts: Sql[] = [];
      if (r.compartment) parts.push(this.compartmentSql(r.compartment, a, [r.type]));
      if (r.filter) {
        this.access = undefined; // a filter is the policy itself: not filtered again
        try {
          parts.push(this.compile(r.filter, a, [r.type], 'probe'));
        } finally {
          this.access = access;
        }
      }
      branches.push({ text: `(${a}.type = ? AND ${parts.map((p) => p.text).join(' AND ')})`, params: [r.type, ...parts.flatMap((p) => p.params)] });
    }
    if (plain.length) branches.push({ text: `${a}.type IN (${plain.map(() => '?').join(',')})`, params: plain });
    if (branches.length === 0) return FALSE;
    return { text: `(${branches.map((b) => b.text).join(' OR ')})`, params: branches.flatMap((b) => b.params) };
  }

  private sortColumns(sort: SortKey[], types: readonly string[]): { joins: Sql; keys: { expr: string; desc: boolean }[] } {
    const joins: string[] = [];
    const params: Param[] = [];
    const keys: { expr: string; desc: boolean }[] = [];
    sort.forEach((s, i) => {
      if (s.param === '_id') keys.push({ expr: 'r.id', desc: s.descending });
      else if (s.param === '_lastUpdated') keys.push({ expr: 'r.last_updated', desc: s.descending });
      else {
        const pids = this.pidList(types, s.param);
        if (pids.length === 0) return;
        joins.push(`LEFT JOIN sp_sort o${i} ON o${i}.rid = r.rid AND o${i}.pid IN (${pids.map(() => '?').join(',')})`);
        params.push(...pids);
        // Ascending by the lowest value, descending by the highest; absent values last either way.
        keys.push(s.descending ? { expr: `o${i}.hi`, desc: true } : { expr: `coalesce(o${i}.lo, x'ff')`, desc: false });
      }
    });
    return { joins: { text: joins.join(' '), params }, keys };
  }

  /** Set while estimating: `indexed` records the table and condition of the leaf instead. */
  private capture = false;
  private captured: { table: string; where: Sql } | undefined;

  /**
   * How many rows a filter matches, counted up to ESTIMATE_CAP on the index alone (cheap:
   * an index range scan that stops at the cap). Used to choose which condition drives.
   */
  private estimate(expr: Expr, types: readonly string[]): number {
    if ('and' in expr) return expr.and.length ? Math.min(...expr.and.map((e) => this.estimate(e, types))) : SELECTIVE_CAP;
    if ('or' in expr) return Math.min(SELECTIVE_CAP, expr.or.reduce((n, e) => n + this.estimate(e, types), 0));
    if ('not' in expr) return SELECTIVE_CAP;
    const c = expr.cond;
    switch (c.kind) {
      case 'id': return c.ids.length;
      case 'chain': return Math.min(SELECTIVE_CAP, this.estimate(c.where, c.targetTypes) * 10);
      case 'has': return this.estimate(c.where, [c.sourceType]);
      case 'type': case 'lastUpdated': case 'missing': return SELECTIVE_CAP;
      default: break;
    }
    this.capture = true;
    this.captured = undefined;
    try {
      this.condition(c, 'r', types, 'list');
    } finally {
      this.capture = false;
    }
    const leaf = this.captured as { table: string; where: Sql } | undefined;
    if (!leaf) return 0; // no such parameter indexed: matches nothing
    const row = this.prepare(`SELECT count(*) AS n FROM (SELECT 1 FROM ${leaf.table} WHERE ${leaf.where.text} LIMIT ${SELECTIVE_CAP})`)
      .get(...leaf.where.params) as { n: number };
    return row.n;
  }

  /**
   * Compiles the top-level filter. The driving condition (materialised as a list of rows) is
   * the one the index says is most selective; when none is selective, every condition is
   * probed while resources are scanned in order, so that a page fills and LIMIT stops early.
   */
  private compileTop(where: Expr, types: readonly string[]): Sql {
    const children = 'and' in where ? where.and : [where];
    if (children.length === 0) return TRUE;
    const estimates = children.map((e) => (rank(e) < 50 ? this.estimate(e, types) : SELECTIVE_CAP));
    let best = 0;
    estimates.forEach((n, i) => { if (n < (estimates[best] ?? SELECTIVE_CAP)) best = i; });
    const selective = (estimates[best] ?? SELECTIVE_CAP) < SELECTIVE_CAP;
    if ('and' in where) return selective ? this.compile(where, 'r', types, 'list', best) : this.compile(where, 'r', types, 'probe');
    return this.compile(where, 'r', types, selective ? 'list' : 'probe');
  }

  /**
   * The access filter for history: `EXISTS` over the current row of each version's resource
   * (`version` is the history table's name in the query).
   */
  historyFilter(access: AccessConstraint, type: string | undefined): Sql {
    const types = type ? [type] : [...new Set([...Object.keys(access.types), ...(access.otherTypes ? this.pids.types() : [])])];
    this.access = access;
    try {
      const vis = this.visible('h', types);
      return { text: `EXISTS (SELECT 1 FROM resource h WHERE h.type = version.type AND h.id = version.id AND h.deleted = 0 AND ${vis.text})`, params: vis.params };
    } finally {
      this.access = undefined;
    }
  }

  /** The access policy of the search being compiled (see `visible`). */
  private access: AccessConstraint | undefined;

  run(q: SearchQuery): SearchPage {
    aliasCounter = 0;
    this.access = q.access;
    try {
      return this.execute(q);
    } finally {
      this.access = undefined;
    }
  }

  private execute(q: SearchQuery): SearchPage {
    const types = q.types;
    if (types.length === 0) return { records: [], included: [] };
    const where = this.compileTop(q.where, types);
    const compartment = this.compartment(q, 'r', types);
    const vis = this.visible('r', types);
    const comp: Sql = { text: `${compartment.text} AND ${vis.text}`, params: [...compartment.params, ...vis.params] };
    const typeSql: Sql = { text: `r.type IN (${types.map(() => '?').join(',')})`, params: [...types] };
    const { joins, keys } = this.sortColumns(q.sort, types);
    const base: Sql = {
      text: `FROM resource r ${joins.text} WHERE ${typeSql.text} AND r.deleted = 0 AND ${where.text} AND ${comp.text}`,
      params: [...joins.params, ...typeSql.params, ...where.params, ...comp.params],
    };

    let total: number | undefined;
    if (q.total === 'accurate' || q.count === 0) {
      total = (this.prepare(`SELECT count(*) AS n ${base.text}`).get(...base.params) as { n: number }).n;
    }
    if (q.count === 0) return { records: [], included: [], ...(total !== undefined ? { total } : {}) };

    const allKeys = [...keys, { expr: 'r.rid', desc: false }];
    const cursor = q.cursor !== undefined ? decodeCursor(q.cursor, allKeys.length - 1) : undefined;
    const backwards = cursor?.d === 'p';
    let keyset: Sql = TRUE;
    if (cursor) {
      const values: Param[] = [...cursor.k.map(keyToParam), cursor.rid];
      keyset = keysetCondition(allKeys, values, backwards);
    }
    const order = allKeys.map((k) => `${k.expr} ${k.desc !== backwards ? 'DESC' : 'ASC'}`).join(', ');
    const select = `SELECT r.rid, r.type, r.id, v.seq, v.version, v.last_updated, v.method, v.deleted, v.json,
      ${keys.map((k, i) => `${k.expr} AS k${i}`).concat(['0 AS _z']).join(', ')}
      ${base.text} AND ${keyset.text} ORDER BY ${order} LIMIT ?`;
    const sql = select.replace('FROM resource r', 'FROM resource r JOIN version v ON v.seq = r.seq');
    let rows = this.prepare(sql).all(...base.params, ...keyset.params, q.count + 1) as Row[];
    const more = rows.length > q.count;
    if (more) rows = rows.slice(0, q.count);
    if (backwards) rows.reverse();

    const boundary = (row: Row, d: 'n' | 'p'): string => encodeCursor({
      k: keys.map((_, i) => paramToKey(row[`k${i}`] ?? null)), rid: row.rid, d,
    });
    const links = pageLinks(rows, more, cursor !== undefined, backwards, boundary);

    if (total === undefined && q.total !== 'none' && !cursor && !more) {
      // A first page that holds every match gives the exact total for free.
      total = rows.length;
    } else if (total === undefined && q.total === 'estimate' && !cursor) {
      {
        const n = (this.prepare(`SELECT count(*) AS n FROM (SELECT 1 ${base.text} LIMIT ${ESTIMATE_CAP})`).get(...base.params) as { n: number }).n;
        if (n < ESTIMATE_CAP) total = n;
      }
    }
    const records = rows.map(toRecord);
    const { included, truncated } = this.includes(q, rows);
    return {
      records, included,
      ...links,
      ...(total !== undefined ? { total } : {}),
      ...(truncated ? { includesTruncated: true } : {}),
    };
  }

  private fetch(where: Sql, limit: number): Row[] {
    return this.prepare(`SELECT r.rid, r.type, r.id, v.seq, v.version, v.last_updated, v.method, v.deleted, v.json
      FROM resource r JOIN version v ON v.seq = r.seq WHERE r.deleted = 0 AND ${where.text} LIMIT ?`).all(...where.params, limit) as Row[];
  }

  private includes(q: SearchQuery, matches: Row[]): { included: VersionRecord[]; truncated: boolean } {
    const rounds = new IncludeRounds(q, matches, (r) => r.rid);
    for (let specs = rounds.next(); specs; specs = rounds.next()) {
      const found: Row[] = [];
      for (const spec of specs.include) found.push(...this.forward(spec, rounds.frontier));
      for (const spec of specs.revinclude) found.push(...this.reverse(spec, rounds.frontier));
      rounds.take(found);
    }
    return { included: rounds.included.map(toRecord), truncated: rounds.truncated };
  }

  /** _include: the resources that `frontier` rows of spec.sourceType reference. */
  private forward(spec: IncludeSpec, frontier: Row[]): Row[] {
    const sources = frontier.filter((r) => r.type === spec.sourceType).map((r) => r.rid);
    if (sources.length === 0) return [];
    const pids = this.pidList([spec.sourceType], spec.param);
    if (pids.length === 0) return [];
    const targets = this.prepare(`SELECT DISTINCT ref_type, ref_id FROM sp_reference WHERE rid IN (${sources.map(() => '?').join(',')})
      AND pid IN (${pids.map(() => '?').join(',')}) AND ref_type IS NOT NULL ${spec.targetType ? 'AND ref_type = ?' : ''}`)
      .all(...sources, ...pids, ...(spec.targetType ? [spec.targetType] : [])) as { ref_type: string; ref_id: string }[];
    if (targets.length === 0) return [];
    const out: Row[] = [];
    const byType = new Map<string, string[]>();
    for (const t of targets) byType.set(t.ref_type, [...(byType.get(t.ref_type) ?? []), t.ref_id]);
    // The compartment selects the matches only; what they reference is included wherever it lives.
    for (const [type, ids] of byType) {
      const vis = this.visible('r', [type]);
      for (let i = 0; i < ids.length; i += 500) {
        const chunk = ids.slice(i, i + 500);
        out.push(...this.fetch({ text: `r.type = ? AND r.id IN (${chunk.map(() => '?').join(',')}) AND ${vis.text}`, params: [type, ...chunk, ...vis.params] }, MAX_INCLUDES + 1));
      }
    }
    return out;
  }

  /** _revinclude: spec.sourceType resources that reference any `frontier` row. */
  private reverse(spec: IncludeSpec, frontier: Row[]): Row[] {
    const pids = this.pidList([spec.sourceType], spec.param);
    if (pids.length === 0) return [];
    const out: Row[] = [];
    const byType = new Map<string, string[]>();
    for (const r of frontier) byType.set(r.type, [...(byType.get(r.type) ?? []), r.id]);
    const vis = this.visible('r', [spec.sourceType]);
    for (const [type, ids] of byType) {
      for (let i = 0; i < ids.length; i += 500) {
        const chunk = ids.slice(i, i + 500);
        out.push(...this.fetch({
          text: `r.type = ? AND r.rid IN (SELECT rid FROM sp_reference WHERE ref_id IN (${chunk.map(() => '?').join(',')}) AND ref_type = ? AND pid IN (${pids.map(() => '?').join(',')})) AND ${vis.text}`,
          params: [spec.sourceType, ...chunk, type, ...pids, ...vis.params],
        }, MAX_INCLUDES + 1));
      }
    }
    return out;
  }
}

let aliasCounter = 0;

type Mode = 'list' | 'probe';

/** How many rows a filter is likely to match, relatively (lower = fewer): picks the driver of an AND. */
function rank(e: Expr): number {
  if ('and' in e) return e.and.length ? Math.min(...e.and.map(rank)) : 100;
  if ('or' in e) return e.or.length ? Math.max(...e.or.map(rank)) : 0;
  if ('not' in e) return 90;
  const c = e.cond;
  switch (c.kind) {
    case 'id': return 1;
    case 'type': return 50;
    case 'reference': return c.url !== undefined ? 4 : 2;
    case 'token': return c.code !== undefined || c.codes ? 3 : 60;
    case 'string': return c.match === 'exact' ? 4 : c.match === 'starts' ? 5 : 70;
    case 'token-text': return 6;
    case 'composite': return 5;
    case 'uri': return c.match === 'eq' ? 4 : 20;
    case 'chain': return 10;
    case 'has': return 12;
    case 'date': case 'number': case 'quantity': return c.prefix === 'eq' ? 15 : 30;
    case 'lastUpdated': return 40;
    case 'missing': return 80;
  }
}

/**
 * Prefix semantics over a target range [lo, hi] and a search range [start, end] (R4
 * search.html#prefix): eq = target within search; gt/lt = target extends above/below it;
 * ge/le = that, or within; sa/eb = entirely after/before; ap = overlaps a range widened by
 * 10% of the distance from now.
 */
function rangeCompare(prefix: Prefix, lo: string, hi: string, start: number, end: number, now: number): Sql {
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
function numberCompare(prefix: Prefix, lo: string, hi: string, value: number, low: number, high: number): Sql {
  switch (prefix) {
    case 'eq': return { text: `(${lo} >= ? AND ${hi} < ?)`, params: [low, high] };
    case 'ne': return { text: `NOT (${lo} >= ? AND ${hi} < ?)`, params: [low, high] };
    case 'gt': case 'sa': return { text: `${hi} > ?`, params: [value] };
    case 'lt': case 'eb': return { text: `${lo} < ?`, params: [value] };
    case 'ge': return { text: `${hi} >= ?`, params: [value] };
    case 'le': return { text: `${lo} <= ?`, params: [value] };
    case 'ap': {
      const d = Math.abs(value) * 0.1;
      return { text: `(${lo} <= ? AND ${hi} >= ?)`, params: [value + d, value - d] };
    }
  }
}

function compositePart(p: CompositeMatch, i: number): Sql {
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
      const unit = p.code ? { text: ` AND ${c}code = ?`, params: [p.code] } : { text: '', params: [] };
      return { text: cmp.text + unit.text, params: [...cmp.params, ...unit.params] };
    }
  }
}

/** Keyset condition: rows strictly after (or before) the boundary in the sort order. */
function keysetCondition(keys: { expr: string; desc: boolean }[], values: Param[], backwards: boolean): Sql {
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
