// Terminology for bindings, from the ValueSets and CodeSystems in the definitions (no terminology
// server). A ValueSet is expanded once, on first use: enumerated concepts, whole CodeSystems whose
// content is `complete`, `is-a`/`descendent-of` filters over such CodeSystems, included ValueSets
// and excludes. Anything else (SNOMED, LOINC, UCUM, other filters, CodeSystems not loaded) cannot
// be expanded here; such bindings are not checked, and `unexpandable()` says which and why.
// R4 valueset.html#compositions, terminologies.html#strength.
import type { CodeSystem, CodeSystemConcept, ValueSet, ValueSetComposeInclude } from 'fhir/r4.js';
import type { Definitions } from '../definitions/registry.js';

export interface Expansion {
  /** `system|code` pairs. */
  readonly pairs: ReadonlySet<string>;
  /** Codes regardless of system (for `code`, `string` and `uri` elements, which carry no system). */
  readonly codes: ReadonlySet<string>;
  readonly systems: ReadonlySet<string>;
}

type Result = Expansion | { unexpandable: string };

function walkConcepts(concepts: readonly CodeSystemConcept[] | undefined, visit: (c: CodeSystemConcept) => void): void {
  for (const c of concepts ?? []) {
    visit(c);
    walkConcepts(c.concept, visit);
  }
}

/** The concept and its descendants in a hierarchical CodeSystem (`is-a`). */
function subtree(cs: CodeSystem, code: string, includeSelf: boolean): string[] | undefined {
  let found: CodeSystemConcept | undefined;
  walkConcepts(cs.concept, (c) => {
    if (!found && c.code === code) found = c;
  });
  if (!found) return undefined;
  const out: string[] = includeSelf ? [found.code] : [];
  walkConcepts(found.concept, (c) => out.push(c.code));
  return out;
}

export class Terminology {
  private readonly expansions = new Map<string, Result>();
  private readonly csCodes = new Map<string, ReadonlySet<string> | null>();

  constructor(private readonly defs: Definitions) {}

  /** Codes of a CodeSystem whose content is complete; null when Flint cannot know them all. */
  codeSystemCodes(system: string): ReadonlySet<string> | null {
    let codes = this.csCodes.get(system);
    if (codes === undefined) {
      const cs = this.defs.codeSystem(system);
      // Systems come from the data: unknown ones are not remembered (the cache stays bounded).
      if (!cs) return null;
      if (cs?.content === 'complete' && cs.concept?.length) {
        const set = new Set<string>();
        walkConcepts(cs.concept, (c) => set.add(c.code));
        codes = set;
      } else {
        codes = null;
      }
      this.csCodes.set(system, codes);
    }
    return codes;
  }

  expand(url: string): Result {
    const key = url.split('|')[0] ?? url;
    let r = this.expansions.get(key);
    if (!r) {
      // Guards against ValueSets that include themselves, directly or not.
      this.expansions.set(key, { unexpandable: 'includes itself' });
      r = this.compute(key);
      this.expansions.set(key, r);
    }
    return r;
  }

  private compute(url: string): Result {
    const vs = this.defs.valueSet(url);
    if (!vs) return { unexpandable: 'ValueSet not loaded' };
    const pairs = new Set<string>();
    const add = (system: string, code: string): void => {
      pairs.add(`${system}|${code}`);
    };
    if (vs.expansion?.contains && !vs.compose) {
      const walk = (cs: NonNullable<ValueSet['expansion']>['contains']): void => {
        for (const c of cs ?? []) {
          if (c.system && c.code) add(c.system, c.code);
          walk(c.contains);
        }
      };
      walk(vs.expansion.contains);
      return this.finish(pairs);
    }
    for (const inc of vs.compose?.include ?? []) {
      const got = this.include(inc);
      if ('unexpandable' in got) return got;
      for (const p of got) pairs.add(p);
    }
    for (const exc of vs.compose?.exclude ?? []) {
      const got = this.include(exc);
      if ('unexpandable' in got) return { unexpandable: `exclude: ${got.unexpandable}` };
      for (const p of got) pairs.delete(p);
    }
    return this.finish(pairs);
  }

  private include(inc: ValueSetComposeInclude): Set<string> | { unexpandable: string } {
    const out = new Set<string>();
    if (inc.system) {
      const system = inc.system;
      if (inc.concept?.length) {
        for (const c of inc.concept) out.add(`${system}|${c.code}`);
      } else if (inc.filter?.length) {
        const cs = this.defs.codeSystem(system);
        if (!cs || cs.content !== 'complete') return { unexpandable: `filter on ${system}, not loaded in full` };
        let codes: string[] | undefined;
        for (const f of inc.filter) {
          const hierarchy = f.property === 'concept' || f.property === 'code';
          if (!hierarchy || (f.op !== 'is-a' && f.op !== 'descendent-of')) return { unexpandable: `filter ${f.property} ${f.op} on ${system}` };
          const sub = subtree(cs, f.value, f.op === 'is-a');
          if (!sub) return { unexpandable: `filter value ${f.value} not in ${system}` };
          codes = codes ? codes.filter((c) => sub.includes(c)) : sub;
        }
        for (const c of codes ?? []) out.add(`${system}|${c}`);
      } else {
        const codes = this.codeSystemCodes(system);
        if (!codes) return { unexpandable: `all of ${system}, which is not loaded in full` };
        for (const c of codes) out.add(`${system}|${c}`);
      }
    }
    if (inc.valueSet?.length) {
      // R4: a system and value sets together mean their intersection; value sets alone, the union.
      let acc: Set<string> | undefined = inc.system ? out : undefined;
      for (const ref of inc.valueSet) {
        const e = this.expand(ref);
        if ('unexpandable' in e) return { unexpandable: `includes ${ref}: ${e.unexpandable}` };
        acc = acc ? new Set([...acc].filter((p) => e.pairs.has(p))) : new Set(e.pairs);
      }
      return acc ?? out;
    }
    return out;
  }

  private finish(pairs: Set<string>): Expansion {
    const codes = new Set<string>();
    const systems = new Set<string>();
    for (const p of pairs) {
      const bar = p.lastIndexOf('|');
      systems.add(p.slice(0, bar));
      codes.add(p.slice(bar + 1));
    }
    return { pairs, codes, systems };
  }

  /** Every ValueSet Flint cannot expand, with the reason (for the README and diagnostics). */
  unexpandable(urls: Iterable<string>): { url: string; reason: string }[] {
    const out: { url: string; reason: string }[] = [];
    for (const url of urls) {
      const r = this.expand(url);
      if ('unexpandable' in r) out.push({ url, reason: r.unexpandable });
    }
    return out;
  }
}
