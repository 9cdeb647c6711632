// bench/export: Bulk Data export throughput (resources/s) and peak RSS over a SQLite database of
// N generated clinic patients (bench/generate.ts: ~97 resources each, 13 types), then the import
// of the exported NDJSON into an empty database (validation and indexing included).
//   npm run bench:export [-- --patients 1000] [--import 0] [--db FILE] [--rounds 1]
//                        [--baseline PATH/TO/export-job.ts] [--profile FILE.cpuprofile]
// The export runs as the job runner would run it (runExport with checkpoints in the store), in
// this process; RSS is sampled every 50 ms. Memory should not grow with --patients.
//   --patients N     1000 ≈ 97k resources, 10400 ≈ 1M.
//   --db FILE        the generated database (default: bench/generate's file for N patients in
//                    the temporary directory); made, continued or reused as bench/generate does.
//                    Export jobs and their files are deleted from it after each round.
//   --baseline PATH  also run the runExport of another checkout (e.g. ../main/src/operations/
//                    export-job.ts) over the same database, alternating with this one, and print
//                    the ratio of the medians: before/after in one process, under one load.
//                    Its page size: --baseline-page (1000, as Flint ran before pages of 5000).
//   --profile FILE   write a CPU profile of this checkout's first export round.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import { Session } from 'node:inspector/promises';
import { loadConfig } from '../src/config.js';
import { openEngine } from '../src/app.js';
import type { FhirContext } from '../src/fhir/context.js';
import { runExport } from '../src/operations/export-job.js';
import { importItems, ndjsonLines } from '../src/operations/import.js';
import type { ExportState } from '../src/operations/export-state.js';
import { arg, argString as text, fmt, median } from './lib.js';
import { clinicDatabase, defaultDatabaseFile } from './generate.js';

const patients = arg('patients', 1000);
/** Reader threads of the exporting store (SQLITE_READERS); default: as the server runs (one per core). */
const readers = text('readers');
/** `--import 0` skips the import half. */
const withImport = arg('import', 1) !== 0;
const rounds = arg('rounds', 1);
/** Versions per snapshot page, as src/jobs/export.ts runs it; the baseline's as its checkout ran it. */
const PAGE_SIZE = 5000;
const baselinePage = arg('baseline-page', 1000);
const MB = 1024 * 1024;


type RunExport = typeof runExport;

function engine(file: string): Promise<FhirContext> {
  return openEngine(loadConfig({ DATABASE_URL: `sqlite:${file}`, LOG_LEVEL: 'silent', SQLITE_SYNCHRONOUS: 'normal', AUTH: 'off', ...(readers ? { SQLITE_READERS: readers } : {}) }), { hooks: [] });
}

function rssSampler(): { peak: () => number; stop: () => void } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 50);
  return { peak: () => peak, stop: () => clearInterval(timer) };
}

/** `cpu`: CPU seconds of the whole process (every thread) during the export. */
interface Round { id: string; seconds: number; cpu: number; peak: number; base: number; state: ExportState }

async function exportOnce(ctx: FhirContext, types: string[], run: RunExport, pageSize: number, profile?: string): Promise<Round> {
  global.gc?.();
  const work = ctx.store.work;
  const id = randomUUID();
  const state: ExportState = {
    request: { level: 'system', types, filters: {}, warnings: [] },
    transactionTime: new Date().toISOString(), requestUrl: 'bench', step: 0, outputs: [], exported: 0,
  };
  await work.addJob('export', id, state as unknown as Record<string, unknown>);
  const job = await work.claimJob('export', 'bench', 60_000);
  if (!job) throw new Error('no job');
  const base = process.memoryUsage().rss;
  const rss = rssSampler();
  const session = profile ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await run(ctx, work, job, (change) => work.saveJob(id, 'bench', change, 60_000), { fileMaxBytes: 64 * MB, retentionMs: 3_600_000, pageSize });
  const seconds = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu0);
  const cpu = (used.user + used.system) / 1e6;
  if (session && profile) {
    const { profile: p } = await session.post('Profiler.stop');
    writeFileSync(profile, JSON.stringify(p));
    session.disconnect();
  }
  rss.stop();
  const done = (await work.getJob(id))?.data as unknown as ExportState;
  if (done.failure) throw new Error(`export failed: ${done.failure}`);
  return { id, seconds, cpu, peak: rss.peak(), base, state: done };
}

