// Authoring rules of CodeSystem and ValueSet resources, beyond what their StructureDefinitions
// say: unique codes (csd-1, checked here in linear time instead of fhirpath.js's quadratic
// isDistinct), supplements, `count`, property declarations and values, absolute canonicals, and
// ValueSet includes and filters checked against the code systems Flint holds in full.
// R4 codesystem.html#invs, codesystem.html#properties, valueset.html#compositions,
// references.html#canonical.
import type { CodeSystem, CodeSystemConcept, CodeSystemProperty, ValueSet, ValueSetComposeInclude } from 'fhir/r4.js';
import type { Definitions } from '../definitions/registry.js';
import { indexOf } from '../terminology/codesystem.js';
import { issue, type Issue } from '../fhir-basics/outcome.js';
import { isObject } from '../fhir-basics/json.js';

/**
 * The standard concept properties (http://hl7.org/fhir/concept-properties, with the codes
 * terminology tools know them by) and their types. R4 codesystem.html#properties.
 */
const STANDARD: Readonly<Record<string, string>> = {
  inactive: 'boolean', deprecated: 'dateTime', deprecationDate: 'dateTime', retirementDate: 'dateTime', notSelectable: 'boolean',
  parent: 'code', child: 'code', partOf: 'code', synonym: 'code', comment: 'string', itemWeight: 'decimal', status: 'code',
};
const STANDARD_URI = 'http://hl7.org/fhir/concept-properties#';
/** Properties every code system has (R4 valueset.html#filters: `concept`, `code`, `display`). */
const INTRINSIC = new Set(['concept', 'code', 'display']);
const HIERARCHY_OPS = new Set(['is-a', 'descendent-of', 'is-not-a', 'generalizes']);
/** The most concepts walked for the rules (a bigger CodeSystem is only checked up to here). */
const MAX_WALK = 200_000;
const UUID = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ABSOLUTE = /^[a-z][a-z0-9+.-]*:/i;

const short = (s: string): string => (s.length > 100 ? `${s.slice(0, 97)}...` : s);

/** The value[x] type of a concept property (`valueBoolean` → `boolean`). */
function valueType(p: Record<string, unknown>): string | undefined {
  for (const k of Object.keys(p)) {
    if (k.startsWith('value') && k.length > 5) {
      const t = k.slice(5);
      return /^[A-Z][a-z]/.test(t) && t !== 'Coding' ? t.charAt(0).toLowerCase() + t.slice(1) : t;
    }
  }
  return undefined;
}

/** A canonical url's problems (R4 references.html#canonical: absolute; uuids lowercase and valid). */
function canonicalUrl(url: unknown, loc: string, contained: boolean): Issue[] {
  if (typeof url !== 'string') return [];
  if (url.startsWith('urn:uuid:')) return UUID.test(url) ? [] : [issue('error', 'invalid', `UUIDs must be valid and lowercase (${short(url.slice(9))})`, `${loc}.url`)];
  if (ABSOLUTE.test(url)) return [];
  return [issue('error', 'invalid', contained
    ? `Canonical URLs in contained resources must be absolute URLs if present (${short(url)})`
    : `Canonical URLs must be absolute URLs if they are not fragment references (${short(url)})`, `${loc}.url`)];
}

export class TerminologyRules {
  constructor(private readonly defs: Definitions) {}

  /** The problems of a CodeSystem or ValueSet (and of those it contains). */
  check(resource: Record<string, unknown>, loc: string, contained = false): Issue[] {
    const out: Issue[] = [];
    if (resource.resourceType === 'CodeSystem') out.push(...canonicalUrl(resource.url, loc, contained), ...this.codeSystem(resource as unknown as CodeSystem, loc));
    else if (resource.resourceType === 'ValueSet') out.push(...canonicalUrl(resource.url, loc, contained), ...this.valueSet(resource as unknown as ValueSet, loc));
    if (Array.isArray(resource.contained)) {
      resource.contained.forEach((c, i) => {
        if (isObject(c)) out.push(...this.check(c, `${loc}.contained[${i}]`, true));
      });
    }
    return out;
  }

