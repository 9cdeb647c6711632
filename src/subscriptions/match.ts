// Subscription matching in memory: a subscription's criteria (the search IR GET uses) decided
// against the index entries of the version written, with the same semantics, condition by
// condition, as the store compilers (store/sqlite/compile.ts, store/mongo/compile.ts), and the
// creator's access constraint applied as store/visibility.ts has the stores apply it. Chains and
// _has depend on other resources: they are undecided here (`undefined`) and the caller asks the
// store. test/subscriptions/match-differential.test.ts holds both to one meaning.
import type { AccessConstraint, CompartmentConstraint, CompositeMatch, Condition, Expr, Prefix } from '../search/ir.js';
import type { CompositePart, IndexEntries } from '../search/extract.js';
import { uriPrefixes } from '../store/text-range.js';
import { visibility } from '../store/visibility.js';

/** The version being matched. */
export interface Candidate {
  readonly type: string;
  /** Undefined while not yet known (a create before the store assigns the id): undecided. */
  readonly id?: string;
  /** Epoch ms of meta.lastUpdated; undefined while not yet known: undecided. */
  readonly lastUpdated?: number;
  readonly entries: IndexEntries;
}

/** true, false, or undefined: this cannot be decided without the store. */
export type Verdict = boolean | undefined;

function all(parts: Iterable<() => Verdict>): Verdict {
  let open = false;
  for (const p of parts) {
    const v = p();
    if (v === false) return false;
    if (v === undefined) open = true;
  }
  return open ? undefined : true;
}

function any(parts: Iterable<() => Verdict>): Verdict {
  let open = false;
  for (const p of parts) {
    const v = p();
    if (v === true) return true;
    if (v === undefined) open = true;
  }
  return open ? undefined : false;
}

/** R4 search.html#prefix over a target range [lo, hi] and a search range [start, end] (sql.ts rangeCompare). */
function inRange(prefix: Prefix, lo: number, hi: number, start: number, end: number, now: number): boolean {
  const within = lo >= start && hi <= end;
  switch (prefix) {
    case 'eq': return within;
    case 'ne': return !within;
    case 'gt': return hi > end;
    case 'lt': return lo < start;
    case 'ge': return hi > end || within;
    case 'le': return lo < start || within;
    case 'sa': return lo > end;
    case 'eb': return hi < start;
    case 'ap': {
      const widen = Math.max(Math.abs(now - start) * 0.1, end - start);
      return lo <= end + widen && hi >= start - widen;
    }
  }
}

/** Numbers and quantities: eq/ne by the search value's precision range, the others by its value (sql.ts numberCompare). */
function compareNumber(prefix: Prefix, lo: number, hi: number, value: number, low: number, high: number): boolean {
  const within = lo >= low && hi < high;
  switch (prefix) {
    case 'eq': return within;
    case 'ne': return !within;
    case 'gt': case 'sa': return hi > value;
    case 'lt': case 'eb': return lo < value;
    case 'ge': return hi >= value;
    case 'le': return lo <= value;
    case 'ap': {
      const d = Math.abs(value) * 0.1;
      return lo <= Math.max(value + d, high) && hi >= Math.min(value - d, low);
    }
  }
}

function compositePart(p: CompositeMatch, e: CompositePart | undefined): boolean {
  if (!e) return false;
  switch (p.kind) {
    case 'token':
      if (e.code !== p.code) return false;
      return p.system === undefined || e.sys === p.system;
    case 'string': return e.str !== null && e.str.startsWith(p.value);
    case 'reference': return e.code === p.id && (p.type === undefined || e.sys === p.type);
    case 'range':
      // A missing bound compares as SQL NULL: never true.
      if (e.lo === null || e.hi === null || !compareNumber(p.prefix, e.lo, e.hi, p.value, p.low, p.high)) return false;
      return (!p.code || e.code === p.code) && (!p.system || e.sys === p.system);
  }
}

const TABLES = {
  token: 'token', text: 'text', string: 'string', date: 'date', number: 'number', quantity: 'quantity', reference: 'reference', uri: 'uri', composite: 'composite',
} as const;

export class InMemoryMatcher {
  constructor(private readonly now: () => number = Date.now) {}

  /** Whether `r` matches `where` as seen by a caller with `access` (undefined: unrestricted). */
  matches(where: Expr, r: Candidate, access?: AccessConstraint): Verdict {
    const now = this.now();
    return all([() => this.visible(access, r, now), () => this.expr(where, r, now)]);
  }

  private visible(access: AccessConstraint | undefined, r: Candidate, now: number): Verdict {
    if (!access) return true;
    const { plain, restricted } = visibility(access, [r.type]);
    if (plain.length > 0) return true;
    const rule = restricted[0];
    if (!rule) return false;
    const c = rule.compartment;
    const f = rule.filter;
    // The filter is the policy itself: evaluated without it.
    return all([() => (c ? this.inCompartment(c, r) : true), () => (f ? this.expr(f, r, now) : true)]);
  }

  private inCompartment(c: CompartmentConstraint, r: Candidate): Verdict {
    if (r.type === c.type) return r.id === undefined ? undefined : r.id === c.id;
    const params = c.params[r.type] ?? [];
    return r.entries.reference.some((e) => e.id === c.id && e.type === c.type && params.includes(e.param));
  }

