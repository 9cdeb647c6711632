// FHIR JSON → FHIR XML (R4 xml.html), driven by the StructureDefinitions: elements in snapshot
// order, primitives as <x value="…"/> with their `_x` id and extensions, choice elements named
// by type, nested resources wrapped (<contained><Patient>…), the xhtml div copied verbatim.
import type { Definitions } from '../definitions/registry.js';
import type { TypeModel } from '../definitions/model.js';
import { FhirError } from '../fhir/errors.js';
import { childModel, FHIR_NS, isAttribute, isPrimitive, isResource } from './model.js';

type Json = Record<string, unknown>;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\n': '&#10;', '\r': '&#13;', '\t': '&#9;' };

/** An attribute value; tab, CR and LF as references, else XML would normalise them to spaces. */
function attr(v: unknown): string {
  return String(v).replace(/[&<>"\n\r\t]/g, (c) => ESCAPES[c] ?? c);
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(msg: string): never {
  throw new FhirError(500, `Cannot write XML: ${msg}`, 'exception');
}

class Writer {
  readonly out: string[] = [];
  constructor(private readonly defs: Definitions) {}

  resource(res: unknown, root: boolean): void {
    if (!isObject(res) || typeof res.resourceType !== 'string') fail('a resource without resourceType');
    const type = res.resourceType;
    const model = this.defs.typeModel(type);
    if (!model || model.kind !== 'resource') fail(`unknown resource type ${type}`);
    this.out.push(root ? `<${type} xmlns="${FHIR_NS}">` : `<${type}>`);
    this.content(model, res, type);
    this.out.push(`</${type}>`);
  }

  /** The child elements of `obj` (its attributes are written by the caller). */
  private content(model: TypeModel, obj: Json, loc: string): void {
    for (const k in obj) {
      if (k === 'resourceType' && model.kind === 'resource') continue;
      if (!model.elements.has(k.charCodeAt(0) === 95 ? k.slice(1) : k)) fail(`unknown element ${loc}.${k}`);
    }
    for (const [name, info] of model.elements) {
      const value = obj[name];
      const ext = obj[`_${name}`];
      if (value === undefined && ext === undefined) continue;
      if (isAttribute(model, info)) continue;
      if (info.type === 'xhtml') {
        // R4 narrative.html: the div is XHTML, in its own namespace, kept as it is.
        if (typeof value !== 'string') fail(`${loc}.${name} is not a string`);
        this.out.push(value);
        continue;
      }
      if (isPrimitive(this.defs, info)) {
        if (Array.isArray(value) || Array.isArray(ext)) {
          // R4 json.html#primitive: `x` and `_x` are aligned, null where one side has nothing.
          const vs = Array.isArray(value) ? value : [];
          const es = Array.isArray(ext) ? ext : [];
          const n = Math.max(vs.length, es.length);
          for (let i = 0; i < n; i++) this.primitive(name, vs[i], es[i], `${loc}.${name}[${i}]`);
        } else {
          this.primitive(name, value, ext, `${loc}.${name}`);
        }
        continue;
      }
      const items = Array.isArray(value) ? value : [value];
      for (let i = 0; i < items.length; i++) {
        const item = items[i];
        const at = `${loc}.${name}${Array.isArray(value) ? `[${i}]` : ''}`;
        if (isResource(this.defs, info)) {
          this.out.push(`<${name}>`);
          this.resource(item, false);
          this.out.push(`</${name}>`);
          continue;
        }
        const m = childModel(this.defs, info);
        if (!m || !isObject(item)) fail(`${at} is not an object of type ${info.type}`);
        this.complex(name, m, item, at);
      }
    }
  }

  private complex(name: string, model: TypeModel, obj: Json, loc: string): void {
    let open = `<${name}`;
    for (const [n, info] of model.elements) {
      if (obj[n] !== undefined && isAttribute(model, info)) open += ` ${n}="${attr(obj[n])}"`;
    }
    this.out.push(`${open}>`);
    this.content(model, obj, loc);
    this.out.push(`</${name}>`);
  }

  private primitive(name: string, value: unknown, ext: unknown, loc: string): void {
    if (value === undefined || value === null) {
      if (ext === undefined || ext === null) fail(`${loc} has neither a value nor extensions`);
    } else if (typeof value === 'object') {
      fail(`${loc} is not a primitive value`);
    }
    let open = `<${name}`;
    let extensions: unknown[] = [];
    if (ext !== undefined && ext !== null) {
      if (!isObject(ext)) fail(`${loc}'s _${name} is not an object`);
      for (const k in ext) if (k !== 'id' && k !== 'extension') fail(`unknown element _${name}.${k} at ${loc}`);
      if (ext.id !== undefined) open += ` id="${attr(ext.id)}"`;
      if (Array.isArray(ext.extension)) extensions = ext.extension;
    }
    if (value !== undefined && value !== null) open += ` value="${attr(value)}"`;
    if (extensions.length === 0) {
      this.out.push(`${open}/>`);
      return;
    }
    this.out.push(`${open}>`);
    const model = this.defs.typeModel('Extension');
    if (!model) fail('no Extension definition');
    for (let i = 0; i < extensions.length; i++) {
      const e = extensions[i];
      if (!isObject(e)) fail(`${loc}.extension[${i}] is not an object`);
      this.complex('extension', model, e, `${loc}.extension[${i}]`);
    }
    this.out.push(`</${name}>`);
  }
}

/** A resource (FHIR JSON, parsed) as FHIR XML text, with an XML declaration. */
export function toXml(defs: Definitions, resource: unknown): string {
  const w = new Writer(defs);
  w.out.push('<?xml version="1.0" encoding="UTF-8"?>');
  w.resource(resource, true);
  return w.out.join('');
}
