// ValueSet expansion and membership over the CodeSystems and ValueSets a source holds (pure: no
// store, no HTTP). Enumerated concepts, whole systems, filters (is-a, descendent-of, is-not-a,
// generalizes, =, regex, in, not-in, exists), nested ValueSet imports and excludes.
// R4 valueset.html#compositions, valueset-operation-expand.html.
import type { CodeSystem, ValueSet, ValueSetComposeInclude, ValueSetComposeIncludeFilter } from 'fhir/r4.js';
import { indexOf, type CodeSystemIndex } from './codesystem.js';

/** Where the terminology resources come from (definitions, stored ones, loaded packages). */
export interface TerminologySource {
  codeSystem(url: string, version?: string): CodeSystem | undefined;
  valueSet(url: string, version?: string): ValueSet | undefined;
}

export interface Concept {
  system: string;
  version?: string;
  code: string;
  display?: string;
  inactive?: boolean;
  abstract?: boolean;
}

/** The largest expansion Flint computes; beyond it the answer is `too-costly`. */
export const MAX_EXPANSION = 10_000;
/** Deepest chain of ValueSet imports followed. */
const MAX_IMPORT_DEPTH = 20;

export type TerminologyErrorCode = 'not-found' | 'too-costly' | 'not-supported' | 'invalid' | 'unknown-system';

/** Why an expansion or a check could not be done. `system` names a code system Flint does not hold. */
export class TerminologyError extends Error {
  constructor(readonly code: TerminologyErrorCode, message: string, readonly system?: string) {
    super(message);
    this.name = 'TerminologyError';
  }
}

/** `url|version` → [url, version]. */
export function splitCanonical(ref: string): [string, string | undefined] {
  const bar = ref.indexOf('|');
  return bar < 0 ? [ref, undefined] : [ref.slice(0, bar), ref.slice(bar + 1) || undefined];
}

const key = (system: string, code: string): string => `${system}\u0000${code}`;

/** A regular expression from a ValueSet filter, refused when it risks catastrophic backtracking. */
export function safeRegex(pattern: string): RegExp {
  if (pattern.length > 200) throw new TerminologyError('too-costly', 'A regex filter is limited to 200 characters');
  // Nested quantifiers ((a+)+, (a*)*, (a|aa)+…) are the shapes that backtrack exponentially.
  if (/\([^)]*[+*}][^)]*\)\s*[+*{]/.test(pattern) || /\\[1-9]/.test(pattern)) {
    throw new TerminologyError('not-supported', 'The regex filter has nested quantifiers or backreferences, which Flint does not run');
  }
  try {
    // R4: the regex matches the whole value (valueset filter-operator `regex`).
    return new RegExp(`^(?:${pattern})$`, 'u');
  } catch {
    throw new TerminologyError('invalid', `The regex filter "${pattern.slice(0, 60)}" is not a valid regular expression`);
  }
}

/** Whether one concept of `cs` passes one filter. */
function passes(idx: CodeSystemIndex, code: string, f: ValueSetComposeIncludeFilter, cache: Map<ValueSetComposeIncludeFilter, Set<string> | RegExp>): boolean {
  const info = idx.get(code);
  if (!info) return false;
  const prop = f.property;
  const hierarchy = prop === 'concept' || prop === 'code';
  const op = f.op as string;
  if (hierarchy && (op === 'is-a' || op === 'descendent-of' || op === 'descendant-of' || op === 'is-not-a' || op === 'generalizes')) {
    let set = cache.get(f) as Set<string> | undefined;
    if (!set) {
      if (!idx.get(f.value)) throw new TerminologyError('invalid', `The filter value "${f.value.slice(0, 60)}" is not a code of ${idx.cs.url ?? 'the code system'}`);
      set = new Set(op === 'generalizes' ? [f.value, ...idx.ancestors(f.value)] : idx.descendants(f.value, op !== 'descendent-of' && op !== 'descendant-of'));
      cache.set(f, set);
    }
    return op === 'is-not-a' ? !set.has(info.code) : set.has(info.code);
  }
  const values = (): string[] => {
    if (hierarchy) return [info.code];
    if (prop === 'display') return info.display !== undefined ? [info.display] : [];
    return idx.property(info, prop);
  };
  switch (op) {
    case '=': return values().includes(f.value);
    case 'in': return values().some((v) => f.value.split(',').map((s) => s.trim()).includes(v));
    case 'not-in': return !values().some((v) => f.value.split(',').map((s) => s.trim()).includes(v));
    case 'exists': return (values().length > 0) === (f.value !== 'false');
    case 'regex': {
      let re = cache.get(f) as RegExp | undefined;
      if (!re) {
        re = safeRegex(f.value);
        cache.set(f, re);
      }
      const r = re;
      // Codes and displays are short; a value over 1,000 characters is not tried (bounded work).
      return values().some((v) => v.length <= 1000 && r.test(v));
    }
    default:
      throw new TerminologyError('not-supported', `The filter operator "${op}" is not supported`);
  }
}

