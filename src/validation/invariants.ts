// ElementDefinition.constraint as FHIRPath, run by fhirpath.js with the R4 model (R4
// conformance-rules.html#constraints). Each (element path, expression) pair is compiled once and
// cached. An expression fhirpath.js cannot compile or run is not held against the resource: the
// invariant is reported as not checked by `unsupported()`, never as a failure.
import fhirpath from 'fhirpath';
import r4model from 'fhirpath/fhir-context/r4';

type Compiled = (resource: unknown, env?: Record<string, unknown>) => unknown[];

/**
 * Invariants Flint checks natively in the walk, because they hold on every element and would
 * dominate the run time in fhirpath.js: ele-1 (an element has a value or children: empty
 * objects and arrays are refused structurally), ext-1 (an extension has a value or extensions,
 * not both), ref-1 (a `#id` reference resolves to a contained resource) and dom-3 (a contained
 * resource is referred to), which fhirpath.js cannot run as published, and csd-1 (unique codes in a
 * CodeSystem: quadratic in fhirpath.js's isDistinct, linear in terminology-rules.ts).
 */
const UCUM = 'http://unitsofmeasure.org';

export const NATIVE = new Set(['ele-1', 'ext-1', 'ref-1', 'dom-3', 'csd-1']);

/**
 * `a.empty() or b.hasValue().not() or …` holds at once when `a` or `b` is absent (FHIRPath:
 * true or x is true): per-1, qty-3, rng-2 and many more. Only when nothing binds looser than
 * `or` (implies, xor), which could regroup the expression.
 */
const ABSENT_OR = /^([a-z][A-Za-z0-9]*)\.(?:empty\(\)|hasValue\(\)\.not\(\)|exists\(\)\.not\(\))\s+or\s+/;

/** The element names of the leading `x.empty() or` disjuncts. */
function leadingAbsent(expression: string): string[] {
  const names: string[] = [];
  let rest = expression;
  for (let m = ABSENT_OR.exec(rest); m; m = ABSENT_OR.exec(rest)) {
    names.push(m[1] ?? '');
    rest = rest.slice(m[0].length);
  }
  return names;
}
const LOOSER = /\s(implies|xor)\s/;
/** `a.empty() or b.exists()` (qty-3, cpt-2, att-1 and many more): decided from the JSON alone. */
const EMPTY_OR_EXISTS = /^([a-z][A-Za-z0-9]*)\.empty\(\)\s+or\s+([a-z][A-Za-z0-9]*)\.exists\(\)$/;

function absent(focus: unknown, name: string): boolean {
  if (typeof focus !== 'object' || focus === null || Array.isArray(focus)) return false;
  const obj = focus as Record<string, unknown>;
  if (obj[name] !== undefined || obj[`_${name}`] !== undefined) return false;
  // A choice element (value[x]) is present under a typed name (valueQuantity).
  for (const k in obj) if (k.length > name.length && k.startsWith(name) && /[A-Z]/.test(k.charAt(name.length))) return false;
  return true;
}

/**
 * A disjunct whose value the JSON alone can give: `a.b.where(…).empty()` is true when `a` is
 * absent (navigation and `where` on an empty collection stay empty, and `where` never runs its
 * criteria then); `a.exists()` is true when `a` is present and false when absent.
 */
type Disjunct = { kind: 'emptyWhenAbsent'; name: string } | { kind: 'exists'; name: string };
const EXISTS = /^([a-z][A-Za-z0-9]*)\.exists\(\)$/;

/** Splits `expression` at its top-level ` or `s (outside parentheses and quotes). */
function topLevelOr(expression: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === "'") quoted = !quoted;
    else if (quoted) continue;
    else if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (depth === 0 && expression.startsWith(' or ', i)) {
      parts.push(expression.slice(start, i).trim());
      start = i + 4;
      i += 3;
    }
  }
  parts.push(expression.slice(start).trim());
  return parts;
}

/** The index just past the `)` closing the `(` at `open`, or -1 (quotes respected). */
function closing(s: string, open: number): number {
  let depth = 0;
  let quoted = false;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === "'") quoted = !quoted;
    else if (quoted) continue;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i + 1;
  }
  return -1;
}

const MEMBER = /^[a-z][A-Za-z0-9]*/;

/**
 * The first name of `a.b.where(…).c.empty()`: member steps and `where(…)` steps only, ending
 * in `.empty()`; undefined for anything else.
 */
function emptyChainHead(part: string): string | undefined {
  const head = MEMBER.exec(part)?.[0];
  if (!head) return undefined;
  let i = head.length;
  for (;;) {
    if (part.slice(i) === '.empty()') return head;
    if (part[i] !== '.') return undefined;
    i++;
    if (part.startsWith('where(', i)) {
      const end = closing(part, i + 5);
      if (end < 0) return undefined;
      i = end;
      continue;
    }
    const name = MEMBER.exec(part.slice(i))?.[0];
    if (!name || part[i + name.length] === '(') return undefined;
    i += name.length;
  }
}

/**
 * The disjuncts of an `a or b or …` invariant when each is one the JSON can decide, else
 * undefined (then fhirpath.js decides). Only where nothing binds looser than `or`.
 */
