// _summary and _elements: returning part of a resource (R4 search.html#summary, #elements).
// Subsetted resources carry the SUBSETTED tag so no one mistakes them for the whole.
import type { Definitions } from '../definitions/registry.js';

export type SummaryMode = 'true' | 'text' | 'data' | 'count' | 'false';

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'subsetted' };
const ALWAYS = new Set(['resourceType', 'id', 'meta']);

type Json = Record<string, unknown>;

export class Subsetter {
  private readonly summaryCache = new Map<string, Set<string>>();
  private readonly mandatoryCache = new Map<string, Set<string>>();

  constructor(private readonly defs: Definitions) {}

  private names(type: string, pick: (isSummary: boolean, min: number) => boolean, cache: Map<string, Set<string>>): Set<string> {
    let set = cache.get(type);
    if (!set) {
      set = new Set(ALWAYS);
      for (const el of this.defs.typeModel(type)?.elements.values() ?? []) {
        if (pick(el.definition.isSummary === true, el.min)) set.add(el.name);
      }
      cache.set(type, set);
    }
    return set;
  }

  /** Applies _summary / _elements to one resource's JSON; returns it unchanged when neither applies. */
  apply(json: string, summary: SummaryMode | undefined, elements: readonly string[] | undefined): string {
    if ((!summary || summary === 'false' || summary === 'count') && !elements) return json;
    const res = JSON.parse(json) as Json;
    const type = String(res.resourceType);
    let keep: (key: string) => boolean;
    if (summary === 'true') {
      const names = this.names(type, (s, min) => s || min > 0, this.summaryCache);
      keep = (k) => names.has(k);
    } else if (summary === 'text') {
      const names = this.names(type, (_s, min) => min > 0, this.mandatoryCache);
      keep = (k) => k === 'text' || names.has(k);
    } else if (summary === 'data') {
      keep = (k) => k !== 'text';
    } else {
      // R4 search.html#elements: servers SHOULD always return mandatory elements.
      const wanted = new Set([...(elements ?? []), ...this.names(type, (_s, min) => min > 0, this.mandatoryCache)]);
      keep = (k) => ALWAYS.has(k) || wanted.has(k) || wanted.has(k.replace(/^_/, '')) || [...wanted].some((w) => k.startsWith(w) && /^[A-Z]/.test(k.slice(w.length)));
    }
    const out: Json = {};
    for (const [k, v] of Object.entries(res)) if (keep(k)) out[k] = v;
    const meta = (out.meta ?? {}) as Json;
    const tags = Array.isArray(meta.tag) ? meta.tag : [];
    out.meta = { ...meta, tag: [...tags, SUBSETTED] };
    return JSON.stringify(out);
  }
}
