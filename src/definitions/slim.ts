// Definitions are kept for what Flint computes from them (types, cardinality, bindings,
// invariants, search parameters, terminology), never served back whole. Their prose is most of
// their weight: the R4 package's narratives alone are ~38 MB of strings, and each element's
// definition/comment/requirements and mappings as much again. It is dropped once read, and the
// strings that repeat thousands of times (constraint expressions, type urls) are shared.

/** Prose of a definition resource that nothing in Flint reads. */
const RESOURCE_PROSE = ['text', 'mapping', 'purpose', 'copyright'] as const;
/** Prose of an ElementDefinition (R4 elementdefinition.html) that nothing in Flint reads. */
const ELEMENT_PROSE = ['definition', 'comment', 'requirements', 'mapping', 'alias'] as const;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One copy of each repeated string value (JSON.parse makes a new string per occurrence). */
export class StringPool {
  private readonly pool = new Map<string, string>();
  share(s: string): string {
    // Long strings rarely repeat; short ones are where the copies are.
    if (s.length > 200) return s;
    const got = this.pool.get(s);
    if (got !== undefined) return got;
    this.pool.set(s, s);
    return s;
  }
}

function shareAll(v: unknown, pool: StringPool): unknown {
  if (typeof v === 'string') return pool.share(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = shareAll(v[i], pool);
  } else if (isObj(v)) {
    for (const k of Object.keys(v)) v[k] = shareAll(v[k], pool);
  }
  return v;
}

/**
 * `o` without `drop`'s keys, as a new object: \`delete\` would turn each of the ~100k element
 * objects into a dictionary-mode object, which takes more memory than the prose it removes.
 */
function without(o: Obj, drop: readonly string[]): Obj {
  const out: Obj = {};
  for (const k of Object.keys(o)) if (!drop.includes(k)) out[k] = o[k];
  return out;
}

function slimElements(holder: unknown): void {
  if (!isObj(holder) || !Array.isArray(holder.element)) return;
  holder.element = holder.element.map((el: unknown) => {
    if (!isObj(el)) return el;
    const slim = without(el, ELEMENT_PROSE);
    // XPath twins of the FHIRPath constraints: FHIRPath is what is evaluated.
    if (Array.isArray(slim.constraint)) slim.constraint = slim.constraint.map((c: unknown) => (isObj(c) ? without(c, ['xpath']) : c));
    return slim;
  });
}

/**
 * Drops the prose of a definition resource (StructureDefinition, ValueSet, CodeSystem,
 * SearchParameter, CompartmentDefinition) and shares its repeated strings; a new object.
 * CodeSystem concepts keep their definitions ($lookup answers them).
 */
export function slimDefinition<T>(resource: T, pool: StringPool): T {
  if (!isObj(resource)) return resource;
  const sd = resource.resourceType === 'StructureDefinition';
  const slim = without(resource, sd ? [...RESOURCE_PROSE, 'description'] : RESOURCE_PROSE);
  if (sd) {
    slimElements(slim.snapshot);
    slimElements(slim.differential);
  }
  shareAll(slim, pool);
  return slim as T;
}
