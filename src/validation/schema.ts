// The official R4 JSON Schema (R4 json.html#schema, fhir.schema.json as shipped with the 4.0.1
// definitions) run by Ajv. Compiling the whole schema at once takes seconds, because every
// resource reaches every other through `contained` (ResourceList). So the schema is loaded once,
// ResourceList is narrowed to "an object with a resourceType" and each resource type's validator
// is compiled on first use and cached (Ajv shares the compiled data types between them). Nested
// resources are validated by the caller with their own type's validator, at their own location.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { r4DataDir } from '../definitions/load.js';
import { issue, type Issue } from '../fhir-basics/outcome.js';
import { xsdRegexSource } from './xsd-regex.js';

const SCHEMA_ID = 'http://hl7.org/fhir/json-schema/4.0';

type JsonNode = Record<string, unknown> | unknown[];

/**
 * Descriptions are half the file and Ajv does nothing with them. The patterns are XML Schema
 * regexes (`\s` is not U+00A0 there): rewritten for JavaScript (./xsd-regex.ts).
 */
function prepare(node: unknown): void {
  if (Array.isArray(node)) {
    for (const x of node) prepare(x);
  } else if (typeof node === 'object' && node !== null) {
    const obj = node as Record<string, unknown>;
    // Only the annotations: `description` is also the name of real elements (properties).
    if (typeof obj.description === 'string') delete obj.description;
    if (typeof obj.pattern === 'string') obj.pattern = xsdRegexSource(obj.pattern);
    for (const k in obj) prepare(obj[k]);
  }
}

type Definition = { properties?: Record<string, { $ref?: string; items?: { $ref?: string }; type?: string }> };

/**
 * The published R4 schema has no `_name` property for canonical elements, although every
 * primitive element may carry an id and extensions in `_name` (R4 json.html#primitive); the
 * official examples use `_profile` on ElementDefinition.type. Added here, shaped as the schema
 * shapes every other `_name`.
 */
function addCanonicalExtensions(defs: Record<string, unknown>): void {
  const CANONICAL = '#/definitions/canonical';
  for (const def of Object.values(defs) as Definition[]) {
    const props = def.properties;
    if (!props) continue;
    for (const [name, p] of Object.entries(props)) {
      if (props[`_${name}`]) continue;
      if (p.$ref === CANONICAL) props[`_${name}`] = { $ref: '#/definitions/Element' };
      else if (p.items?.$ref === CANONICAL) props[`_${name}`] = { items: { $ref: '#/definitions/Element' }, type: 'array' };
    }
  }
}

/** `/name/0/given` under `Patient` → `Patient.name[0].given` (a FHIRPath location). */
export function pointerToPath(root: string, pointer: string): string {
  let out = root;
  for (const part of pointer.split('/').slice(1)) {
    const seg = part.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : `.${seg}`;
  }
  return out;
}

function describe(e: ErrorObject): { code: Issue['code']; msg: string; at: string } {
  switch (e.keyword) {
    case 'additionalProperties': {
      const prop = String((e.params as { additionalProperty?: unknown }).additionalProperty);
      return { code: 'structure', msg: `unknown element "${prop}" (R4 JSON schema)`, at: `${e.instancePath}/${prop}` };
    }
    case 'pattern':
      return { code: 'value', msg: 'the value does not have the lexical form its type requires (R4 JSON schema)', at: e.instancePath };
    case 'const':
      return { code: 'value', msg: `must be ${JSON.stringify((e.params as { allowedValue?: unknown }).allowedValue)} (R4 JSON schema)`, at: e.instancePath };
    case 'enum':
      return { code: 'code-invalid', msg: `must be one of ${((e.params as { allowedValues?: unknown[] }).allowedValues ?? []).join(', ')} (R4 JSON schema)`, at: e.instancePath };
    default:
      return { code: 'structure', msg: `${e.message ?? 'is invalid'} (R4 JSON schema)`, at: e.instancePath };
  }
}

export class SchemaValidator {
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(schemaPath = join(r4DataDir(), 'fhir.schema.json')) {
    const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, JsonNode> & { definitions: Record<string, unknown> };
    prepare(schema);
    // Draft-06 keywords Ajv 8 reads differently: the root id becomes $id; the root-level
    // oneOf/discriminator (which forces compiling everything) goes, each type is used by name.
    delete schema.id;
    delete schema.$schema;
    delete schema.discriminator;
    delete schema.oneOf;
    schema.definitions.ResourceList = { type: 'object', required: ['resourceType'] };
    addCanonicalExtensions(schema.definitions);
    this.ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false, $data: false });
    this.ajv.addSchema({ ...schema, $id: SCHEMA_ID });
  }

  /** The compiled validator of one resource type (compiled on first use, then cached). */
  validator(resourceType: string): ValidateFunction | undefined {
    let v = this.compiled.get(resourceType);
    if (!v) {
      v = this.ajv.getSchema(`${SCHEMA_ID}#/definitions/${resourceType}`);
      if (!v) return undefined;
      this.compiled.set(resourceType, v);
    }
    return v;
  }

  /**
   * Problems of one resource (not of the resources nested in it) against the schema of its
   * type, each located under `loc` (e.g. `Bundle.entry[0].resource`).
   */
  check(resourceType: string, resource: unknown, loc: string): Issue[] {
    const v = this.validator(resourceType);
    if (!v || v(resource)) return [];
    const out: Issue[] = [];
    const seen = new Set<string>();
    for (const e of v.errors ?? []) {
      // `oneOf`/`type` failures on a primitive repeat what `pattern` already said.
      if (e.keyword === 'oneOf' || e.keyword === 'if') continue;
      const d = describe(e);
      const at = pointerToPath(loc, d.at);
      const key = `${at}\u0000${d.code}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(issue('error', d.code, d.msg, at));
    }
    return out;
  }
}
