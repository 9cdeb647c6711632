// The CapabilityStatement, generated from the definitions and from what the engine implements.
// When a capability is added to the engine, it is added here in the same change.
import type { CapabilityStatement, CapabilityStatementRestResource } from 'fhir/r4.js';
import type { FhirContext } from '../context.js';

export interface SoftwareInfo {
  name: string;
  version: string;
}

const TYPE_INTERACTIONS = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create'] as const;

const cache = new WeakMap<FhirContext, CapabilityStatement>();

function resourceEntry(type: string): CapabilityStatementRestResource {
  return {
    type,
    profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
    interaction: TYPE_INTERACTIONS.map((code) => ({ code })),
    versioning: 'versioned-update',
    readHistory: true,
    updateCreate: true,
    conditionalCreate: false,
    conditionalRead: 'full-support',
    conditionalUpdate: false,
    conditionalDelete: 'not-supported',
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
      implementation: { description: 'Flint FHIR R4 server', url: ctx.baseUrl },
      fhirVersion: ctx.defs.fhirVersion as CapabilityStatement['fhirVersion'],
      format: ['application/fhir+json', 'application/json', 'json'],
      patchFormat: ['application/json-patch+json'],
      rest: [{
        mode: 'server',
        resource: ctx.defs.resourceTypes.map(resourceEntry),
        interaction: [{ code: 'history-system' }],
      }],
    };
    cache.set(ctx, cs);
  }
  return cs;
}
