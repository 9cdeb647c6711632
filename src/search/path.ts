// Search parameter expressions, compiled once. Most R4 expressions are plain paths with a few
// filters (`Observation.subject.where(resolve() is Patient)`, `Observation.value.ofType(Quantity)`,
// `Patient.telecom.where(system='phone')`); those run on a typed walker over the compiled
// StructureDefinition models, which also tells the indexer each value's FHIR type. Anything
// else falls back to fhirpath.js with the R4 model (values then carry no declared type).
import fhirpath from 'fhirpath';
import r4model from 'fhirpath/fhir-context/r4';
import type { Definitions } from '../definitions/registry.js';
import type { ElementInfo, TypeModel } from '../definitions/model.js';
import { parseReference } from '../fhir-basics/references.js';

/** A value found by an expression, with its FHIR type when the fast path knows it. */
export interface Typed {
  value: unknown;
  /** FHIR type code (`Coding`, `dateTime`, `Reference`…), or undefined from the fallback. */
  type: string | undefined;
  /** Inline structure of a BackboneElement value. */
  model?: TypeModel;
  /** For `code` values: the value set of a required binding (it implies the code system). */
  binding?: string;
}

type Step =
  | { kind: 'child'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'ofType'; type: string }
  | { kind: 'resolveIs'; type: string }
  | { kind: 'whereEq'; name: string; literal: string };

export interface CompiledPath {
  /** The expression this was compiled from (for diagnostics). */
  readonly source: string;
  /** True when the typed fast path evaluates it. */
  readonly fast: boolean;
  evaluate(input: Typed): Typed[];
}

const NAME = /^[A-Za-z][A-Za-z0-9_]*/;

/** Parses the supported subset into steps; undefined when the expression needs full FHIRPath. */
function parseSteps(expr: string): Step[] | undefined {
  // Grouping parentheses around a path prefix do not change a path's meaning: (A.b.ofType(X)).c
  let text = expr.trim().replace(/\s+as\s+([A-Za-z]+)\)/g, '.ofType($1))').replace(/\s+as\s+([A-Za-z]+)$/, '.ofType($1)');
  while (text.startsWith('(')) {
    const close = matchingParen(text, 0);
    if (close < 0) return undefined;
    text = text.slice(1, close) + text.slice(close + 1);
  }
  const steps: Step[] = [];
  let rest = text;
  let first = true;
  while (rest.length > 0) {
    if (!first) {
      if (rest.startsWith('[')) {
        const m = /^\[(\d+)\]/.exec(rest);
        if (!m) return undefined;
        steps.push({ kind: 'index', index: Number(m[1]) });
        rest = rest.slice(m[0].length);
        continue;
      }
      if (!rest.startsWith('.')) return undefined;
      rest = rest.slice(1);
    }
    first = false;
    let m: RegExpExecArray | null;
    if ((m = /^ofType\(([A-Za-z]+)\)/.exec(rest)) || (m = /^as\(([A-Za-z]+)\)/.exec(rest))) {
      steps.push({ kind: 'ofType', type: m[1] ?? '' });
    } else if ((m = /^where\(resolve\(\) is ([A-Za-z]+)\)/.exec(rest))) {
      steps.push({ kind: 'resolveIs', type: m[1] ?? '' });
    } else if ((m = /^where\(([a-z][A-Za-z]*) ?= ?'([^']*)'\)/.exec(rest))) {
      steps.push({ kind: 'whereEq', name: m[1] ?? '', literal: m[2] ?? '' });
    } else if ((m = NAME.exec(rest)) && !rest.slice(m[0].length).startsWith('(')) {
      steps.push({ kind: 'child', name: m[0] });
    } else {
      return undefined;
    }
    rest = rest.slice(m[0].length);
  }
  return steps;
}

function matchingParen(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '(') depth++;
    else if (s[i] === ')' && --depth === 0) return i;
  }
  return -1;
}

