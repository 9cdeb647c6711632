// The codes a token search with :in, :not-in, :above or :below stands for (R4 search.html#token),
// from the terminology the search was given: the definitions' CodeSystems and ValueSets, and
// those stored through the API (the engine fetches them before parsing, src/fhir/search-terms.ts).
// Bounded: the codes of one search are capped, so a huge value set is refused, never expanded
// into an unbounded query.
import type { Definitions } from '../definitions/registry.js';
import { indexOf } from '../terminology/codesystem.js';
import { Expander, TerminologyError, type TerminologySource } from '../terminology/expand.js';

export interface CodeRef {
  system: string | null;
  code: string;
}

/** The definitions alone as a terminology source (searches parsed without the engine's prefetch). */
export function definitionsSource(defs: Definitions): TerminologySource {
  return { codeSystem: (url) => defs.codeSystem(url), valueSet: (url) => defs.valueSet(url) };
}

/** One search's code lookups: the expansions share one Expander and one budget of codes. */
export class SearchCodes {
  private readonly expander: Expander;
  private used = 0;

  constructor(private readonly source: TerminologySource, private readonly budget: number) {
    this.expander = new Expander(source, budget);
  }

  private spend(n: number, what: string): void {
    this.used += n;
    if (this.used > this.budget) {
      throw new TerminologyError('too-costly', `${what} stands for more than ${this.budget} codes in this search; narrow it down`);
    }
  }

  /** The codes of a value set (canonical url, `url|version`, or a literal `ValueSet/id`). */
  inValueSet(ref: string): CodeRef[] {
    const concepts = this.expander.expand(this.expander.valueSet(ref));
    this.spend(concepts.length, `The value set ${ref.slice(0, 100)}`);
    return concepts.map((c) => ({ system: c.system, code: c.code }));
  }

  /**
   * `code` and the codes it subsumes (`below`) or that subsume it (`above`), from the code
   * system's hierarchy (nested concepts, parent/child properties). A system Flint does not hold
   * cannot answer: refused rather than matched exactly, which would silently find too little.
   */
  related(system: string, code: string, dir: 'below' | 'above'): CodeRef[] {
    const cs = this.source.codeSystem(system);
    if (!cs) throw new TerminologyError('unknown-system', `The code system ${system.slice(0, 100)} is not held by this server, so :${dir} cannot be evaluated`, system);
    const idx = indexOf(cs);
    if (idx.tooLarge) throw new TerminologyError('too-costly', `The code system ${system.slice(0, 100)} is too large to search by hierarchy here`, system);
    // A system held in part (content not-present, example, fragment) may lack the codes between.
    if (!idx.complete) throw new TerminologyError('unknown-system', `The code system ${system.slice(0, 100)} is held only in part (content = ${cs.content}), so :${dir} cannot be evaluated`, system);
    const info = idx.get(code);
    const codes = !info ? [code] : dir === 'below' ? idx.descendants(info.code, true) : [info.code, ...idx.ancestors(info.code)];
    this.spend(codes.length, `${system.slice(0, 100)}|${code.slice(0, 60)} with :${dir}`);
    return codes.map((c) => ({ system, code: c }));
  }
}
