// bench/search: ingest rate with indexing on, and p50/p95 latency of representative searches,
// at each data size given (patients × ~100 resources each, from scripts/generate-data.ts).
//   npm run bench:search -- --sizes 1000,10000 --runs 40 [--cached]
//   --cached  use bench/generate's database for each size (made once, reused by later runs, kept
//             in the temporary directory) instead of ingesting into a fresh one; the ingest line
//             is then not printed (bench/generate prints its own rate).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from 'fhir/r4.js';
import { loadConfig } from '../src/config.js';
import { buildApp, openEngine } from '../src/app.js';
import { loadDefinitions } from '../src/definitions/registry.js';
import { corpus, patientRecord, rng } from '../scripts/generate-data.js';
import { argString, flag, fmt } from './lib.js';
import { clinicDatabase } from './generate.js';

function list(name: string, fallback: number[]): number[] {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? '').split(',').map(Number) : fallback;
}

const sizes = list('sizes', [1000]);
/** --keep: leave the generated databases in place (their paths are printed). */
const keep = process.argv.includes('--keep');
const cached = flag('cached');
/** --readers N: reader threads of the searched store (SQLITE_READERS; default as the server runs, one per core). */
const readers = argString('readers');
const runs = list('runs', [40])[0] ?? 40;
const BATCH = 2000;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

interface QuerySpec {
  name: string;
  url: (r: () => number, patients: number) => string;
}

const FAMILIES_SAMPLE = ['Smith', 'Garcia', 'Nguyen', 'Walker', 'Dubois', 'Müller'];
const QUERIES: QuerySpec[] = [
  { name: 'Observation?patient=&code=', url: (r, n) => `/fhir/Observation?patient=Patient/g${Math.floor(r() * n)}-0&code=http://loinc.org|8867-4` },
  { name: 'Observation?code=&date=ge…', url: (r) => `/fhir/Observation?code=http://loinc.org|2708-6&date=ge${2024 + Math.floor(r() * 2)}-0${1 + Math.floor(r() * 9)}-01` },
  { name: 'Patient?name=', url: (r) => `/fhir/Patient?name=${encodeURIComponent(`${FAMILIES_SAMPLE[Math.floor(r() * FAMILIES_SAMPLE.length)]}${Math.floor(r() * 200)}`)}` },
  { name: 'Encounter?date=&_include=Encounter:subject', url: (r) => `/fhir/Encounter?date=${2019 + Math.floor(r() * 5)}-0${1 + Math.floor(r() * 9)}-1${Math.floor(r() * 10)}&_include=Encounter:subject` },
  { name: 'Patient?_has:Observation:patient:code=', url: (r) => `/fhir/Patient?_has:Observation:patient:code=http://loinc.org|92142-9&birthdate=ge${1930 + Math.floor(r() * 80)}&_count=20` },
];

/** Fills a fresh database at `file` with `patients` generated patients, printing the ingest rate. */
async function ingest(file: string, patients: number): Promise<void> {
  const defs = loadDefinitions();
  const engine = await openEngine(loadConfig({ DATABASE_URL: `sqlite:${file}`, LOG_LEVEL: 'silent', BASE_URL: 'http://bench/fhir', AUTH: 'off' }), { definitions: defs });
  // Ingest: generated resources written through the store with indexing on, in transactions.
  let count = 0;
  let pending: Resource[] = [];
  const flush = async (): Promise<void> => {
    const batch = pending;
    pending = [];
    await engine.store.transaction(async (tx) => {
      for (const r of batch) await tx.create(r);
    });
  };
  const start = performance.now();
  for (const r of corpus().shared) pending.push(r as unknown as Resource);
  for (let n = 0; n < patients; n++) {
    for (const r of patientRecord(n)) {
      pending.push(r as unknown as Resource);
      count++;
    }
    if (pending.length >= BATCH) await flush();
    if (n % 1000 === 999) process.stderr.write(`  ${fmt(count)} resources loaded…\n`);
  }
  await flush();
  const seconds = (performance.now() - start) / 1000;
  await engine.store.close();
  const size = statSync(file).size + (statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0);
  console.log(`\n${fmt(patients)} patients, ${fmt(count)} resources: ingest ${fmt(count / seconds)} resources/s with indexing (one core, ${fmt(seconds, 1)} s), database ${fmt(size / 1e9, 2)} GB`);
}

async function runSize(patients: number): Promise<Record<string, { p50: number; p95: number }>> {
  const dir = cached ? undefined : mkdtempSync(join(tmpdir(), 'flint-bench-search-'));
  let file: string;
  if (dir) {
    file = join(dir, 'flint.db');
    await ingest(file, patients);
  } else {
    const db = await clinicDatabase(patients, undefined, (l) => console.log(l));
    file = db.file;
    console.log(`\n${fmt(patients)} patients, ${fmt(db.resources)} resources: ${file} (bench/generate), database ${fmt(statSync(file).size / 1e9, 2)} GB`);
  }

  const app = await buildApp(loadConfig({ DATABASE_URL: `sqlite:${file}`, LOG_LEVEL: 'silent', BASE_URL: 'http://bench/fhir', AUTH: 'off', ...(readers ? { SQLITE_READERS: readers } : {}) }));
  const out: Record<string, { p50: number; p95: number }> = {};
  for (const q of QUERIES) {
    const r = rng(42);
    const times: number[] = [];
    let matches = 0;
    for (let i = 0; i < runs + 5; i++) {
      const url = q.url(r, patients);
      const t0 = performance.now();
      const res = await app.inject({ url, headers: { prefer: 'handling=strict' } });
      const ms = performance.now() - t0;
      if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body.slice(0, 200)}`);
      if (i >= 5) {
        times.push(ms); // the first five warm the caches
        matches += (JSON.parse(res.body).entry ?? []).length;
      }
    }
    out[q.name] = { p50: pct(times, 50), p95: pct(times, 95) };
    console.log(`  ${q.name.padEnd(46)} p50 ${fmt(pct(times, 50), 2).padStart(7)} ms   p95 ${fmt(pct(times, 95), 2).padStart(7)} ms   (${fmt(matches / runs, 1)} entries/page)`);
  }
  await app.close();
  console.log(`  load average ${loadavg().map((x) => fmt(x, 1)).join(' ')}`);
  if (!dir) return out;
  if (keep) console.log(`  kept ${file}`);
  else rmSync(dir, { recursive: true, force: true });
  return out;
}

async function main(): Promise<void> {
  console.log(`bench/search: sizes ${sizes.join(', ')} patients (~100 resources each), ${runs} runs per query`);
  const results: Record<string, { p50: number; p95: number }>[] = [];
  for (const s of sizes) results.push(await runSize(s));
  if (results.length >= 2) {
    const [small, large] = [results[0] ?? {}, results[results.length - 1] ?? {}];
    console.log(`\ngrowth ${fmt(sizes[0] ?? 0)} → ${fmt(sizes[sizes.length - 1] ?? 0)} patients (p50 ratio, target ≤ 2× for selective queries):`);
    for (const q of QUERIES) {
      const a = small[q.name]?.p50 ?? 0;
      const b = large[q.name]?.p50 ?? 0;
      console.log(`  ${q.name.padEnd(46)} ${fmt(b / a, 2)}×`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
