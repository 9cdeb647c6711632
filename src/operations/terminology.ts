// The terminology operations on the engine: inputs from the query string and a Parameters body,
// type or instance level, access checks, and TerminologyError → FhirError. The work itself is
// src/terminology's. R4 terminology-service.html; codesystem-operation-lookup.html,
// codesystem-operation-validate-code.html, codesystem-operation-subsumes.html,
// valueset-operation-expand.html, valueset-operation-validate-code.html, conceptmap-operation-translate.html.
import type { CodeSystem, Coding, ConceptMap, Parameters, Resource, ValueSet } from 'fhir/r4.js';
import type { FhirContext } from '../fhir/context.js';
import { badRequest, FhirError, notFound } from '../fhir/errors.js';
import { requirePerm } from '../fhir/access.js';
import { read } from '../fhir/interactions/read.js';
import { isObject } from '../fhir-basics/json.js';
import { storedResource } from '../fhir-basics/stored.js';
import { splitCanonical, TerminologyError, type TerminologySource } from '../terminology/expand.js';
import { definitionsTerminology, type TerminologyService } from '../terminology/service.js';
import {
  expand, lookup, subsumes, translateCode, validateCodeInSystem, validateCodeInValueSet, type CodingInput,
} from '../terminology/operations.js';

export const TERMINOLOGY_OPERATIONS = {
  CodeSystem: ['lookup', 'validate-code', 'subsumes'],
  ValueSet: ['expand', 'validate-code'],
  ConceptMap: ['translate'],
} as const;

export type TerminologyType = keyof typeof TERMINOLOGY_OPERATIONS;

export interface TerminologyInput {
  type: TerminologyType;
  operation: string;
  /** Instance level: the stored resource to work on. */
  id?: string;
  /** Query parameters in order. */
  query: [string, string][];
  /** The POST body: a Parameters resource. */
  body?: unknown;
}

/** One input parameter's value: text, a Coding, a CodeableConcept's codings, or a resource. */
type Value = { text: string } | { coding: Coding } | { codings: Coding[] } | { resource: Record<string, unknown> };

const MAX_PARAMETERS = 100;
const MAX_CODINGS = 50;
const MAX_TEXT = 4_096;

function codingOf(v: unknown, name: string): Coding {
  if (!isObject(v)) throw badRequest(`${name} must be a Coding`);
  const c: Coding = {};
  for (const k of ['system', 'version', 'code', 'display'] as const) {
    const x = v[k];
    if (x === undefined) continue;
    if (typeof x !== 'string' || x.length > MAX_TEXT) throw badRequest(`${name}.${k} must be a string`);
    c[k] = x;
  }
  return c;
}

/** Query and body parameters by name. Repeats kept; a body must be a Parameters resource. */
function collect(input: TerminologyInput): Map<string, Value[]> {
  const out = new Map<string, Value[]>();
  const add = (name: string, v: Value): void => {
    const list = out.get(name) ?? [];
    list.push(v);
    out.set(name, list);
  };
  if (input.query.length > MAX_PARAMETERS) throw badRequest(`At most ${MAX_PARAMETERS} parameters are taken`);
  for (const [name, value] of input.query) {
    if (name === '_format' || name === '_pretty') continue;
    if (value.length > MAX_TEXT) throw badRequest(`${name.slice(0, 40)} is too long`);
    add(name, { text: value });
  }
  const body = input.body;
  if (body === undefined || body === null || body === '') return out;
  if (!isObject(body) || body.resourceType !== 'Parameters') throw badRequest(`POST $${input.operation} takes a Parameters resource`, 'structure');
  const list = Array.isArray(body.parameter) ? body.parameter : [];
  if (list.length > MAX_PARAMETERS) throw badRequest(`At most ${MAX_PARAMETERS} parameters are taken`);
  for (const p of list) {
    if (!isObject(p) || typeof p.name !== 'string') throw badRequest('Every parameter needs a name', 'structure');
    const name = p.name;
    if (isObject(p.resource)) {
      add(name, { resource: p.resource });
      continue;
    }
    if (p.valueCoding !== undefined) {
      add(name, { coding: codingOf(p.valueCoding, name) });
      continue;
    }
    if (p.valueCodeableConcept !== undefined) {
      const cc = p.valueCodeableConcept;
      const codings = isObject(cc) && Array.isArray(cc.coding) ? cc.coding : [];
      if (codings.length > MAX_CODINGS) throw badRequest(`${name} has more than ${MAX_CODINGS} codings`);
      add(name, { codings: codings.map((c) => codingOf(c, name)) });
      continue;
    }
    const key = Object.keys(p).find((k) => k.startsWith('value'));
    const v = key ? p[key] : undefined;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
      const text = String(v);
      if (text.length > MAX_TEXT) throw badRequest(`${name.slice(0, 40)} is too long`);
      add(name, { text });
    } else {
      throw badRequest(`The parameter ${name.slice(0, 40)} has no value Flint understands`, 'structure');
    }
  }
  return out;
}

