// Bulk Data export kick-off parameters (Bulk Data Access IG v2.0.0, export.html#query-parameters)
// → an ExportRequest: plain JSON kept in the job, so a restarted or other instance runs the very
// same export. _typeFilter queries go through the search parser here, once: the job stores their
// IR, so a filter means exactly what the same query means on GET [type]?query.
import type { FhirContext } from '../fhir/context.js';
import type { Expr } from '../search/ir.js';
import type { Issue } from '../fhir-basics/outcome.js';
import { issue } from '../fhir-basics/outcome.js';
import { badRequest, FhirError } from '../fhir/errors.js';
import { parseInstant } from '../fhir/params.js';
import { isObject } from '../fhir-basics/json.js';
import { isId } from '../fhir-basics/ids.js';
import { parseQuery, type QueryPairs } from '../fhir-basics/query.js';
import { SearchParseError } from '../search/parse.js';

export type ExportLevel = 'system' | 'patient' | 'group';

export interface ExportRequest {
  level: ExportLevel;
  groupId?: string;
  /** Types to export, in order; already narrowed to what the level covers. */
  types: string[];
  /** FHIR instant: only resources whose snapshot version was written at or after it. */
  since?: string;
  /** Per type: the OR of the _typeFilter queries given for it, as search IR. */
  filters: Record<string, Expr>;
  /** _elements: `element` for every type or `Type.element` for one. */
  elements?: string[];
  /** POST `patient` values (ids): only these patients' compartments. */
  patients?: string[];
  /** Problems ignored under Prefer: handling=lenient, reported in the manifest's error file. */
  warnings: Issue[];
}

/** Limits that keep a kick-off bounded whatever a client sends (README: Bulk Data). */
export const EXPORT_LIMITS = { typeValues: 1000, typeFilters: 100, typeFilterChars: 8192, patients: 1000, elements: 100 } as const;

const FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);
const KNOWN = new Set(['_outputFormat', '_since', '_type', '_elements', '_typeFilter', 'patient', 'includeAssociatedData']);
const ELEMENT = /^(?:[A-Z][A-Za-z]{0,63}\.)?[a-z][A-Za-z0-9]{0,63}$/;

/** The kick-off's parameters: the query string, plus a Parameters body on POST (IG export.html#post-kick-off). */
export function kickoffParams(query: QueryPairs, body: unknown, post: boolean): QueryPairs {
  const pairs: QueryPairs = [...query];
  if (!post || body === undefined || body === null) return pairs;
  if (!isObject(body) || body.resourceType !== 'Parameters') throw badRequest('POST $export takes a Parameters resource', 'invalid');
  const params = Array.isArray(body.parameter) ? body.parameter : [];
  if (params.length > EXPORT_LIMITS.typeValues + EXPORT_LIMITS.patients + 100) throw badRequest('too many parameters', 'too-costly');
  for (const p of params) {
    if (!isObject(p) || typeof p.name !== 'string') throw badRequest('every Parameters.parameter needs a name');
    if (p.name === 'patient') {
      const ref = isObject(p.valueReference) ? p.valueReference.reference : undefined;
      if (typeof ref !== 'string') throw badRequest('patient takes a valueReference to a Patient');
      pairs.push(['patient', ref]);
      continue;
    }
    const v = p.valueString ?? p.valueInstant ?? p.valueCode ?? p.valueDateTime;
    if (typeof v !== 'string') throw badRequest(`parameter ${p.name.slice(0, 60)} needs a string, code or instant value`);
    pairs.push([p.name, v]);
  }
  return pairs;
}

/** Comma-separated values over every repeat of a parameter (IG: repeats and commas both mean "or"). */
function listOf(pairs: QueryPairs, name: string, cap: number): string[] {
  const out: string[] = [];
  for (const [k, v] of pairs) {
    if (k !== name) continue;
    for (const x of v.split(',')) {
      const t = x.trim();
      if (t) out.push(t);
      if (out.length > cap) throw badRequest(`${name}: more than ${cap} values`, 'too-costly');
    }
  }
  return out;
}

export interface KickoffInput {
  level: ExportLevel;
  groupId?: string;
  params: QueryPairs;
  /** Prefer: handling; absent counts as strict for unsupported parameters (IG export.html#query-parameters). */
  lenient: boolean;
  /** The types the level covers (every type, or the Patient compartment's). */
  levelTypes: readonly string[];
}

