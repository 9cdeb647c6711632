// What the FHIR XML format needs to know of an element, read from the loaded definitions
// (R4 xml.html): which properties are XML attributes, which are primitives and how their
// `value` maps to JSON, and the model of a complex element's children.
import type { Definitions } from '../definitions/registry.js';
import type { ElementInfo, TypeModel } from '../definitions/model.js';

export const FHIR_NS = 'http://hl7.org/fhir';
export const XHTML_NS = 'http://www.w3.org/1999/xhtml';

const NUMBER_TYPES = new Set(['integer', 'unsignedInt', 'positiveInt', 'decimal', 'integer64']);

/** The JSON type of a FHIR primitive's value (R4 json.html#primitive). */
export function jsonKind(type: string): 'number' | 'boolean' | 'string' {
  if (NUMBER_TYPES.has(type)) return 'number';
  return type === 'boolean' ? 'boolean' : 'string';
}

/**
 * Element.id and Extension.url are XML attributes (ElementDefinition.representation `xmlAttr`);
 * a resource's own id is an element (R4 xml.html, "id" of resources).
 */
export function isAttribute(model: TypeModel, info: ElementInfo): boolean {
  if (info.definition.representation?.includes('xmlAttr')) return true;
  if (info.name === 'id') return model.kind !== 'resource';
  return model.name === 'Extension' && info.name === 'url';
}

export function isPrimitive(defs: Definitions, info: ElementInfo): boolean {
  return !info.children && defs.primitiveTypes.has(info.type);
}

/** A nested resource (contained, Bundle.entry.resource, Bundle.entry.response.outcome…): wrapped in XML. */
export function isResource(defs: Definitions, info: ElementInfo): boolean {
  return info.type === 'Resource' || info.type === 'DomainResource' || (!info.children && defs.isResourceType(info.type));
}

/** The model of a complex element's content: its inline children or its datatype. */
export function childModel(defs: Definitions, info: ElementInfo): TypeModel | undefined {
  return info.children ?? defs.typeModel(info.type);
}
