// Search IR → MongoDB filters over the embedded index (layout.ts). The semantics mirror the
// SQLite adapter's SQL condition for condition; test/store/mongo-differential.test.ts checks
// that both answer every query alike.
import { bySystem, type AccessConstraint, type CompartmentConstraint, type CompositeMatch, type Condition, type Expr, type Prefix } from '../../search/ir.js';
import { StoreError } from '../port.js';
import { prefixEnd, uriPrefixes } from '../text-range.js';
import { visibility } from '../visibility.js';
import type { Filter } from './db.js';
import { KIND_OF_TABLE } from './layout.js';
import { unreachable } from '../../search/param-types.js';

export const TRUE: Filter = {};
export const FALSE: Filter = { _id: { $in: [] } };

/** A chain or _has whose inner search matches more resources than this is refused (README: limits). */
export const MAX_INNER = 10_000;

const ISO = (ms: number): string => new Date(ms).toISOString();

/** Runs the inner searches of chains and _has (the compiler itself never touches the database). */
export interface InnerSearch {
  /** Ids of live `type` resources matching `filter` (at most `limit`). */
  ids(type: string, filter: Filter, limit: number): Promise<string[]>;
  /** The references through `param` held by live `type` resources matching `filter` (at most `limit` resources). */
  references(type: string, filter: Filter, param: string, limit: number): Promise<{ t: string | null; i: string | null }[]>;
}

export const and = (parts: Filter[]): Filter => {
  const kept = parts.filter((p) => Object.keys(p).length > 0);
  if (kept.length === 0) return TRUE;
  if (kept.length === 1) return kept[0] ?? TRUE;
  return { $and: kept };
};
const or = (parts: Filter[]): Filter => (parts.length === 0 ? FALSE : parts.length === 1 ? (parts[0] ?? FALSE) : { $or: parts });
const elem = (kind: string, match: Filter): Filter => ({ [`x.${kind}`]: { $elemMatch: match } });

/**
 * Prefix semantics over a target range [lo, hi] and a search range [start, end] (R4
 * search.html#prefix), as the SQLite adapter's rangeCompare.
 */
export function rangeCompare(prefix: Prefix, lo: string, hi: string, start: number | string, end: number | string, widen?: { start: number | string; end: number | string }): Filter {
  // With one field for both ends (lastUpdated), the two bounds must share one operator object.
  const merge = (a: Filter, b: Filter): Filter => (lo === hi ? { [lo]: { ...(a[lo] as object), ...(b[lo] as object) } } : { ...a, ...b });
  const within = merge({ [lo]: { $gte: start } }, { [hi]: { $lte: end } });
  switch (prefix) {
    case 'eq': return within;
    case 'ne': return { $nor: [within] };
    case 'gt': return { [hi]: { $gt: end } };
    case 'lt': return { [lo]: { $lt: start } };
    case 'ge': return { $or: [{ [hi]: { $gt: end } }, within] };
    case 'le': return { $or: [{ [lo]: { $lt: start } }, within] };
    case 'sa': return { [lo]: { $gt: end } };
    case 'eb': return { [hi]: { $lt: start } };
    case 'ap': {
      const w = widen ?? { start, end };
      return merge({ [lo]: { $lte: w.end } }, { [hi]: { $gte: w.start } });
    }
  }
}

/** Numbers: eq/ne use the precision range of the search value; the others its exact value. */
export function numberCompare(prefix: Prefix, lo: string, hi: string, value: number, low: number, high: number): Filter {
  const merge = (a: Filter, b: Filter): Filter => (lo === hi ? { [lo]: { ...(a[lo] as object), ...(b[lo] as object) } } : { ...a, ...b });
  switch (prefix) {
    case 'eq': return merge({ [lo]: { $gte: low } }, { [hi]: { $lt: high } });
    case 'ne': return { $nor: [merge({ [lo]: { $gte: low } }, { [hi]: { $lt: high } })] };
    case 'gt': case 'sa': return { [hi]: { $gt: value } };
    case 'lt': case 'eb': return { [lo]: { $lt: value } };
    case 'ge': return { [hi]: { $gte: value } };
    case 'le': return { [lo]: { $lte: value } };
    case 'ap': {
      // R4 search.html#prefix: within 10% of the value, and never less than eq finds.
      const d = Math.abs(value) * 0.1;
      return merge({ [lo]: { $lte: Math.max(value + d, high) } }, { [hi]: { $gte: Math.min(value - d, low) } });
    }
  }
}

function apWiden(start: number, end: number, now: number): { start: number; end: number } {
  const widen = Math.max(Math.abs(now - start) * 0.1, end - start);
  return { start: start - widen, end: end + widen };
}

