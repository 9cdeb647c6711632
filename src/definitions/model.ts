// A compiled, navigable view of StructureDefinition snapshots: for each type, its JSON properties
// with cardinality and type. Built once from the definitions; the structure checks and the
// search index extraction walk it instead of re-reading snapshots.
import type { ElementDefinition, StructureDefinition } from 'fhir/r4.js';

export interface ElementInfo {
  /** JSON property name; a choice element value[x] appears once per type (valueString, valueQuantity…). */
  readonly name: string;
  /** Element path in the definition, e.g. `Patient.contact.name` or `Observation.value[x]`. */
  readonly path: string;
  readonly min: number;
  /** Maximum cardinality; Infinity for `*`. In JSON, max > 1 means an array. */
  readonly max: number;
  /** The FHIR type code for this property (after choice expansion): a primitive, complex type, `Resource`, or `BackboneElement`. */
  readonly type: string;
  /** For a choice property, the base name (`value` for `valueString`). */
  readonly choiceOf?: string;
  readonly targetProfiles?: readonly string[];
  /** The definition this property was compiled from (bindings, constraints, fixed values). */
  readonly definition: ElementDefinition;
  /** Inline children for BackboneElements and content references (`#Questionnaire.item`). */
  children?: TypeModel;
}

export interface TypeModel {
  readonly name: string;
  readonly kind: 'resource' | 'complex-type' | 'primitive-type' | 'logical' | 'backbone';
  readonly elements: ReadonlyMap<string, ElementInfo>;
}

const SYSTEM_TYPES: Record<string, string> = {
  'http://hl7.org/fhirpath/System.String': 'string',
  'http://hl7.org/fhirpath/System.Boolean': 'boolean',
  'http://hl7.org/fhirpath/System.Integer': 'integer',
  'http://hl7.org/fhirpath/System.Decimal': 'decimal',
  'http://hl7.org/fhirpath/System.Date': 'date',
  'http://hl7.org/fhirpath/System.DateTime': 'dateTime',
  'http://hl7.org/fhirpath/System.Time': 'time',
};
const FHIR_TYPE_EXT = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';

/** The FHIR type code of an ElementDefinition.type (System.String and friends mapped to FHIR primitives). */
export function typeCode(t: NonNullable<ElementDefinition['type']>[number]): string {
  const ext = t.extension?.find((e) => e.url === FHIR_TYPE_EXT);
  if (ext?.valueUrl) return ext.valueUrl;
  return SYSTEM_TYPES[t.code] ?? t.code;
}

function parseMax(max: string | undefined): number {
  if (max === undefined || max === '*') return Infinity;
  const n = Number(max);
  return Number.isFinite(n) ? n : Infinity;
}

export function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

interface MutableModel {
  name: string;
  kind: TypeModel['kind'];
  elements: Map<string, ElementInfo>;
}

/**
 * Compiles one StructureDefinition snapshot into a TypeModel tree. Content references are
 * resolved within the same definition.
 */
export function compileModel(sd: StructureDefinition): TypeModel {
  const rootPath = sd.type;
  const kind = sd.kind === 'resource' ? 'resource' : sd.kind === 'primitive-type' ? 'primitive-type'
    : sd.kind === 'logical' ? 'logical' : 'complex-type';
  const root: MutableModel = { name: sd.type, kind, elements: new Map() };
  const nodes = new Map<string, MutableModel>([[rootPath, root]]);
  const pendingRefs: { info: ElementInfo; ref: string }[] = [];
  const elements = sd.snapshot?.element ?? [];

  for (const el of elements) {
    const path = el.path;
    if (path === rootPath) continue;
    const dot = path.lastIndexOf('.');
    if (dot < 0) continue;
    // Slices repeat a path with a sliceName; the structure model keeps the unsliced element.
    if (el.sliceName) continue;
    const parent = nodes.get(path.slice(0, dot));
    if (!parent) continue;
    const last = path.slice(dot + 1);
    const min = el.min ?? 0;
    const max = parseMax(el.max);
    const targetProfiles = (code: string): string[] | undefined => {
      const t = el.type?.find((x) => x.code === code);
      return t?.targetProfile;
    };
    if (el.contentReference) {
      const info: ElementInfo = { name: last, path, min, max, type: 'BackboneElement', definition: el };
      parent.elements.set(last, info);
      pendingRefs.push({ info, ref: el.contentReference.replace(/^.*#/, '') });
      continue;
    }
    const types = (el.type ?? []).map(typeCode);
    if (last.endsWith('[x]')) {
      const base = last.slice(0, -3);
      for (const code of types) {
        const tp = targetProfiles(code);
        parent.elements.set(base + capitalize(code), {
          name: base + capitalize(code), path, min, max, type: code, choiceOf: base, definition: el,
          ...(tp ? { targetProfiles: tp } : {}),
        });
      }
      continue;
    }
    const code = types[0] ?? 'Element';
    const tp = targetProfiles(code);
    const info: ElementInfo = { name: last, path, min, max, type: code, definition: el, ...(tp ? { targetProfiles: tp } : {}) };
    if (code === 'BackboneElement' || code === 'Element') {
      // Inline structure: children follow in the snapshot under this path.
      const child: MutableModel = { name: path, kind: 'backbone', elements: new Map() };
      nodes.set(path, child);
      info.children = child;
    }
    parent.elements.set(last, info);
  }
  for (const { info, ref } of pendingRefs) {
    const target = nodes.get(ref);
    if (target) info.children = target;
  }
  // An Element-typed property with no inline children is really the Element datatype.
  for (const node of nodes.values()) {
    for (const info of node.elements.values()) {
      if (info.children && info.children.elements.size === 0 && info.type === 'Element') delete info.children;
    }
  }
  return root;
}