class Inputs {
  constructor(private readonly map: Map<string, Value[]>, private readonly op: string, allowed: readonly string[]) {
    for (const name of map.keys()) {
      if (!allowed.includes(name)) throw badRequest(`$${op} does not take a parameter "${name.slice(0, 40)}"`, 'not-supported');
    }
  }

  private one(name: string): Value | undefined {
    const list = this.map.get(name) ?? [];
    if (list.length > 1) throw badRequest(`${name} may be given only once`);
    return list[0];
  }

  text(name: string): string | undefined {
    const v = this.one(name);
    if (v === undefined) return undefined;
    if (!('text' in v)) throw badRequest(`${name} must be a simple value`);
    return v.text;
  }

  texts(name: string): string[] {
    return (this.map.get(name) ?? []).map((v) => {
      if (!('text' in v)) throw badRequest(`${name} must be a simple value`);
      return v.text;
    });
  }

  int(name: string, max: number): number | undefined {
    const t = this.text(name);
    if (t === undefined) return undefined;
    if (!/^\d{1,9}$/.test(t) || Number(t) > max) throw badRequest(`${name} must be a whole number from 0 to ${max}`);
    return Number(t);
  }

  bool(name: string): boolean | undefined {
    const t = this.text(name);
    if (t === undefined) return undefined;
    if (t !== 'true' && t !== 'false') throw badRequest(`${name} must be true or false`);
    return t === 'true';
  }

  coding(name: string): Coding | undefined {
    const v = this.one(name);
    if (v === undefined) return undefined;
    if (!('coding' in v)) throw badRequest(`${name} must be a Coding`);
    return v.coding;
  }

  codings(name: string): Coding[] | undefined {
    const v = this.one(name);
    if (v === undefined) return undefined;
    if (!('codings' in v)) throw badRequest(`${name} must be a CodeableConcept`);
    return v.codings;
  }

  resource(name: string, type: string): Record<string, unknown> | undefined {
    const v = this.one(name);
    if (v === undefined) return undefined;
    if (!('resource' in v) || v.resource.resourceType !== type) throw badRequest(`${name} must be a ${type} resource`);
    return v.resource;
  }

  /** The coding(s) the operation is about: code+system, coding, or codeableConcept. */
  codingsIn(systemParam: string, versionParam: string): CodingInput[] {
    const code = this.text('code');
    const coding = this.coding('coding');
    const cc = this.codings('codeableConcept');
    const given = [code, coding, cc].filter((x) => x !== undefined).length;
    if (given === 0) throw badRequest(`$${this.op} needs a code (code and ${systemParam}, coding or codeableConcept)`, 'required');
    if (given > 1) throw badRequest(`$${this.op} takes one of code, coding and codeableConcept`);
    if (coding) return [coding];
    if (cc) return cc;
    const system = this.text(systemParam);
    const version = this.text(versionParam);
    const display = this.text('display');
    return [{ code: code ?? '', ...(system !== undefined ? { system } : {}), ...(version !== undefined ? { version } : {}), ...(display !== undefined ? { display } : {}) }];
  }
}

