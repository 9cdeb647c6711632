// FHIR ids and resource type names (R4 datatypes.html#id): the one pattern every layer uses.

/** The id pattern's source, for composing larger patterns (references, URLs). */
export const ID_SOURCE = '[A-Za-z0-9\\-.]{1,64}';
/** A resource type name as it appears in a reference or URL (not checked against the definitions). */
export const TYPE_SOURCE = '[A-Z][A-Za-z]+';

export const ID_RE = new RegExp(`^${ID_SOURCE}$`);

export function isId(value: unknown): value is string {
  return typeof value === 'string' && ID_RE.test(value);
}
