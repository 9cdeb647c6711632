// The search IR: what a search means, as plain JSON-serialisable data. The parser produces it
// from a query string; each store adapter compiles it into its own query language.

export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';

/** A condition on one search parameter of the resource being filtered. */
export type Condition =
  | { kind: 'token'; param: string; system?: string | null; code?: string; /** :of-type / :identifier tables */ variant?: 'of-type' | 'identifier'; codes?: { system: string | null; code: string }[] }
  | { kind: 'token-text'; param: string; text: string }
  | { kind: 'string'; param: string; match: 'starts' | 'exact' | 'contains'; value: string }
  | { kind: 'date'; param: string; prefix: Prefix; start: number; end: number }
  | { kind: 'number'; param: string; prefix: Prefix; value: number; low: number; high: number }
  | { kind: 'quantity'; param: string; prefix: Prefix; value: number; low: number; high: number; system?: string; code?: string }
  | { kind: 'reference'; param: string; type?: string; id?: string; url?: string; /** type must be one of (param targets or :Type) */ types?: string[] }
  | { kind: 'uri'; param: string; match: 'eq' | 'below' | 'above'; value: string }
  | { kind: 'missing'; param: string; table: IndexTable; missing: boolean }
  | { kind: 'id'; ids: string[] }
  | { kind: 'lastUpdated'; prefix: Prefix; start: number; end: number }
  /** The resource is of one of these types (for filters that apply to some types only). */
  | { kind: 'type'; types: string[] }
  | { kind: 'composite'; param: string; parts: CompositeMatch[] }
  /** Chaining: resources whose `param` references a `targetType` resource matching `where`. */
  | { kind: 'chain'; param: string; targetTypes: string[]; where: Expr }
  /** Reverse chaining (_has): resources referenced through `param` by a `sourceType` matching `where`. */
  | { kind: 'has'; sourceType: string; param: string; where: Expr };

export type CompositeMatch =
  | { kind: 'token'; system?: string | null; code: string }
  | { kind: 'range'; prefix: Prefix; low: number; high: number; value: number; system?: string; code?: string }
  | { kind: 'string'; value: string }
  | { kind: 'reference'; type?: string; id: string };

export type IndexTable = 'token' | 'text' | 'string' | 'date' | 'number' | 'quantity' | 'reference' | 'uri' | 'composite';

export type Expr =
  | { and: Expr[] }
  | { or: Expr[] }
  | { not: Expr }
  | { cond: Condition };

export interface SortKey {
  /** A parameter code, or `_id` / `_lastUpdated`. */
  param: string;
  descending: boolean;
}

export interface IncludeSpec {
  /** Resource type that holds the reference (`Observation` in `Observation:subject`). */
  sourceType: string;
  /** Reference parameter, or `*` for all of them. */
  param: string;
  targetType?: string;
  iterate: boolean;
}

/** Restricts results to one compartment (compartment search, or a patient-scoped token). */
export interface CompartmentConstraint {
  /** The compartment's type (Patient, Encounter…) and the id of its owner. */
  type: string;
  id: string;
  /**
   * For each resource type in the compartment, the reference parameters that put a resource
   * in it (from the CompartmentDefinition). Types absent here are outside the compartment.
   */
  params: Record<string, string[]>;
}

/** What one type may show of itself to the caller (from the access policy). */
export interface TypeAccess {
  /** Confined to the compartment (for types the compartment definition covers; others are not). */
  inCompartment: boolean;
  /** Granular scopes: a visible resource matches this filter too. */
  filter?: Expr;
}

/**
 * The caller's access policy as the store applies it: to the matches, to every included or
 * revincluded resource, and inside chains and _has, so nothing outside it is seen or inferred.
 */
export interface AccessConstraint {
  /** The compartment a patient-scoped caller is confined to. */
  compartment?: CompartmentConstraint;
  /** Per type; a type absent here falls back to `otherTypes`, and is invisible if that is absent. */
  types: Record<string, TypeAccess>;
  otherTypes?: TypeAccess;
}

export interface SearchQuery {
  /** The types searched: one for a type search, several (or all) for a system search. */
  types: string[];
  where: Expr;
  sort: SortKey[];
  /** Page size; 0 asks only for the total. */
  count: number;
  /** Opaque cursor of the page to fetch (from a previous page's links). */
  cursor?: string;
  /**
   * none: no total; cheap (the default): a total only when it costs nothing (the first page
   * holds every match); estimate: counted up to a cap; accurate: always counted.
   */
  total: 'none' | 'cheap' | 'estimate' | 'accurate';
  include: IncludeSpec[];
  revinclude: IncludeSpec[];
  compartment?: CompartmentConstraint;
  /** The caller's access policy (absent: unrestricted, e.g. AUTH=off or internal use). */
  access?: AccessConstraint;
  /**
   * The engine's own searches (SearchParameters at start-up, subscription matching): their time
   * budget in ms, instead of the one a client's search gets (SEARCH_TIMEOUT_MS). Never set from a URL.
   */
  budgetMs?: number;
  /**
   * Who the search runs for (the HTTP client, src/http/plugin.ts): a store that queues searches
   * for threads takes turns between lanes. Never from a URL; absent for the engine's own searches.
   */
  lane?: string;
}

export const MATCH_ALL: Expr = { and: [] };

/** `budgetMs` of the engine's own searches: bounded, but not by what suits a client's search. */
export const ENGINE_SEARCH_BUDGET_MS = 60_000;

/** The codes of a token condition's `codes` grouped by system (null: any system), for IN lists. */
export function bySystem(codes: readonly { system: string | null; code: string }[]): Map<string | null, string[]> {
  const out = new Map<string | null, string[]>();
  for (const { system, code } of codes) {
    const list = out.get(system);
    if (list) list.push(code);
    else out.set(system, [code]);
  }
  return out;
}

/** How many resources _include / _revinclude may add to one page (a warning says when cut). */
export const MAX_INCLUDES = 1000;
