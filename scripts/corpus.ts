// The test corpus (../shared/corpus/README.md): the official R4 examples, and the HL7 reference
// validator's R4 test cases (../shared/corpus/hl7-validator, from
// FHIR/fhir-test-cases): each case's resource, the definitions it brings, and the error and
// warning counts the Java validator expects, base and (when the case has one) profile step.
// Shared by the tests (test/validation/corpus.test.ts, structure.test.ts) and bench/validate.ts,
// which is why it lives in scripts/ (tests never import bench/).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CodeSystem, StructureDefinition, ValueSet } from 'fhir/r4.js';
import type { Definitions } from '../src/definitions/registry.js';
import { validateResource } from '../src/validation/index.js';
import type { Issue } from '../src/fhir-basics/outcome.js';

export const HL7_DIR = join('..', 'shared', 'corpus', 'hl7-validator');
export const EXAMPLES_DIR = join('..', 'shared', 'corpus', 'r4-examples');

/**
 * The complete official example set (hl7.fhir.r4.examples@4.0.1, 5,306 resources up to 35 MB),
 * when it is on this machine: `npm pack hl7.fhir.r4.examples@4.0.1` and unpack it, then point
 * FHIR_R4_EXAMPLES (`fromEnv`) at its `package/` folder, or install it into node_modules.
 */
export function fullExampleSet(fromEnv: string | undefined): string | undefined {
  return [fromEnv, join('node_modules', 'hl7.fhir.r4.examples', 'package'), join('node_modules', 'hl7.fhir.r4.examples')]
    .find((d): d is string => d !== undefined && existsSync(join(d, 'Patient-example.json')));
}

/** The official R4 examples that are JSON, by file name (a few corpus files are XML or text). */
export function r4Examples(dir = EXAMPLES_DIR): { file: string; resource: unknown }[] {
  const out: { file: string; resource: unknown }[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    try {
      out.push({ file, resource: JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown });
    } catch {
      // not JSON after all: skipped, as the corpus README says
    }
  }
  return out;
}

export interface Counts {
  errors: number;
  warnings: number;
}

/** What the Java validator expects of a step; `warnings` is undefined when only `errorCount` is given inline. */
export interface Expected {
  errors: number;
  warnings: number | undefined;
}

export type Extra = { structureDefinitions: StructureDefinition[]; valueSets: ValueSet[]; codeSystems: CodeSystem[] };

export interface Step {
  step: 'base' | 'profile';
  /** Extra profiles to validate against (the profile step's source). */
  profiles: string[];
  /**
   * The definitions this step has loaded, as the Java harness (ValidationTests) has them: the base
   * step its `supporting` and `profiles` files; the profile step those plus the profile's
   * `supporting` files and its source (the Java context only grows, step after step).
   */
  extra: Extra;
  expected: Expected;
}

export interface Hl7Case {
  name: string;
  module: string;
  resource: Record<string, unknown>;
  steps: Step[];
}

interface ManifestCase {
  name: string;
  file: string;
  module?: string;
  java?: string | ManifestOutcome;
  supporting?: string[];
  profiles?: string[];
  packages?: string[];
  logical?: string;
  profile?: { source: string; java?: string | ManifestOutcome; supporting?: string[]; packages?: string[] };
}

/** An expected outcome given inline: an OperationOutcome, or just the number of errors. */
interface ManifestOutcome {
  outcome?: Json;
  errorCount?: number;
}

type Json = Record<string, unknown>;

function readJson(path: string): Json {
  return JSON.parse(readFileSync(path, 'utf8')) as Json;
}

/** Errors (error and fatal) and warnings of an OperationOutcome's issue list. */
export function countIssues(issues: readonly { severity?: string }[]): Counts {
  let errors = 0;
  let warnings = 0;
  for (const i of issues) {
    if (i.severity === 'error' || i.severity === 'fatal') errors++;
    else if (i.severity === 'warning') warnings++;
  }
  return { errors, warnings };
}

/**
 * The expected outcome: a path under outcomes/, an OperationOutcome inline ({ outcome }), or an
 * inline `errorCount` (the Java harness then compares the number of errors only).
 */
