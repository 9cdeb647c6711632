// The CapabilityStatement, generated from the definitions and from what the engine implements.
// When a capability is added to the engine, it is added here in the same change.
import type { CapabilityStatement, CapabilityStatementRestResource, CapabilityStatementRestResourceSearchParam, CapabilityStatementRestSecurity, Extension } from 'fhir/r4.js';
import type { FhirContext } from '../context.js';

export interface SoftwareInfo {
  name: string;
  version: string;
  /** rest.security, as the composition root knows it (SMART endpoints, or a warning that auth is off). */
  security?: CapabilityStatementRestSecurity;
  /** Operations implemented outside the engine (src/operations), on a resource type or (no type) the system. */
  operations?: readonly ExtraOperation[];
  /** CapabilityStatements this server implements (an IG's server statement, e.g. US Core's), canonical|version. */
  instantiates?: readonly string[];
  /** rest.extension, e.g. the subscription websocket URL (R4 extension capabilitystatement-websocket). */
  restExtension?: readonly Extension[];
}

export interface ExtraOperation {
  resource?: string;
  name: string;
  definition: string;
  documentation?: string;
}

const TYPE_INTERACTIONS = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type'] as const;

const cache = new WeakMap<FhirContext, CapabilityStatement>();

function searchParams(ctx: FhirContext, type: string): CapabilityStatementRestResourceSearchParam[] {
  const out: CapabilityStatementRestResourceSearchParam[] = [
    { name: '_id', type: 'token', definition: 'http://hl7.org/fhir/SearchParameter/Resource-id' },
    { name: '_lastUpdated', type: 'date', definition: 'http://hl7.org/fhir/SearchParameter/Resource-lastUpdated' },
  ];
  for (const p of ctx.search.params.forType(type).values()) {
    if (p.code === '_id' || p.code === '_lastUpdated' || p.type === 'special') continue;
    out.push({ name: p.code, type: p.type, ...(p.url ? { definition: p.url } : {}) });
  }
  return out;
}

/** Every `Source:param` whose references may point at `type` (for _revinclude). */
function revIncludes(ctx: FhirContext, type: string): string[] {
  const out: string[] = [];
  for (const source of ctx.defs.resourceTypes) {
    for (const p of ctx.search.params.forType(source).values()) {
      if (p.type === 'reference' && (p.targets.length === 0 || p.targets.includes(type))) out.push(`${source}:${p.code}`);
    }
  }
  return out;
}

const VALIDATE = { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate', documentation: 'POST [type]/$validate, GET or POST [type]/[id]/$validate: structure, the R4 JSON Schema, the base StructureDefinition, meta.profile and the `profile` parameter; mode create, update or delete. Answers 200 with the OperationOutcome.' };
/** Operations the engine itself implements on resource types (R4: rest.resource.operation). */
const TYPE_OPERATIONS: Record<string, { name: string; definition: string; documentation: string }[]> = {
  Patient: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything', documentation: 'Patient/[id]/$everything (also type level): the compartment and what it references; start, end, _since, _type, _count with paging.' }],
  Encounter: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Encounter-everything', documentation: 'Encounter/[id]/$everything: the encounter, what refers to it and what it references; _since, _type, _count with paging.' }],
};

function resourceEntry(ctx: FhirContext, type: string, extra: readonly ExtraOperation[] = []): CapabilityStatementRestResource {
  const operation = [...(TYPE_OPERATIONS[type] ?? []), VALIDATE, ...extra.filter((o) => o.resource === type).map(({ resource: _r, ...o }) => o)];
  const includes = [...ctx.search.params.forType(type).values()].filter((p) => p.type === 'reference').map((p) => `${type}:${p.code}`);
  return {
    type,
    profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
    interaction: TYPE_INTERACTIONS.map((code) => ({ code })),
    versioning: 'versioned-update',
    readHistory: true,
    updateCreate: true,
    conditionalCreate: true,
    conditionalRead: 'full-support',
    conditionalUpdate: true,
    conditionalDelete: 'multiple',
    // Literal references; resolved (enforced) only under REFERENTIAL_INTEGRITY=strict.
    referencePolicy: ctx.integrity === 'strict' ? ['literal', 'local', 'enforced'] : ['literal', 'local'],
    searchInclude: ['*', ...includes],
    searchRevInclude: revIncludes(ctx, type),
    searchParam: searchParams(ctx, type),
    operation,
  };
}

export function capabilities(ctx: FhirContext, software: SoftwareInfo): CapabilityStatement {
  let cs = cache.get(ctx);
  if (!cs) {
    cs = {
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: new Date().toISOString(),
      publisher: 'Flint',
      kind: 'instance',
      software: { name: software.name, version: software.version },
      ...(software.instantiates?.length ? { instantiates: [...software.instantiates] } : {}),
      implementation: { description: 'Flint FHIR R4 server', url: ctx.baseUrl },
      fhirVersion: ctx.defs.fhirVersion as CapabilityStatement['fhirVersion'],
      format: ['application/fhir+json', 'application/json', 'json', 'application/fhir+xml', 'application/xml', 'xml'],
      patchFormat: ['application/json-patch+json'],
      rest: [{
        mode: 'server',
        ...(software.security ? { security: software.security } : {}),
        ...(software.restExtension?.length ? { extension: [...software.restExtension] } : {}),
        resource: ctx.defs.resourceTypes.map((t) => resourceEntry(ctx, t, software.operations)),
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }, { code: 'search-system' }],
        operation: [
          { name: 'reindex', definition: 'urn:flint:operation:reindex', documentation: 'POST starts a background reindex (optionally ?_type=A,B); GET lists jobs and their progress (?job=id for one). Creating, changing or deleting a SearchParameter starts one by itself.' },
          ...(software.operations ?? []).filter((o) => o.resource === undefined).map(({ resource: _r, ...o }) => o),
        ],
        searchParam: [
          { name: '_id', type: 'token' }, { name: '_lastUpdated', type: 'date' }, { name: '_tag', type: 'token' },
          { name: '_profile', type: 'uri' }, { name: '_security', type: 'token' }, { name: '_source', type: 'uri' },
          { name: '_type', type: 'token' },
        ],
      }],
    };
    cache.set(ctx, cs);
  }
  return cs;
}
