// FHIR packages (the npm-style .tgz an IG publishes, or the same unpacked): the JSON resources of
// `package/` (not its examples, not `other/` or `openapi/`) and the package's name and version.
// A small ustar reader over zlib: only regular files are read, and sizes are bounded.
// FHIR packages: https://confluence.hl7.org/display/FHIR/NPM+Package+Specification
import { gunzipSync } from 'node:zlib';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export interface PackageFile {
  /** Path inside the package, e.g. `package/StructureDefinition-us-core-patient.json`. */
  path: string;
  text: string;
}

export interface FhirPackage {
  name: string;
  version: string;
  canonical?: string;
  /** The definition files (JSON directly under package/, package.json and .index.json excepted). */
  files: PackageFile[];
  /** The examples shipped in package/example/ (for tests; not loaded as definitions). */
  examples: PackageFile[];
}

/** Bounds: a package larger than this unpacked, or with more files, is refused. */
const MAX_UNPACKED = 512 * 1024 * 1024;
const MAX_FILES = 20_000;

/** The regular files of an (uncompressed) ustar archive. */
export function untar(tar: Buffer): { path: string; data: Buffer }[] {
  const out: { path: string; data: Buffer }[] = [];
  let at = 0;
  let longName: string | undefined;
  while (at + 512 <= tar.length) {
    const header = tar.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const field = (from: number, len: number): string => header.subarray(from, from + len).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    if (!Number.isFinite(size) || size < 0 || at + 512 + size > tar.length) throw new Error('corrupt tar archive (an entry runs past the end)');
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = field(345, 155);
    let name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    longName = undefined;
    const data = tar.subarray(at + 512, at + 512 + size);
    if (type === 'L') {
      longName = data.toString('utf8').replace(/\0.*$/s, '');
    } else if (type === '0' || type === '\0') {
      name = name.replace(/^\.\//, '');
      out.push({ path: name, data });
      if (out.length > MAX_FILES) throw new Error(`more than ${MAX_FILES} files`);
    }
    // Directories, links, pax headers ('x', 'g') and the rest are skipped.
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

function fromFiles(files: { path: string; text: () => string }[], origin: string): FhirPackage {
  const manifest = files.find((f) => f.path === 'package/package.json');
  if (!manifest) throw new Error(`${origin} has no package/package.json, so it is not a FHIR package`);
  const pkg = JSON.parse(manifest.text()) as { name?: unknown; version?: unknown; canonical?: unknown };
  if (typeof pkg.name !== 'string' || typeof pkg.version !== 'string') throw new Error(`${origin}: package.json has no name or version`);
  const definitions: PackageFile[] = [];
  const examples: PackageFile[] = [];
  for (const f of files) {
    if (!f.path.endsWith('.json')) continue;
    const rest = f.path.slice('package/'.length);
    if (!f.path.startsWith('package/') || rest === 'package.json' || rest.endsWith('.index.json')) continue;
    if (!rest.includes('/')) definitions.push({ path: f.path, text: f.text() });
    else if (rest.startsWith('example/')) examples.push({ path: f.path, text: f.text() });
  }
  return { name: pkg.name, version: pkg.version, ...(typeof pkg.canonical === 'string' ? { canonical: pkg.canonical } : {}), files: definitions, examples };
}

/** A package from its .tgz file. */
export function readPackageTgz(file: string): FhirPackage {
  const tar = gunzipSync(readFileSync(file), { maxOutputLength: MAX_UNPACKED });
  const entries = untar(tar);
  return fromFiles(entries.map((e) => ({ path: e.path, text: () => e.data.toString('utf8') })), file);
}

/** Whether `dir` is an unpacked package (it holds package/package.json). */
export function isPackageDir(dir: string): boolean {
  return existsSync(join(dir, 'package', 'package.json'));
}

/** A package unpacked in `dir` (the folder holding `package/`). */
export function readPackageDir(dir: string): FhirPackage {
  const files: { path: string; text: () => string }[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel))) {
      const r = `${rel}/${name}`;
      if (statSync(join(dir, r)).isDirectory()) {
        if (r === 'package/example') walk(r);
      } else {
        files.push({ path: r, text: () => readFileSync(join(dir, r), 'utf8') });
      }
    }
  };
  walk('package');
  return fromFiles(files, dir);
}

/** Compares two package versions (semver-like: numeric parts, then the rest as text). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const nx = Number(x);
    const ny = Number(y);
    const d = Number.isInteger(nx) && Number.isInteger(ny) && x !== '' && y !== '' ? nx - ny : x.localeCompare(y);
    if (d !== 0) return d;
  }
  return 0;
}
