// The terminology service of one engine: the CodeSystems and ValueSets of the definitions (R4 and
// every package or file in PROFILES_DIR) plus those stored through the API, found by url through
// the engine's search and kept in a bounded cache that writes of those types invalidate.
import { memoByObject } from '../fhir-basics/memo.js';
import type { CodeSystem, ConceptMap, Resource, ValueSet } from 'fhir/r4.js';
import type { Definitions } from '../definitions/registry.js';
import { splitCanonical, TerminologyError, type TerminologySource } from './expand.js';

export type TerminologyType = 'CodeSystem' | 'ValueSet' | 'ConceptMap';
/** Stored resources of a type with a canonical url, as the engine's search finds them. */
export type Fetcher = (type: TerminologyType, params: [string, string][]) => Promise<Resource[]>;

/** Stored terminology resources remembered (and urls remembered as absent). */
const CACHE_ENTRIES = 1_000;
/** Stored resources fetched to answer one request (imports of imports…). */
const MAX_FETCHES = 100;
/** Versions of one canonical url considered. */
const MAX_VERSIONS = 20;

interface Canonical {
  url?: string;
  version?: string;
}

/** The resource of `list` with `version`, else the last one (the newest stored). */
function pick<T extends Canonical>(list: readonly T[], version: string | undefined): T | undefined {
  if (version !== undefined) return list.find((r) => r.version === version);
  return list[list.length - 1];
}

export class TerminologyService {
  private readonly cache = new Map<string, Resource[]>();
  private fetcher: Fetcher | undefined;

  constructor(readonly defs: Definitions) {}

  /** Gives the service access to stored resources (the engine calls this once it has a store). */
  attach(fetcher: Fetcher): void {
    this.fetcher = fetcher;
  }

  /** Forgets what is cached for a canonical url (a write of a CodeSystem, ValueSet or ConceptMap). */
  invalidate(type: string, url: string | undefined): void {
    if (url === undefined) return;
    this.cache.delete(`${type}|${url}`);
  }

  /** The cached stored resources of a url, or undefined when not looked up yet. */
  private cached(type: TerminologyType, url: string): Resource[] | undefined {
    const k = `${type}|${url}`;
    const hit = this.cache.get(k);
    if (hit) {
      // Least recently used goes first: re-insert on use.
      this.cache.delete(k);
      this.cache.set(k, hit);
    }
    return hit;
  }

  private remember(type: TerminologyType, url: string, list: Resource[]): void {
    this.cache.set(`${type}|${url}`, list);
    while (this.cache.size > CACHE_ENTRIES) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }

  /** The stored resources of a type with this url (cached). */
  async stored(type: TerminologyType, url: string): Promise<Resource[]> {
    const hit = this.cached(type, url);
    if (hit) return hit;
    if (!this.fetcher) return [];
    const list = (await this.fetcher(type, [['url', url], ['_count', String(MAX_VERSIONS)]])).filter((r) => (r as Canonical).url === url);
    this.remember(type, url, list);
    return list;
  }

  /** Stored ConceptMaps from or to a system (for $translate without a map named). */
  async conceptMapsFor(system: string, reverse: boolean): Promise<ConceptMap[]> {
    if (!this.fetcher) return [];
    const list = await this.fetcher('ConceptMap', [[reverse ? 'target-system' : 'source-system', system], ['_count', '50']]);
    return list.filter((r): r is ConceptMap => r.resourceType === 'ConceptMap');
  }

  async conceptMap(ref: string): Promise<ConceptMap | undefined> {
    const [url, version] = splitCanonical(ref);
    return pick((await this.stored('ConceptMap', url)) as ConceptMap[], version);
  }

  /**
   * A source that answers synchronously for the ValueSets `roots` need: the definitions first,
   * then stored resources, fetched here (imports followed, bounded) so that expansion stays pure.
   */
  async sourceFor(roots: { valueSets?: readonly string[]; codeSystems?: readonly string[]; extra?: readonly Resource[] }): Promise<TerminologySource> {
    const local = new Map<string, Resource[]>();
    let fetches = 0;
    const get = async (type: 'CodeSystem' | 'ValueSet', ref: string): Promise<Resource | undefined> => {
      const [url, version] = splitCanonical(ref);
      const fromDefs = type === 'CodeSystem' ? this.defs.codeSystem(url) : this.defs.valueSet(url);
      if (fromDefs && (version === undefined || fromDefs.version === version)) return fromDefs;
      const k = `${type}|${url}`;
      let list = local.get(k);
      if (!list) {
        if (++fetches > MAX_FETCHES) throw new TerminologyError('too-costly', `More than ${MAX_FETCHES} terminology resources would be needed`);
        list = await this.stored(type, url);
        local.set(k, list);
      }
      return pick(list as Canonical[], version) as Resource | undefined ?? fromDefs;
    };
    const seen = new Set<string>();
    const visitValueSet = async (vs: ValueSet): Promise<void> => {
      for (const inc of [...(vs.compose?.include ?? []), ...(vs.compose?.exclude ?? [])]) {
        if (inc.system && !seen.has(`cs ${inc.system}`)) {
          seen.add(`cs ${inc.system}`);
          await get('CodeSystem', inc.version ? `${inc.system}|${inc.version}` : inc.system);
        }
        for (const ref of inc.valueSet ?? []) await visit(ref);
      }
    };
    const visit = async (ref: string): Promise<void> => {
      if (seen.has(`vs ${ref}`)) return;
      seen.add(`vs ${ref}`);
      const vs = await get('ValueSet', ref);
      if (vs?.resourceType === 'ValueSet') await visitValueSet(vs as ValueSet);
    };
    for (const r of roots.extra ?? []) if (r.resourceType === 'ValueSet') await visitValueSet(r as ValueSet);
    for (const ref of roots.valueSets ?? []) await visit(ref);
    for (const ref of roots.codeSystems ?? []) await get('CodeSystem', ref);
    const defs = this.defs;
    return {
      codeSystem(url, version) {
        const d = defs.codeSystem(url);
        if (d && (version === undefined || d.version === version)) return d;
        return (pick((local.get(`CodeSystem|${url}`) ?? []) as CodeSystem[], version) ?? d);
      },
      valueSet(url, version) {
        const d = defs.valueSet(url);
        if (d && (version === undefined || d.version === version)) return d;
        return (pick((local.get(`ValueSet|${url}`) ?? []) as ValueSet[], version) ?? d);
      },
    };
  }
}

/** A service over the definitions alone (validation outside an engine, tests). */
export const definitionsTerminology = memoByObject((defs: Definitions) => new TerminologyService(defs));
