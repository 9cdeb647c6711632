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
 * not both) and ref-1 (a `#id` reference resolves to a contained resource).
 */
const UCUM = 'http://unitsofmeasure.org';

export const NATIVE = new Set(['ele-1', 'ext-1', 'ref-1']);

export class Invariants {
  private readonly cache = new Map<string, Compiled | null>();
  private readonly failed = new Map<string, string>();

  /** `base` is the element path the expression's focus has (e.g. `Patient.contact`, `Period`). */
  private compiled(base: string, expression: string): Compiled | null {
    const key = `${base}\u0000${expression}`;
    let fn = this.cache.get(key);
    if (fn === undefined) {
      try {
        fn = fhirpath.compile({ base, expression }, r4model, { traceFn: () => undefined }) as unknown as Compiled;
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
    const fn = this.compiled(base, expression);
    if (!fn) return undefined;
    let out: unknown[];
    try {
      out = fn(focus, { resource, rootResource, ucum: UCUM });
    } catch (err) {
      if (!this.failed.has(expression)) this.failed.set(expression, err instanceof Error ? err.message : String(err));
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