export interface ExpandOptions {
  /** Text the display or code must contain (case-insensitive): $expand `filter`. */
  filter?: string;
  /** Leave out inactive concepts: $expand `activeOnly`. */
  activeOnly?: boolean;
  /** Bound on the number of codes (default MAX_EXPANSION). */
  max?: number;
}

/** Expands and checks ValueSets over one source. One instance per request (it memoises). */
export class Expander {
  private readonly memo = new Map<string, Concept[]>();
  private readonly stack: string[] = [];

  constructor(private readonly source: TerminologySource, private readonly max = MAX_EXPANSION) {}

  codeSystem(system: string, version?: string): CodeSystemIndex | undefined {
    const cs = this.source.codeSystem(system, version);
    return cs ? indexOf(cs) : undefined;
  }

  /** The ValueSet a canonical reference names; a TerminologyError when it is unknown. */
  valueSet(ref: string): ValueSet {
    const [url, version] = splitCanonical(ref);
    const vs = this.source.valueSet(url, version);
    if (!vs) throw new TerminologyError('not-found', `The value set ${ref.slice(0, 200)} is not known to this server`);
    return vs;
  }

  /** Every concept of the ValueSet, in order, deduplicated; TerminologyError when it cannot be done. */
  expand(vs: ValueSet, opts: ExpandOptions = {}): Concept[] {
    const all = this.concepts(vs);
    const text = opts.filter?.toLowerCase();
    return all.filter((c) => (!opts.activeOnly || !c.inactive)
      && (text === undefined || c.code.toLowerCase().includes(text) || (c.display?.toLowerCase().includes(text) ?? false)));
  }

  private concepts(vs: ValueSet): Concept[] {
    const id = vs.url ? `${vs.url}|${vs.version ?? ''}` : undefined;
    if (id) {
      const m = this.memo.get(id);
      if (m) return m;
      if (this.stack.includes(id)) throw new TerminologyError('invalid', `The value set ${vs.url} imports itself (${[...this.stack, id].map((s) => s.split('|')[0]).join(' → ')})`);
      if (this.stack.length >= MAX_IMPORT_DEPTH) throw new TerminologyError('too-costly', `Value set imports nest deeper than ${MAX_IMPORT_DEPTH}`);
      this.stack.push(id);
    }
    try {
      const out = this.compute(vs);
      if (id) this.memo.set(id, out);
      return out;
    } finally {
      if (id) this.stack.pop();
    }
  }

  private compute(vs: ValueSet): Concept[] {
    if (!vs.compose) {
      // A ValueSet that carries only its expansion (as some packages ship them).
      if (vs.expansion) {
        const out: Concept[] = [];
        const walk = (list: NonNullable<ValueSet['expansion']>['contains'], depth: number): void => {
          for (const c of list ?? []) {
            if (c.system && c.code) {
              out.push({ system: c.system, code: c.code, ...(c.version ? { version: c.version } : {}), ...(c.display ? { display: c.display } : {}), ...(c.inactive ? { inactive: true } : {}), ...(c.abstract ? { abstract: true } : {}) });
              if (out.length > this.max) throw this.tooCostly(vs);
            }
            if (depth < 50) walk(c.contains, depth + 1);
          }
        };
        walk(vs.expansion.contains, 0);
        return out;
      }
      throw new TerminologyError('not-supported', `The value set ${vs.url ?? ''} has neither a compose nor an expansion`);
    }
    const result = new Map<string, Concept>();
    for (const inc of vs.compose.include ?? []) {
      for (const c of this.include(inc, vs)) {
        if (!result.has(key(c.system, c.code))) result.set(key(c.system, c.code), c);
        if (result.size > this.max) throw this.tooCostly(vs);
      }
    }
    for (const exc of vs.compose.exclude ?? []) {
      for (const c of this.include(exc, vs)) result.delete(key(c.system, c.code));
    }
    // R4 valueset.html#compose: inactive concepts are left out when compose.inactive is false.
    const all = [...result.values()];
    return vs.compose.inactive === false ? all.filter((c) => !c.inactive) : all;
  }

  private tooCostly(vs: ValueSet): TerminologyError {
    return new TerminologyError('too-costly', `The expansion of ${vs.url ?? 'the value set'} has more than ${this.max} codes`);
  }

  /** The concepts one include (or exclude) selects. */
  private include(inc: ValueSetComposeInclude, vs: ValueSet): Concept[] {
    let out: Concept[] | undefined;
    if (inc.system) {
      const system = inc.system;
      const idx = this.codeSystem(system, inc.version);
      const version = inc.version ?? idx?.cs.version;
      const concept = (code: string, display?: string): Concept => {
        const info = idx?.get(code);
        const d = display ?? info?.display;
        return {
          system, code: info?.code ?? code, ...(version ? { version } : {}), ...(d !== undefined ? { display: d } : {}),
          ...(info?.inactive ? { inactive: true } : {}), ...(info?.abstract ? { abstract: true } : {}),
        };
      };
      if (inc.concept?.length) {
        out = inc.concept.map((c) => concept(c.code, c.display));
      } else {
        if (!idx || !idx.complete) throw unknownSystem(system, idx);
        let codes = idx.order;
        if (inc.filter?.length) {
          const cache = new Map<ValueSetComposeIncludeFilter, Set<string> | RegExp>();
          const filters = inc.filter;
          codes = codes.filter((c) => filters.every((f) => passes(idx, c, f, cache)));
        }
        if (codes.length > this.max) throw this.tooCostly(vs);
        out = codes.map((c) => concept(c));
      }
    }
    for (const ref of inc.valueSet ?? []) {
      // R4 valueset-definitions.html#ValueSet.compose.include.valueSet: the include selects the
      // intersection of its system part and every value set it names (includes are then unioned).
      const inner = this.concepts(this.valueSet(ref));
      if (!out) {
        out = inner;
      } else {
        const keep = new Set(inner.map((c) => key(c.system, c.code)));
        out = out.filter((c) => keep.has(key(c.system, c.code)));
      }
    }
    return out ?? [];
  }

