// Rules of SearchParameter and CapabilityStatement resources that their StructureDefinitions
// cannot say, checked against the search parameters Flint holds: a parameter derived from
// another keeps its type and bases (R4 searchparameter.html, derivedFrom: "the definition
// must be consistent with the base"); its expression speaks only of its bases; and a
// CapabilityStatement's searchParam has the type of the definition it names
// (capabilitystatement.html, rest.resource.searchParam.definition).
import type { CapabilityStatement, SearchParameter } from 'fhir/r4.js';
import type { Definitions } from '../definitions/registry.js';
import { issue, type Issue } from '../fhir-basics/outcome.js';

/** Bases that stand for every resource type. */
const ANY = new Set(['Resource', 'DomainResource']);

export class ResourceRules {
  constructor(private readonly defs: Definitions) {}

  check(resource: Record<string, unknown>, loc: string): Issue[] {
    if (resource.resourceType === 'SearchParameter') return this.searchParameter(resource as unknown as SearchParameter, loc);
    if (resource.resourceType === 'CapabilityStatement') return this.capabilityStatement(resource as unknown as CapabilityStatement, loc);
    return [];
  }

  private searchParameter(sp: SearchParameter, loc: string): Issue[] {
    const out: Issue[] = [];
    const bases = Array.isArray(sp.base) ? sp.base.filter((b): b is string => typeof b === 'string') : [];
    // Each union branch of the expression that starts with a resource type must start with a base.
    if (typeof sp.expression === 'string' && bases.length > 0 && !bases.some((b) => ANY.has(b))) {
      for (const part of sp.expression.split('|')) {
        const head = /^\s*\(?\s*([A-Z][A-Za-z]*)\b/.exec(part)?.[1];
        if (head !== undefined && this.defs.isResourceType(head) && !bases.includes(head)) {
          out.push(issue('error', 'invalid', `The expression '${part.trim().slice(0, 100)}' starts with ${head}, which is not a base of this SearchParameter (${bases.join(', ')})`, `${loc}.expression`));
          break;
        }
      }
    }
    if (typeof sp.derivedFrom !== 'string') return out;
    const parent = this.defs.searchParameter(sp.derivedFrom);
    if (!parent) return out;
    if (typeof sp.type === 'string' && parent.type !== sp.type) {
      out.push(issue('error', 'invalid', `The type ${sp.type} is different to the type ${parent.type} of ${sp.derivedFrom}, which this SearchParameter is derived from`, loc));
    }
    const parentBases = parent.base ?? [];
    if (!parentBases.some((b) => ANY.has(b))) {
      for (const b of bases) {
        if (!parentBases.includes(b)) out.push(issue('error', 'invalid', `The resource type ${b} is not a base of ${sp.derivedFrom}, which this SearchParameter is derived from`, loc));
      }
    }
    return out;
  }

  private capabilityStatement(cs: CapabilityStatement, loc: string): Issue[] {
    const out: Issue[] = [];
    (Array.isArray(cs.rest) ? cs.rest : []).forEach((rest, i) => {
      (Array.isArray(rest?.resource) ? rest.resource : []).forEach((res, j) => {
        (Array.isArray(res?.searchParam) ? res.searchParam : []).forEach((p, k) => {
          if (typeof p?.definition !== 'string' || typeof p.type !== 'string') return;
          const def = this.defs.searchParameter(p.definition);
          if (def && def.type !== p.type) {
            out.push(issue('error', 'invalid', `The search parameter ${p.definition} has type ${def.type}, but the type here is ${p.type}`, `${loc}.rest[${i}].resource[${j}].searchParam[${k}]`));
          }
        });
      });
    });
    return out;
  }
}
