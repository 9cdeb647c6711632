// The terminology operations as functions of a source and plain inputs, answering Parameters
// (or a ValueSet for $expand): CodeSystem $lookup, $validate-code, $subsumes; ValueSet $expand,
// $validate-code; ConceptMap $translate. R4 terminology-service.html and each operation's page.
import { randomUUID } from 'node:crypto';
import type { Coding, ConceptMap, Parameters, ParametersParameter, ValueSet, ValueSetExpansionContains } from 'fhir/r4.js';
import { Expander, TerminologyError, type Concept, type Membership, type TerminologySource } from './expand.js';
import { indexOf } from './codesystem.js';
import { NEGATIVE, translate } from './translate.js';

export interface CodingInput {
  system?: string;
  version?: string;
  code?: string;
  display?: string;
}

const param = (name: string, value: Omit<ParametersParameter, 'name'>): ParametersParameter => ({ name, ...value });

/** The answer when the code's system is not held: neither valid nor invalid (no `result`). */
function notChecked(m: { system?: string; reason?: string }): Parameters {
  return {
    resourceType: 'Parameters',
    parameter: [param('message', { valueString: m.reason ?? `The code system ${m.system ?? ''} is not held by this server, so the code was not checked` })],
  };
}

function verdict(result: boolean, message?: string, display?: string): Parameters {
  return {
    resourceType: 'Parameters',
    parameter: [
      param('result', { valueBoolean: result }),
      ...(message ? [param('message', { valueString: message })] : []),
      ...(display !== undefined ? [param('display', { valueString: display })] : []),
    ],
  };
}

function requireCode(c: CodingInput): { system: string; code: string } {
  if (!c.code) throw new TerminologyError('invalid', 'A code is required (code, coding or codeableConcept)');
  if (!c.system) throw new TerminologyError('invalid', 'A system is required with the code');
  return { system: c.system, code: c.code };
}

/** R4 codesystem-operation-lookup.html. */
export function lookup(source: TerminologySource, input: CodingInput, properties: readonly string[] = []): Parameters {
  const { system, code } = requireCode(input);
  const cs = source.codeSystem(system, input.version);
  if (!cs) throw new TerminologyError('unknown-system', `The code system ${system} is not held by this server`, system);
  const idx = indexOf(cs);
  const info = idx.get(code);
  if (!info) throw new TerminologyError('not-found', `The code "${code.slice(0, 100)}" is not in the code system ${system}`);
  const want = (p: string): boolean => properties.length === 0 || properties.includes(p);
  const out: ParametersParameter[] = [param('name', { valueString: cs.name ?? cs.title ?? system })];
  if (cs.version) out.push(param('version', { valueString: cs.version }));
  out.push(param('display', { valueString: info.display ?? info.code }));
  if (info.definition !== undefined && want('definition')) out.push(param('definition', { valueString: info.definition }));
  if (want('designation')) {
    for (const d of info.concept.designation ?? []) {
      out.push(param('designation', {
        part: [
          ...(d.language ? [param('language', { valueCode: d.language })] : []),
          ...(d.use ? [param('use', { valueCoding: d.use })] : []),
          param('value', { valueString: d.value }),
        ],
      }));
    }
  }
  const prop = (p: string, value: Omit<ParametersParameter, 'name'>): void => {
    if (want(p)) out.push(param('property', { part: [param('code', { valueCode: p }), param('value', value)] }));
  };
  for (const p of info.parents) prop('parent', { valueCode: p });
  for (const c of info.children) prop('child', { valueCode: c });
  prop('inactive', { valueBoolean: info.inactive });
  if (info.abstract) out.push(param('abstract', { valueBoolean: true }));
  for (const p of info.concept.property ?? []) {
    if (p.code === 'parent' || p.code === 'child' || p.code === 'inactive') continue;
    const { code: c, ...value } = p;
    prop(c, value);
  }
  return { resourceType: 'Parameters', parameter: out };
}

/** The display a concept may go by: its display and its designations (R4 codesystem.html#designations). */
function displays(concept: Concept | undefined, source: TerminologySource): string[] {
  if (!concept) return [];
  const cs = source.codeSystem(concept.system);
  const info = cs ? indexOf(cs).get(concept.code) : undefined;
  const out = new Set<string>();
  if (concept.display !== undefined) out.add(concept.display);
  if (info?.display !== undefined) out.add(info.display);
  for (const d of info?.concept.designation ?? []) out.add(d.value);
  return [...out];
}

/** A display check on a code found valid: a different display makes the answer false. */
function displayVerdict(source: TerminologySource, concept: Concept | undefined, given: string | undefined): Parameters {
  const names = displays(concept, source);
  const display = concept?.display;
  if (given !== undefined && names.length && !names.some((n) => n.toLowerCase() === given.toLowerCase())) {
    return verdict(false, `The display "${given.slice(0, 200)}" is not a display of ${concept?.system ?? ''}#${concept?.code ?? ''}; it should be "${display ?? names[0] ?? ''}"`, display);
  }
  return verdict(true, undefined, display);
}

