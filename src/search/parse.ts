// Query string → search IR (R4 search.html). Parameters, modifiers, prefixes, chains, _has,
// and the result parameters (_sort, _count, _include, _summary…). Unknown parameters are
// reported to the caller, which ignores them (lenient) or refuses the search (strict).
import type { Definitions } from '../definitions/registry.js';
import type { SearchParams, SearchParamInfo } from './params.js';
import type {
  CompartmentConstraint, CompositeMatch, Condition, Expr, IncludeSpec, IndexTable, Prefix, SearchQuery, SortKey,
} from './ir.js';
import { dateRange, fold, numberRange } from './values.js';
import { isId } from '../fhir-basics/ids.js';
import { isIndexedType, PARAM_TYPES, type IndexedParamType } from './param-types.js';
import { parseReference } from '../fhir-basics/references.js';
import { canonicalQuery } from './ucum.js';
import { definitionsSource, SearchCodes } from './codes.js';
import { TerminologyError, type TerminologySource } from '../terminology/expand.js';

export class SearchParseError extends Error {
  constructor(message: string, readonly code: 'invalid' | 'not-supported' | 'too-costly' = 'invalid') {
    super(message);
    this.name = 'SearchParseError';
  }
}

export type Summary = 'true' | 'text' | 'data' | 'count' | 'false';

export interface ParsedSearch {
  query: SearchQuery;
  summary?: Summary;
  elements?: string[];
  /** The parameters that were understood, normalised, for the self link. */
  used: [string, string][];
  /** Parameters that were not understood (ignored under lenient handling). */
  unknown: string[];
}

export interface ParseOptions {
  types: string[];
  params: [string, string][];
  handling: 'strict' | 'lenient';
  defaultCount: number;
  maxCount: number;
  compartment?: { type: 'Patient'; id: string };
  /**
   * Where :in, :not-in, :above and :below find value sets and code systems (the engine adds
   * those stored through the API, src/fhir/search-terms.ts); the definitions alone by default.
   */
  terminology?: TerminologySource;
}

const PREFIXES = new Set<Prefix>(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);
/** Parameters that shape the result rather than filter it, or that HTTP handles. */
const RESULT_PARAMS = new Set(['_sort', '_count', '_total', '_summary', '_elements', '_include', '_revinclude', '_cursor', '_format', '_pretty', '_type']);
const MAX_CHAIN = 4;

/**
 * How much one search may ask for (README: search limits). Beyond these the search is refused
 * with 400 too-costly before it reaches a store: every adapter then compiles a bounded query.
 */
export const SEARCH_LIMITS = {
  /** Comma-separated values of one parameter (an OR list). */
  orValues: 100,
  /** Search criteria in one search, repeats of a parameter (AND) included. */
  criteria: 100,
  /** Conditions the whole search expands to (OR values × chain targets × criteria). */
  conditions: 1000,
  /** Codes that :in, :not-in, :above and :below stand for in one search (value-set expansions, hierarchies). */
  valueSetCodes: 10_000,
  /** Keys in _sort. */
  sortKeys: 5,
  /** _include and _revinclude specifications, wildcards expanded. */
  includes: 100,
} as const;

const tooCostly = (message: string): SearchParseError => new SearchParseError(message, 'too-costly');

/** Splits on unescaped commas (R4 search.html#escaping) and unescapes \, \$ \| \\. */
export function splitValues(raw: string, sep = ','): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '\\' && i + 1 < raw.length) {
      const n = raw[i + 1] ?? '';
      if (n === sep || n === '\\' || n === ',' || n === '$' || n === '|') {
        cur += sep === n ? `\u0000${n}` : `\\${n}`;
        i++;
        continue;
      }
    }
    if (c === sep) {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out.map((v) => v.replace(/\u0000/g, ''));
}

function unescape(v: string): string {
  return v.replace(/\\([,$|\\])/g, '$1');
}

/** Splits `a|b|c` on unescaped pipes. */
function pipes(v: string): string[] {
  return splitValues(v, '|').map(unescape);
}

function prefixed(raw: string): { prefix: Prefix; rest: string } {
  const p = raw.slice(0, 2) as Prefix;
  if (PREFIXES.has(p) && /^[a-z]{2}[-+0-9.]/.test(raw)) return { prefix: p, rest: raw.slice(2) };
  return { prefix: 'eq', rest: raw };
}