function decidableDisjuncts(expression: string): Disjunct[] | undefined {
  if (LOOSER.test(expression)) return undefined;
  const out: Disjunct[] = [];
  for (const part of topLevelOr(expression)) {
    const e = EXISTS.exec(part);
    if (e) {
      out.push({ kind: 'exists', name: e[1] ?? '' });
      continue;
    }
    const name = emptyChainHead(part);
    if (name === undefined) return undefined;
    out.push({ kind: 'emptyWhenAbsent', name });
  }
  return out.length > 1 ? out : undefined;
}

/** True or false when the JSON decides `disjuncts` (one true one suffices; all false: false), else undefined. */
function decide(disjuncts: readonly Disjunct[], focus: unknown): boolean | undefined {
  if (typeof focus !== 'object' || focus === null || Array.isArray(focus)) return undefined;
  let allFalse = true;
  for (const d of disjuncts) {
    const gone = absent(focus, d.name);
    if (d.kind === 'emptyWhenAbsent') {
      if (gone) return true;
      allFalse = false;
    } else if (!gone) {
      if (present((focus as Record<string, unknown>)[d.name])) return true;
      allFalse = false;
    }
  }
  return allFalse ? false : undefined;
}

/** A JSON value FHIRPath sees as a non-empty collection. */
function present(v: unknown): boolean {
  return v !== undefined && v !== null && !(Array.isArray(v) && v.every((x) => x === null));
}

/** The FHIR primitive each FHIRPath System type stands for in R4's invariants. */
const SYSTEM_TO_FHIR: Readonly<Record<string, string>> = {
  Boolean: 'boolean', String: 'string', Integer: 'integer', Decimal: 'decimal', Date: 'date', DateTime: 'dateTime', Time: 'time',
};
const IS_SYSTEM_TYPE = /(?<![\w.%$])([a-z][A-Za-z0-9]*) is (Boolean|String|Integer|Decimal|Date|DateTime|Time)\b(?!\.)/g;

/**
 * R4's invariants test FHIR primitives against FHIRPath's System types (que-7:
 * `answer is Boolean`, meaning an answerBoolean); R4 fhirpath.html#types maps the FHIR
 * primitives onto them. fhirpath.js keeps `FHIR.boolean` and `System.Boolean` apart, so
 * `name is Boolean` is read as "a System.Boolean or a FHIR.boolean".
 */
export function systemTypeTests(expression: string): string {
  return expression.replace(IS_SYSTEM_TYPE, (_m, name: string, type: string) => `(${name} is System.${type} or ${name} is FHIR.${SYSTEM_TO_FHIR[type] ?? type})`);
}

export class Invariants {
  private readonly cache = new Map<string, Compiled | null>();
  private readonly guards = new Map<string, readonly string[]>();
  private readonly pairs = new Map<string, [string, string] | null>();
  private readonly disjuncts = new Map<string, Disjunct[] | null>();
  private readonly failed = new Map<string, string>();

  /** `base` is the element path the expression's focus has (e.g. `Patient.contact`, `Period`). */
  private compiled(key: string, base: string, expression: string): Compiled | null {
    let fn = this.cache.get(key);
    if (fn === undefined) {
      try {
        fn = fhirpath.compile({ base, expression: systemTypeTests(expression) }, r4model, { traceFn: () => undefined }) as unknown as Compiled;
      } catch (err) {
        this.failed.set(expression, err instanceof Error ? err.message : String(err));
        fn = null;
      }
      this.cache.set(key, fn);
    }
    return fn;
  }

  /**
   * True when the invariant holds, false when it fails, undefined when it could not be run.
   */
  holds(base: string, expression: string, focus: unknown, resource: unknown, rootResource: unknown): boolean | undefined {
    let guard = this.guards.get(expression);
    if (guard === undefined) {
      guard = LOOSER.test(expression) ? [] : leadingAbsent(expression);
      this.guards.set(expression, guard);
    }
    for (const name of guard) if (absent(focus, name)) return true;
    let pair = this.pairs.get(expression);
    if (pair === undefined) {
      const m = EMPTY_OR_EXISTS.exec(expression);
      pair = m ? [m[1] ?? '', m[2] ?? ''] : null;
      this.pairs.set(expression, pair);
    }
    if (pair !== null && typeof focus === 'object' && focus !== null && !Array.isArray(focus)) return !absent(focus, pair[1]);
    let disjuncts = this.disjuncts.get(expression);
    if (disjuncts === undefined) {
      disjuncts = decidableDisjuncts(expression) ?? null;
      this.disjuncts.set(expression, disjuncts);
    }
    if (disjuncts !== null) {
      const decided = decide(disjuncts, focus);
      if (decided !== undefined) return decided;
    }
    const key = `${base}\u0000${expression}`;
    const fn = this.compiled(key, base, expression);
    if (!fn) return undefined;
    let out: unknown[];
    try {
      out = fn(focus, { resource, rootResource, ucum: UCUM });
    } catch (err) {
      // fhirpath.js cannot run it (an unsupported function, a strictness of its own): it will
      // not do better next time, and throwing is slow, so the expression is set aside. Either
      // way the invariant is not held against the resource.
      this.failed.set(expression, err instanceof Error ? err.message : String(err));
      this.cache.set(key, null);
      return undefined;
    }
    // R4 conformance-rules.html#constraints: the expression SHALL evaluate to true; an empty
    // result (say, comparing dateTimes of different precision) is not true.
    return out.length === 1 && out[0] === true;
  }

  /** Expressions that could not be compiled or run, with the reason. */
  unsupported(): { expression: string; reason: string }[] {
    return [...this.failed].map(([expression, reason]) => ({ expression, reason }));
  }
}
