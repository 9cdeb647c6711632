// Resource → index entries: for every search parameter of the resource's type, the typed
// values both store adapters index and query (ARCHITECTURE.md: search owns the index).
import type { Resource } from 'fhir/r4.js';
import type { Definitions } from '../definitions/registry.js';
import { isObject as isObj, type Json } from '../fhir-basics/json.js';
import { parseLocalReference, parseReference } from '../fhir-basics/references.js';
import type { Typed } from './path.js';
import { RESOURCE_COLUMNS, SearchParams, type ParamType, type SearchParamInfo } from './params.js';
import { isIndexedType, type IndexedParamType } from './param-types.js';
import { dateRange, fold, MAX_TIME, MIN_TIME } from './values.js';
import { addCanonical, canonicalParam } from './ucum.js';

/** Longest string kept in a string index (longer values are indexed by their prefix). */
const MAX_STRING = 512;

export interface TokenEntry { param: string; system: string | null; code: string | null }
export interface TextEntry { param: string; text: string }
export interface StringEntry { param: string; norm: string; exact: string }
export interface DateEntry { param: string; start: number; end: number }
export interface NumberEntry { param: string; value: number }
export interface QuantityEntry { param: string; low: number; high: number; system: string | null; code: string | null }
export interface ReferenceEntry { param: string; type: string | null; id: string | null; url: string | null }
export interface UriEntry { param: string; uri: string }
/** One composite match: a value per component, in component order. */
export interface CompositeEntry { param: string; parts: CompositePart[] }
export interface CompositePart { sys: string | null; code: string | null; lo: number | null; hi: number | null; str: string | null }
/** Per-parameter sort keys: the lowest and highest value (R4 search.html#sort). */
export interface SortEntry { param: string; lo: string | number; hi: string | number }

export interface IndexEntries {
  token: TokenEntry[];
  text: TextEntry[];
  string: StringEntry[];
  date: DateEntry[];
  number: NumberEntry[];
  quantity: QuantityEntry[];
  reference: ReferenceEntry[];
  uri: UriEntry[];
  composite: CompositeEntry[];
  sort: SortEntry[];
}

/**
 * A contained resource's own index entries, searched in the context of its container (R4
 * search.html#contained): only through a chain from a reference of the container to it.
 */
export interface ContainedIndex {
  type: string;
  /** Its local id (`#id` in the container's references). */
  id: string;
  /** The container's reference parameters that point at it. */
  refs: string[];
  /** Without sort keys: a contained resource is never a match, so never sorted. */
  entries: IndexEntries;
}

/** A resource's index entries, with those of the contained resources its references point at. */
export interface ResourceIndex extends IndexEntries {
  contained?: ContainedIndex[];
}

export function emptyEntries(): IndexEntries {
  return { token: [], text: [], string: [], date: [], number: [], quantity: [], reference: [], uri: [], composite: [], sort: [] };
}


/**
 * Most index entries one resource may produce (README: search limits). A resource beyond it is
 * refused (422) rather than indexed: its index would not fit a MongoDB document and would take
 * unbounded time to write.
 */
export const MAX_INDEX_ENTRIES = 100_000;

/** Thrown by `extract` for a resource with more index entries than MAX_INDEX_ENTRIES. */
export class IndexLimitError extends Error {
  constructor(readonly resourceType: string, readonly param: string) {
    super(`${resourceType}: search parameter ${param} (with the others) yields more than ${MAX_INDEX_ENTRIES} index entries; this server does not store resources with that many repeated elements`);
    this.name = 'IndexLimitError';
  }
}

function entryCount(out: IndexEntries): number {
  return out.token.length + out.text.length + out.string.length + out.date.length + out.number.length
    + out.quantity.length + out.reference.length + out.uri.length + out.composite.length + out.sort.length;
}
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** Guesses the FHIR type of a value found by full FHIRPath (which reports none). */
function inferType(v: unknown, paramType: ParamType): string | undefined {
  if (typeof v === 'string') return paramType === 'date' ? 'dateTime' : paramType === 'uri' ? 'uri' : paramType === 'reference' ? 'canonical' : 'string';
  if (typeof v === 'number') return 'decimal';
  if (typeof v === 'boolean') return 'boolean';
  if (!isObj(v)) return undefined;
  if ('coding' in v || (paramType === 'token' && 'text' in v && !('value' in v))) return 'CodeableConcept';
  if ('reference' in v || ('identifier' in v && paramType === 'reference')) return 'Reference';
  if ('family' in v || 'given' in v) return 'HumanName';
  if ('line' in v || 'city' in v || 'postalCode' in v) return 'Address';
  if ('start' in v || 'end' in v) return 'Period';
  if ('low' in v || 'high' in v) return 'Range';
  if ('currency' in v) return 'Money';
  if ('value' in v && ('unit' in v || 'comparator' in v || (paramType === 'quantity'))) return 'Quantity';
  if ('code' in v) return 'Coding';
  if ('value' in v) return paramType === 'token' && ['phone', 'fax', 'email', 'pager', 'url', 'sms', 'other'].includes(String(v.system)) ? 'ContactPoint' : 'Identifier';
  return undefined;
}

