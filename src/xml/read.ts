// FHIR XML → FHIR JSON (R4 xml.html, json.html), driven by the StructureDefinitions: they say
// which elements repeat (JSON arrays), which primitives are numbers or booleans, and where a
// nested resource or the XHTML narrative sits. Anything the definitions do not allow is a 400.
import type { Definitions } from '../definitions/registry.js';
import type { TypeModel } from '../definitions/model.js';
import { FhirError } from '../fhir/errors.js';
import { childModel, FHIR_NS, isAttribute, isPrimitive, isResource, jsonKind, XHTML_NS } from './model.js';
import { DEFAULT_LIMITS, parseXml, type XmlLimits, type XmlNode } from './parse.js';

type Json = Record<string, unknown>;

// R4 datatypes.html#decimal, #integer: the lexical forms a number may have.
const NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;

function refuse(msg: string, loc: string): never {
  throw new FhirError(400, `The body is not acceptable FHIR XML: ${msg} (at ${loc})`, 'structure');
}

class Reader {
  constructor(private readonly defs: Definitions) {}

  resource(node: XmlNode, loc: string): Json {
    if (node.ns !== FHIR_NS) refuse(`<${node.name}> is not in the FHIR namespace ${FHIR_NS}`, loc);
    const model = this.defs.typeModel(node.name);
    if (!model || model.kind !== 'resource') refuse(`unknown resource type ${node.name.slice(0, 64)}`, loc);
    for (const a in node.attrs) refuse(`unexpected attribute ${a.slice(0, 40)} on a resource`, loc);
    const out: Json = { resourceType: node.name };
    this.content(model, node, out, node.name);
    return out;
  }

  private content(model: TypeModel, node: XmlNode, out: Json, loc: string): void {
    /** Primitive arrays being built: values and `_x` parts kept aligned (R4 json.html#primitive). */
    const lists = new Map<string, { values: unknown[]; extras: unknown[] }>();
    for (const child of node.children) {
      const name = child.name;
      const at = `${loc}.${name}`;
      const info = model.elements.get(name);
      if (!info || isAttribute(model, info)) refuse(`unknown element <${name.slice(0, 64)}>`, loc);
      if (info.type === 'xhtml') {
        if (out[name] !== undefined) refuse('repeated element', at);
        if (child.ns !== XHTML_NS || child.raw === undefined) refuse('the narrative div must be in the XHTML namespace', at);
        out[name] = child.raw;
        continue;
      }
      if (child.ns !== FHIR_NS) refuse(`<${name}> is not in the FHIR namespace`, at);
      const many = info.max > 1;
      if (!many && (out[name] !== undefined || out[`_${name}`] !== undefined)) refuse(`<${name}> repeats but the definition allows one`, at);
      if (isPrimitive(this.defs, info)) {
        const [value, extra] = this.primitive(info.type, child, at);
        if (!many) {
          if (value !== undefined) out[name] = value;
          if (extra !== undefined) out[`_${name}`] = extra;
          continue;
        }
        let list = lists.get(name);
        if (!list) {
          list = { values: [], extras: [] };
          lists.set(name, list);
          out[name] = list.values; // keeps the element's place in the object's key order
        }
        list.values.push(value ?? null);
        list.extras.push(extra ?? null);
        continue;
      }
      let item: Json;
      if (isResource(this.defs, info)) {
        for (const a in child.attrs) refuse(`unexpected attribute ${a.slice(0, 40)}`, at);
        const [inner, ...rest] = child.children;
        if (!inner || rest.length > 0) refuse(`<${name}> must hold exactly one resource`, at);
        item = this.resource(inner, at);
      } else {
        const m = childModel(this.defs, info);
        if (!m) refuse(`no definition of ${info.type}`, at);
        item = this.complex(m, child, at);
      }
      if (!many) {
        out[name] = item;
      } else {
        const arr = (out[name] as unknown[] | undefined) ?? [];
        arr.push(item);
        out[name] = arr;
      }
    }
    for (const [name, { values, extras }] of lists) {
      if (values.every((v) => v === null)) delete out[name];
      if (extras.some((e) => e !== null)) out[`_${name}`] = extras;
    }
  }

  private complex(model: TypeModel, node: XmlNode, loc: string): Json {
    const out: Json = {};
    for (const [a, value] of Object.entries(node.attrs)) {
      const info = model.elements.get(a);
      if (!info || !isAttribute(model, info)) refuse(`unexpected attribute ${a.slice(0, 40)}`, loc);
      out[a] = value;
    }
    this.content(model, node, out, loc);
    if (Object.keys(out).length === 0) refuse('an element with neither content nor attributes (R4 ele-1)', loc);
    return out;
  }

  /** A primitive element: its JSON value and its `_x` object (id, extensions), either may be absent. */
  private primitive(type: string, node: XmlNode, loc: string): [unknown, Json | undefined] {
    let value: unknown;
    const extra: Json = {};
    for (const [a, v] of Object.entries(node.attrs)) {
      if (a === 'value') value = v;
      else if (a === 'id') extra.id = v;
      else refuse(`unexpected attribute ${a.slice(0, 40)}`, loc);
    }
    if (typeof value === 'string') {
      const kind = jsonKind(type);
      if (kind === 'boolean') {
        if (value !== 'true' && value !== 'false') refuse(`"${value.slice(0, 40)}" is not a boolean`, loc);
        value = value === 'true';
      } else if (kind === 'number') {
        if (!NUMBER.test(value)) refuse(`"${value.slice(0, 40)}" is not a ${type}`, loc);
        value = Number(value);
      }
    }
    if (node.children.length > 0) {
      const model = this.defs.typeModel('Extension');
      if (!model) refuse('no Extension definition', loc);
      const exts: Json[] = [];
      for (const c of node.children) {
        if (c.name !== 'extension' || c.ns !== FHIR_NS) refuse(`<${c.name.slice(0, 40)}> in a primitive element (only extension)`, loc);
        exts.push(this.complex(model, c, `${loc}.extension`));
      }
      extra.extension = exts;
    }
    if (value === undefined && Object.keys(extra).length === 0) refuse('a primitive element with no value and no extensions (R4 ele-1)', loc);
    return [value, Object.keys(extra).length > 0 ? extra : undefined];
  }
}

/** FHIR XML text → the resource as FHIR JSON (parsed), or FhirError 400. */
export function fromXml(defs: Definitions, text: string, limits: XmlLimits = DEFAULT_LIMITS): Json {
  const root = parseXml(text, limits);
  return new Reader(defs).resource(root, root.name.slice(0, 64));
}
