// The test corpus (../shared/corpus/README.md): the official R4 examples, and the HL7 reference
// validator's R4 test cases (../shared/corpus/hl7-validator, from
// FHIR/fhir-test-cases): each case's resource, the definitions it brings, and the error and
// warning counts the Java validator expects, base and (when the case has one) profile step.
// Shared by the tests (test/validation/corpus.test.ts, structure.test.ts) and bench/validate.ts,
// which is why it lives in scripts/ (tests never import bench/).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CodeSystem, StructureDefinition, ValueSet } from 'fhir/r4.js';

export const HL7_DIR = join('..', 'shared', 'corpus', 'hl7-validator');
export const EXAMPLES_DIR = join('..', 'shared', 'corpus', 'r4-examples');

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

export interface Step {
  step: 'base' | 'profile';
  /** Extra profiles to validate against (the profile step's source). */
  profiles: string[];
  expected: Counts;
}

export interface Hl7Case {
  name: string;
  module: string;
  resource: Record<string, unknown>;
  /** Definitions the case loads first (supporting files and its profile). */
  extra: { structureDefinitions: StructureDefinition[]; valueSets: ValueSet[]; codeSystems: CodeSystem[] };
  steps: Step[];
}

interface ManifestCase {
  name: string;
  file: string;
  module?: string;
  java?: string | { outcome?: Json };
  supporting?: string[];
  profiles?: string[];
  packages?: string[];
  logical?: string;
  profile?: { source: string; java?: string | { outcome?: Json }; supporting?: string[] };
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

/** The expected outcome: a path under outcomes/, or the OperationOutcome inline ({ outcome }). */
function expected(dir: string, path: string | { outcome?: Json } | undefined): Counts | undefined {
  if (!path) return undefined;
  if (typeof path !== 'string') return countIssues((path.outcome?.issue as { severity?: string }[] | undefined) ?? []);
  const file = join(dir, 'outcomes', path);
  if (!existsSync(file)) return undefined;
  const oo = readJson(file);
  return countIssues((oo.issue as { severity?: string }[] | undefined) ?? []);
}

function collect(into: Hl7Case['extra'], res: Json): void {
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
    const files = [c.file, ...(c.supporting ?? []), ...(c.profiles ?? []), ...(c.profile ? [c.profile.source, ...(c.profile.supporting ?? [])] : [])];
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
    const extra: Hl7Case['extra'] = { structureDefinitions: [], valueSets: [], codeSystems: [] };
    for (const f of files.slice(1)) collect(extra, readJson(join(dir, f)));
    const steps: Step[] = [];
    const base = expected(dir, c.java);
    if (base) steps.push({ step: 'base', profiles: [], expected: base });
    const prof = expected(dir, c.profile?.java);
    if (c.profile && prof) {
      const url = readJson(join(dir, c.profile.source)).url;
      if (typeof url === 'string') steps.push({ step: 'profile', profiles: [url], expected: prof });
    }
    if (steps.length === 0) { skip('no expected outcome for the Java validator'); continue; }
    cases.push({ name: c.name, module: c.module ?? '', resource, extra, steps });
  }
  return { cases, skipped };
}

export interface Agreement {
  /** Comparisons (case steps) run. */
  n: number;
  /** Same verdict: both find errors, or neither does. */
  verdict: number;
  /** Exactly the expected number of errors. */
  errors: number;
  /** Exactly the expected numbers of errors and of warnings. */
  exact: number;
}

export function agreement(results: { expected: Counts; got: Counts }[]): Agreement {
  let verdict = 0;
  let errors = 0;
  let exact = 0;
  for (const { expected: e, got: g } of results) {
    if ((e.errors > 0) === (g.errors > 0)) verdict++;
    if (e.errors === g.errors) errors++;
    if (e.errors === g.errors && e.warnings === g.warnings) exact++;
  }
  return { n: results.length, verdict, errors, exact };
}

export function pct(k: number, n: number): string {
  return n === 0 ? '-' : `${((100 * k) / n).toFixed(1)}%`;
}