/** How one parameter type is indexed (see Indexer.byType). */
interface TypeExtractor {
  /** Adds the index entries of one value (`type`: its FHIR type, declared or inferred). */
  add(p: SearchParamInfo, type: string | undefined, value: unknown, out: IndexEntries, v: Typed): void;
  /** What a composite component keeps of the entries `add` put in `tmp`. */
  parts(tmp: IndexEntries, p: SearchParamInfo): CompositePart[];
  /** How many entries of its table `out` holds (where a parameter's own entries start). */
  mark(out: IndexEntries): number;
  /** Shows `see` the [low, high] of each entry since `before`; absent for unsortable types. */
  sort?(out: IndexEntries, before: number, p: SearchParamInfo, see: (lo: string | number, hi: string | number) => void): void;
}

const NO_PART: CompositePart = { sys: null, code: null, lo: null, hi: null, str: null };

export class Indexer {
  readonly params: SearchParams;
  /** Implicit code systems of `code` elements with a required binding to one code system. */
  private readonly codeSystemOf = new Map<string, string | null>();

  constructor(private readonly defs: Definitions, private readonly baseUrl: string, params?: SearchParams) {
    this.params = params ?? new SearchParams(defs);
  }

  /** Every (type, code) `extract` can emit, with the :of-type and :identifier variants. */
  *paramKeys(): Iterable<[string, string]> {
    for (const type of this.defs.resourceTypes) {
      for (const p of this.params.forType(type).values()) {
        if (RESOURCE_COLUMNS.has(p.code)) continue;
        yield [type, p.code];
        if (p.type === 'token') yield [type, `${p.code}:of-type`];
        if (p.type === 'reference') yield [type, `${p.code}:identifier`];
        if (p.type === 'quantity') yield [type, canonicalParam(p.code)];
      }
    }
  }

  extract(resource: Resource, nested = false): ResourceIndex {
    const out: ResourceIndex = emptyEntries();
    const root: Typed = { value: resource, type: resource.resourceType };
    for (const p of this.params.forType(resource.resourceType).values()) {
      if (RESOURCE_COLUMNS.has(p.code)) continue;
      if (p.type === 'composite') {
        this.composite(p, root, out);
      } else {
        // Loops, never push(...values): a resource may repeat an element 100,000 times.
        const values: Typed[] = [];
        for (const path of p.paths) for (const v of path.evaluate(root)) values.push(v);
        if (values.length === 0) continue;
        const before = isIndexedType(p.type) ? this.byType[p.type].mark(out) : 0;
        for (const v of values) this.add(p, v, out);
        this.sortKey(p, out, before);
        // After the sort key: canonical twins must not mix units into its min/max.
        if (p.type === 'quantity') addCanonical(out.quantity, before);
      }
      if (entryCount(out) > MAX_INDEX_ENTRIES) throw new IndexLimitError(resource.resourceType, p.code);
    }
    if (!nested) this.addContained(resource, out);
    return out;
  }

  /**
   * Indexes the contained resources the container's references point at (`#id`), so that a
   * chain can go through them. Their entries count towards the container's MAX_INDEX_ENTRIES.
   */
  private addContained(resource: Resource, out: ResourceIndex): void {
    const list = (resource as { contained?: unknown }).contained;
    if (!Array.isArray(list) || list.length === 0) return;
    const refsTo = new Map<string, string[]>();
    for (const r of out.reference) {
      if (r.url === null || !r.url.startsWith('#') || r.url.length === 1) continue;
      const refs = refsTo.get(r.url.slice(1)) ?? [];
      if (!refs.includes(r.param)) refs.push(r.param);
      refsTo.set(r.url.slice(1), refs);
    }
    if (refsTo.size === 0) return;
    let total = entryCount(out);
    const contained: ContainedIndex[] = [];
    for (const c of list) {
      if (!isObj(c) || typeof c.id !== 'string' || typeof c.resourceType !== 'string' || !this.defs.isResourceType(c.resourceType)) continue;
      const refs = refsTo.get(c.id);
      if (!refs) continue;
      const entries = this.extract(c as unknown as Resource, true);
      entries.sort = [];
      total += entryCount(entries);
      if (total > MAX_INDEX_ENTRIES) throw new IndexLimitError(resource.resourceType, 'contained');
      contained.push({ type: c.resourceType, id: c.id, refs, entries });
    }
    if (contained.length) out.contained = contained;
  }