/** A '+' in a time zone that a client left unescaped arrives decoded as a space. */
const plusFix = (v: string): string => v.replace(/(T[\d:.]+) (\d{2}:\d{2})$/, '$1+$2');
const anyOf = (xs: Expr[]): Expr => (xs.length === 1 ? xs[0] ?? { or: [] } : { or: xs });

export class SearchParser {
  /** Conditions built by the parse under way (parse is synchronous: one at a time). */
  private conditions = 0;
  /** The terminology lookups of the parse under way. */
  private codes: SearchCodes | undefined;

  constructor(private readonly defs: Definitions, private readonly params: SearchParams) {}

  /** A leaf condition, counted against SEARCH_LIMITS.conditions (`weight`: conditions it stands for). */
  private leaf(c: Condition, weight = 1): Expr {
    this.conditions += weight;
    if (this.conditions > SEARCH_LIMITS.conditions) {
      throw tooCostly(`This search expands to more than ${SEARCH_LIMITS.conditions} conditions (values × chained types × criteria); narrow it down`);
    }
    return { cond: c };
  }

  /** Whether `type` keeps sort keys for parameter `code` (R4 search.html#sort). */
  private sortable(type: string, code: string): boolean {
    const p = this.params.get(type, code);
    return p !== undefined && isIndexedType(p.type) && PARAM_TYPES[p.type].sortable;
  }

  /** The comma-separated values of `name` (an OR list), refused beyond SEARCH_LIMITS.orValues. */
  private orValues(name: string, value: string): string[] {
    const values = splitValues(value);
    if (values.length > SEARCH_LIMITS.orValues) {
      throw tooCostly(`${name.slice(0, 80)} has ${values.length} values; at most ${SEARCH_LIMITS.orValues} are allowed in one parameter`);
    }
    return values;
  }