function line(label: string, r: Round): string {
  return `${label}: ${fmt(r.state.exported)} resources in ${fmt(r.seconds, 2)} s = ${fmt(r.state.exported / r.seconds)} resources/s; `
    + `CPU ${fmt(r.cpu, 2)} s = ${fmt(r.state.exported / r.cpu)} resources per CPU-second; peak RSS ${fmt(r.peak / MB)} MiB (${fmt((r.peak - r.base) / MB)} MiB over the ${fmt(r.base / MB)} MiB before), ${r.state.outputs.length} files\n`;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flint-bench-export-'));
  try {
    const dbFile = text('db') ? resolve(text('db') ?? '') : defaultDatabaseFile(patients);
    const db = await clinicDatabase(patients, dbFile, (l) => process.stdout.write(`${l}\n`));
    const types = Object.keys(db.types).sort();
    process.stdout.write(`${dbFile}: ${fmt(db.patients)} patients, ${fmt(db.resources)} resources of ${types.length} types\n`);
    const ctx = await engine(dbFile);
    const baselinePath = text('baseline');
    const baseline = baselinePath ? (await import(pathToFileURL(resolve(baselinePath)).href) as { runExport: RunExport }).runExport : undefined;
    const mine: Round[] = [];
    const theirs: Round[] = [];
    let last: Round | undefined;
    for (let r = 0; r < rounds; r++) {
      if (baseline) {
        const b = await exportOnce(ctx, types, baseline, baselinePage);
        theirs.push(b);
        process.stdout.write(line('baseline export', b));
        await ctx.store.work.deleteJob(b.id);
      }
      const m = await exportOnce(ctx, types, runExport, PAGE_SIZE, r === 0 ? text('profile') : undefined);
      mine.push(m);
      process.stdout.write(line('export', m));
      if (last) await ctx.store.work.deleteJob(last.id);
      last = m;
    }
    const rate = (rs: Round[]): number => median(rs.map((x) => x.state.exported / x.seconds));
    const load = loadavg().map((x) => fmt(x, 1)).join(' ');
    const perCpu = median(mine.map((x) => x.state.exported / x.cpu));
    process.stdout.write(`median of ${mine.length} rounds: ${fmt(rate(mine))} resources/s (${fmt(perCpu)} per CPU-second), peak RSS ${fmt(Math.max(...mine.map((x) => x.peak)) / MB)} MiB; load average ${load}\n`);
    if (baseline) process.stdout.write(`median resources/s: ${fmt(rate(mine))} vs baseline ${fmt(rate(theirs))}: ${fmt(rate(mine) / rate(theirs), 2)}×\n`);

    if (!withImport || !last) {
      if (last) await ctx.store.work.deleteJob(last.id);
      await ctx.store.close();
      return;
    }
    // Import the export into an empty database: file by file, line by line.
    const work = ctx.store.work;
    const target = await engine(join(dir, 'target.db'));
    const t0 = performance.now();
    let loaded = 0;
    for (const f of last.state.outputs) {
      let body = '';
      for await (const chunk of (await work.readFile(last.id, f.name)) ?? []) body += chunk;
      const s = await importItems(target, ndjsonLines(body));
      loaded += Object.values(s.loaded).reduce((a, b) => a + b, 0);
      if (s.refused) throw new Error(`${s.refused} refused`);
    }
    const importSeconds = (performance.now() - t0) / 1000;
    process.stdout.write(`import: ${fmt(loaded)} resources in ${fmt(importSeconds, 1)} s = ${fmt(loaded / importSeconds)} resources/s (validated, SQLITE_SYNCHRONOUS=normal)\n`);
    await target.store.close();
    await work.deleteJob(last.id);
    await ctx.store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