  /**
   * Per parameter type (PARAM_TYPES, src/search/param-types.ts): how a value is indexed, what a
   * composite component keeps of it, and its sort values. A type missing here fails `tsc`.
   */
  private readonly byType: Record<IndexedParamType, TypeExtractor> = {
    token: {
      add: (p, type, value, out, v) => this.token(p.code, type, value, out, v),
      parts: (tmp, p) => tmp.token.filter((t) => t.param === p.code).map((t) => ({ ...NO_PART, sys: t.system, code: t.code })),
      mark: (out) => out.token.length,
      sort: (out, before, p, see) => { for (let i = before; i < out.token.length; i++) { const t = out.token[i]; if (t && t.param === p.code && t.code) see(t.code, t.code); } },
    },
    string: {
      add: (p, type, value, out) => this.string(p.code, type, value, out),
      parts: (tmp) => tmp.string.map((x) => ({ ...NO_PART, str: x.norm })),
      mark: (out) => out.string.length,
      sort: (out, before, _p, see) => { for (let i = before; i < out.string.length; i++) { const x = out.string[i]; if (x) see(x.norm, x.norm); } },
    },
    date: {
      add: (p, type, value, out) => this.date(p.code, type, value, out),
      parts: (tmp) => tmp.date.map((d) => ({ ...NO_PART, lo: d.start, hi: d.end })),
      mark: (out) => out.date.length,
      sort: (out, before, _p, see) => { for (let i = before; i < out.date.length; i++) { const d = out.date[i]; if (d) see(d.start, d.end); } },
    },
    number: {
      add: (p, _type, value, out) => { if (typeof value === 'number') out.number.push({ param: p.code, value }); },
      parts: (tmp) => tmp.number.map((n) => ({ ...NO_PART, lo: n.value, hi: n.value })),
      mark: (out) => out.number.length,
      sort: (out, before, _p, see) => { for (let i = before; i < out.number.length; i++) { const n = out.number[i]; if (n) see(n.value, n.value); } },
    },
    quantity: {
      add: (p, type, value, out) => this.quantity(p.code, type, value, out),
      parts: (tmp) => tmp.quantity.map((q) => ({ ...NO_PART, lo: q.low, hi: q.high, sys: q.system, code: q.code })),
      mark: (out) => out.quantity.length,
      sort: (out, before, _p, see) => { for (let i = before; i < out.quantity.length; i++) { const q = out.quantity[i]; if (q) see(q.low, q.high); } },
    },
    reference: {
      add: (p, type, value, out) => this.reference(p.code, type, value, out),
      parts: (tmp) => tmp.reference.map((r) => ({ ...NO_PART, sys: r.type, code: r.id, str: r.url })),
      mark: (out) => out.reference.length,
    },
    uri: {
      add: (p, _type, value, out) => { const u = str(value); if (u) out.uri.push({ param: p.code, uri: u }); },
      parts: (tmp) => tmp.uri.map((u) => ({ ...NO_PART, str: u.uri })),
      mark: (out) => out.uri.length,
      sort: (out, before, _p, see) => { for (let i = before; i < out.uri.length; i++) { const u = out.uri[i]; if (u) see(u.uri, u.uri); } },
    },
    // Composite values are indexed per element by `composite` (their components by their own types).
    composite: { add: () => undefined, parts: () => [], mark: () => 0 },
  };

  private add(p: SearchParamInfo, v: Typed, out: IndexEntries): void {
    if (!isIndexedType(p.type)) return;
    this.byType[p.type].add(p, v.type ?? inferType(v.value, p.type), v.value, out, v);
  }

