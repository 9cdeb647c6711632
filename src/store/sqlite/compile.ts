// Search IR → SQL conditions over the typed index tables, for one query (a compiler is made per
// search: it holds that search's access policy and subquery aliases, nothing shared).
// Every Condition kind of search/ir.ts has its case in `condition`: the switch returns in each,
// so a kind added to the IR without SQL here fails the type-check.
import { bySystem, type AccessConstraint, type CompartmentConstraint, type Condition, type Expr } from '../../search/ir.js';
import type { PidRegistry } from './index-writer.js';
import { prefixEnd, uriPrefixes } from '../text-range.js';
import { visibility } from '../visibility.js';
import { rank } from './plan.js';
import { unreachable } from '../../search/param-types.js';
import { compositePart, FALSE, ISO, joinSql, numberCompare, rangeCompare, TRUE, type Mode, type Param, type Sql } from './sql.js';

/** The index table and condition a leaf would probe (the planner counts its rows). */
export interface IndexLeaf {
  table: string;
  where: Sql;
}

export class SqlCompiler {
  /** Subquery aliases of this query (t0, s1…). */
  private alias = 0;
  /** Set while `leafOf` runs: `indexed` records the table and condition instead. */
  private capture = false;
  private captured: IndexLeaf | undefined;
  private readonly now = Date.now();
  /** Above 0 while compiling conditions on a contained resource (no lastUpdated, never referenced). */
  private inContained = 0;

  /** `access`: the caller's access policy (undefined: unrestricted). */
  constructor(private readonly pids: PidRegistry, private access: AccessConstraint | undefined) {}

  pidList(types: readonly string[], code: string): number[] {
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
    if (mode === 'list') {
      const rows: Sql = { text: `SELECT rid FROM ${table} WHERE ${pid.text} AND ${cond.text}`, params: [...pid.params, ...cond.params] };
      return { text: `${alias}.rid IN (${rows.text})`, params: rows.params, rows };
    }
    return { text: `EXISTS (SELECT 1 FROM ${table} WHERE rid = ${alias}.rid AND ${pid.text} AND ${cond.text})`, params: [...pid.params, ...cond.params] };
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
      return joinSql(parts, ' AND ');
    }
    if ('or' in expr) {
      if (expr.or.length === 0) return FALSE;
      const parts = expr.or.map((e) => this.compile(e, alias, types, mode));
      // Lists OR-ed together are one list (`code=a,b,c`): SQLite would otherwise scan every
      // resource of the type and probe each list, where the union reads only the index.
      const lists = parts.map((x) => x.rows);
      if (parts.length > 1 && lists.every((x): x is Sql => x !== undefined)) {
        const rows: Sql = { text: lists.map((x) => x.text).join(' UNION ALL '), params: lists.flatMap((x) => x.params) };
        return { text: `${alias}.rid IN (${rows.text})`, params: rows.params, rows };
      }
      return joinSql(parts, ' OR ');
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
          // One IN list per system: a value-set expansion may hold thousands of codes.
          const ors = [...bySystem(c.codes)].map(([system, codes]): Sql => {
            const list = `code IN (${codes.map(() => '?').join(',')})`;
            return system === null ? { text: `(${list})`, params: codes } : { text: `(system = ? AND ${list})`, params: [system, ...codes] };
          });
          return this.indexed(a, 'sp_token', types, param, joinSql(ors, ' OR '), mode);
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
        return this.indexed(a, 'sp_date', types, c.param, rangeCompare(c.prefix, 'start', 'end', c.start, c.end, this.now), mode);
      case 'lastUpdated': {
        if (this.inContained) return FALSE; // a contained resource has no lastUpdated of its own
        const r = rangeCompare(c.prefix, `${a}.last_updated`, `${a}.last_updated`, c.start, c.end, this.now);
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
        const t = `t${this.alias++}`;
        const branches = c.targetTypes.map((target) => {
          const inner = this.compile(c.where, t, [target]);
          const vis = this.visible(t, [target]);
          return {
            text: `(ref_type = ? AND ref_id IN (SELECT ${t}.id FROM resource ${t} WHERE ${t}.type = ? AND ${t}.deleted = 0 AND ${inner.text} AND ${vis.text}))`,
            params: [target, target, ...inner.params, ...vis.params],
          };
        });
        const match = `${pid.text} AND (${branches.map((b) => b.text).join(' OR ')})`;
        const stored: Sql = {
          text: mode === 'list'
            ? `${a}.rid IN (SELECT rid FROM sp_reference WHERE ${match})`
            : `EXISTS (SELECT 1 FROM sp_reference WHERE rid = ${a}.rid AND ${match})`,
          params: [...pid.params, ...branches.flatMap((b) => b.params)],
        };
        const contained = c.targetTypes.map((target) => this.containedChain(a, pid, target, c.where, mode));
        return { text: `(${[stored, ...contained].map((x) => x.text).join(' OR ')})`, params: [stored, ...contained].flatMap((x) => x.params) };
      }
      case 'has': {
        if (this.inContained) return FALSE; // nothing outside its container can refer to it
        const pid = this.inPids([c.sourceType], c.param);
        if (!pid) return FALSE;
        const s = `s${this.alias++}`;
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
      default: return unreachable(c);
    }
  }

