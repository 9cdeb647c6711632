// The validation entry point used by the engine on every write and by $validate: the JSON
// structure (structure.ts), the official R4 JSON Schema (schema.ts) and conformance to the
// StructureDefinitions, profiles and extensions (conform.ts). One Validator per Definitions,
// built once; everything it compiles (schemas, profiles, FHIRPath, expansions) is cached.
import { memoByObject } from '../fhir-basics/memo.js';
import type { Definitions } from '../definitions/registry.js';
import { checkStructure } from './structure.js';
import { SchemaValidator } from './schema.js';
import { Conformance } from './conform.js';
import { TerminologyRules } from './terminology-rules.js';
import { ResourceRules } from './resource-rules.js';
import type { Issue } from '../fhir-basics/outcome.js';
import type { TerminologyOverlay } from './bindings.js';

export { hasErrors, type Issue } from '../fhir-basics/outcome.js';

export interface ValidateOptions {
  /** Profiles to check besides those in meta.profile ($validate's `profile` parameter). */
  profiles?: readonly string[];
  /** Terminology beyond the definitions (stored ValueSets and CodeSystems), and misses reported. */
  terminology?: TerminologyOverlay;
}

let schemaValidator: SchemaValidator | undefined;

/** The JSON Schema depends on nothing but the R4 package: one per process. */
function sharedSchema(): SchemaValidator {
  schemaValidator ??= new SchemaValidator();
  return schemaValidator;
}

export class Validator {
  readonly schema: SchemaValidator;
  readonly conformance: Conformance;
  readonly terminologyRules: TerminologyRules;
  readonly resourceRules: ResourceRules;

  constructor(readonly defs: Definitions) {
    this.schema = sharedSchema();
    this.conformance = new Conformance(defs);
    this.terminologyRules = new TerminologyRules(defs);
    this.resourceRules = new ResourceRules(defs);
  }

  validate(resource: unknown, opts: ValidateOptions = {}): Issue[] {
    return this.conformance.terminology.withOverlay(opts.terminology, () => this.run(resource, opts));
  }

  private run(resource: unknown, opts: ValidateOptions): Issue[] {
    const nested: [string, Record<string, unknown>, string][] = [];
    const structural = checkStructure(this.defs, resource, (rt, r, loc) => {
      nested.push([rt, r, loc]);
    });
    const out = [...structural];
    // Hostile depth: the walker stopped at its bound; the schema and the rules, which recurse
    // without one, are not run on it at all.
    if (structural.some((i) => i.code === 'too-costly')) return out;
    const schemaIssues: Issue[] = [];
    for (const [rt, r, loc] of nested) schemaIssues.push(...this.schema.check(rt, r, loc));
    const r = resource as Record<string, unknown>;
    if (typeof r === 'object' && r !== null && !Array.isArray(r) && typeof r.resourceType === 'string' && this.defs.isResourceType(r.resourceType)) {
      const keys = new Set(out.map((i) => `${i.severity}|${i.expression?.[0]}|${i.diagnostics}`));
      for (const i of this.conformance.validate(r, opts.profiles)) {
        const key = `${i.severity}|${i.expression?.[0]}|${i.diagnostics}`;
        if (keys.has(key)) continue;
        keys.add(key);
        out.push(i);
      }
      out.push(...this.terminologyRules.check(r, r.resourceType));
      out.push(...this.resourceRules.check(r, r.resourceType));
    }
    // The schema's messages are the least precise (an enum, a pattern, a required property):
    // they are added only where nothing else has spoken.
    const seen = new Set(out.map((i) => i.expression?.[0]));
    for (const i of schemaIssues) {
      const at = i.expression?.[0];
      if (seen.has(at)) continue;
      seen.add(at);
      out.push(i);
    }
    return out;
  }
}

/** The Validator of these definitions (built on first use, then shared). */
export const validatorFor = memoByObject((defs: Definitions) => new Validator(defs));

/** All problems found in `resource`, errors and warnings alike. */
export function validateResource(defs: Definitions, resource: unknown, opts: ValidateOptions = {}): Issue[] {
  return validatorFor(defs).validate(resource, opts);
}