  private token(param: string, type: string | undefined, value: unknown, out: IndexEntries, v: Typed): void {
    const text = (t: unknown): void => {
      if (typeof t === 'string' && t !== '') out.text.push({ param, text: fold(t).slice(0, MAX_STRING) });
    };
    const coding = (c: unknown): void => {
      if (!isObj(c)) return;
      const code = str(c.code);
      const system = str(c.system);
      if (code || system) out.token.push({ param, system, code });
      text(c.display);
    };
    switch (type) {
      case 'CodeableConcept':
        if (!isObj(value)) return;
        if (Array.isArray(value.coding)) value.coding.forEach(coding);
        text(value.text);
        return;
      case 'Coding':
        return coding(value);
      case 'Identifier': {
        if (!isObj(value)) return;
        const code = str(value.value);
        const system = str(value.system);
        if (code || system) out.token.push({ param, system, code });
        // :of-type matches type-system|type-code|value (R4 search.html#token).
        const idType = isObj(value.type) ? value.type : undefined;
        if (idType && code) {
          for (const c of Array.isArray(idType.coding) ? idType.coding : []) {
            if (isObj(c) && str(c.code)) out.token.push({ param: `${param}:of-type`, system: `${str(c.system) ?? ''}|${str(c.code)}`, code });
          }
          text(idType.text);
        }
        return;
      }
      case 'ContactPoint': {
        if (!isObj(value)) return;
        const code = str(value.value);
        if (code) out.token.push({ param, system: str(value.system), code });
        return;
      }
      case 'boolean':
        if (typeof value === 'boolean') out.token.push({ param, system: null, code: String(value) });
        return;
      case 'Reference':
        // Token parameters on references (rare) index the literal reference as the code.
        if (isObj(value) && str(value.reference)) out.token.push({ param, system: null, code: str(value.reference) });
        return;
      default:
        if (typeof value === 'string' && value !== '') {
          out.token.push({ param, system: this.implicitSystem(v), code: value });
        } else if (typeof value === 'number') {
          out.token.push({ param, system: null, code: String(value) });
        }
    }
  }

  /** `code` elements bound (required) to a value set drawn from one code system carry that system. */
  private implicitSystem(v: Typed): string | null {
    const binding = v.binding;
    if (v.type !== 'code' || !binding) return null;
    let system = this.codeSystemOf.get(binding);
    if (system === undefined) {
      const includes = this.defs.valueSet(binding)?.compose?.include ?? [];
      const systems = [...new Set(includes.map((i) => i.system).filter((s): s is string => !!s))];
      system = systems.length === 1 ? systems[0] ?? null : null;
      this.codeSystemOf.set(binding, system);
    }
    return system;
  }

  private string(param: string, type: string | undefined, value: unknown, out: IndexEntries): void {
    const push = (s: unknown): void => {
      if (typeof s !== 'string' || s === '') return;
      const exact = s.slice(0, MAX_STRING);
      out.string.push({ param, norm: fold(exact), exact });
    };
    if (typeof value === 'string') return push(value);
    if (!isObj(value)) return;
    const many = (v: unknown): void => (Array.isArray(v) ? v.forEach(push) : push(v));
    if (type === 'HumanName') {
      many(value.family);
      many(value.given);
      many(value.prefix);
      many(value.suffix);
      push(value.text);
    } else if (type === 'Address') {
      many(value.line);
      for (const k of ['city', 'district', 'state', 'postalCode', 'country', 'text']) push(value[k]);
    } else if (type === 'CodeableConcept') {
      push(value.text);
    } else {
      for (const v of Object.values(value)) if (typeof v === 'string') push(v);
    }
  }

  private date(param: string, type: string | undefined, value: unknown, out: IndexEntries): void {
    const push = (s: unknown): void => {
      if (typeof s !== 'string') return;
      const r = dateRange(s);
      if (r) out.date.push({ param, start: r[0], end: r[1] });
    };
    if (typeof value === 'string') return push(value);
    if (!isObj(value)) return;
    if (type === 'Period' || 'start' in value || 'end' in value) {
      // An open end is ongoing, an open start unbounded (R4 search.html#date).
      const s = typeof value.start === 'string' ? dateRange(value.start) : undefined;
      const e = typeof value.end === 'string' ? dateRange(value.end) : undefined;
      if (s || e) out.date.push({ param, start: s ? s[0] : MIN_TIME, end: e ? e[1] : MAX_TIME });
      return;
    }
    if (type === 'Timing') {
      if (Array.isArray(value.event)) value.event.forEach(push);
      const repeat = isObj(value.repeat) ? value.repeat : undefined;
      if (repeat && isObj(repeat.boundsPeriod)) this.date(param, 'Period', repeat.boundsPeriod, out);
    }
  }