function compositePart(p: CompositeMatch, i: number): Filter {
  switch (p.kind) {
    case 'token':
      if (p.system === undefined) return { [`c${i}`]: p.code };
      return { [`c${i}`]: p.code, [`s${i}`]: p.system };
    case 'string': return { [`x${i}`]: { $gte: p.value, $lt: prefixEnd(p.value) } };
    case 'reference': return p.type ? { [`c${i}`]: p.id, [`s${i}`]: p.type } : { [`c${i}`]: p.id };
    case 'range': {
      const cmp = numberCompare(p.prefix, `l${i}`, `h${i}`, p.value, p.low, p.high);
      // R4 search.html#quantity: number|system|code compares the unit's system too.
      const unit: Filter = { ...(p.code ? { [`c${i}`]: p.code } : {}), ...(p.system ? { [`s${i}`]: p.system } : {}) };
      return Object.keys(unit).length ? and([cmp, unit]) : cmp;
    }
  }
}

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Compiles the filter parts of one search. `registered` holds the `Type\0code` pairs the
 * indexer emits: a parameter unknown for every searched type matches nothing, as in SQLite.
 */
export class Compiler {
  /** Above 0 while compiling conditions on a contained resource (no lastUpdated, never referenced). */
  private inContained = 0;

  constructor(
    private readonly registered: ReadonlySet<string>,
    private readonly inner: InnerSearch,
    private access: AccessConstraint | undefined,
    private readonly now = Date.now(),
  ) {}

  private known(types: readonly string[], code: string): boolean {
    return types.some((t) => this.registered.has(`${t}\u0000${code}`));
  }

  /** An index condition on `kind`, or FALSE when the parameter exists for none of the types. */
  private indexed(kind: string, types: readonly string[], code: string, match: Filter): Filter {
    if (!this.known(types, code)) return FALSE;
    return elem(kind, { p: code, ...match });
  }

  async expr(e: Expr, types: readonly string[]): Promise<Filter> {
    if ('and' in e) return and(await this.each(e.and, types));
    if ('or' in e) return or(await this.each(e.or, types));
    if ('not' in e) return { $nor: [await this.expr(e.not, types)] };
    return this.condition(e.cond, types);
  }

  /**
   * One after the other, not in parallel: chains and _has query the database, and inside a
   * transaction a session must not run operations concurrently.
   */
  private async each(list: Expr[], types: readonly string[]): Promise<Filter[]> {
    const out: Filter[] = [];
    for (const x of list) out.push(await this.expr(x, types));
    return out;
  }