  /**
   * Whether `code` (of `system`, or of any system when undefined) is in the ValueSet, without
   * expanding what does not need it: an include of a system Flint does not hold answers
   * `unknown` for codes of that system only. R4 valueset-operation-validate-code.html.
   */
  contains(vs: ValueSet, system: string | undefined, code: string): Membership {
    const id = vs.url ? `${vs.url}|${vs.version ?? ''}` : undefined;
    if (id) {
      if (this.stack.includes(id)) throw new TerminologyError('invalid', `The value set ${vs.url} imports itself`);
      if (this.stack.length >= MAX_IMPORT_DEPTH) throw new TerminologyError('too-costly', `Value set imports nest deeper than ${MAX_IMPORT_DEPTH}`);
      this.stack.push(id);
    }
    try {
      if (!vs.compose) {
        const found = this.concepts(vs).find((c) => c.code === code && (system === undefined || c.system === system));
        return found ? { result: 'yes', concept: found } : { result: 'no' };
      }
      let unknown: Membership | undefined;
      let yes: Membership | undefined;
      for (const inc of vs.compose.include ?? []) {
        const m = this.inInclude(inc, system, code);
        if (m.result === 'yes') {
          yes = m;
          break;
        }
        if (m.result === 'unknown') unknown ??= m;
      }
      if (!yes) return unknown ?? { result: 'no' };
      for (const exc of vs.compose.exclude ?? []) {
        const m = this.inInclude(exc, system, code);
        if (m.result === 'yes') return { result: 'no' };
        if (m.result === 'unknown') return m;
      }
      if (vs.compose.inactive === false && yes.concept?.inactive) return { result: 'no', inactive: true };
      return yes;
    } finally {
      if (id) this.stack.pop();
    }
  }

  private inInclude(inc: ValueSetComposeInclude, system: string | undefined, code: string): Membership {
    let m: Membership = { result: 'yes' };
    if (inc.system) {
      if (system !== undefined && system !== inc.system) return { result: 'no' };
      const idx = this.codeSystem(inc.system, inc.version);
      const info = idx?.get(code);
      const concept: Concept = {
        system: inc.system, code: info?.code ?? code, ...(idx?.cs.version ? { version: idx.cs.version } : {}),
        ...(info?.display !== undefined ? { display: info.display } : {}), ...(info?.inactive ? { inactive: true } : {}), ...(info?.abstract ? { abstract: true } : {}),
      };
      if (inc.concept?.length) {
        const listed = inc.concept.find((c) => (idx && !idx.caseSensitive ? c.code.toLowerCase() === code.toLowerCase() : c.code === code));
        if (!listed) return { result: 'no' };
        if (!info && listed.display !== undefined) concept.display = listed.display;
        m = { result: 'yes', concept };
      } else if (!idx || (!idx.complete && !info)) {
        return { result: 'unknown', system: inc.system, reason: unknownSystem(inc.system, idx).message };
      } else if (!info) {
        return { result: 'no' };
      } else {
        const cache = new Map<ValueSetComposeIncludeFilter, Set<string> | RegExp>();
        if (!(inc.filter ?? []).every((f) => passes(idx, info.code, f, cache))) return { result: 'no' };
        m = { result: 'yes', concept };
      }
    }
    for (const ref of inc.valueSet ?? []) {
      const inner = this.contains(this.valueSet(ref), system, code);
      if (inner.result !== 'yes') return inner;
      if (!m.concept && inner.concept) m = inner;
    }
    return m;
  }
}

export interface Membership {
  result: 'yes' | 'no' | 'unknown';
  concept?: Concept;
  /** For `unknown`: the code system Flint does not hold, and why. */
  system?: string;
  reason?: string;
  inactive?: boolean;
}

function unknownSystem(system: string, idx: CodeSystemIndex | undefined): TerminologyError {
  if (!idx) return new TerminologyError('unknown-system', `The code system ${system} is not held by this server, so its codes are not checked`, system);
  if (idx.tooLarge) return new TerminologyError('too-costly', `The code system ${system} is too large to expand here`, system);
  return new TerminologyError('unknown-system', `The code system ${system} is held only in part (content = ${idx.cs.content}), so its codes are not checked`, system);
}
