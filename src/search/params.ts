// The search parameters of each resource type, compiled once from the SearchParameter
// definitions: their type, the paths that find their values, reference targets, components.
import type { SearchParameter } from 'fhir/r4.js';
import type { Definitions } from '../definitions/registry.js';
import { compilePath, splitUnion, type CompiledPath } from './path.js';

export type ParamType = 'token' | 'string' | 'date' | 'number' | 'quantity' | 'reference' | 'uri' | 'composite' | 'special';

export interface ParamComponent {
  /** The component's own parameter (its type decides how values are indexed and matched). */
  param: SearchParamInfo;
  paths: CompiledPath[];
}

export interface SearchParamInfo {
  readonly code: string;
  readonly type: ParamType;
  readonly resourceType: string;
  readonly url: string | undefined;
  /** Union parts that apply to this resource type. */
  readonly paths: CompiledPath[];
  /** For reference parameters: the resource types a reference may point to. */
  readonly targets: readonly string[];
  readonly components: ParamComponent[];
  readonly definition: SearchParameter;
}

/** Parameters whose values come from the resource table, not from an expression. */
export const RESOURCE_COLUMNS = new Set(['_id', '_lastUpdated']);

/** Parameters Flint recognises but does not index (no expression, or not searchable here). */
const UNINDEXED = new Set(['_text', '_content', '_query', '_list', '_has', '_type']);

export class SearchParams {
  private readonly byType = new Map<string, Map<string, SearchParamInfo>>();
  private readonly byUrl = new Map<string, SearchParameter>();
  /** SearchParameters added at runtime (stored as resources), by url. Per engine, not global. */
  private readonly custom = new Map<string, SearchParameter>();

  /** `fastPaths: false` evaluates every expression with fhirpath.js (to measure the fast path). */
  constructor(private readonly defs: Definitions, private readonly options: { fastPaths?: boolean } = {}) {}

  private definitionsFor(type: string): SearchParameter[] {
    const list = [...this.defs.searchParameters(type)];
    for (const sp of this.custom.values()) {
      if (!(sp.base ?? []).includes(type)) continue;
      const at = list.findIndex((p) => p.code === sp.code);
      if (at >= 0) list[at] = sp;
      else list.push(sp);
    }
    return list;
  }

  /** All compiled parameters of a type, by code. */
  forType(type: string): Map<string, SearchParamInfo> {
    let map = this.byType.get(type);
    if (!map) {
      map = new Map();
      const defs = this.definitionsFor(type);
      for (const sp of defs) {
        if (sp.url) this.byUrl.set(sp.url, sp);
      }
      for (const sp of defs) {
        const info = this.compile(sp, type);
        if (info) map.set(info.code, info);
      }
      this.byType.set(type, map);
    }
    return map;
  }

  /**
   * Adds (or replaces) a runtime SearchParameter; returns the types whose parameters changed.
   * Throws when its expression does not compile.
   */
  /** The key a runtime SearchParameter is registered under (its url, else base#code). */
  static customKey(sp: SearchParameter): string {
    return sp.url ?? `${(sp.base ?? []).join(',')}#${sp.code}`;
  }

  /** The runtime SearchParameters registered now, by key. */
  customParams(): ReadonlyMap<string, SearchParameter> {
    return new Map(this.custom);
  }

  addCustom(sp: SearchParameter): string[] {
    const key = SearchParams.customKey(sp);
    const types = this.check(sp);
    const previous = this.custom.get(key);
    this.custom.set(key, sp);
    const affected = [...new Set([...types, ...(previous?.base ?? [])])];
    this.invalidate(affected);
    return affected;
  }

  /** Compiles a SearchParameter's expression for each base type; throws if it does not compile. */
  check(sp: SearchParameter): string[] {
    const types = (sp.base ?? []).filter((t) => this.defs.isResourceType(t));
    for (const t of types) {
      for (const part of splitUnion(sp.expression ?? '')) compilePath(this.defs, part, t);
    }
    return types;
  }

  removeCustom(url: string): string[] {
    const previous = this.custom.get(url);
    if (!previous) return [];
    this.custom.delete(url);
    const affected = previous.base ?? [];
    this.invalidate(affected);
    return affected;
  }

  isCustom(type: string, code: string): boolean {
    for (const sp of this.custom.values()) if (sp.code === code && (sp.base ?? []).includes(type)) return true;
    return false;
  }

  get(type: string, code: string): SearchParamInfo | undefined {
    return this.forType(type).get(code);
  }

  /** Forgets compiled parameters (after a SearchParameter is added at runtime). */
  invalidate(types?: readonly string[]): void {
    if (!types) this.byType.clear();
    else for (const t of types) this.byType.delete(t);
  }

  private compile(sp: SearchParameter, type: string): SearchParamInfo | undefined {
    if (UNINDEXED.has(sp.code)) return undefined;
    const paths: CompiledPath[] = [];
    if (sp.expression && !RESOURCE_COLUMNS.has(sp.code)) {
      for (const part of splitUnion(sp.expression)) {
        // Shared parameters list every base: keep the parts for this type (or for Resource/DomainResource).
        const head = /^\(?([A-Z][A-Za-z]+)/.exec(part)?.[1];
        if (head && head !== type && head !== 'Resource' && head !== 'DomainResource') continue;
        paths.push(compilePath(this.defs, part, type, this.options.fastPaths !== false));
      }
      if (paths.length === 0) return undefined;
    }
    const components: ParamComponent[] = [];
    for (const c of sp.component ?? []) {
      const def = this.byUrl.get(c.definition) ?? this.findByUrl(c.definition);
      if (!def) return undefined;
      const param = this.compile(def, type) ?? componentOnly(def, type);
      components.push({ param, paths: splitUnion(c.expression).map((e) => compilePath(this.defs, e, undefined, this.options.fastPaths !== false)) });
    }
    return {
      code: sp.code,
      type: sp.type as ParamType,
      resourceType: type,
      url: sp.url,
      paths,
      targets: sp.target ?? [],
      components,
      definition: sp,
    };
  }

  private findByUrl(url: string): SearchParameter | undefined {
    for (const type of this.defs.resourceTypes) {
      for (const sp of this.defs.searchParameters(type)) {
        if (sp.url) this.byUrl.set(sp.url, sp);
      }
      const found = this.byUrl.get(url);
      if (found) return found;
    }
    return undefined;
  }
}

/** A component's parameter may belong to another base; only its type matters then. */
function componentOnly(def: SearchParameter, type: string): SearchParamInfo {
  return { code: def.code, type: def.type as ParamType, resourceType: type, url: def.url, paths: [], targets: def.target ?? [], components: [], definition: def };
}