  private quantity(param: string, type: string | undefined, value: unknown, out: IndexEntries): void {
    if (!isObj(value)) return;
    if (type === 'Range') {
      const low = isObj(value.low) && typeof value.low.value === 'number' ? value.low : undefined;
      const high = isObj(value.high) && typeof value.high.value === 'number' ? value.high : undefined;
      const unit = low ?? high;
      if (!unit) return;
      out.quantity.push({
        param, low: (low?.value as number | undefined) ?? -Infinity, high: (high?.value as number | undefined) ?? Infinity,
        system: str(unit.system), code: str(unit.code) ?? str(unit.unit),
      });
      return;
    }
    if (typeof value.value !== 'number') return;
    if (type === 'Money' || 'currency' in value) {
      out.quantity.push({ param, low: value.value, high: value.value, system: 'urn:iso:std:iso:4217', code: str(value.currency) });
      return;
    }
    out.quantity.push({ param, low: value.value, high: value.value, system: str(value.system), code: str(value.code) ?? str(value.unit) });
  }

  private reference(param: string, type: string | undefined, value: unknown, out: IndexEntries): void {
    if (typeof value === 'string') {
      // canonical / uri targets: matched by URL (with |version split off for the plain match).
      out.reference.push({ param, type: null, id: null, url: value });
      return;
    }
    if (!isObj(value)) return;
    const ref = str(value.reference);
    if (ref) out.reference.push(this.parseReference(param, ref));
    // :identifier matches Reference.identifier (R4 search.html#reference).
    const ident = isObj(value.identifier) ? value.identifier : undefined;
    if (ident && (str(ident.value) || str(ident.system))) {
      out.token.push({ param: `${param}:identifier`, system: str(ident.system), code: str(ident.value) });
    }
  }

  /** Local references become type + id; absolute ones to this server's base too; others keep their URL. */
  parseReference(param: string, ref: string): ReferenceEntry {
    if (ref.startsWith('#')) return { param, type: null, id: null, url: ref };
    const local = parseLocalReference(ref, this.baseUrl);
    if (local && this.defs.isResourceType(local.type)) return { param, type: local.type, id: local.id, url: null };
    // A reference to another server still names a type and id (chains and _include use them).
    const remote = parseReference(ref);
    return { param, type: remote?.type ?? null, id: remote?.id ?? null, url: ref };
  }

  private composite(p: SearchParamInfo, root: Typed, out: IndexEntries): void {
    const elements: Typed[] = [];
    for (const path of p.paths) for (const el of path.evaluate(root)) elements.push(el);
    next: for (const el of elements) {
      // An element lacking any component matches nothing: the last components (value[x],
      // mostly) are looked at first, so that such an element costs one evaluation.
      const perComponent: CompositePart[][] = new Array<CompositePart[]>(p.components.length);
      for (let i = p.components.length - 1; i >= 0; i--) {
        const c = p.components[i];
        const parts: CompositePart[] = [];
        if (c) {
          for (const path of c.paths) {
            for (const v of path.evaluate(el)) for (const part of this.componentParts(c.param, v)) parts.push(part);
          }
        }
        if (parts.length === 0) continue next;
        perComponent[i] = parts;
      }
      // Every combination within the same element is a match (R4 search.html#composite).
      let combos: CompositePart[][] = [[]];
      for (const parts of perComponent) combos = combos.flatMap((c) => parts.map((x) => [...c, x]));
      for (const parts of combos.slice(0, 64)) out.composite.push({ param: p.code, parts });
    }
  }

  private componentParts(param: SearchParamInfo, v: Typed): CompositePart[] {
    if (!isIndexedType(param.type)) return [];
    const tmp = emptyEntries();
    this.add(param, v, tmp);
    return this.byType[param.type].parts(tmp, param);
  }

  /** The lowest and highest value of a parameter (R4 search.html#sort), from the entries added since `before`. */
  private sortKey(p: SearchParamInfo, out: IndexEntries, before: number): void {
    // Sorting by a reference or composite is meaningless in practice: no sort key is kept,
    // which saves an index row per reference on every write (PARAM_TYPES: sortable).
    const sort = isIndexedType(p.type) ? this.byType[p.type].sort : undefined;
    if (!sort) return;
    let lo: string | number | undefined;
    let hi: string | number | undefined;
    sort(out, before, p, (a, b) => {
      if (lo === undefined || a < lo) lo = a;
      if (hi === undefined || b > hi) hi = b;
    });
    if (lo !== undefined && hi !== undefined) out.sort.push({ param: p.code, lo, hi });
  }
}
