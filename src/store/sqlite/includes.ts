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
  /** The targets `sources` reference through `pids` (DISTINCT pid, ref_type, ref_id). */
  targets(sources: number[], pids: number[]): { pid: number; ref_type: string; ref_id: string }[];
  /** Called before each statement (the search's time budget). */
  step(): void;
}

export function includes(x: IncludeContext, q: SearchQuery, matches: Row[]): { included: VersionRecord[]; truncated: boolean } {
  const rounds = new IncludeRounds(q, matches, (r) => r.rid);
  for (let specs = rounds.next(); specs; specs = rounds.next()) {
    const found: Row[] = [];
    if (specs.include.length) forward(x, specs.include, rounds.frontier, found);
    for (const spec of specs.revinclude) reverse(x, spec, rounds.frontier, found);
    rounds.take(found);
  }
  return { included: rounds.included.map(toRecord), truncated: rounds.truncated };
}

/** Appends without spreading (a round may find many thousands of rows). */
function append(out: Row[], rows: Row[]): void {
  for (const r of rows) out.push(r);
}

/**
 * _include, every spec of a round at once: one reference scan per chunk of frontier rows
 * (a pid belongs to one resource type, so the specs' pids never cross), then one fetch per
 * target type. `$everything` asks for every reference parameter of some 60 types: one scan
 * instead of one per parameter.
 */
function forward(x: IncludeContext, specs: IncludeSpec[], frontier: Row[], out: Row[]): void {
  // pid → the target types asked for (null: any type).
  const wanted = new Map<number, Set<string> | null>();
  const sourceTypes = new Set<string>();
  for (const spec of specs) {
    for (const pid of x.compiler.pidList([spec.sourceType], spec.param)) {
      sourceTypes.add(spec.sourceType);
      const cur = wanted.get(pid);
      if (cur === null) continue;
      if (spec.targetType === undefined) wanted.set(pid, null);
      else if (cur) cur.add(spec.targetType);
      else wanted.set(pid, new Set([spec.targetType]));
    }
  }
  const sources = frontier.filter((r) => sourceTypes.has(r.type)).map((r) => r.rid);
  if (sources.length === 0) return;
  const pids = [...wanted.keys()];
  // pid → target type → ids, in the order the index gives them.
  const found = new Map<number, Map<string, Set<string>>>();
  for (let i = 0; i < sources.length; i += CHUNK) {
    x.step();
    for (const t of x.targets(sources.slice(i, i + CHUNK), pids)) {
      const types = wanted.get(t.pid);
      if (types === undefined || (types !== null && !types.has(t.ref_type))) continue;
      const byType = found.get(t.pid) ?? new Map<string, Set<string>>();
      found.set(t.pid, byType);
      const ids = byType.get(t.ref_type) ?? new Set<string>();
      ids.add(t.ref_id);
      byType.set(t.ref_type, ids);
    }
  }
  // Fetched spec by spec, so that included resources come in the order the specs were given.
  const fetched = new Set<string>();
  for (const spec of specs) {
    const todo = new Map<string, string[]>();
    for (const pid of x.compiler.pidList([spec.sourceType], spec.param)) {
      for (const [type, ids] of found.get(pid) ?? []) {
        if (spec.targetType !== undefined && type !== spec.targetType) continue;
        for (const id of ids) {
          if (fetched.has(`${type}/${id}`)) continue;
          fetched.add(`${type}/${id}`);
          const list = todo.get(type) ?? [];
          list.push(id);
          todo.set(type, list);
        }
      }
    }
    // The compartment selects the matches only; what they reference is included wherever it lives.
    for (const [type, ids] of todo) {
      const vis = x.compiler.visible('r', [type]);
      for (let i = 0; i < ids.length; i += CHUNK) {
        x.step();
        const chunk = ids.slice(i, i + CHUNK);
        append(out, x.fetch({ text: `r.type = ? AND r.id IN (${chunk.map(() => '?').join(',')}) AND ${vis.text}`, params: [type, ...chunk, ...vis.params] }, MAX_INCLUDES + 1));
      }
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
