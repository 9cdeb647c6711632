// _include / _revinclude rounds (R4 search.html#include), shared by the adapters: round 0
// follows every spec from the matches, later rounds only the :iterate ones from what the
// previous round added; each resource once; at most MAX_INCLUDES in all.
import { MAX_INCLUDES, type IncludeSpec, type SearchQuery } from '../search/ir.js';

/** Rounds of :iterate after the first. */
export const MAX_ITERATE = 4;

export class IncludeRounds<R> {
  private readonly seen: Set<unknown>;
  private round = -1;
  readonly included: R[] = [];
  /** The resources the next round starts from. */
  frontier: R[];
  truncated = false;

  constructor(private readonly q: SearchQuery, matches: R[], private readonly key: (r: R) => unknown) {
    this.seen = new Set(matches.map(key));
    this.frontier = q.include.length === 0 && q.revinclude.length === 0 ? [] : matches;
  }

  /** The specs of the next round, or undefined when there is none. */
  next(): { include: IncludeSpec[]; revinclude: IncludeSpec[] } | undefined {
    if (this.truncated || this.frontier.length === 0 || this.round >= MAX_ITERATE) return undefined;
    this.round++;
    const pick = (specs: IncludeSpec[]): IncludeSpec[] => (this.round > 0 ? specs.filter((s) => s.iterate) : specs);
    return { include: pick(this.q.include), revinclude: pick(this.q.revinclude) };
  }

  /** Adds what a round found (new resources only); they are the next round's frontier. */
  take(found: R[]): void {
    this.frontier = [];
    for (const row of found) {
      const k = this.key(row);
      if (this.seen.has(k)) continue;
      this.seen.add(k);
      if (this.included.length >= MAX_INCLUDES) {
        this.truncated = true;
        break;
      }
      this.included.push(row);
      this.frontier.push(row);
    }
  }
}
