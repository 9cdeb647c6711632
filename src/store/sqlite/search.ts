// Runs a search on SQLite: compile (compile.ts) with a plan (plan.ts), keyset paging
// (paging.ts), totals and includes (includes.ts). Everything one search needs lives in a
// per-search context; this class keeps only the prepared statements of its connection.
import type Database from 'better-sqlite3';
import type { AccessConstraint, SearchQuery } from '../../search/ir.js';
import type { SearchPage } from '../port.js';
import type { PidRegistry } from './index-writer.js';
import { Budget } from '../budget.js';
import { pageLinks } from '../paging.js';
import { SqlCompiler, type IndexLeaf } from './compile.js';
import { compileTop, type Planner } from './plan.js';
import { decodeCursor, encodeCursor, keysetCondition, keyToParam, paramToKey, sortColumns, type SortColumn } from './paging.js';
import { includes, type IncludeContext } from './includes.js';
import { toRecord, TRUE, type Param, type Row, type Sql } from './sql.js';

/** `_total=estimate` counts at most this many matches; beyond, no total is given. */
const ESTIMATE_CAP = 1_000;
/** Rows read between two looks at the time budget. */
const ROWS_PER_CHECK = 64;

/** One search under way: its compiler (access policy, aliases) and its time budget. */
interface SearchRun extends Planner, IncludeContext {
  budget: Budget;
}

export class SqliteSearch {
  /** Prepared statements by SQL text: a search shape is compiled by SQLite once. */
  private readonly statements = new Map<string, Database.Statement>();

  /** `timeoutMs`: the time budget of one search (SEARCH_TIMEOUT_MS); none when undefined. */
  constructor(private readonly db: Database.Database, private readonly pids: PidRegistry, private readonly timeoutMs?: number) {}

  private prepare(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      if (this.statements.size >= 500) this.statements.delete(this.statements.keys().next().value as string);
      this.statements.set(sql, st);
    }
    return st;
  }

  /**
   * The access filter for history: `EXISTS` over the current row of each version's resource
   * (`version` is the history table's name in the query).
   */
  historyFilter(access: AccessConstraint, type: string | undefined): Sql {
    const types = type ? [type] : [...new Set([...Object.keys(access.types), ...(access.otherTypes ? this.pids.types() : [])])];
    const vis = new SqlCompiler(this.pids, access).visible('h', types);
    return { text: `EXISTS (SELECT 1 FROM resource h WHERE h.type = version.type AND h.id = version.id AND h.deleted = 0 AND ${vis.text})`, params: vis.params };
  }

  private start(q: SearchQuery, timeoutMs: number | undefined): SearchRun {
    const budget = new Budget(timeoutMs);
    return {
      budget,
      compiler: new SqlCompiler(this.pids, q.access),
      step: () => budget.check(),
      countLeaf: (leaf: IndexLeaf, cap: number) => (this.prepare(`SELECT count(*) AS n FROM (SELECT 1 FROM ${leaf.table} WHERE ${leaf.where.text} LIMIT ${cap})`)
        .get(...leaf.where.params) as { n: number }).n,
      fetch: (where: Sql, limit: number) => this.prepare(`SELECT r.rid, r.type, r.id, v.seq, v.version, v.last_updated, v.method, v.deleted, v.json
        FROM resource r JOIN version v ON v.seq = r.seq WHERE r.deleted = 0 AND ${where.text} LIMIT ?`).all(...where.params, limit) as Row[],
      // `+pid`: probe the (rid, pid) index by rid alone and filter the pids; with many pids
      // (every reference parameter of $everything) a probe per (rid, pid) pair costs far more.
      targets: (sources: number[], pids: number[]) => this.prepare(`SELECT DISTINCT pid, ref_type, ref_id FROM sp_reference
        WHERE rid IN (${sources.map(() => '?').join(',')}) AND ${pids.length > 8 ? '+' : ''}pid IN (${pids.map(() => '?').join(',')}) AND ref_type IS NOT NULL`)
        .all(...sources, ...pids) as { pid: number; ref_type: string; ref_id: string }[],
    };
  }

  /** Reads a statement's rows, looking at the time budget as they come (SQLite cannot stop a statement). */
  private rows(run: SearchRun, st: Database.Statement, params: Param[]): Row[] {
    const out: Row[] = [];
    for (const row of st.iterate(...params) as IterableIterator<Row>) {
      out.push(row);
      if (out.length % ROWS_PER_CHECK === 0) run.budget.check();
    }
    run.budget.check();
    return out;
  }

  /** `timeoutMs`: what is left of the search's budget (a reader thread's share of it). */
  run(q: SearchQuery, timeoutMs = q.budgetMs ?? this.timeoutMs): SearchPage {
    const types = q.types;
    if (types.length === 0) return { records: [], included: [] };
    const run = this.start(q, timeoutMs);
    const { compiler } = run;
    const where = compileTop(run, q.where, types);
    const compartment = q.compartment ? compiler.compartmentSql(q.compartment, 'r', types) : TRUE;
    const vis = compiler.visible('r', types);
    const comp: Sql = { text: `${compartment.text} AND ${vis.text}`, params: [...compartment.params, ...vis.params] };
    const typeSql: Sql = { text: `r.type IN (${types.map(() => '?').join(',')})`, params: [...types] };
    const { joins, keys } = sortColumns(compiler, q.sort, types);
    const base: Sql = {
      text: `FROM resource r ${joins.text} WHERE ${typeSql.text} AND r.deleted = 0 AND ${where.text} AND ${comp.text}`,
      params: [...joins.params, ...typeSql.params, ...where.params, ...comp.params],
    };

    let total: number | undefined;
    if (q.total === 'accurate' || q.count === 0) {
      run.budget.check();
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
    const direction = (k: SortColumn): string => (k.desc !== backwards ? 'DESC' : 'ASC');
    const order = allKeys.map((k) => `${k.expr} ${direction(k)}`).join(', ');
    // The page is chosen and ordered on the keys alone, and the JSON joined to that page only:
    // sorting rows that carry their JSON copies every byte of it through SQLite's sorter.
    const outer = [...keys.map((k, i) => `m.k${i} ${direction(k)}`), `m.rid ${backwards ? 'DESC' : 'ASC'}`].join(', ');
    const sql = `SELECT m.rid, m.type, m.id, v.seq, v.version, v.last_updated, v.method, v.deleted, v.json, ${keys.map((_, i) => `m.k${i}`).concat(['0 AS _z']).join(', ')}
      FROM (SELECT r.rid, r.type, r.id, r.seq, ${keys.map((k, i) => `${k.expr} AS k${i}`).concat(['0 AS _z']).join(', ')}
        ${base.text} AND ${keyset.text} ORDER BY ${order} LIMIT ?) m
      JOIN version v ON v.seq = m.seq ORDER BY ${outer}`;
    run.budget.check();
    let rows = this.rows(run, this.prepare(sql), [...base.params, ...keyset.params, q.count + 1]);
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
      const n = (this.prepare(`SELECT count(*) AS n FROM (SELECT 1 ${base.text} LIMIT ${ESTIMATE_CAP})`).get(...base.params) as { n: number }).n;
      if (n < ESTIMATE_CAP) total = n;
      run.budget.check();
    }
    const records = rows.map(toRecord);
    const { included, truncated } = includes(run, q, rows);
    return {
      records, included,
      ...links,
      ...(total !== undefined ? { total } : {}),
      ...(truncated ? { includesTruncated: true } : {}),
    };
  }
}