  private async condition(c: Condition, types: readonly string[]): Promise<Filter> {
    switch (c.kind) {
      case 'token': {
        const param = c.variant ? `${c.param}:${c.variant}` : c.param;
        if (c.codes) {
          if (c.codes.length === 0) return FALSE;
          // One $in per system: a value-set expansion may hold thousands of codes.
          return this.indexed('tk', types, param, { $or: [...bySystem(c.codes)].map(([s, codes]) => (s === null ? { c: { $in: codes } } : { s, c: { $in: codes } })) });
        }
        const m: Filter = {};
        if (c.code !== undefined) m.c = c.code;
        if (c.system !== undefined) m.s = c.system;
        return this.indexed('tk', types, param, m);
      }
      case 'token-text':
        return this.indexed('tx', types, c.param, { t: { $gte: c.text, $lt: prefixEnd(c.text) } });
      case 'string':
        switch (c.match) {
          case 'exact': return this.indexed('st', types, c.param, { e: c.value });
          case 'contains': return this.indexed('st', types, c.param, { n: { $regex: escapeRegex(c.value) } });
          default: return this.indexed('st', types, c.param, { n: { $gte: c.value, $lt: prefixEnd(c.value) } });
        }
      case 'date':
        return this.indexed('dt', types, c.param, rangeCompare(c.prefix, 'lo', 'hi', c.start, c.end, apWiden(c.start, c.end, this.now)));
      case 'lastUpdated': {
        if (this.inContained) return FALSE; // a contained resource has no lastUpdated of its own
        const w = apWiden(c.start, c.end, this.now);
        return rangeCompare(c.prefix, 'lu', 'lu', ISO(c.start), ISO(c.end), { start: ISO(w.start), end: ISO(w.end) });
      }
      case 'number':
        return this.indexed('nm', types, c.param, numberCompare(c.prefix, 'v', 'v', c.value, c.low, c.high));
      case 'quantity': {
        const cmp = numberCompare(c.prefix, 'lo', 'hi', c.value, c.low, c.high);
        const unit: Filter = c.system && c.code ? { s: c.system, c: c.code } : c.code ? { c: c.code } : c.system ? { s: c.system } : {};
        return this.indexed('qt', types, c.param, and([cmp, unit]));
      }
      case 'reference': {
        if (c.url !== undefined) {
          // A canonical without a version matches every version of it (R4 search.html#versions).
          return this.indexed('rf', types, c.param, c.url.includes('|')
            ? { u: c.url }
            : { $or: [{ u: c.url }, { u: { $gte: `${c.url}|`, $lt: prefixEnd(`${c.url}|`) } }] });
        }
        if (c.type !== undefined) return this.indexed('rf', types, c.param, { i: c.id ?? '', t: c.type });
        const allowed = c.types ?? [];
        return this.indexed('rf', types, c.param, allowed.length ? { i: c.id ?? '', t: { $in: allowed } } : { i: c.id ?? '' });
      }
      case 'uri':
        switch (c.match) {
          case 'below': return this.indexed('ur', types, c.param, { u: { $gte: c.value, $lt: prefixEnd(c.value) } });
          case 'above': return this.indexed('ur', types, c.param, { u: { $in: uriPrefixes(c.value) } });
          default: return this.indexed('ur', types, c.param, { u: c.value });
        }
      case 'missing': {
        if (!this.known(types, c.param)) return c.missing ? TRUE : FALSE;
        const has = elem(KIND_OF_TABLE[c.table], { p: c.param });
        return c.missing ? { $nor: [has] } : has;
      }
      case 'type':
        return c.types.length ? { t: { $in: c.types } } : FALSE;
      case 'id':
        return c.ids.length ? { i: { $in: c.ids } } : FALSE;
      case 'composite':
        return this.indexed('cp', types, c.param, and(c.parts.map((p, i) => compositePart(p, i + 1))));
      case 'chain': {
        if (!this.known(types, c.param)) return FALSE;
        const branches: Filter[] = [];
        const contained: Filter[] = [];
        for (const target of c.targetTypes) {
          const filter = and([await this.expr(c.where, [target]), await this.visible([target])]);
          const ids = await this.inner.ids(target, filter, MAX_INNER + 1);
          if (ids.length > MAX_INNER) throw tooBroad('chained');
          if (ids.length) branches.push({ t: target, i: { $in: ids } });
          contained.push(await this.containedChain(c.param, target, c.where));
        }
        return or([...(branches.length ? [elem('rf', { p: c.param, $or: branches })] : []), ...contained]);
      }
      case 'has': {
        if (this.inContained) return FALSE; // nothing outside its container can refer to it
        if (!this.known([c.sourceType], c.param)) return FALSE;
        const filter = and([await this.expr(c.where, [c.sourceType]), await this.visible([c.sourceType])]);
        const refs = await this.inner.references(c.sourceType, filter, c.param, MAX_INNER + 1);
        if (refs.length > MAX_INNER) throw tooBroad('_has');
        const byType = new Map<string, Set<string>>();
        for (const r of refs) {
          if (r.t === null || r.i === null || !types.includes(r.t)) continue;
          const set = byType.get(r.t) ?? new Set<string>();
          set.add(r.i);
          byType.set(r.t, set);
        }
        return or([...byType].map(([t, ids]) => ({ t, i: { $in: [...ids] } })));
      }
      default: return unreachable(c);
    }
  }

  /**
   * The chain's branch through contained resources (R4 search.html#contained: searched in the
   * context of their container): a contained `target` of the document itself that `param`
   * refers to and that matches `where`, as in the SQLite adapter. Its visibility is the container's.
   */
  private async containedChain(param: string, target: string, where: Expr): Promise<Filter> {
    this.inContained++;
    try {
      return { 'x.cx': { $elemMatch: and([{ t: target, r: param }, await this.expr(where, [target])]) } };
    } finally {
      this.inContained--;
    }
  }

  /** Restricts rows of `types` to one compartment. */
  compartment(c: CompartmentConstraint, types: readonly string[]): Filter {
    const branches: Filter[] = [];
    for (const t of types) {
      if (t === c.type) {
        branches.push({ t, i: c.id });
        continue;
      }
      const params = (c.params[t] ?? []).filter((p) => this.registered.has(`${t}\u0000${p}`));
      if (!params.length) continue;
      branches.push({ t, 'x.rf': { $elemMatch: { i: c.id, t: c.type, p: { $in: params } } } });
    }
    return or(branches);
  }

  /**
   * What the caller's access policy lets it see of rows of `types`: applied to the matches, to
   * included resources and inside chains and _has, as in the SQLite adapter.
   */
  async visible(types: readonly string[]): Promise<Filter> {
    const access = this.access;
    if (!access) return TRUE;
    const { plain, restricted } = visibility(access, types);
    const branches: Filter[] = [];
    for (const r of restricted) {
      const parts: Filter[] = [];
      if (r.compartment) parts.push(this.compartment(r.compartment, [r.type]));
      if (r.filter) {
        this.access = undefined; // a filter is the policy itself: not filtered again
        try {
          parts.push(await this.expr(r.filter, [r.type]));
        } finally {
          this.access = access;
        }
      }
      branches.push(and([{ t: r.type }, ...parts]));
    }
    if (plain.length) branches.push({ t: { $in: plain } });
    return or(branches);
  }
}

function tooBroad(what: string): StoreError {
  return new StoreError('too-costly', `the ${what} search matches more than ${MAX_INNER} resources; narrow it down`);
}
