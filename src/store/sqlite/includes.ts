// _include and _revinclude on SQLite (R4 search.html#include): the rounds (store/includes.ts)
// fetch what a page's matches reference, or what references them, in chunks of ids.
import { MAX_INCLUDES, type IncludeSpec, type SearchQuery } from '../../search/ir.js';
import type { VersionRecord } from '../port.js';
import { IncludeRounds } from '../includes.js';
import type { SqlCompiler } from './compile.js';
import { toRecord, type Row, type Sql } from './sql.js';

/** Ids per statement: well under SQLite's limit on bound parameters. */
const CHUNK = 500;

/** What the includes of one search run with. */
export interface IncludeContext {
  compiler: SqlCompiler;
  /** Live current versions matching `where`, at most `limit`. */
  fetch(where: Sql, limit: number): Row[];
  /** The targets `sources` reference through `pids` (DISTINCT ref_type, ref_id). */
  targets(sources: number[], pids: number[], targetType: string | undefined): { ref_type: string; ref_id: string }[];
  /** Called before each statement (the search's time budget). */
  step(): void;
}

export function includes(x: IncludeContext, q: SearchQuery, matches: Row[]): { included: VersionRecord[]; truncated: boolean } {
  const rounds = new IncludeRounds(q, matches, (r) => r.rid);
  for (let specs = rounds.next(); specs; specs = rounds.next()) {
    const found: Row[] = [];
    for (const spec of specs.include) forward(x, spec, rounds.frontier, found);
    for (const spec of specs.revinclude) reverse(x, spec, rounds.frontier, found);
    rounds.take(found);
  }
  return { included: rounds.included.map(toRecord), truncated: rounds.truncated };
}

/** Appends without spreading (a round may find many thousands of rows). */
function append(out: Row[], rows: Row[]): void {
  for (const r of rows) out.push(r);
}

/** _include: the resources that `frontier` rows of spec.sourceType reference. */
function forward(x: IncludeContext, spec: IncludeSpec, frontier: Row[], out: Row[]): void {
  const sources = frontier.filter((r) => r.type === spec.sourceType).map((r) => r.rid);
  if (sources.length === 0) return;
  const pids = x.compiler.pidList([spec.sourceType], spec.param);
  if (pids.length === 0) return;
  const byType = new Map<string, string[]>();
  for (let i = 0; i < sources.length; i += CHUNK) {
    x.step();
    for (const t of x.targets(sources.slice(i, i + CHUNK), pids, spec.targetType)) {
      const list = byType.get(t.ref_type) ?? [];
      list.push(t.ref_id);
      byType.set(t.ref_type, list);
    }
  }
  // The compartment selects the matches only; what they reference is included wherever it lives.
  for (const [type, all] of byType) {
    const ids = [...new Set(all)];
    const vis = x.compiler.visible('r', [type]);
    for (let i = 0; i < ids.length; i += CHUNK) {
      x.step();
      const chunk = ids.slice(i, i + CHUNK);
      append(out, x.fetch({ text: `r.type = ? AND r.id IN (${chunk.map(() => '?').join(',')}) AND ${vis.text}`, params: [type, ...chunk, ...vis.params] }, MAX_INCLUDES + 1));
    }
  }
}

/** _revinclude: spec.sourceType resources that reference any `frontier` row. */
function reverse(x: IncludeContext, spec: IncludeSpec, frontier: Row[], out: Row[]): void {
  const pids = x.compiler.pidList([spec.sourceType], spec.param);
  if (pids.length === 0) return;
  const byType = new Map<string, string[]>();
  for (const r of frontier) {
    const list = byType.get(r.type) ?? [];
    list.push(r.id);
    byType.set(r.type, list);
  }
  const vis = x.compiler.visible('r', [spec.sourceType]);
  for (const [type, ids] of byType) {
    for (let i = 0; i < ids.length; i += CHUNK) {
      x.step();
      const chunk = ids.slice(i, i + CHUNK);
      append(out, x.fetch({
        text: `r.type = ? AND r.rid IN (SELECT rid FROM sp_reference WHERE ref_id IN (${chunk.map(() => '?').join(',')}) AND ref_type = ? AND pid IN (${pids.map(() => '?').join(',')})) AND ${vis.text}`,
        params: [spec.sourceType, ...chunk, type, ...pids, ...vis.params],
      }, MAX_INCLUDES + 1));
    }
  }
}
