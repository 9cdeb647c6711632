// A snapshot for a profile published with a differential only (R4 profiling.html#snapshot):
// the base definition's snapshot with the differential's constraints laid over it. This covers
// what validation needs (cardinality, types, fixed/pattern, bindings, invariants, slices and
// their children, paths into data types); it is not the full HL7 snapshot generator (no
// re-slicing of inherited slices, no profile-on-type expansion).
import type { ElementDefinition, StructureDefinition } from 'fhir/r4.js';

type Lookup = (url: string) => StructureDefinition | undefined;

const MAX_CHAIN = 16;

function unsliced(id: string): string {
  return id.split('.').map((seg) => seg.replace(/:.*$/, '')).join('.');
}

/** Differential ids may be absent; derive them from path and sliceName. */
function idOf(d: ElementDefinition): string {
  if (d.id) return d.id;
  return d.sliceName ? `${d.path}:${d.sliceName}` : d.path;
}

/**
 * Lays `d` over `base`: the differential's properties win, invariants accumulate
 * (R4 elementdefinition.html#inheritance: constraints are added, never removed).
 */
function merge(base: ElementDefinition, d: ElementDefinition, id: string): ElementDefinition {
  const out: ElementDefinition = { ...base, ...d, id, path: d.path };
  if (base.constraint?.length && d.constraint?.length) {
    const keys = new Set(d.constraint.map((c) => c.key));
    out.constraint = [...base.constraint.filter((c) => !keys.has(c.key)), ...d.constraint];
  }
  // R4 fixed/pattern take one type suffix: the differential's replaces the base's.
  const own = Object.keys(d).filter((k) => /^(fixed|pattern)[A-Z]/.test(k));
  if (own.length) for (const k of Object.keys(base)) if (/^(fixed|pattern)[A-Z]/.test(k) && !own.includes(k)) delete (out as unknown as Record<string, unknown>)[k];
  return out;
}

/** The element definitions of `sd`: its snapshot, or one generated from its differential. */
export function snapshotElements(sd: StructureDefinition, lookup: Lookup, depth = 0): ElementDefinition[] | undefined {
  if (sd.snapshot?.element?.length) return sd.snapshot.element;
  const diff = sd.differential?.element;
  if (!diff?.length || !sd.baseDefinition || depth > MAX_CHAIN) return undefined;
  const base = lookup(sd.baseDefinition);
  const baseEls = base ? snapshotElements(base, lookup, depth + 1) : undefined;
  if (!baseEls) return undefined;
  const out = baseEls.map((e) => ({ ...e }));
  const byId = new Map(out.map((e) => [e.id ?? e.path, e]));
  for (const given of diff) {
    const d = { ...given };
    let id = idOf(d);
    let existing = byId.get(id);
    if (!existing && !d.sliceName) {
      // A renamed choice (valueQuantity for value[x]) constrains the choice to that type.
      const m = /^(.*\.[a-z][A-Za-z0-9]*?)([A-Z][A-Za-z0-9]*)$/.exec(id);
      const choice = m ? byId.get(`${m[1]}[x]`) : undefined;
      if (choice) {
        id = `${m?.[1] ?? ''}[x]`;
        existing = choice;
        d.path = choice.path;
        const suffix = m?.[2] ?? '';
        const t = choice.type?.find((x) => x.code.toLowerCase() === suffix.toLowerCase());
        if (!d.type && t) d.type = [t];
      }
    }
    if (existing) {
      const i = out.indexOf(existing);
      const merged = merge(existing, d, id);
      out[i] = merged;
      byId.set(id, merged);
      continue;
    }
    const template = templateFor(id, d, byId, lookup);
    // A path its (known) parent does not have (Patient.dateOfBirth) constrains nothing: R4
    // profiling.html, a differential only constrains elements the base defines.
    if (!template && !d.sliceName && hasKnownParent(id, d, byId)) continue;
    const el = template ? merge(template, d, id) : { ...d, id };
    if (!d.slicing && template?.slicing && el.sliceName) delete el.slicing;
    out.push(el);
    byId.set(id, el);
  }
  return out;
}

/** What a new element inherits: the sliced element for a slice, the unsliced element, or the data type's element. */
function templateFor(id: string, d: ElementDefinition, byId: Map<string, ElementDefinition>, lookup: Lookup): ElementDefinition | undefined {
  if (d.sliceName) {
    const owner = byId.get(id.slice(0, id.lastIndexOf(':')));
    if (owner) return { ...owner, sliceName: d.sliceName };
  }
  const plain = byId.get(unsliced(id));
  if (plain) return plain;
  // A path into a data type (Patient.identifier.system): the type's own element definition.
  const dot = d.path.lastIndexOf('.');
  const parentPath = d.path.slice(0, dot);
  const parent = byId.get(id.slice(0, id.lastIndexOf('.'))) ?? byId.get(parentPath);
  const type = parent?.type?.[0]?.code;
  if (!type) return undefined;
  const dt = lookup(`http://hl7.org/fhir/StructureDefinition/${type}`);
  return dt?.snapshot?.element?.find((e) => e.path === `${type}.${d.path.slice(dot + 1)}`);
}

/** Whether the element containing `d` is in the snapshot being built (so `d` would be found if it existed). */
function hasKnownParent(id: string, d: ElementDefinition, byId: Map<string, ElementDefinition>): boolean {
  const dot = d.path.lastIndexOf('.');
  if (dot < 0) return false;
  const parent = byId.get(id.slice(0, id.lastIndexOf('.'))) ?? byId.get(d.path.slice(0, dot));
  // A content reference (Parameters.parameter.part → #Parameters.parameter) takes its children from elsewhere.
  return parent !== undefined && parent.contentReference === undefined;
}