  /**
   * The chain's branch through contained resources (R4 search.html#contained: searched in the
   * context of their container): a contained `target` of this very row, matching `where`, that
   * the row's reference parameter (`pid`) points at as `#id`. Its visibility is the container's.
   */
  private containedChain(a: string, pid: Sql, target: string, where: Expr, mode: Mode): Sql {
    const k = `k${this.alias++}`;
    this.inContained++;
    let inner: Sql;
    try {
      inner = this.compile(where, k, [target], mode);
    } finally {
      this.inContained--;
    }
    const refers = `EXISTS (SELECT 1 FROM sp_reference q WHERE q.rid = ${k}.container AND q.${pid.text} AND q.url = '#' || ${k}.id)`;
    const cond = `${k}.type = ? AND ${inner.text} AND ${refers}`;
    return {
      text: mode === 'list'
        ? `${a}.rid IN (SELECT ${k}.container FROM sp_contained ${k} WHERE ${cond})`
        : `EXISTS (SELECT 1 FROM sp_contained ${k} WHERE ${k}.container = ${a}.rid AND ${cond})`,
      params: [target, ...inner.params, ...pid.params],
    };
  }

  /** Restricts rows of `types` to one compartment (compartment search, patient-scoped access). */
  compartmentSql(c: CompartmentConstraint, a: string, types: readonly string[]): Sql {
    const branches: Sql[] = [];
    const pids: number[] = [];
    for (const t of new Set(types)) {
      if (t === c.type) {
        branches.push({ text: `(${a}.type = ? AND ${a}.id = ?)`, params: [t, c.id] });
        continue;
      }
      for (const p of c.params[t] ?? []) pids.push(...this.pidList([t], p));
    }
    // One list for every member type (a pid belongs to one type): a single index range on
    // (ref_id, ref_type), where one subquery per type made SQLite scan by rowid after a cursor.
    if (pids.length) {
      branches.push({
        text: `${a}.rid IN (SELECT rid FROM sp_reference WHERE ref_id = ? AND ref_type = ? AND pid IN (${pids.map(() => '?').join(',')}))`,
        params: [c.id, c.type, ...pids],
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
  visible(a: string, types: readonly string[]): Sql {
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

  /** The index table and condition of a leaf condition; undefined when it probes no index table. */
  leafOf(c: Condition, types: readonly string[]): IndexLeaf | undefined {
    this.capture = true;
    this.captured = undefined;
    try {
      this.condition(c, 'r', types, 'list');
    } finally {
      this.capture = false;
    }
    return this.captured;
  }
}