  parse(opts: ParseOptions): ParsedSearch {
    this.conditions = 0;
    this.codes = new SearchCodes(opts.terminology ?? definitionsSource(this.defs), SEARCH_LIMITS.valueSetCodes);
    let criteria = 0;
    const and: Expr[] = [];
    const used: [string, string][] = [];
    const unknown: string[] = [];
    const sort: SortKey[] = [];
    const include: IncludeSpec[] = [];
    const revinclude: IncludeSpec[] = [];
    let count = opts.defaultCount;
    let total: SearchQuery['total'] = 'cheap';
    let summary: Summary | undefined;
    let elements: string[] | undefined;
    let cursor: string | undefined;
    let types = opts.types;

    // _type narrows a system search first: the other parameters are checked against its types.
    for (const [name, value] of opts.params) {
      if (name !== '_type') continue;
      const listed = value.split(',').map((t) => t.trim()).filter(Boolean);
      for (const t of listed) if (!this.defs.isResourceType(t)) throw new SearchParseError(`_type: unknown resource type "${t.slice(0, 60)}"`);
      types = types.filter((t) => listed.includes(t));
      used.push([name, listed.join(',')]);
    }

    for (const [name, value] of opts.params) {
      const base = name.split(':')[0] ?? name;
      switch (base) {
        case '_type':
        case '_format':
        case '_pretty':
          continue;
        case '_contained':
        case '_containedType':
          // R4 search.html#contained: contained resources are searched through chains from their
          // container only; asking for them as matches is refused, never silently ignored.
          if (name !== base || value !== (base === '_contained' ? 'false' : 'container')) {
            throw new SearchParseError(`${name.slice(0, 40)}=${value.slice(0, 40)} is not supported: this server searches contained resources only through chains from their container (the default, _contained=false)`, 'not-supported');
          }
          used.push([name, value]);
          continue;
        case '_count': {
          if (!/^\d{1,9}$/.test(value)) throw new SearchParseError(`_count must be a whole number, got "${value.slice(0, 40)}"`);
          count = Math.min(Number(value), opts.maxCount);
          used.push([name, String(count)]);
          continue;
        }
        case '_total':
          if (value !== 'none' && value !== 'estimate' && value !== 'accurate') throw new SearchParseError('_total must be none, estimate or accurate');
          total = value;
          used.push([name, value]);
          continue;
        case '_summary':
          if (!['true', 'text', 'data', 'count', 'false'].includes(value)) throw new SearchParseError('_summary must be true, text, data, count or false');
          summary = value as Summary;
          used.push([name, value]);
          continue;
        case '_elements':
          elements = value.split(',').map((e) => e.trim()).filter(Boolean);
          used.push([name, elements.join(',')]);
          continue;
        case '_cursor':
          cursor = value;
          continue;
        case '_sort':
          for (const key of value.split(',').map((k) => k.trim()).filter(Boolean)) {
            const descending = key.startsWith('-');
            const param = descending ? key.slice(1) : key;
            const known = types.every((t) => this.params.get(t, param));
            if (param === '_id' || param === '_lastUpdated' || (known && types.every((t) => this.sortable(t, param)))) {
              sort.push({ param, descending });
            } else if (opts.handling === 'strict') {
              // Reference and composite parameters keep no sort key (PARAM_TYPES.sortable): refused
              // rather than ignored behind a self link that claims them.
              throw new SearchParseError(known
                ? `_sort: "${param.slice(0, 60)}" is a parameter this server cannot sort by (reference or composite)`
                : `_sort: unknown parameter "${param.slice(0, 60)}"`, known ? 'not-supported' : 'invalid');
            } else {
              unknown.push(`_sort=${param}`);
            }
          }
          if (sort.length > SEARCH_LIMITS.sortKeys) throw tooCostly(`_sort takes at most ${SEARCH_LIMITS.sortKeys} keys`);
          if (sort.length) used.push([name, sort.map((s) => (s.descending ? '-' : '') + s.param).join(',')]);
          continue;
        case '_include':
        case '_revinclude': {
          const mod = name.split(':')[1];
          if (mod !== undefined && mod !== 'iterate' && mod !== 'recurse') throw new SearchParseError(`${base}:${mod} is not a known modifier`);
          const specs = this.includeSpecs(value, mod !== undefined, base === '_revinclude', types);
          if (specs.length) {
            for (const spec of specs) (base === '_include' ? include : revinclude).push(spec);
            if (include.length + revinclude.length > SEARCH_LIMITS.includes) {
              throw tooCostly(`This search asks for more than ${SEARCH_LIMITS.includes} _include and _revinclude paths (wildcards expanded)`);
            }
            used.push([name, value]);
          } else if (opts.handling === 'strict') {
            throw new SearchParseError(`${name}=${value.slice(0, 80)} names no reference search parameter`);
          } else {
            unknown.push(name);
          }
          continue;
        }
        default:
          break;
      }
      if (RESULT_PARAMS.has(base)) continue;
      // R4 search.html: empty parameters are ignored (`Patient?family=` searches all Patients).
      // Strict handling (and conditional criteria, always strict) refuses them instead below: an
      // ignored criterion would widen a conditional update or delete to every resource.
      if (value === '' && opts.handling === 'lenient') continue;
      if (++criteria > SEARCH_LIMITS.criteria) {
        throw tooCostly(`This search has more than ${SEARCH_LIMITS.criteria} criteria; at most ${SEARCH_LIMITS.criteria} are allowed`);
      }
      const exprs: Expr[] = [];
      let understood = true;
      for (const type of types) {
        const e = this.parseParam(type, name, value, 0);
        if (e === undefined) {
          understood = false;
          break;
        }
        exprs.push(e);
      }
      if (!understood || types.length === 0) {
        if (opts.handling === 'strict') throw new SearchParseError(`Unknown search parameter "${name.slice(0, 80)}" for ${types.join(', ') || 'this search'}`);
        unknown.push(name);
        continue;
      }
      // In a multi-type (system) search every type interprets the parameter the same way.
      and.push(exprs[0] ?? { and: [] });
      used.push([name, value]);
    }

    const query: SearchQuery = {
      types,
      where: and.length === 1 ? and[0] ?? { and: [] } : { and },
      sort,
      count: summary === 'count' ? 0 : count,
      total: summary === 'count' ? 'accurate' : total,
      include,
      revinclude,
      ...(cursor !== undefined ? { cursor } : {}),
      ...(opts.compartment ? { compartment: this.compartment(opts.compartment.type, opts.compartment.id) } : {}),
    };
    return { query, used, unknown, ...(summary ? { summary } : {}), ...(elements ? { elements } : {}) };
  }