export function parseKickoff(ctx: FhirContext, input: KickoffInput): ExportRequest {
  const warnings: Issue[] = [];
  // Unsupported: an error, unless the client said Prefer: handling=lenient.
  const unsupported = (msg: string): void => {
    if (!input.lenient) throw new FhirError(400, msg, 'not-supported');
    warnings.push(issue('warning', 'not-supported', `${msg} (ignored: Prefer: handling=lenient)`));
  };
  for (const [k] of input.params) {
    if (!KNOWN.has(k)) unsupported(`$export does not support the parameter "${k.slice(0, 60)}"`);
  }
  const once = (name: string): string | undefined => {
    const v = input.params.filter(([k]) => k === name);
    if (v.length > 1) throw badRequest(`${name} may be given only once`);
    return v[0]?.[1];
  };
  const format = once('_outputFormat');
  if (format !== undefined && !FORMATS.has(format)) {
    throw new FhirError(400, `_outputFormat "${format.slice(0, 60)}" is not supported; use application/fhir+ndjson`, 'not-supported');
  }
  const sinceRaw = once('_since');
  const since = sinceRaw !== undefined ? parseInstant('_since', sinceRaw) : undefined;
  if (input.params.some(([k]) => k === 'includeAssociatedData')) unsupported('includeAssociatedData is not supported');

  let types = [...input.levelTypes];
  const listed = listOf(input.params, '_type', EXPORT_LIMITS.typeValues);
  if (listed.length > 0) {
    const wanted = new Set<string>();
    for (const t of listed) {
      if (!ctx.defs.isResourceType(t)) unsupported(`_type: unknown resource type "${t.slice(0, 60)}"`);
      else if (!input.levelTypes.includes(t)) unsupported(`_type: ${t} is not exported at this level (not in the Patient compartment)`);
      else wanted.add(t);
    }
    types = types.filter((t) => wanted.has(t));
  }

  const filters: Record<string, Expr[]> = {};
  const typeFilters = input.params.filter(([k]) => k === '_typeFilter').flatMap(([, v]) => v.split(','));
  if (typeFilters.length > EXPORT_LIMITS.typeFilters) throw badRequest(`_typeFilter: more than ${EXPORT_LIMITS.typeFilters} queries`, 'too-costly');
  for (const raw of typeFilters) {
    if (raw.length > EXPORT_LIMITS.typeFilterChars) throw badRequest(`_typeFilter: a query longer than ${EXPORT_LIMITS.typeFilterChars} characters`, 'too-costly');
    const at = raw.indexOf('?');
    const type = (at < 0 ? raw : raw.slice(0, at)).trim();
    if (!ctx.defs.isResourceType(type)) throw badRequest(`_typeFilter: "${type.slice(0, 60)}" is not a resource type (the form is Type?query)`);
    if (!types.includes(type)) {
      unsupported(`_typeFilter on ${type}, which this export does not include`);
      continue;
    }
    const params = parseQuery(at < 0 ? '' : raw.slice(at + 1));
    let where: Expr;
    try {
      const parsed = ctx.search.parser.parse({ types: [type], params, handling: 'strict', defaultCount: 1, maxCount: 1 });
      const result = parsed.used.filter(([k]) => k.startsWith('_') && !['_id', '_lastUpdated', '_tag', '_profile', '_security', '_source', '_has', '_text', '_content', '_list'].includes(k.split(':')[0] ?? k));
      if (result.length || parsed.query.include.length || parsed.query.revinclude.length) {
        throw badRequest(`_typeFilter: result parameters (${result.map(([k]) => k).join(', ') || '_include'}) have no meaning in an export`);
      }
      where = parsed.query.where;
    } catch (err) {
      if (err instanceof SearchParseError) throw badRequest(`_typeFilter ${type}: ${err.message}`, err.code);
      throw err;
    }
    (filters[type] ??= []).push(where);
  }

  const elements = listOf(input.params, '_elements', EXPORT_LIMITS.elements);
  for (const e of elements) if (!ELEMENT.test(e)) throw badRequest(`_elements: "${e.slice(0, 60)}" is not an element name (element or Type.element)`);

  let patients: string[] | undefined;
  const patientRefs = listOf(input.params, 'patient', EXPORT_LIMITS.patients);
  if (patientRefs.length > 0) {
    if (input.level === 'system') unsupported('patient applies to Patient/$export and Group/[id]/$export only');
    else {
      patients = [...new Set(patientRefs.map((r) => {
        const id = r.startsWith('Patient/') ? r.slice('Patient/'.length) : r.startsWith(`${ctx.baseUrl}/Patient/`) ? r.slice(ctx.baseUrl.length + 9) : '';
        if (!isId(id)) throw badRequest(`patient: "${r.slice(0, 80)}" is not a reference to a Patient on this server`);
        return id;
      }))];
    }
  }

  return {
    level: input.level,
    ...(input.groupId !== undefined ? { groupId: input.groupId } : {}),
    types,
    ...(since !== undefined ? { since } : {}),
    filters: Object.fromEntries(Object.entries(filters).map(([t, list]) => [t, list.length === 1 ? list[0] ?? { or: [] } : { or: list }])),
    ...(elements.length ? { elements } : {}),
    ...(patients ? { patients } : {}),
    warnings,
  };
}
