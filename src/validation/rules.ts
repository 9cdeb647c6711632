// A StructureDefinition snapshot compiled into a tree of element rules: what the instance walk
// (conform.ts) checks at each element. Compiled once per definition and cached by the caller.
// R4 elementdefinition.html (cardinality, types, fixed/pattern, binding, constraint, slicing).
import type { ElementDefinition, ElementDefinitionSlicing, StructureDefinition } from 'fhir/r4.js';
import { typeCode } from '../definitions/model.js';

export interface TypeRef {
  /** FHIR type code (System.String and friends mapped to their FHIR primitive). */
  readonly code: string;
  readonly profiles: readonly string[];
  readonly targetProfiles: readonly string[];
}

export interface Invariant {
  readonly key: string;
  readonly severity: 'error' | 'warning';
  readonly human: string;
  readonly expression: string;
}

export interface Rule {
  readonly id: string;
  readonly path: string;
  /** JSON property name; for a choice element, the base name (`value` of `value[x]`). */
  readonly name: string;
  readonly choice: boolean;
  /** `_name`: where a primitive's id and extensions are. */
  readonly extName: string;
  readonly min: number;
  readonly max: number;
  readonly types: readonly TypeRef[];
  /** fixed[x] / pattern[x], with the type suffix they were given under. */
  readonly fixed?: { readonly type: string; readonly value: unknown };
  readonly pattern?: { readonly type: string; readonly value: unknown };
  readonly binding?: { readonly strength: string; readonly valueSet: string };
  /** minValue[x] / maxValue[x]. */
  readonly minValue?: { readonly type: string; readonly value: unknown };
  readonly maxValue?: { readonly type: string; readonly value: unknown };
  /** maxLength, for strings. */
  readonly maxLength?: number;
  readonly constraints: readonly Invariant[];
  readonly children: Rule[];
  readonly sliceName?: string;
  slicing?: ElementDefinitionSlicing;
  readonly slices: Rule[];
  /** `#Questionnaire.item`: children come from that element of the same definition. */
  readonly contentReference?: string;
}

export interface CompiledProfile {
  readonly url: string;
  readonly type: string;
  readonly root: Rule;
  /** Rules by element id, for content references. */
  readonly byId: ReadonlyMap<string, Rule>;
}

const BEST_PRACTICE = 'http://hl7.org/fhir/StructureDefinition/elementdefinition-bestpractice';

function parseMax(max: string | undefined): number {
  if (max === undefined || max === '*') return Infinity;
  const n = Number(max);
  return Number.isFinite(n) ? n : Infinity;
}

/** The `fixedX`/`patternX` property of an element definition, if any. */
function prefixed(el: ElementDefinition, prefix: 'fixed' | 'pattern' | 'minValue' | 'maxValue'): { type: string; value: unknown } | undefined {
  for (const key in el) {
    if (key.startsWith(prefix) && key.length > prefix.length && key.charCodeAt(prefix.length) < 97) {
      return { type: key.slice(prefix.length), value: (el as unknown as Record<string, unknown>)[key] };
    }
  }
  return undefined;
}

function invariants(el: ElementDefinition): Invariant[] {
  const out: Invariant[] = [];
  for (const c of el.constraint ?? []) {
    if (!c.expression) continue;
    // Best-practice invariants are advice the reference validator only reports on request
    // (R4 elementdefinition-bestpractice), so they are not enforced here either.
    if (c.extension?.some((e) => e.url === BEST_PRACTICE && e.valueBoolean === true)) continue;
    out.push({ key: c.key, severity: c.severity === 'error' ? 'error' : 'warning', human: c.human, expression: c.expression });
  }
  return out;
}

function typeRefs(el: ElementDefinition): TypeRef[] {
  return (el.type ?? []).map((t) => ({ code: typeCode(t), profiles: t.profile ?? [], targetProfiles: t.targetProfile ?? [] }));
}

/** Splits an element id at its last top-level dot: `Observation.component:sys.code` → [`Observation.component:sys`, `code`]. */
function parentOf(id: string): [string, string] | undefined {
  const dot = id.lastIndexOf('.');
  return dot < 0 ? undefined : [id.slice(0, dot), id.slice(dot + 1)];
}

/** Compiles `sd` from its snapshot, or from `elements` (a snapshot generated for it). */
export function compileProfile(sd: StructureDefinition, elements = sd.snapshot?.element): CompiledProfile | undefined {
  if (!elements?.length) return undefined;
  const byId = new Map<string, Rule>();
  let root: Rule | undefined;
  for (const el of elements) {
    const id = el.id ?? el.path;
    const lastSeg = el.path.slice(el.path.lastIndexOf('.') + 1);
    const choice = lastSeg.endsWith('[x]');
    const binding = el.binding?.valueSet ? { strength: el.binding.strength, valueSet: el.binding.valueSet } : undefined;
    const fixed = prefixed(el, 'fixed');
    const pattern = prefixed(el, 'pattern');
    const minValue = prefixed(el, 'minValue');
    const maxValue = prefixed(el, 'maxValue');
    const rule: Rule = {
      id, path: el.path, name: choice ? lastSeg.slice(0, -3) : lastSeg, choice, extName: `_${choice ? lastSeg.slice(0, -3) : lastSeg}`,
      min: el.min ?? 0, max: parseMax(el.max), types: typeRefs(el), constraints: invariants(el),
      children: [], slices: [],
      ...(fixed ? { fixed } : {}), ...(pattern ? { pattern } : {}), ...(binding ? { binding } : {}),
      ...(minValue ? { minValue } : {}), ...(maxValue ? { maxValue } : {}),
      ...(el.maxLength !== undefined ? { maxLength: el.maxLength } : {}),
      ...(el.sliceName ? { sliceName: el.sliceName } : {}),
      ...(el.slicing ? { slicing: el.slicing } : {}),
      ...(el.contentReference ? { contentReference: el.contentReference.replace(/^.*#/, '') } : {}),
    };
    byId.set(id, rule);
    if (!root) {
      root = rule;
      continue;
    }
    const split = parentOf(id);
    if (!split) continue;
    const [parentId, last] = split;
    const colon = last.indexOf(':');
    if (colon >= 0 && el.sliceName) {
      // A slice: it belongs to the sliced element `parent.name`, which precedes it.
      const owner = byId.get(`${parentId}.${last.slice(0, colon)}`);
      const re = last.indexOf('/');
      // Re-slices (`a:b/c`) are slices of the slice `a:b`.
      const reOwner = re > colon ? byId.get(`${parentId}.${last.slice(0, re)}`) : undefined;
      (reOwner ?? owner)?.slices.push(rule);
      continue;
    }
    byId.get(parentId)?.children.push(rule);
  }
  if (!root) return undefined;
  return { url: sd.url, type: sd.type, root, byId };
}

/** The children of a rule, following a content reference (`#Questionnaire.item`). */
export function childrenOf(profile: CompiledProfile, rule: Rule): readonly Rule[] {
  // A profile may constrain inside a content reference: its own children then win.
  if (rule.contentReference && rule.children.length === 0) return profile.byId.get(rule.contentReference)?.children ?? [];
  return rule.children;
}