function toFhirError(err: unknown): unknown {
  if (!(err instanceof TerminologyError)) return err;
  switch (err.code) {
    case 'not-found': return new FhirError(404, err.message, 'not-found');
    case 'unknown-system': return new FhirError(404, err.message, 'not-found');
    case 'too-costly': return new FhirError(422, err.message, 'too-costly');
    case 'not-supported': return new FhirError(422, err.message, 'not-supported');
    default: return new FhirError(400, err.message, 'invalid');
  }
}

/** A source that also answers with one resource the request brought or named (inline or instance). */
function withResource(base: TerminologySource, extra: Resource | undefined): TerminologySource {
  if (!extra) return base;
  const canonical = extra as { url?: string; version?: string };
  const hit = (url: string, version: string | undefined): boolean => canonical.url === url && (version === undefined || canonical.version === version);
  return {
    codeSystem: (url, version) => (extra.resourceType === 'CodeSystem' && hit(url, version) ? extra as CodeSystem : base.codeSystem(url, version)),
    valueSet: (url, version) => (extra.resourceType === 'ValueSet' && hit(url, version) ? extra as ValueSet : base.valueSet(url, version)),
  };
}

async function stored(ctx: FhirContext, type: TerminologyType, id: string): Promise<Resource> {
  const r = storedResource<Resource>(await read(ctx, type, id));
  if (!r) throw notFound(`${type}/${id} is not known`);
  return r;
}

/** Runs one terminology operation; the answer is a Parameters, or a ValueSet for $expand. */
export async function terminologyOperation(ctx: FhirContext, input: TerminologyInput): Promise<Parameters | ValueSet> {
  const ops: readonly string[] = TERMINOLOGY_OPERATIONS[input.type];
  if (!ops.includes(input.operation)) throw new FhirError(404, `${input.type} has no operation $${input.operation.slice(0, 40)}`, 'not-supported');
  requirePerm(ctx, 'r', input.type);
  // An expansion reads CodeSystems as well (least privilege: the caller may read those too).
  if (input.type === 'ValueSet') requirePerm(ctx, 'r', 'CodeSystem');
  const service = ctx.terminology ?? definitionsTerminology(ctx.defs);
  const map = collect(input);
  try {
    const instance = input.id !== undefined ? await stored(ctx, input.type, input.id) : undefined;
    switch (`${input.type}/${input.operation}`) {
      case 'CodeSystem/lookup': return await codeSystemLookup(service, new Inputs(map, 'lookup', ['code', 'system', 'version', 'coding', 'date', 'displayLanguage', 'property']), instance);
      case 'CodeSystem/validate-code': return await codeSystemValidate(service, new Inputs(map, 'validate-code', ['url', 'codeSystem', 'code', 'version', 'display', 'coding', 'codeableConcept', 'date', 'abstract', 'displayLanguage']), instance);
      case 'CodeSystem/subsumes': return await codeSystemSubsumes(service, new Inputs(map, 'subsumes', ['codeA', 'codeB', 'system', 'version', 'codingA', 'codingB']), instance);
      case 'ValueSet/expand': return await valueSetExpand(service, new Inputs(map, 'expand', ['url', 'valueSet', 'valueSetVersion', 'context', 'contextDirection', 'filter', 'date', 'offset', 'count', 'includeDesignations', 'designation', 'includeDefinition', 'activeOnly', 'excludeNested', 'excludeNotForUI', 'excludePostCoordinated', 'displayLanguage']), instance);
      case 'ValueSet/validate-code': return await valueSetValidate(service, new Inputs(map, 'validate-code', ['url', 'context', 'valueSet', 'valueSetVersion', 'code', 'system', 'systemVersion', 'display', 'coding', 'codeableConcept', 'date', 'abstract', 'displayLanguage']), instance);
      default: return await conceptMapTranslate(service, new Inputs(map, 'translate', ['url', 'conceptMap', 'conceptMapVersion', 'code', 'system', 'version', 'source', 'coding', 'codeableConcept', 'target', 'targetsystem', 'reverse']), instance);
    }
  } catch (err) {
    throw toFhirError(err);
  }
}