  /** The compartment constraint for `type/id`, from the CompartmentDefinition. */
  compartment(type: 'Patient', id: string): CompartmentConstraint {
    const params: Record<string, string[]> = {};
    for (const r of this.defs.patientCompartment?.resource ?? []) {
      if (r.param?.length) params[r.code] = r.param.filter((p) => p !== '{def}');
    }
    return { type, id, params };
  }

  /** `Type:param[:target]`, `Type:*` or `*`; wildcards expand to every reference parameter. */
  private includeSpecs(value: string, iterate: boolean, reverse: boolean, types: string[]): IncludeSpec[] {
    const all = (sourceType: string): IncludeSpec[] => [...this.params.forType(sourceType).values()]
      .filter((p) => p.type === 'reference').map((p) => ({ sourceType, param: p.code, iterate }));
    if (value === '*') return types.length === 1 ? all(types[0] ?? '') : [];
    const [sourceType = '', param = '', targetType] = value.split(':');
    if (!this.defs.isResourceType(sourceType)) return [];
    // A plain (non-iterate) _include must start from the searched type (R4 search.html#include).
    if (!reverse && !iterate && !types.includes(sourceType)) return [];
    if (param === '*') return all(sourceType);
    const p = this.params.get(sourceType, param);
    if (!p || p.type !== 'reference') return [];
    if (targetType !== undefined && !this.defs.isResourceType(targetType)) return [];
    return [{ sourceType, param, iterate, ...(targetType ? { targetType } : {}) }];
  }

  /** One parameter (with its modifiers and chain) on `type`; undefined when not a parameter of `type`. */
  private parseParam(type: string, name: string, value: string, depth: number): Expr | undefined {
    if (depth > MAX_CHAIN) throw new SearchParseError(`Chains longer than ${MAX_CHAIN} are not supported`, 'not-supported');
    if (name.startsWith('_has:')) return this.parseHas(type, name, value, depth);
    const dot = name.indexOf('.');
    if (dot > 0) return this.parseChain(type, name.slice(0, dot), name.slice(dot + 1), value, depth);
    const [code = '', modifier] = name.split(':');
    if (code === '_id') return this.idParam(modifier, value);
    if (code === '_lastUpdated') {
      // Every resource has a lastUpdated: :missing=true matches nothing, =false everything.
      if (modifier === 'missing') {
        if (value !== 'true' && value !== 'false') throw new SearchParseError(`${name} takes true or false`);
        return value === 'true' ? { or: [] } : { and: [] };
      }
      if (modifier !== undefined) throw new SearchParseError(`_lastUpdated:${modifier.slice(0, 40)} is not supported (date parameters take no modifier other than :missing)`, 'not-supported');
      return this.lastUpdated(value);
    }
    const p = this.params.get(type, code);
    if (!p) return undefined;
    if (modifier === 'missing') {
      if (value !== 'true' && value !== 'false') throw new SearchParseError(`${name} takes true or false`);
      return this.leaf({ kind: 'missing', param: code, table: tableOf(p), missing: value === 'true' });
    }
    const values = this.orValues(name, value);
    if (values.some((v) => v === '')) throw new SearchParseError(`${name} has an empty value`);
    if (!isIndexedType(p.type)) throw new SearchParseError(`${code} (${p.type}) cannot be searched here`, 'not-supported');
    return this.byType[p.type](p, modifier, values);
  }

  /**
   * Per parameter type (PARAM_TYPES, src/search/param-types.ts): a parameter's values (one OR
   * list) with its modifier → IR. A type missing here fails `tsc`.
   */
  private readonly byType: Record<IndexedParamType, (p: SearchParamInfo, modifier: string | undefined, values: string[]) => Expr> = {
    token: (p, modifier, values) => this.token(p, modifier, values),
    string: (p, modifier, values) => this.string(p, modifier, values),
    date: (p, modifier, values) => this.noModifier(p, modifier) ?? anyOf(values.map((v) => this.date(p.code, v))),
    number: (p, modifier, values) => this.noModifier(p, modifier) ?? anyOf(values.map((v) => this.number(p.code, v))),
    quantity: (p, modifier, values) => this.noModifier(p, modifier) ?? anyOf(values.map((v) => this.quantity(p.code, v))),
    reference: (p, modifier, values) => this.reference(p, modifier, values),
    uri: (p, modifier, values) => this.uri(p, modifier, values),
    composite: (p, modifier, values) => this.noModifier(p, modifier) ?? anyOf(values.map((v) => this.composite(p, v))),
  };