function expected(dir: string, path: string | ManifestOutcome | undefined): Expected | undefined {
  if (!path) return undefined;
  if (typeof path !== 'string') {
    if (path.outcome) return countIssues((path.outcome.issue as { severity?: string }[] | undefined) ?? []);
    if (typeof path.errorCount === 'number') return { errors: path.errorCount, warnings: undefined };
    return undefined;
  }
  const file = join(dir, 'outcomes', path);
  if (!existsSync(file)) return undefined;
  const oo = readJson(file);
  return countIssues((oo.issue as { severity?: string }[] | undefined) ?? []);
}

function collect(into: Extra, res: Json): void {
  switch (res.resourceType) {
    case 'StructureDefinition': into.structureDefinitions.push(res as unknown as StructureDefinition); break;
    case 'ValueSet': into.valueSets.push(res as unknown as ValueSet); break;
    case 'CodeSystem': into.codeSystems.push(res as unknown as CodeSystem); break;
    case 'Bundle':
      for (const e of (res.entry as { resource?: Json }[] | undefined) ?? []) if (e.resource) collect(into, e.resource);
      break;
    default: break;
  }
}

function extraOf(dir: string, files: readonly string[]): Extra {
  const extra: Extra = { structureDefinitions: [], valueSets: [], codeSystems: [] };
  for (const f of files) collect(extra, readJson(join(dir, f)));
  return extra;
}

export function extraSize(e: Extra): number {
  return e.structureDefinitions.length + e.valueSets.length + e.codeSystems.length;
}

/** The runnable cases, and the others with the reason they cannot run here. */
export function loadHl7Cases(dir = HL7_DIR): { cases: Hl7Case[]; skipped: { name: string; reason: string }[] } {
  const manifest = readJson(join(dir, 'manifest.json')) as { 'test-cases': ManifestCase[] };
  const cases: Hl7Case[] = [];
  const skipped: { name: string; reason: string }[] = [];
  for (const c of manifest['test-cases']) {
    const skip = (reason: string): void => {
      skipped.push({ name: c.name, reason });
    };
    if (!c.file.endsWith('.json')) { skip('not JSON'); continue; }
    if (c.packages?.length) { skip(`needs packages ${c.packages.join(', ')}`); continue; }
    if (c.logical) { skip('logical model'); continue; }
    const baseFiles = [...(c.supporting ?? []), ...(c.profiles ?? [])];
    const profileFiles = c.profile ? [...baseFiles, ...(c.profile.supporting ?? []), c.profile.source] : [];
    const files = [c.file, ...baseFiles, ...profileFiles];
    const absent = files.filter((f) => !existsSync(join(dir, f)));
    if (absent.length) { skip(`supporting files absent from the corpus: ${absent.join(', ')}`); continue; }
    const nonJson = files.filter((f) => !f.endsWith('.json'));
    if (nonJson.length) { skip(`supporting files not JSON: ${nonJson.join(', ')}`); continue; }
    let resource: Json;
    try {
      resource = readJson(join(dir, c.file));
    } catch {
      // Cases about malformed JSON: Flint answers those with 400 before validation.
      skip('the file is not parseable JSON (a parser test)');
      continue;
    }
    const steps: Step[] = [];
    const base = expected(dir, c.java);
    if (base) steps.push({ step: 'base', profiles: [], extra: extraOf(dir, baseFiles), expected: base });
    const prof = c.profile && !c.profile.packages?.length ? expected(dir, c.profile.java) : undefined;
    if (c.profile && prof) {
      const url = readJson(join(dir, c.profile.source)).url;
      if (typeof url === 'string') steps.push({ step: 'profile', profiles: [url], extra: extraOf(dir, profileFiles), expected: prof });
    }
    if (steps.length === 0) { skip('no expected outcome for the Java validator'); continue; }
    cases.push({ name: c.name, module: c.module ?? '', resource, steps });
  }
  return { cases, skipped };
}

