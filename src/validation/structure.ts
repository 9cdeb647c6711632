// Structural checks of a resource's JSON against the base StructureDefinitions: known
// resourceType, only defined properties, arrays exactly where max > 1, the right JSON type and
// lexical form for every primitive, nested resources checked as resources. This is the floor
// every write passes; profile rules (cardinality, bindings, invariants) build on the same walk.
import type { Definitions } from '../definitions/registry.js';
import type { ElementInfo, TypeModel } from '../definitions/model.js';
import { checkPrimitive } from './primitives.js';
import { issue, type Issue } from '../fhir-basics/outcome.js';
import { ID_RE } from '../fhir-basics/ids.js';
import { isObject } from '../fhir-basics/json.js';

/** Deeper than any real resource; bounds the walk's recursion on hostile input. */
export const MAX_DEPTH = 64;

type Json = Record<string, unknown>;

/** Called for the resource and for every resource nested in it, with its location. */
export type ResourceHook = (resourceType: string, resource: Json, loc: string) => void;


function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

class Walker {
  readonly issues: Issue[] = [];
  private readonly elementModel: TypeModel | undefined;

  constructor(private readonly defs: Definitions, private readonly onResource?: ResourceHook) {
    this.elementModel = defs.typeModel('Element');
  }

  private error(code: Issue['code'], msg: string, loc: string): void {
    this.issues.push(issue('error', code, msg, loc));
  }

  resource(value: unknown, loc: string, depth: number): void {
    if (!isObject(value)) {
      this.error('structure', `a resource must be a JSON object, got ${describe(value)}`, loc);
      return;
    }
    const rt = value.resourceType;
    if (typeof rt !== 'string') {
      this.error('required', 'resourceType is missing', loc);
      return;
    }
    const model = this.defs.isResourceType(rt) ? this.defs.typeModel(rt) : undefined;
    if (!model) {
      this.error('not-supported', `unknown resourceType "${rt}"`, loc);
      return;
    }
    if (value.id !== undefined && (typeof value.id !== 'string' || !ID_RE.test(value.id))) {
      this.error('value', 'id must be 1-64 characters of A-Z, a-z, 0-9, "-" and "."', loc ? `${loc}.id` : `${rt}.id`);
    }
    this.onResource?.(rt, value, loc || rt);
    this.elements(value, model, loc || rt, depth);
  }

  private elements(obj: Json, model: TypeModel, loc: string, depth: number): void {
    if (depth > MAX_DEPTH) {
      this.error('too-costly', `elements are nested more than ${MAX_DEPTH} levels deep`, loc);
      return;
    }
    let count = 0;
    for (const key in obj) {
      count++;
      const value = obj[key];
      if (key === 'resourceType' && model.kind === 'resource') continue;
      if (key.charCodeAt(0) === 95 /* _ */) {
        this.primitiveExtension(obj, key, model, loc, depth);
        continue;
      }
      const el = model.elements.get(key);
      if (!el) {
        this.error('structure', `unknown element "${key}"`, `${loc}.${key}`);
        continue;
      }
      const at = `${loc}.${key}`;
      if (el.max > 1) {
        if (!Array.isArray(value)) {
          this.error('structure', `must be an array (cardinality ${el.min}..${el.max === Infinity ? '*' : el.max}), got ${describe(value)}`, at);
          continue;
        }
        if (value.length === 0) {
          this.error('structure', 'an array must not be empty; leave the element out instead', at);
          continue;
        }
        const ext = obj[`_${key}`];
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (item === null) {
            // A null keeps positions aligned with the _element array; it needs an extension there.
            if (!Array.isArray(ext) || ext[i] === null || ext[i] === undefined) {
              this.error('structure', 'null is only allowed where the matching _element entry has content', `${at}[${i}]`);
            }
            continue;
          }
          this.value(el, item, `${at}[${i}]`, depth);
        }
      } else if (Array.isArray(value)) {
        this.error('structure', 'must be a single value, not an array (max cardinality 1)', at);
      } else if (value === null) {
        this.error('structure', 'null is not a valid value; leave the element out instead', at);
      } else {
        this.value(el, value, at, depth);
      }
    }
    if (count === 0) this.error('structure', 'an object must have content', loc);
  }

  private value(el: ElementInfo, value: unknown, at: string, depth: number): void {
    const type = el.type;
    if (this.defs.primitiveTypes.has(type)) {
      const problem = checkPrimitive(type, value);
      if (problem) this.error(typeof value === 'object' ? 'structure' : 'value', problem, at);
      return;
    }
    if (type === 'Resource') {
      this.resource(value, at, depth + 1);
      return;
    }
    if (!isObject(value)) {
      this.error('structure', `must be a JSON object (FHIR ${type}), got ${describe(value)}`, at);
      return;
    }
    const model = el.children ?? this.defs.typeModel(type);
    if (model) this.elements(value, model, at, depth + 1);
  }

  /** `_given` and friends: the id and extensions of a primitive, aligned with its values. */
  private primitiveExtension(obj: Json, key: string, model: TypeModel, loc: string, depth: number): void {
    const name = key.slice(1);
    const el = model.elements.get(name);
    const at = `${loc}.${name}`;
    if (!el || !this.defs.primitiveTypes.has(el.type)) {
      this.error('structure', `unknown element "${key}"`, `${loc}.${key}`);
      return;
    }
    const value = obj[key];
    const elementModel = this.elementModel;
    if (!elementModel) return;
    if (el.max > 1) {
      if (!Array.isArray(value)) {
        this.error('structure', `"${key}" must be an array aligned with "${name}"`, at);
        return;
      }
      const values = obj[name];
      if (Array.isArray(values) && values.length !== value.length) {
        this.error('structure', `"${key}" must have as many entries as "${name}"`, at);
      }
      value.forEach((item: unknown, i) => {
        if (item === null) return;
        if (!isObject(item)) this.error('structure', `must be a JSON object or null, got ${describe(item)}`, `${at}[${i}]`);
        else this.elements(item, elementModel, `${at}[${i}]`, depth + 1);
      });
    } else if (!isObject(value)) {
      this.error('structure', `"${key}" must be a JSON object, got ${describe(value)}`, at);
    } else {
      this.elements(value, elementModel, at, depth + 1);
    }
  }
}

/**
 * Checks the JSON structure of a resource. Returns one issue per problem, each located with a
 * FHIRPath-style expression; an empty list means structurally sound.
 */
export function checkStructure(defs: Definitions, resource: unknown, onResource?: ResourceHook): Issue[] {
  const w = new Walker(defs, onResource);
  w.resource(resource, '', 0);
  return w.issues;
}