  private noModifier(p: SearchParamInfo, modifier: string | undefined): undefined {
    if (modifier !== undefined) throw new SearchParseError(`${p.code}:${modifier}: ${p.type} parameters take no modifier other than :missing`);
    return undefined;
  }

  private idParam(modifier: string | undefined, value: string): Expr {
    // Every resource has an id: _id:missing=true matches nothing, =false everything.
    if (modifier === 'missing') return value === 'true' ? { or: [] } : { and: [] };
    const ids = this.orValues('_id', value).map(unescape);
    if (ids.some((id) => !isId(id))) throw new SearchParseError('_id values must be resource ids');
    const cond = this.leaf({ kind: 'id', ids }, ids.length);
    if (modifier === 'not') return { not: cond };
    if (modifier !== undefined) throw new SearchParseError(`_id:${modifier} is not supported`, 'not-supported');
    return cond;
  }

  private lastUpdated(value: string): Expr {
    return anyOf(this.orValues('_lastUpdated', value).map((v) => {
      const { prefix, rest } = prefixed(plusFix(v));
      const r = dateRange(rest);
      if (!r) throw new SearchParseError(`_lastUpdated: "${v.slice(0, 40)}" is not a date`);
      return this.leaf({ kind: 'lastUpdated', prefix, start: r[0], end: r[1] });
    }));
  }

  private token(p: SearchParamInfo, modifier: string | undefined, values: string[]): Expr {
    if (modifier === 'text') return anyOf(values.map((v) => this.leaf({ kind: 'token-text', param: p.code, text: fold(unescape(v)) })));
    if (modifier === 'of-type') {
      return anyOf(values.map((v) => {
        const parts = pipes(v);
        if (parts.length !== 3) throw new SearchParseError(`${p.code}:of-type takes system|code|value`);
        return this.leaf({ kind: 'token', param: p.code, variant: 'of-type', system: `${parts[0]}|${parts[1]}`, code: parts[2] ?? '' });
      }));
    }
    if (modifier === 'in' || modifier === 'not-in') {
      const codes = values.flatMap((v) => this.terms((c) => c.inValueSet(unescape(v))));
      const cond = this.leaf({ kind: 'token', param: p.code, codes });
      return modifier === 'in' ? cond : { not: cond };
    }
    if (modifier === 'below' || modifier === 'above') {
      return anyOf(values.map((v) => this.subsumption(p.code, v, modifier)));
    }
    const conds = values.map((v) => this.leaf(this.tokenCondition(p.code, v)));
    if (modifier === 'not') return { not: anyOf(conds) };
    if (modifier !== undefined) throw new SearchParseError(`${p.code}:${modifier} is not a token modifier`);
    return anyOf(conds);
  }

  private tokenCondition(param: string, v: string): Condition {
    const parts = pipes(v);
    if (parts.length === 1) return { kind: 'token', param, code: parts[0] ?? '' };
    if (parts.length !== 2) throw new SearchParseError(`${param}: "${v.slice(0, 60)}" is not [system|]code`);
    const [system = '', code = ''] = parts;
    // |code: no system; system|: any code in the system (R4 search.html#token)
    return { kind: 'token', param, system: system === '' ? null : system, ...(code !== '' ? { code } : {}) };
  }

  /** :below / :above over a code system's hierarchy (R4 search.html#token: subsumption). */
  private subsumption(param: string, v: string, dir: 'below' | 'above'): Expr {
    const cond = this.tokenCondition(param, v);
    if (cond.kind !== 'token' || !cond.system || cond.code === undefined) {
      throw new SearchParseError(`${param}:${dir} takes system|code (subsumption is defined within a code system)`);
    }
    const { system, code } = cond;
    return this.leaf({ kind: 'token', param, codes: this.terms((c) => c.related(system, code, dir)) });
  }

  /** Runs a terminology lookup of this parse; its failures are search errors (4xx). */
  private terms<T>(fn: (codes: SearchCodes) => T): T {
    if (!this.codes) throw new SearchParseError('No terminology for this search', 'not-supported');
    try {
      return fn(this.codes);
    } catch (err) {
      if (!(err instanceof TerminologyError)) throw err;
      throw new SearchParseError(err.message, err.code === 'too-costly' ? 'too-costly' : err.code === 'invalid' ? 'invalid' : 'not-supported');
    }
  }