async function codeSystemLookup(service: TerminologyService, p: Inputs, instance: Resource | undefined): Promise<Parameters> {
  const [c] = p.codingsIn('system', 'version');
  const system = c?.system ?? (instance as CodeSystem | undefined)?.url;
  const coding = { ...c, ...(system ? { system } : {}) };
  const source = withResource(await service.sourceFor({ codeSystems: system ? [system] : [] }), instance);
  return lookup(source, coding, p.texts('property'));
}

async function codeSystemValidate(service: TerminologyService, p: Inputs, instance: Resource | undefined): Promise<Parameters> {
  const inline = p.resource('codeSystem', 'CodeSystem') as CodeSystem | undefined;
  const cs = inline ?? instance as CodeSystem | undefined;
  const codings = p.codingsIn('url', 'version');
  const url = p.text('url') ?? cs?.url;
  const source = withResource(await service.sourceFor({ codeSystems: url ? [url] : codings.flatMap((c) => (c.system ? [c.system] : [])) }), cs);
  // A CodeableConcept is valid when one of its codings is.
  let last: Parameters | undefined;
  for (const c of codings) {
    const system = c.system ?? url;
    if (!system) throw badRequest('$validate-code needs the code system (url, or the coding\'s system)', 'required');
    last = validateCodeInSystem(source, { ...c, system });
    if (last.parameter?.some((x) => x.name === 'result' && x.valueBoolean === true)) return last;
  }
  return last as Parameters;
}

async function codeSystemSubsumes(service: TerminologyService, p: Inputs, instance: Resource | undefined): Promise<Parameters> {
  const a = p.coding('codingA') ?? { code: p.text('codeA') };
  const b = p.coding('codingB') ?? { code: p.text('codeB') };
  if (!a.code || !b.code) throw badRequest('$subsumes needs codeA and codeB (or codingA and codingB)', 'required');
  const system = p.text('system') ?? a.system ?? (instance as CodeSystem | undefined)?.url;
  if (!system) throw badRequest('$subsumes needs the system', 'required');
  if ((a.system && a.system !== system) || (b.system && b.system !== system)) throw badRequest('codingA and codingB must be of the same system');
  const version = p.text('version');
  const source = withResource(await service.sourceFor({ codeSystems: [system] }), instance);
  return subsumes(source, system, a.code, b.code, version);
}

/** The ValueSet the operation is about: inline, the instance, or by url (|version). */
async function valueSetOf(service: TerminologyService, p: Inputs, instance: Resource | undefined): Promise<{ vs: ValueSet; source: TerminologySource }> {
  const inline = p.resource('valueSet', 'ValueSet') as ValueSet | undefined;
  let vs = inline ?? instance as ValueSet | undefined;
  const url = p.text('url');
  const version = p.text('valueSetVersion');
  if (!vs && !url) throw badRequest('Which value set? Give url, valueSet, or call the operation on a ValueSet instance', 'required');
  const ref = url ? (version ? `${splitCanonical(url)[0]}|${version}` : url) : undefined;
  const source = withResource(await service.sourceFor({ valueSets: ref ? [ref] : [], ...(vs ? { extra: [vs] } : {}) }), vs);
  if (!vs && ref) {
    const [u, v] = splitCanonical(ref);
    vs = source.valueSet(u, v);
    if (!vs) throw notFound(`The value set ${ref.slice(0, 200)} is not known to this server`);
  }
  return { vs: vs as ValueSet, source };
}