/** Splits a top-level union `a | b | c`, respecting parentheses and quotes. */
export function splitUnion(expr: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (c === "'") quoted = !quoted;
    else if (!quoted && c === '(') depth++;
    else if (!quoted && c === ')') depth--;
    else if (!quoted && depth === 0 && c === '|') {
      parts.push(expr.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(expr.slice(start).trim());
  return parts.filter((p) => p.length > 0);
}

const choiceCache = new WeakMap<TypeModel, Map<string, ElementInfo[]>>();

function choices(model: TypeModel): Map<string, ElementInfo[]> {
  let map = choiceCache.get(model);
  if (!map) {
    map = new Map();
    for (const el of model.elements.values()) {
      if (!el.choiceOf) continue;
      const list = map.get(el.choiceOf) ?? [];
      list.push(el);
      map.set(el.choiceOf, list);
    }
    choiceCache.set(model, map);
  }
  return map;
}

function requiredBinding(el: ElementInfo): string | undefined {
  const b = el.definition.binding;
  return el.type === 'code' && b?.strength === 'required' && b.valueSet ? b.valueSet : undefined;
}

function pushValues(out: Typed[], raw: unknown, el: ElementInfo): void {
  const type = el.type;
  const model = el.children;
  const binding = requiredBinding(el);
  const typed = (value: unknown): Typed => (model ? { value, type, model } : binding ? { value, type, binding } : { value, type });
  if (Array.isArray(raw)) {
    for (const v of raw) if (v !== null && v !== undefined) out.push(typed(v));
  } else if (raw !== undefined && raw !== null) {
    out.push(typed(raw));
  }
}


class FastPath implements CompiledPath {
  readonly fast = true;

  constructor(readonly source: string, private readonly steps: Step[], private readonly defs: Definitions) {}

  evaluate(input: Typed): Typed[] {
    let current: Typed[] = [input];
    for (const step of this.steps) {
      const next: Typed[] = [];
      for (const item of current) this.apply(step, item, next, input.value);
      current = next;
      if (current.length === 0) break;
    }
    return current;
  }

  /** `root`: the resource evaluated (its contained resources resolve `#id` references). */
  private apply(step: Step, item: Typed, out: Typed[], root: unknown): void {
    const obj = item.value;
    switch (step.kind) {
      case 'child': {
        if (typeof obj !== 'object' || obj === null) return;
        const model = item.model ?? (item.type ? this.defs.typeModel(item.type) : undefined);
        if (!model) return;
        const record = obj as Record<string, unknown>;
        const el = model.elements.get(step.name);
        if (el) {
          pushValues(out, record[step.name], el);
          return;
        }
        for (const choice of choices(model).get(step.name) ?? []) pushValues(out, record[choice.name], choice);
        return;
      }
      case 'index':
        // Indexing applies to the collection as a whole; handled in evaluate's flattening by
        // keeping only the n-th value of each parent (expressions here only use [0]).
        if (out.length === step.index) out.push(item);
        return;
      case 'ofType':
        if (item.type === step.type) out.push(item);
        return;
      case 'resolveIs': {
        const ref = (obj as { reference?: unknown } | null)?.reference;
        if (typeof ref === 'string' && (ref.startsWith('#') ? containedType(root, ref.slice(1)) : parseReference(ref)?.type) === step.type) out.push(item);
        return;
      }
      case 'whereEq':
        if ((obj as Record<string, unknown> | null)?.[step.name] === step.literal) out.push(item);
        return;
    }
  }
}

/** The type of the contained resource `id` of `root` (FHIRPath resolve() of a `#id` reference). */
function containedType(root: unknown, id: string): string | undefined {
  const list = (root as { contained?: unknown } | null)?.contained;
  if (!Array.isArray(list)) return undefined;
  const found = list.find((c): c is { resourceType: string } => (c as { id?: unknown } | null)?.id === id && typeof (c as { resourceType?: unknown }).resourceType === 'string');
  return found?.resourceType;
}

class FhirPathFallback implements CompiledPath {
  readonly fast = false;
  private readonly fn: (resource: unknown) => unknown[];

  constructor(readonly source: string) {
    const compiled = fhirpath.compile(source, r4model);
    this.fn = (resource) => compiled(resource as Record<string, unknown>) as unknown[];
  }

  evaluate(input: Typed): Typed[] {
    let values: unknown[];
    try {
      values = this.fn(input.value);
    } catch {
      // An expression that cannot evaluate on this resource indexes nothing for it.
      return [];
    }
    return values.filter((v) => v !== null && v !== undefined).map((value) => ({ value, type: undefined }));
  }
}

/**
 * Compiles one union part of a search parameter expression for resources of `rootType`
 * (`rootType` undefined: an expression relative to an element, as in composite components).
 */
export function compilePath(defs: Definitions, expr: string, rootType: string | undefined, fast = true): CompiledPath {
  const steps = fast ? parseSteps(expr) : undefined;
  if (steps) {
    const first = steps[0];
    if (rootType !== undefined && first?.kind === 'child' && (first.name === rootType || first.name === 'Resource' || first.name === 'DomainResource')) {
      return new FastPath(expr, steps.slice(1), defs);
    }
    if (rootType === undefined) return new FastPath(expr, steps, defs);
  }
  return new FhirPathFallback(expr);
}
