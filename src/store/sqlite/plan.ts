// The query plan: which condition of a search drives (is materialised as a list of rows) and
// which are probed per candidate row, from static ranks and counts on the index itself.
import type { Expr } from '../../search/ir.js';
import type { IndexLeaf, SqlCompiler } from './compile.js';
import { TRUE, type Sql } from './sql.js';

/** A condition matching at least this many index rows is not selective enough to drive. */
export const SELECTIVE_CAP = 2_000;

/** What planning needs besides the compiler: counting a leaf's index rows (up to a cap). */
export interface Planner {
  compiler: SqlCompiler;
  countLeaf(leaf: IndexLeaf, cap: number): number;
  /** Called between index counts (the search's time budget). */
  step(): void;
}

/**
 * How many rows a filter matches, counted up to SELECTIVE_CAP on the index alone (cheap:
 * an index range scan that stops at the cap). Used to choose which condition drives.
 */
function estimate(p: Planner, expr: Expr, types: readonly string[]): number {
  if ('and' in expr) return expr.and.reduce((n, e) => Math.min(n, estimate(p, e, types)), SELECTIVE_CAP);
  if ('or' in expr) return Math.min(SELECTIVE_CAP, expr.or.reduce((n, e) => n + estimate(p, e, types), 0));
  if ('not' in expr) return SELECTIVE_CAP;
  const c = expr.cond;
  switch (c.kind) {
    case 'id': return c.ids.length;
    case 'chain': return Math.min(SELECTIVE_CAP, estimate(p, c.where, c.targetTypes) * 10);
    case 'has': return estimate(p, c.where, [c.sourceType]);
    case 'type': case 'lastUpdated': case 'missing': return SELECTIVE_CAP;
    default: break;
  }
  const leaf = p.compiler.leafOf(c, types);
  if (!leaf) return 0; // no such parameter indexed: matches nothing
  p.step();
  return p.countLeaf(leaf, SELECTIVE_CAP);
}

/**
 * Compiles the top-level filter. The driving condition (materialised as a list of rows) is
 * the one the index says is most selective; when none is selective, every condition is
 * probed while resources are scanned in order, so that a page fills and LIMIT stops early.
 */
export function compileTop(p: Planner, where: Expr, types: readonly string[]): Sql {
  const children = 'and' in where ? where.and : [where];
  if (children.length === 0) return TRUE;
  const estimates = children.map((e) => (rank(e) < 50 ? estimate(p, e, types) : SELECTIVE_CAP));
  let best = 0;
  estimates.forEach((n, i) => { if (n < (estimates[best] ?? SELECTIVE_CAP)) best = i; });
  const selective = (estimates[best] ?? SELECTIVE_CAP) < SELECTIVE_CAP;
  if ('and' in where) return selective ? p.compiler.compile(where, 'r', types, 'list', best) : p.compiler.compile(where, 'r', types, 'probe');
  return p.compiler.compile(where, 'r', types, selective ? 'list' : 'probe');
}

/** How many rows a filter is likely to match, relatively (lower = fewer): picks the driver of an AND. */
export function rank(e: Expr): number {
  if ('and' in e) return e.and.reduce((n, x) => Math.min(n, rank(x)), 100);
  if ('or' in e) return e.or.reduce((n, x) => Math.max(n, rank(x)), 0);
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