  private codeSystem(cs: CodeSystem, loc: string): Issue[] {
    const out: Issue[] = [];
    // R4 CodeSystem.supplements: a supplement says so in content, and only a supplement does.
    if (cs.supplements !== undefined && cs.content !== 'supplement') {
      out.push(issue('error', 'business-rule', "CodeSystem Supplements SHALL have a content value of 'supplement'", `${loc}.content`));
    }
    if (cs.content === 'supplement' && cs.supplements === undefined) {
      out.push(issue('error', 'business-rule', 'A CodeSystem with content = supplement SHALL name the code system it supplements (supplements)', `${loc}.supplements`));
    }
    const declared = this.properties(cs, loc, out);
    // csd-1, the codes walked once; concept properties against their declarations.
    const seen = new Set<string>();
    let n = 0;
    const walk = (list: readonly CodeSystemConcept[] | undefined, at: string, depth: number): void => {
      if (!Array.isArray(list) || depth > 100) return;
      list.forEach((c, i) => {
        if (!isObject(c) || ++n > MAX_WALK) return;
        const here = `${at}[${i}]`;
        if (typeof c.code === 'string') {
          const k = cs.caseSensitive === false ? c.code.toLowerCase() : c.code;
          if (seen.has(k)) out.push(issue('error', 'invariant', `Constraint failed: csd-1: 'Within a code system definition, all the codes SHALL be unique' (the code "${short(c.code)}" is defined more than once)`, here));
          seen.add(k);
        }
        (Array.isArray(c.property) ? c.property : []).forEach((p, j) => {
          if (!isObject(p) || typeof p.code !== 'string') return;
          const type = declared.get(p.code) ?? (cs.property === undefined ? STANDARD[p.code] : undefined);
          const got = valueType(p);
          if (type === undefined) {
            if (!STANDARD[p.code]) out.push(issue('warning', 'business-rule', `The property '${short(p.code)}' has no definition in CodeSystem.property`, `${here}.property[${j}]`));
          } else if (got !== undefined && got !== type) {
            out.push(issue('error', 'business-rule', `The property '${short(p.code)}' has the invalid type '${got}', when it is defined to have the type '${type}'`, `${here}.property[${j}]`));
          }
        });
        walk(c.concept as CodeSystemConcept[] | undefined, `${here}.concept`, depth + 1);
      });
    };
    walk(cs.concept, `${loc}.concept`, 0);
    // R4 CodeSystem.count: the total number of concepts; a complete system holds exactly that
    // many, a fragment or example fewer.
    if (typeof cs.count === 'number' && n <= MAX_WALK) {
      if (cs.content === 'complete' && cs.count !== n) {
        out.push(issue('error', 'business-rule', `The code system is complete, but the number of concepts (${n}) does not match the stated total number (count = ${cs.count})`, `${loc}.count`));
      } else if ((cs.content === 'fragment' || cs.content === 'example') && cs.count < n) {
        out.push(issue('error', 'business-rule', `The code system holds ${n} concepts, more than its stated total number (count = ${cs.count})`, `${loc}.count`));
      }
    }
    if (cs.content === 'not-present' && n > 0) {
      out.push(issue('warning', 'business-rule', 'The code system says its content is not present, yet it defines concepts', `${loc}.concept`));
    }
    if (cs.supplements !== undefined) out.push(...this.supplement(cs, loc));
    return out;
  }

  /** CodeSystem.property: unique codes and URIs; the standard ones with their standard types. Returns code → type. */
  private properties(cs: CodeSystem, loc: string, out: Issue[]): Map<string, string> {
    const declared = new Map<string, string>();
    const uris = new Set<string>();
    (Array.isArray(cs.property) ? cs.property : []).forEach((p: CodeSystemProperty, i) => {
      if (!isObject(p) || typeof p.code !== 'string') return;
      const at = `${loc}.property[${i}]`;
      if (declared.has(p.code)) out.push(issue('error', 'business-rule', `A property is already defined with the code '${short(p.code)}'`, at));
      else declared.set(p.code, p.type);
      const uri = typeof p.uri === 'string' ? p.uri : undefined;
      if (uri !== undefined && uris.has(uri)) {
        out.push(issue('error', 'business-rule', `A property is already defined with the URI '${short(uri)}'`, at));
        return;
      }
      if (uri !== undefined) uris.add(uri);
      const std = uri?.startsWith(STANDARD_URI) ? uri.slice(STANDARD_URI.length) : undefined;
      if (std !== undefined && STANDARD[std] !== undefined) {
        if (std !== p.code) out.push(issue('error', 'business-rule', `The URI '${short(uri ?? '')}' is normally assigned the code '${std}'. Using the code '${short(p.code)}' will usually create confusion in ValueSet filters etc`, at));
        if (p.type !== STANDARD[std]) out.push(issue('error', 'business-rule', `Wrong type '${p.type}': The URI '${short(uri ?? '')}' identifies a property that has the type '${STANDARD[std] ?? ''}'`, at));
      } else if (uri === undefined && STANDARD[p.code] !== undefined) {
        out.push(issue('warning', 'business-rule', `This property has only the standard code ('${p.code}') but not the standard URI '${STANDARD_URI}${p.code}', so it has no clearly defined meaning in the terminology ecosystem`, at));
        if (p.type !== STANDARD[p.code]) out.push(issue('warning', 'business-rule', `Wrong type '${p.type}': The code '${p.code}' identifies a property that has the type '${STANDARD[p.code] ?? ''}'`, at));
      }
    });
    return declared;
  }