  private string(p: SearchParamInfo, modifier: string | undefined, values: string[]): Expr {
    const match = modifier === undefined ? 'starts' : modifier === 'exact' ? 'exact' : modifier === 'contains' ? 'contains' : undefined;
    if (!match) throw new SearchParseError(`${p.code}:${modifier} is not a string modifier`);
    return anyOf(values.map((v) => {
      const text = unescape(v);
      return this.leaf({ kind: 'string', param: p.code, match, value: match === 'exact' ? text : fold(text) });
    }));
  }

  private date(param: string, v: string): Expr {
    const { prefix, rest } = prefixed(plusFix(v));
    const r = dateRange(rest);
    if (!r) throw new SearchParseError(`${param}: "${v.slice(0, 40)}" is not a date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime)`);
    return this.leaf({ kind: 'date', param, prefix, start: r[0], end: r[1] });
  }

  private number(param: string, v: string): Expr {
    const { prefix, rest } = prefixed(v);
    const n = numberRange(rest);
    if (!n) throw new SearchParseError(`${param}: "${v.slice(0, 40)}" is not a number`);
    return this.leaf({ kind: 'number', param, prefix, value: n.value, low: n.low, high: n.high });
  }

  private quantity(param: string, v: string): Expr {
    const [num = '', system = '', code = ''] = pipes(v);
    const { prefix, rest } = prefixed(num);
    const n = numberRange(rest);
    if (!n) throw new SearchParseError(`${param}: "${v.slice(0, 40)}" is not a quantity (number[|system|code])`);
    return this.leaf(canonicalQuery({
      kind: 'quantity' as const, param, prefix, value: n.value, low: n.low, high: n.high,
      ...(system ? { system } : {}), ...(code ? { code } : {}),
    }));
  }

  private reference(p: SearchParamInfo, modifier: string | undefined, values: string[]): Expr {
    if (modifier === 'identifier') {
      return anyOf(values.map((v) => {
        const c = this.tokenCondition(p.code, v);
        return this.leaf({ ...c, variant: 'identifier' } as Condition);
      }));
    }
    let types = [...p.targets];
    if (modifier !== undefined && modifier !== 'missing') {
      if (!this.defs.isResourceType(modifier)) throw new SearchParseError(`${p.code}:${modifier} is not a reference modifier`);
      types = [modifier];
    }
    return anyOf(values.map((raw) => {
      const v = unescape(raw);
      const ref = parseReference(v);
      if (ref && this.defs.isResourceType(ref.type)) {
        if (modifier !== undefined && ref.type !== modifier) throw new SearchParseError(`${p.code}:${modifier}=${v.slice(0, 60)} names another type`);
        // An absolute URL on another server is matched by URL.
        if (ref.base !== undefined && !this.isLocalBase(ref.base)) return this.leaf({ kind: 'reference', param: p.code, url: v });
        return this.leaf({ kind: 'reference', param: p.code, type: ref.type, id: ref.id });
      }
      if (isId(v)) return this.leaf({ kind: 'reference', param: p.code, id: v, types });
      return this.leaf({ kind: 'reference', param: p.code, url: v });
    }));
  }

  private localBase: string | undefined;

  /** Set by the engine: absolute references to this base are local. */
  setBaseUrl(base: string): void {
    this.localBase = base;
  }

  private isLocalBase(prefix: string): boolean {
    return this.localBase !== undefined && prefix === this.localBase;
  }

  private uri(p: SearchParamInfo, modifier: string | undefined, values: string[]): Expr {
    const match = modifier === undefined ? 'eq' : modifier === 'below' ? 'below' : modifier === 'above' ? 'above' : undefined;
    if (!match) throw new SearchParseError(`${p.code}:${modifier} is not a uri modifier`);
    return anyOf(values.map((v) => this.leaf({ kind: 'uri', param: p.code, match, value: unescape(v) })));
  }