/** R4 codesystem-operation-validate-code.html: is the code in the system (and its display right)? */
export function validateCodeInSystem(source: TerminologySource, input: CodingInput): Parameters {
  const { system, code } = requireCode(input);
  const cs = source.codeSystem(system, input.version);
  if (!cs) return notChecked({ system });
  const idx = indexOf(cs);
  const info = idx.get(code);
  if (!info) {
    if (!idx.complete) return notChecked({ system, reason: `The code system ${system} is held only in part (content = ${cs.content}), so the code "${code.slice(0, 100)}" was not checked` });
    return verdict(false, `The code "${code.slice(0, 100)}" is not in the code system ${system}`);
  }
  return displayVerdict(source, { system, code: info.code, ...(info.display !== undefined ? { display: info.display } : {}) }, input.display);
}

/** R4 codesystem-operation-subsumes.html. */
export function subsumes(source: TerminologySource, system: string, codeA: string, codeB: string, version?: string): Parameters {
  const cs = source.codeSystem(system, version);
  if (!cs) throw new TerminologyError('unknown-system', `The code system ${system} is not held by this server`, system);
  const r = indexOf(cs).subsumes(codeA, codeB);
  if (!r) throw new TerminologyError('invalid', `"${codeA.slice(0, 60)}" or "${codeB.slice(0, 60)}" is not a code of ${system}`);
  return { resourceType: 'Parameters', parameter: [param('outcome', { valueCode: r })] };
}

export interface ExpandInput {
  filter?: string;
  count?: number;
  offset?: number;
  activeOnly?: boolean;
}

/** R4 valueset-operation-expand.html: the ValueSet with its expansion (paged by count/offset). */
export function expand(source: TerminologySource, vs: ValueSet, input: ExpandInput = {}): ValueSet {
  const all = new Expander(source).expand(vs, { ...(input.filter !== undefined ? { filter: input.filter } : {}), ...(input.activeOnly ? { activeOnly: true } : {}) });
  const offset = input.offset ?? 0;
  const page = input.count !== undefined ? all.slice(offset, offset + input.count) : all.slice(offset);
  const parameter: NonNullable<ValueSet['expansion']>['parameter'] = [];
  if (input.filter !== undefined) parameter.push({ name: 'filter', valueString: input.filter });
  if (input.count !== undefined) parameter.push({ name: 'count', valueInteger: input.count });
  if (input.offset !== undefined) parameter.push({ name: 'offset', valueInteger: offset });
  if (input.activeOnly) parameter.push({ name: 'activeOnly', valueBoolean: true });
  const contains: ValueSetExpansionContains[] = page.map((c) => ({
    system: c.system, ...(c.version ? { version: c.version } : {}), code: c.code, ...(c.display !== undefined ? { display: c.display } : {}),
    ...(c.inactive ? { inactive: true } : {}), ...(c.abstract ? { abstract: true } : {}),
  }));
  const { compose: _compose, expansion: _old, text: _text, ...rest } = vs;
  return {
    ...rest,
    resourceType: 'ValueSet',
    expansion: {
      identifier: `urn:uuid:${randomUUID()}`,
      timestamp: new Date().toISOString(),
      total: all.length,
      ...(input.offset !== undefined ? { offset } : {}),
      ...(parameter.length ? { parameter } : {}),
      ...(contains.length ? { contains } : {}),
    },
  };
}

/** R4 valueset-operation-validate-code.html: a code, Coding or CodeableConcept against a ValueSet. */
export function validateCodeInValueSet(source: TerminologySource, vs: ValueSet, codings: readonly CodingInput[]): Parameters {
  if (codings.length === 0 || codings.every((c) => !c.code)) throw new TerminologyError('invalid', 'A code is required (code, coding or codeableConcept)');
  const ex = new Expander(source);
  let unknown: Membership | undefined;
  const bad: string[] = [];
  for (const c of codings) {
    if (!c.code) continue;
    const m = ex.contains(vs, c.system, c.code);
    if (m.result === 'yes') return displayVerdict(source, m.concept, c.display);
    if (m.result === 'unknown') unknown ??= m;
    else bad.push(`${c.system ?? ''}#${c.code.slice(0, 100)}`);
  }
  if (unknown && bad.length === 0) return notChecked(unknown);
  return verdict(false, `${bad.length > 1 ? 'None of the codes' : 'The code'} ${bad.join(', ')} ${bad.length > 1 ? 'are' : 'is not'} in the value set ${vs.url ?? ''}`);
}

/** R4 conceptmap-operation-translate.html. */
export function translateCode(maps: readonly ConceptMap[], coding: { system: string; code: string }, opts: { targetSystem?: string; reverse?: boolean } = {}): Parameters {
  const matches = translate(maps, { ...coding, ...opts });
  const positive = matches.filter((m) => !NEGATIVE.has(m.equivalence));
  const parameter: ParametersParameter[] = [param('result', { valueBoolean: positive.length > 0 })];
  if (positive.length === 0) parameter.push(param('message', { valueString: `No mapping of ${coding.system}#${coding.code.slice(0, 100)} was found` }));
  for (const m of matches) {
    const concept: Coding = m.concept;
    parameter.push(param('match', {
      part: [param('equivalence', { valueCode: m.equivalence }), param('concept', { valueCoding: concept }), ...(m.source ? [param('source', { valueUri: m.source })] : [])],
    }));
  }
  return { resourceType: 'Parameters', parameter };
}