  expr(e: Expr, r: Candidate, now: number): Verdict {
    if ('and' in e) return all(e.and.map((x) => () => this.expr(x, r, now)));
    if ('or' in e) return any(e.or.map((x) => () => this.expr(x, r, now)));
    if ('not' in e) {
      const v = this.expr(e.not, r, now);
      return v === undefined ? undefined : !v;
    }
    return this.condition(e.cond, r, now);
  }

  private condition(c: Condition, r: Candidate, now: number): Verdict {
    const x = r.entries;
    switch (c.kind) {
      case 'token': {
        const param = c.variant ? `${c.param}:${c.variant}` : c.param;
        if (c.codes) {
          const codes = c.codes;
          return x.token.some((t) => t.param === param && t.code !== null && codes.some((k) => k.code === t.code && (k.system === null || k.system === t.system)));
        }
        return x.token.some((t) => t.param === param
          && (c.code === undefined || t.code === c.code)
          && (c.system === undefined || t.system === c.system));
      }
      case 'token-text': return x.text.some((t) => t.param === c.param && t.text.startsWith(c.text));
      case 'string':
        return x.string.some((s) => s.param === c.param && (c.match === 'exact' ? s.exact === c.value : c.match === 'contains' ? s.norm.includes(c.value) : s.norm.startsWith(c.value)));
      case 'date': return x.date.some((d) => d.param === c.param && inRange(c.prefix, d.start, d.end, c.start, c.end, now));
      case 'lastUpdated': return r.lastUpdated === undefined ? undefined : inRange(c.prefix, r.lastUpdated, r.lastUpdated, c.start, c.end, now);
      case 'number': return x.number.some((n) => n.param === c.param && compareNumber(c.prefix, n.value, n.value, c.value, c.low, c.high));
      case 'quantity':
        return x.quantity.some((q) => q.param === c.param && compareNumber(c.prefix, q.low, q.high, c.value, c.low, c.high)
          && (c.system && c.code ? q.system === c.system && q.code === c.code : c.code ? q.code === c.code : c.system ? q.system === c.system : true));
      case 'reference': {
        const url = c.url;
        if (url !== undefined) {
          // A canonical without a version matches every version of it (R4 search.html#versions).
          const plain = !url.includes('|');
          return x.reference.some((f) => f.param === c.param && f.url !== null && (f.url === url || (plain && f.url.startsWith(`${url}|`))));
        }
        const id = c.id ?? '';
        if (c.type !== undefined) return x.reference.some((f) => f.param === c.param && f.id === id && f.type === c.type);
        const allowed = c.types ?? [];
        return x.reference.some((f) => f.param === c.param && f.id === id && (allowed.length === 0 || (f.type !== null && allowed.includes(f.type))));
      }
      case 'uri':
        if (c.match === 'below') return x.uri.some((u) => u.param === c.param && u.uri.startsWith(c.value));
        if (c.match === 'above') {
          const prefixes = uriPrefixes(c.value);
          return x.uri.some((u) => u.param === c.param && prefixes.includes(u.uri));
        }
        return x.uri.some((u) => u.param === c.param && u.uri === c.value);
      case 'missing': {
        const list: readonly { param: string }[] = x[TABLES[c.table]];
        const present = list.some((e) => e.param === c.param);
        return c.missing ? !present : present;
      }
      case 'type': return c.types.includes(r.type);
      case 'id': return r.id === undefined ? undefined : c.ids.includes(r.id);
      case 'composite': return x.composite.some((e) => e.param === c.param && c.parts.every((p, i) => compositePart(p, e.parts[i])));
      // Other resources decide these: the store does.
      case 'chain': case 'has': return undefined;
    }
  }
}

/**
 * Keys under which a criteria expression can only match a resource that has them among its
 * index entries (a required reference or token value), for pre-filtering subscriptions by
 * what a write holds. Undefined: no such key; the subscription is a candidate for every write.
 */
export function requiredKeys(where: Expr): string[] | undefined {
  const conj: Expr[] = [];
  const flat = (e: Expr): void => {
    if ('and' in e) e.and.forEach(flat);
    else conj.push(e);
  };
  flat(where);
  let best: string[] | undefined;
  for (const e of conj) {
    const alts = 'or' in e ? e.or : [e];
    const keys: string[] = [];
    for (const a of alts) {
      const k = 'cond' in a ? condKeys(a.cond) : undefined;
      if (!k) {
        keys.length = 0;
        break;
      }
      keys.push(...k);
    }
    if (keys.length > 0 && (!best || keys.length < best.length)) best = keys;
  }
  return best;
}

function condKeys(c: Condition): string[] | undefined {
  if (c.kind === 'reference' && c.url === undefined && c.id) return [refKey(c.param, c.id)];
  if (c.kind === 'token') {
    const param = c.variant ? `${c.param}:${c.variant}` : c.param;
    if (c.codes) return c.codes.length > 0 && c.codes.length <= 100 ? c.codes.map((k) => tokenKey(param, k.code)) : undefined;
    if (c.code !== undefined) return [tokenKey(param, c.code)];
  }
  return undefined;
}

const refKey = (param: string, id: string): string => `r\u0000${param}\u0000${id}`;
const tokenKey = (param: string, code: string): string => `t\u0000${param}\u0000${code}`;

/** The keys a version's index entries hold (see requiredKeys). */
export function entryKeys(entries: IndexEntries): Set<string> {
  const out = new Set<string>();
  for (const f of entries.reference) if (f.id !== null) out.add(refKey(f.param, f.id));
  for (const t of entries.token) if (t.code !== null) out.add(tokenKey(t.param, t.code));
  return out;
}
