// ConceptMap/$translate over ConceptMaps (pure): a source coding to its mapped target codings,
// forwards or (reverse) backwards. R4 conceptmap-operation-translate.html.
import type { ConceptMap, Coding } from 'fhir/r4.js';

export interface Match {
  equivalence: string;
  concept: Coding;
  /** The ConceptMap the match came from (canonical). */
  source?: string;
}

export interface TranslateInput {
  system: string;
  code: string;
  /** Only mappings into this code system (targetsystem). */
  targetSystem?: string;
  /** From target to source instead (reverse). */
  reverse?: boolean;
}

/** Every mapping of the code in the given maps. `unmatched` groups with mode `provided` map a code to itself. */
export function translate(maps: readonly ConceptMap[], input: TranslateInput): Match[] {
  const out: Match[] = [];
  for (const map of maps) {
    const from = map.url ? `${map.url}${map.version ? `|${map.version}` : ''}` : undefined;
    for (const g of map.group ?? []) {
      const src = g.source;
      const tgt = g.target;
      if (!input.reverse) {
        if (src !== undefined && src !== input.system) continue;
        if (input.targetSystem && tgt !== undefined && tgt !== input.targetSystem) continue;
        let found = false;
        for (const el of g.element ?? []) {
          if (el.code !== input.code) continue;
          found = true;
          for (const t of el.target ?? []) {
            const concept: Coding = { ...(tgt ? { system: tgt } : {}), ...(t.code !== undefined ? { code: t.code } : {}), ...(t.display ? { display: t.display } : {}) };
            out.push({ equivalence: t.equivalence, concept, ...(from ? { source: from } : {}) });
          }
        }
        if (!found && g.unmapped?.mode === 'provided' && (!input.targetSystem || input.targetSystem === tgt)) {
          out.push({ equivalence: 'equal', concept: { ...(tgt ? { system: tgt } : {}), code: input.code }, ...(from ? { source: from } : {}) });
        } else if (!found && g.unmapped?.mode === 'fixed' && g.unmapped.code) {
          out.push({ equivalence: 'inexact', concept: { ...(tgt ? { system: tgt } : {}), code: g.unmapped.code, ...(g.unmapped.display ? { display: g.unmapped.display } : {}) }, ...(from ? { source: from } : {}) });
        }
      } else {
        if (tgt !== undefined && tgt !== input.system) continue;
        if (input.targetSystem && src !== undefined && src !== input.targetSystem) continue;
        for (const el of g.element ?? []) {
          for (const t of el.target ?? []) {
            if (t.code !== input.code) continue;
            const concept: Coding = { ...(src ? { system: src } : {}), ...(el.code !== undefined ? { code: el.code } : {}), ...(el.display ? { display: el.display } : {}) };
            out.push({ equivalence: t.equivalence, concept, ...(from ? { source: from } : {}) });
          }
        }
      }
    }
  }
  return out;
}

/** Equivalences that say the target does not stand for the source (R4 valueset-concept-map-equivalence). */
export const NEGATIVE = new Set(['unmatched', 'disjoint']);