async function valueSetExpand(service: TerminologyService, p: Inputs, instance: Resource | undefined): Promise<ValueSet> {
  const { vs, source } = await valueSetOf(service, p, instance);
  const filter = p.text('filter');
  const count = p.int('count', 10_000);
  const offset = p.int('offset', 10_000);
  const activeOnly = p.bool('activeOnly');
  return expand(source, vs, {
    ...(filter !== undefined ? { filter } : {}), ...(count !== undefined ? { count } : {}), ...(offset !== undefined ? { offset } : {}), ...(activeOnly ? { activeOnly } : {}),
  });
}

async function valueSetValidate(service: TerminologyService, p: Inputs, instance: Resource | undefined): Promise<Parameters> {
  const { vs, source } = await valueSetOf(service, p, instance);
  const codings = p.codingsIn('system', 'systemVersion');
  // The codes' own systems may be stored ones the value set does not name directly.
  const systems = codings.flatMap((c) => (c.system ? [c.system] : []));
  const full = systems.length ? withResource(await service.sourceFor({ codeSystems: systems, extra: [vs] }), vs) : source;
  return validateCodeInValueSet(full, vs, codings);
}

async function conceptMapTranslate(service: TerminologyService, p: Inputs, instance: Resource | undefined): Promise<Parameters> {
  const [c] = p.codingsIn('system', 'version');
  if (!c?.code || !c.system) throw badRequest('$translate needs a code with its system', 'required');
  const reverse = p.bool('reverse') ?? false;
  const targetSystem = p.text('targetsystem');
  const inline = p.resource('conceptMap', 'ConceptMap') as ConceptMap | undefined;
  const url = p.text('url');
  let maps: ConceptMap[];
  if (inline ?? instance) {
    maps = [(inline ?? instance) as ConceptMap];
  } else if (url) {
    const version = p.text('conceptMapVersion');
    const m = await service.conceptMap(version ? `${url}|${version}` : url);
    if (!m) throw notFound(`The concept map ${url.slice(0, 200)} is not known to this server`);
    maps = [m];
  } else {
    maps = await service.conceptMapsFor(c.system, reverse);
  }
  return translateCode(maps, { system: c.system, code: c.code }, { ...(targetSystem ? { targetSystem } : {}), reverse });
}

/** The CapabilityStatement entries of the terminology operations (R4's own OperationDefinitions). */
export const TERMINOLOGY_CAPABILITIES: { resource: string; name: string; definition: string; documentation: string }[] = [
  { resource: 'CodeSystem', name: 'lookup', definition: 'http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup', documentation: 'GET or POST, type or instance level: display, designations and properties (parent, child, inactive…) of a code.' },
  { resource: 'CodeSystem', name: 'validate-code', definition: 'http://hl7.org/fhir/OperationDefinition/CodeSystem-validate-code', documentation: 'Whether a code (and its display) is in a code system. Codes of systems this server does not hold (SNOMED CT, LOINC, RxNorm…) are answered without `result` and a message naming the system: not checked.' },
  { resource: 'CodeSystem', name: 'subsumes', definition: 'http://hl7.org/fhir/OperationDefinition/CodeSystem-subsumes', documentation: 'equivalent, subsumes, subsumed-by or not-subsumed, from the code system\'s hierarchy.' },
  { resource: 'ValueSet', name: 'expand', definition: 'http://hl7.org/fhir/OperationDefinition/ValueSet-expand', documentation: 'url, valueSet, filter, count, offset, activeOnly; nested includes and excludes, filters is-a, descendent-of, is-not-a, generalizes, =, in, not-in, exists, regex over code systems held in full. At most 10,000 codes (too-costly beyond).' },
  { resource: 'ValueSet', name: 'validate-code', definition: 'http://hl7.org/fhir/OperationDefinition/ValueSet-validate-code', documentation: 'A code, Coding or CodeableConcept against a value set; codes of systems not held are reported as not checked (no `result`).' },
  { resource: 'ConceptMap', name: 'translate', definition: 'http://hl7.org/fhir/OperationDefinition/ConceptMap-translate', documentation: 'By url, instance, inline conceptMap or the stored maps from the code\'s system; targetsystem and reverse.' },
];