/**
 * The code systems a resource uses that `holds` says Flint does not have: the systems of
 * codings, quantities and value set includes. A step whose resource uses one needs a
 * terminology server to be judged as the Java validator (which runs with one) judges it.
 */
export function externalSystems(resource: unknown, holds: (system: string) => boolean): string[] {
  const found = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) { for (const x of v) walk(x); return; }
    if (v === null || typeof v !== 'object') return;
    const o = v as Json;
    if (typeof o.system === 'string' && (typeof o.code === 'string' || Array.isArray(o.concept) || Array.isArray(o.filter))) {
      const system = o.system.split('|')[0] ?? o.system;
      if (!holds(system)) found.add(system);
    }
    for (const x of Object.values(o)) walk(x);
  };
  walk(resource);
  return [...found].sort();
}

/** One step's outcome: the counts found, or no verdict (the validator threw). */
export interface Result {
  module: string;
  expected: Expected;
  got: Counts | 'no verdict';
  /** The step needs a terminology server Flint does not have (see externalSystems). */
  tx: boolean;
}

export interface Agreement {
  /** Comparisons (case steps) run. */
  n: number;
  /** Steps where the validator threw: counted in n, never as agreeing. */
  noVerdict: number;
  /** Same verdict: both find errors, or neither does. */
  verdict: number;
  /** Exactly the expected number of errors. */
  errors: number;
  /** Exactly the expected numbers of errors and of warnings (errors only where only errorCount is given). */
  exact: number;
}

export function agreement(results: readonly { expected: Expected; got: Counts | 'no verdict' }[]): Agreement {
  let verdict = 0;
  let errors = 0;
  let exact = 0;
  let noVerdict = 0;
  for (const { expected: e, got: g } of results) {
    if (g === 'no verdict') { noVerdict++; continue; }
    if ((e.errors > 0) === (g.errors > 0)) verdict++;
    if (e.errors === g.errors) errors++;
    if (e.errors === g.errors && (e.warnings === undefined || e.warnings === g.warnings)) exact++;
  }
  return { n: results.length, noVerdict, verdict, errors, exact };
}

/** Agreement per module, modules in name order, plus the whole. */
export function byModule(results: readonly Result[]): { module: string; a: Agreement }[] {
  const mods = [...new Set(results.map((r) => r.module))].sort();
  return mods.map((module) => ({ module, a: agreement(results.filter((r) => r.module === module)) }));
}

export function pct(k: number, n: number): string {
  return n === 0 ? '-' : `${((100 * k) / n).toFixed(1)}%`;
}

/** Systems whose codes Flint checks without holding a CodeSystem: UCUM (a library), MIME types and language tags (a grammar). */
const CHECKED_WITHOUT_CODESYSTEM = new Set(['http://unitsofmeasure.org', 'urn:ietf:bcp:13', 'urn:ietf:bcp:47']);

/** Whether Flint, with these definitions, holds the codes of a system. */
export function holdsSystem(defs: Definitions, system: string): boolean {
  if (CHECKED_WITHOUT_CODESYSTEM.has(system)) return true;
  const cs = defs.codeSystem(system);
  return cs !== undefined && cs.content !== 'not-present';
}

/**
 * Flint's results on every step, each step with only its own files loaded; a validator that
 * throws gives no verdict. `detail` receives each step's issues (for diagnosis).
 */
export function runFlint(defs: Definitions, cases: readonly Hl7Case[], detail?: (c: Hl7Case, s: Step, issues: readonly Issue[], tx: boolean) => void): Result[] {
  const out: Result[] = [];
  for (const c of cases) {
    for (const s of c.steps) {
      const d = extraSize(s.extra) ? defs.extend(s.extra) : defs;
      const tx = externalSystems(c.resource, (sys) => holdsSystem(d, sys)).length > 0;
      let got: Counts | 'no verdict';
      try {
        const issues = validateResource(d, c.resource, { profiles: s.profiles });
        detail?.(c, s, issues, tx);
        got = countIssues(issues);
      } catch {
        got = 'no verdict';
      }
      out.push({ module: c.module, expected: s.expected, got, tx });
    }
  }
  return out;
}
