// The loaded definitions, indexed for the rest of Flint: resource types, compiled type models,
// search parameters per type, terminology and compartments. Built once per process and shared.
import type {
  CodeSystem, CompartmentDefinition, SearchParameter, StructureDefinition, ValueSet,
} from 'fhir/r4.js';
import { compileModel, type TypeModel } from './model.js';
import { loadCoreDefinitions, loadUserDefinitions, type RawDefinitions } from './load.js';

export const FHIR_VERSION = '4.0.1';

export class Definitions {
  readonly fhirVersion = FHIR_VERSION;
  /** Every concrete R4 resource type, sorted. */
  readonly resourceTypes: readonly string[];
  readonly primitiveTypes: ReadonlySet<string>;
  readonly complexTypes: ReadonlySet<string>;
  readonly patientCompartment: CompartmentDefinition | undefined;
  /** Files in profiles/ that could not be loaded. */
  readonly rejected: RawDefinitions['rejected'];
  /** FHIR packages loaded from profiles/ (IGs), with their server CapabilityStatements. */
  readonly packages: RawDefinitions['packages'];
  /** StructureDefinitions that came from profiles/ (profiles and extensions of IGs or ours). */
  readonly userDefinitions: readonly StructureDefinition[];

  private readonly resourceTypeSet: ReadonlySet<string>;
  private readonly baseByType = new Map<string, StructureDefinition>();
  private readonly byUrl = new Map<string, StructureDefinition>();
  private readonly models = new Map<string, TypeModel>();
  private readonly searchParamsByBase = new Map<string, SearchParameter[]>();
  private readonly valueSets = new Map<string, ValueSet>();
  private readonly codeSystems = new Map<string, CodeSystem>();

  constructor(private readonly raw: RawDefinitions, private readonly coreCount: { structureDefinitions: number }) {
    const resourceTypes: string[] = [];
    const primitives = new Set<string>();
    const complex = new Set<string>();
    raw.structureDefinitions.forEach((sd, i) => {
      if (sd.url) this.byUrl.set(sd.url, sd);
      if (sd.derivation === 'constraint' || i >= coreCount.structureDefinitions) return;
      // The package also carries R4B's SubscriptionStatus (4.3.0): not an R4 type, not served.
      if (sd.fhirVersion && sd.fhirVersion !== FHIR_VERSION) return;
      this.baseByType.set(sd.type, sd);
      if (sd.kind === 'resource' && !sd.abstract) resourceTypes.push(sd.type);
      else if (sd.kind === 'primitive-type') primitives.add(sd.type);
      else if (sd.kind === 'complex-type') complex.add(sd.type);
    });
    this.resourceTypes = resourceTypes.sort();
    this.resourceTypeSet = new Set(resourceTypes);
    this.primitiveTypes = primitives;
    this.complexTypes = complex;
    this.userDefinitions = raw.structureDefinitions.slice(coreCount.structureDefinitions);
    for (const sp of raw.searchParameters) this.addSearchParameter(sp);
    for (const vs of raw.valueSets) if (vs.url) this.valueSets.set(vs.url, vs);
    for (const cs of raw.codeSystems) if (cs.url) this.codeSystems.set(cs.url, cs);
    this.patientCompartment = raw.compartments.find((c) => c.code === 'Patient');
    this.rejected = raw.rejected;
    this.packages = raw.packages;
  }

  /**
   * These definitions plus `extra` (say, the profiles a validation case brings), as a new
   * Definitions; this one is unchanged. Extra definitions count as user definitions.
   */
  extend(extra: Pick<RawDefinitions, 'structureDefinitions' | 'valueSets' | 'codeSystems'>): Definitions {
    return new Definitions({
      ...this.raw,
      structureDefinitions: [...this.raw.structureDefinitions, ...extra.structureDefinitions],
      valueSets: [...this.raw.valueSets, ...extra.valueSets],
      codeSystems: [...this.raw.codeSystems, ...extra.codeSystems],
    }, this.coreCount);
  }

  isResourceType(type: string): boolean {
    return this.resourceTypeSet.has(type);
  }

  /** The base StructureDefinition of a resource or data type. */
  baseDefinition(type: string): StructureDefinition | undefined {
    return this.baseByType.get(type);
  }

  structureDefinition(url: string): StructureDefinition | undefined {
    // Without split(): this runs for every reference and profile the validator meets.
    const bar = url.indexOf('|');
    return this.byUrl.get(bar < 0 ? url : url.slice(0, bar));
  }

  /** The compiled structure of a resource or complex data type (cached on first use). */
  typeModel(type: string): TypeModel | undefined {
    let model = this.models.get(type);
    if (!model) {
      const sd = this.baseByType.get(type);
      if (!sd?.snapshot) return undefined;
      model = compileModel(sd);
      this.models.set(type, model);
    }
    return model;
  }

  /** Search parameters that apply to a resource type, including those on Resource and DomainResource. */
  searchParameters(type: string): SearchParameter[] {
    const own = this.searchParamsByBase.get(type) ?? [];
    const common = [...(this.searchParamsByBase.get('Resource') ?? [])];
    if (type !== 'Bundle' && type !== 'Binary' && type !== 'Parameters') {
      common.push(...(this.searchParamsByBase.get('DomainResource') ?? []));
    }
    return [...common, ...own];
  }

  /** A search parameter by canonical url (any version). */
  searchParameter(url: string): SearchParameter | undefined {
    const u = url.split('|')[0] ?? url;
    for (const list of this.searchParamsByBase.values()) {
      const sp = list.find((p) => p.url === u);
      if (sp) return sp;
    }
    return undefined;
  }

  addSearchParameter(sp: SearchParameter): void {
    for (const base of sp.base ?? []) {
      const list = this.searchParamsByBase.get(base) ?? [];
      const at = list.findIndex((p) => p.code === sp.code);
      if (at >= 0) list[at] = sp;
      else list.push(sp);
      this.searchParamsByBase.set(base, list);
    }
  }

  valueSet(url: string): ValueSet | undefined {
    return this.valueSets.get(url.split('|')[0] ?? url);
  }

  codeSystem(url: string): CodeSystem | undefined {
    return this.codeSystems.get(url.split('|')[0] ?? url);
  }
}

const cache = new Map<string, Definitions>();

/**
 * Loads the R4 core definitions plus the JSON files in `profilesDir`. Memoised per directory:
 * definitions are immutable after load (custom search parameters excepted) and cost ~0.5 s.
 */
export function loadDefinitions(profilesDir?: string): Definitions {
  const key = profilesDir ?? '';
  let defs = cache.get(key);
  if (!defs) {
    const core = loadCoreDefinitions();
    const user = profilesDir ? loadUserDefinitions(profilesDir) : undefined;
    const raw: RawDefinitions = user
      ? {
        structureDefinitions: [...core.structureDefinitions, ...user.structureDefinitions],
        searchParameters: [...core.searchParameters, ...user.searchParameters],
        valueSets: [...core.valueSets, ...user.valueSets],
        codeSystems: [...core.codeSystems, ...user.codeSystems],
        compartments: [...core.compartments, ...user.compartments],
        rejected: user.rejected,
        packages: user.packages,
      }
      : core;
    defs = new Definitions(raw, { structureDefinitions: core.structureDefinitions.length });
    cache.set(key, defs);
  }
  return defs;
}
