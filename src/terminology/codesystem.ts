// One CodeSystem indexed for terminology work: its concepts by code, their hierarchy (nested
// concepts and `parent`/`child` properties), properties, status and designations; built once per
// CodeSystem object. R4 codesystem.html#hierarchy, codesystem.html#status.
import { memoByObject } from '../fhir-basics/memo.js';
import type { CodeSystem, CodeSystemConcept, CodeSystemConceptProperty } from 'fhir/r4.js';

export interface ConceptInfo {
  readonly code: string;
  readonly display?: string;
  readonly definition?: string;
  readonly concept: CodeSystemConcept;
  readonly parents: Set<string>;
  readonly children: Set<string>;
  /** `inactive` property true, or status retired/inactive (R4 codesystem.html#status). */
  readonly inactive: boolean;
  /** `notSelectable` true: an abstract grouping, not for use in data. */
  readonly abstract: boolean;
}

/** The most concepts indexed for one CodeSystem: a stored CodeSystem can be huge. */
export const MAX_CONCEPTS = 200_000;
/** Deepest concept nesting walked. */
const MAX_NESTING = 100;

const INACTIVE_STATUS = new Set(['retired', 'inactive', 'deprecated']);

function propertyValue(p: CodeSystemConceptProperty): string | boolean | number | undefined {
  return p.valueCode ?? p.valueString ?? p.valueBoolean ?? p.valueInteger ?? p.valueDecimal ?? p.valueDateTime ?? p.valueCoding?.code;
}

export class CodeSystemIndex {
  readonly concepts = new Map<string, ConceptInfo>();
  /** Codes in document order (the order of an expansion of the whole system). */
  readonly order: string[] = [];
  /** False when the system defines no hierarchy (no nesting and no parent properties). */
  hierarchical = false;
  readonly caseSensitive: boolean;
  /** Too many concepts to index: the CodeSystem is treated as not held. */
  readonly tooLarge: boolean;

  constructor(readonly cs: CodeSystem) {
    this.caseSensitive = cs.caseSensitive !== false;
    let n = 0;
    const walk = (list: readonly CodeSystemConcept[] | undefined, parent: string | undefined, depth: number): boolean => {
      if (depth > MAX_NESTING) return false;
      for (const c of list ?? []) {
        if (typeof c.code !== 'string') continue;
        if (++n > MAX_CONCEPTS) return false;
        const props = c.property ?? [];
        const status = props.find((p) => p.code === 'status');
        const inactive = props.some((p) => p.code === 'inactive' && p.valueBoolean === true)
          || (status !== undefined && INACTIVE_STATUS.has(String(propertyValue(status))));
        const abstract = props.some((p) => p.code === 'notSelectable' && p.valueBoolean === true);
        const key = this.key(c.code);
        const existing = this.concepts.get(key);
        const info: ConceptInfo = existing ?? {
          code: c.code, ...(c.display !== undefined ? { display: c.display } : {}), ...(c.definition !== undefined ? { definition: c.definition } : {}),
          concept: c, parents: new Set(), children: new Set(), inactive, abstract,
        };
        if (!existing) {
          this.concepts.set(key, info);
          this.order.push(c.code);
        }
        if (parent !== undefined) this.link(parent, c.code);
        for (const p of props) {
          const v = p.valueCode ?? p.valueCoding?.code;
          if (v === undefined) continue;
          if (p.code === 'parent') this.link(v, c.code);
          else if (p.code === 'child') this.link(c.code, v);
        }
        if (!walk(c.concept, c.code, depth + 1)) return false;
      }
      return true;
    };
    this.tooLarge = !walk(cs.concept, undefined, 0);
  }

  private key(code: string): string {
    return this.caseSensitive ? code : code.toLowerCase();
  }

  private link(parent: string, child: string): void {
    this.hierarchical = true;
    // Links may name codes defined later in the document: remember them on both ends when known.
    const c = this.concepts.get(this.key(child));
    const p = this.concepts.get(this.key(parent));
    c?.parents.add(parent);
    p?.children.add(child);
    if (!p || !c) this.pending.push([parent, child]);
  }

  private pending: [string, string][] = [];

  /** Resolves links to codes defined after the link (parent properties pointing forward). */
  private settle(): void {
    if (this.pending.length === 0) return;
    const pending = this.pending;
    this.pending = [];
    for (const [parent, child] of pending) {
      this.concepts.get(this.key(child))?.parents.add(parent);
      this.concepts.get(this.key(parent))?.children.add(child);
    }
  }

  get(code: string): ConceptInfo | undefined {
    this.settle();
    return this.concepts.get(this.key(code));
  }

  /** Whether Flint holds every code of the system (content `complete`; a supplement holds none). */
  get complete(): boolean {
    return this.cs.content === 'complete' && !this.tooLarge;
  }

  /** `code` and every concept below it (transitively), self first when `self` is true. Bounded by the system's size. */
  descendants(code: string, self: boolean): string[] {
    return this.closure(code, self, (i) => i.children);
  }

  /** Every concept above `code` (transitively). */
  ancestors(code: string): string[] {
    return this.closure(code, false, (i) => i.parents);
  }

  /** Breadth-first walk along `next`, each concept once (parent properties may form cycles). */
  private closure(code: string, self: boolean, next: (i: ConceptInfo) => Set<string>): string[] {
    const start = this.get(code);
    if (!start) return [];
    const out: string[] = self ? [start.code] : [];
    const seen = new Set<string>([this.key(start.code)]);
    const queue = [...next(start)];
    for (let i = 0; i < queue.length; i++) {
      const k = this.key(queue[i] as string);
      if (seen.has(k)) continue;
      seen.add(k);
      const info = this.concepts.get(k);
      if (!info) continue;
      out.push(info.code);
      queue.push(...next(info));
    }
    return out;
  }

  /** R4 codesystem-operation-subsumes.html: how codeA relates to codeB; undefined when either is unknown. */
  subsumes(a: string, b: string): 'equivalent' | 'subsumes' | 'subsumed-by' | 'not-subsumed' | undefined {
    const ia = this.get(a);
    const ib = this.get(b);
    if (!ia || !ib) return undefined;
    if (ia === ib) return 'equivalent';
    if (this.descendants(ia.code, false).some((c) => this.key(c) === this.key(ib.code))) return 'subsumes';
    if (this.descendants(ib.code, false).some((c) => this.key(c) === this.key(ia.code))) return 'subsumed-by';
    return 'not-subsumed';
  }

  /** The value of one property of a concept, as text (codes, strings, booleans, numbers). */
  property(info: ConceptInfo, code: string): string[] {
    const out: string[] = [];
    for (const p of info.concept.property ?? []) {
      if (p.code !== code) continue;
      const v = propertyValue(p);
      if (v !== undefined) out.push(String(v));
    }
    if (code === 'parent') out.push(...info.parents);
    if (code === 'child') out.push(...info.children);
    return out;
  }

  /** Whether the system declares the property (or it is one R4 defines for every system). */
  declaresProperty(code: string): boolean {
    if (['concept', 'code', 'display', 'parent', 'child', 'inactive', 'status', 'notSelectable'].includes(code)) return true;
    return (this.cs.property ?? []).some((p) => p.code === code) || (this.cs.filter ?? []).some((f) => f.code === code);
  }
}

/** The index of a CodeSystem, built once per object. */
export const indexOf = memoByObject((cs: CodeSystem) => new CodeSystemIndex(cs));