  private composite(p: SearchParamInfo, v: string): Expr {
    const parts = splitValues(v, '$').map((x) => x);
    if (parts.length !== p.components.length) {
      throw new SearchParseError(`${p.code} takes ${p.components.length} values joined by $`);
    }
    const matches: CompositeMatch[] = parts.map((part, i) => {
      const c = p.components[i]?.param;
      if (!c) throw new SearchParseError(`${p.code}: component ${i + 1} is unknown`);
      switch (c.type) {
        case 'token': {
          const t = this.tokenCondition(c.code, part);
          if (t.kind !== 'token' || t.code === undefined) throw new SearchParseError(`${p.code}: component ${i + 1} needs a code`);
          return { kind: 'token', code: t.code, ...(t.system !== undefined ? { system: t.system } : {}) };
        }
        case 'quantity':
        case 'number': {
          const [num = '', system = '', code = ''] = pipes(part);
          const { prefix, rest } = prefixed(num);
          const n = numberRange(rest);
          if (!n) throw new SearchParseError(`${p.code}: component ${i + 1} is not a number`);
          return { kind: 'range', prefix, low: n.low, high: n.high, value: n.value, ...(system ? { system } : {}), ...(code ? { code } : {}) };
        }
        case 'date': {
          const { prefix, rest } = prefixed(part);
          const r = dateRange(rest);
          if (!r) throw new SearchParseError(`${p.code}: component ${i + 1} is not a date`);
          return { kind: 'range', prefix, low: r[0], high: r[1], value: r[0] };
        }
        case 'string': return { kind: 'string', value: fold(unescape(part)) };
        case 'reference': {
          const text = unescape(part);
          if (isId(text)) return { kind: 'reference', id: text };
          const ref = parseReference(text);
          if (!ref || ref.base !== undefined || ref.version !== undefined) throw new SearchParseError(`${p.code}: component ${i + 1} is not a reference`);
          return { kind: 'reference', id: ref.id, type: ref.type };
        }
        default: throw new SearchParseError(`${p.code}: component type ${c.type} is not supported`, 'not-supported');
      }
    });
    return this.leaf({ kind: 'composite', param: p.code, parts: matches });
  }

  private parseChain(type: string, head: string, rest: string, value: string, depth: number): Expr | undefined {
    const [code = '', typeModifier] = head.split(':');
    const p = this.params.get(type, code);
    if (!p) return undefined;
    if (p.type !== 'reference') throw new SearchParseError(`${code} is not a reference parameter and cannot be chained`);
    const candidates = typeModifier ? [typeModifier] : p.targets.length ? [...p.targets] : [...this.defs.resourceTypes];
    if (typeModifier && !this.defs.isResourceType(typeModifier)) throw new SearchParseError(`${head}: unknown type ${typeModifier}`);
    const branches: Expr[] = [];
    for (const target of candidates) {
      const where = this.parseParam(target, rest, value, depth + 1);
      if (where) branches.push(this.leaf({ kind: 'chain', param: code, targetTypes: [target], where }));
    }
    if (branches.length === 0) throw new SearchParseError(`${head}.${rest.split(':')[0]}: no target of ${code} has that parameter`);
    return anyOf(branches);
  }

  /** _has:Type:param:rest=value (R4 search.html#has). */
  private parseHas(type: string, name: string, value: string, depth: number): Expr {
    const m = /^_has:([A-Za-z]+):([A-Za-z0-9\-_]+):(.+)$/.exec(name);
    if (!m) throw new SearchParseError(`${name.slice(0, 80)} is not _has:Type:reference:parameter`);
    const [, sourceType = '', refParam = '', rest = ''] = m;
    if (!this.defs.isResourceType(sourceType)) throw new SearchParseError(`_has: unknown type ${sourceType}`);
    const p = this.params.get(sourceType, refParam);
    if (!p || p.type !== 'reference') throw new SearchParseError(`_has: ${sourceType}.${refParam} is not a reference parameter`);
    if (p.targets.length && !p.targets.includes(type)) throw new SearchParseError(`_has: ${sourceType}.${refParam} cannot point to ${type}`);
    const where = this.parseParam(sourceType, rest, value, depth + 1);
    if (!where) throw new SearchParseError(`_has: ${rest.split(':')[0]} is not a parameter of ${sourceType}`);
    return this.leaf({ kind: 'has', sourceType, param: refParam, where });
  }
}

/** The index table a parameter's values live in (for :missing). */
export function tableOf(p: SearchParamInfo): IndexTable {
  return isIndexedType(p.type) ? PARAM_TYPES[p.type].table : 'composite';
}