  /** A supplement's codes must be codes of the system it supplements, when Flint holds it in full. */
  private supplement(cs: CodeSystem, loc: string): Issue[] {
    const base = this.defs.codeSystem(cs.supplements ?? '');
    if (!base) return [];
    const idx = indexOf(base);
    if (!idx.complete) return [];
    const out: Issue[] = [];
    (cs.concept ?? []).forEach((c, i) => {
      if (typeof c.code === 'string' && !idx.get(c.code)) {
        out.push(issue('error', 'business-rule', `The code '${short(c.code)}' is not declared in the base CodeSystem ${short(cs.supplements ?? '')} so is not valid in the supplement`, `${loc}.concept[${i}]`));
      }
    });
    return out;
  }

  private valueSet(vs: ValueSet, loc: string): Issue[] {
    const out: Issue[] = [];
    const check = (list: readonly ValueSetComposeInclude[] | undefined, at: string): void => {
      (Array.isArray(list) ? list : []).forEach((inc, i) => {
        if (isObject(inc)) out.push(...this.include(inc, `${at}[${i}]`));
      });
    };
    check(vs.compose?.include, `${loc}.compose.include`);
    check(vs.compose?.exclude, `${loc}.compose.exclude`);
    return out;
  }

  /** One include or exclude: an absolute system; its codes and filters against the system, when held in full. */
  private include(inc: ValueSetComposeInclude, at: string): Issue[] {
    const system = inc.system;
    if (typeof system !== 'string') return [];
    // R4 ValueSet.compose.include.system: the code system's canonical url, never `#id`.
    if (!ABSOLUTE.test(system)) {
      return [issue('error', 'invalid', 'URI values in ValueSet.compose.include.system must be absolute. To reference a contained code system, use the full CodeSystem URL and reference it using the http://hl7.org/fhir/StructureDefinition/valueset-system extension', at)];
    }
    const cs = this.defs.codeSystem(system);
    if (!cs) return [];
    const out: Issue[] = [];
    if (cs.content === 'supplement') out.push(issue('error', 'business-rule', `CodeSystem ${short(system)} is a supplement, so it cannot be included in a value set`, at));
    const idx = indexOf(cs);
    const full = idx.complete;
    (Array.isArray(inc.concept) ? inc.concept : []).forEach((c, i) => {
      if (full && typeof c.code === 'string' && !idx.get(c.code)) {
        out.push(issue('error', 'code-invalid', `The code '${short(c.code)}' is not valid in the system ${short(system)}`, `${at}.concept[${i}]`));
      }
    });
    const props = new Map((cs.property ?? []).map((p) => [p.code, p.type]));
    (Array.isArray(inc.filter) ? inc.filter : []).forEach((f, i) => {
      if (!isObject(f) || typeof f.property !== 'string' || typeof f.value !== 'string') return;
      const here = `${at}.filter[${i}]`;
      const type = INTRINSIC.has(f.property) ? 'code' : props.get(f.property) ?? (idx.declaresProperty(f.property) ? STANDARD[f.property] : undefined);
      if (type === undefined) {
        out.push(issue('warning', 'business-rule', `The property '${short(f.property)}' is not known for the system '${short(system)}', so may not be understood by the terminology ecosystem`, here));
        return;
      }
      if ((f.property === 'concept' || f.property === 'code') && HIERARCHY_OPS.has(f.op) && full && !idx.get(f.value)) {
        out.push(issue('error', 'code-invalid', `The value for a filter based on property '${f.property}' must be a valid code from the system '${short(system)}', and '${short(f.value)}' is not`, here));
      } else if (type === 'boolean' && f.op === '=' && f.value !== 'true' && f.value !== 'false') {
        out.push(issue('error', 'invalid', `The value for a filter based on property '${short(f.property)}' must be either 'true' or 'false', not '${short(f.value)}'`, here));
      } else if (type === 'Coding' && f.op === '=') {
        out.push(...this.codingValue(f.property, f.value, here));
      }
    });
    return out;
  }

  /** A filter value for a Coding property: `system(|version)#code`, the code checked when the system is held in full. */
  private codingValue(property: string, value: string, at: string): Issue[] {
    const m = /^([^|#]+)(?:\|[^#]*)?#(.+)$/.exec(value);
    if (!m) return [issue('error', 'invalid', `The value for a filter based on property '${short(property)}' must be in the format system(|version)#code, not '${short(value)}'`, at)];
    const [, system = '', code = ''] = m;
    const cs = this.defs.codeSystem(system);
    if (!cs) return [];
    const idx = indexOf(cs);
    if (!idx.complete || idx.get(code)) return [];
    return [issue('error', 'code-invalid', `The value for a filter based on property '${short(property)}' is '${short(value)}' which is not a valid code (unknown code '${short(code)}' in ${short(system)})`, at)];
  }
}
