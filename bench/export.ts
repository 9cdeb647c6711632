// bench/export: Bulk Data export throughput (resources/s) and peak RSS over a SQLite database of
// N generated resources (half Patients, half Observations), then the import of the exported
// NDJSON into an empty database (validation and indexing included).
//   npm run bench:export [-- --count 100000] [--import 0] [--db FILE] [--rounds 1]
//                        [--baseline PATH/TO/export-job.ts] [--profile FILE.cpuprofile]
// The export runs as the job runner would run it (runExport with checkpoints in the store), in
// this process; RSS is sampled every 50 ms. Memory should not grow with --count.
//   --db FILE        keep the generated database in FILE and reuse it when it exists (a 1M
//                    database takes long to generate; its count must match --count).
//   --baseline PATH  also run the runExport of another checkout (e.g. ../main/src/operations/
//                    export-job.ts) over the same database, alternating with this one, and print
//                    the ratio of the medians: before/after in one process, under one load.
//                    Its page size: --baseline-page (1000, as Flint ran before pages of 5000).
//   --profile FILE   write a CPU profile of this checkout's first export round.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import { Session } from 'node:inspector/promises';
import type { Resource } from 'fhir/r4.js';
import { loadConfig } from '../src/config.js';
import { openEngine } from '../src/app.js';
import type { FhirContext } from '../src/fhir/context.js';
import { runExport } from '../src/operations/export-job.js';
import { importItems, ndjsonLines } from '../src/operations/import.js';
import type { ExportState } from '../src/operations/export-state.js';
import { arg, fmt, median } from './lib.js';
import { sampleResource } from './data.js';

const count = arg('count', 100_000);
/** `--import 0` skips the import half. */
const withImport = arg('import', 1) !== 0;
const rounds = arg('rounds', 1);
/** Versions per snapshot page, as src/jobs/export.ts runs it; the baseline's as its checkout ran it. */
const PAGE_SIZE = 5000;
const baselinePage = arg('baseline-page', 1000);
const MB = 1024 * 1024;

function text(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

type RunExport = typeof runExport;

function engine(file: string): Promise<FhirContext> {
  return openEngine(loadConfig({ DATABASE_URL: `sqlite:${file}`, LOG_LEVEL: 'silent', SQLITE_SYNCHRONOUS: 'normal', AUTH: 'off' }), { hooks: [] });
}

function rssSampler(): { peak: () => number; stop: () => void } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 50);
  return { peak: () => peak, stop: () => clearInterval(timer) };
}

async function generate(ctx: FhirContext): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; i < count; i += 1000) {
    await ctx.store.transaction(async (tx) => {
      for (let j = i; j < Math.min(count, i + 1000); j++) await tx.create({ ...sampleResource(j), id: `r${j}` } as Resource);
    });
    if (i % 100_000 === 0 && i > 0) process.stdout.write(`  generated ${fmt(i)}\n`);
  }
  process.stdout.write(`loaded ${fmt(count)} resources in ${fmt((performance.now() - t0) / 1000, 1)} s (setup, store writes)\n`);
}

interface Round { id: string; seconds: number; peak: number; base: number; state: ExportState }

async function exportOnce(ctx: FhirContext, run: RunExport, pageSize: number, profile?: string): Promise<Round> {
  global.gc?.();
  const work = ctx.store.work;
  const id = randomUUID();
  const state: ExportState = {
    request: { level: 'system', types: ['Patient', 'Observation'], filters: {}, warnings: [] },
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
  await run(ctx, work, job, (change) => work.saveJob(id, 'bench', change, 60_000), { fileMaxBytes: 64 * MB, retentionMs: 3_600_000, pageSize });
  const seconds = (performance.now() - t0) / 1000;
  if (session && profile) {
    const { profile: p } = await session.post('Profiler.stop');
    writeFileSync(profile, JSON.stringify(p));
    session.disconnect();
  }
  rss.stop();
  const done = (await work.getJob(id))?.data as unknown as ExportState;
  if (done.failure) throw new Error(`export failed: ${done.failure}`);
  return { id, seconds, peak: rss.peak(), base, state: done };
}

function line(label: string, r: Round): string {
  return `${label}: ${fmt(r.state.exported)} resources in ${fmt(r.seconds, 2)} s = ${fmt(r.state.exported / r.seconds)} resources/s; `
    + `peak RSS ${fmt(r.peak / MB)} MiB (${fmt((r.peak - r.base) / MB)} MiB over the ${fmt(r.base / MB)} MiB before), ${r.state.outputs.length} files\n`;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flint-bench-export-'));
  try {
    const dbFile = text('db') ? resolve(text('db') ?? '') : join(dir, 'source.db');
    const fresh = !existsSync(dbFile);
    const ctx = await engine(dbFile);
    if (fresh) await generate(ctx);
    else process.stdout.write(`reusing ${dbFile}\n`);
    const baselinePath = text('baseline');
    const baseline = baselinePath ? (await import(pathToFileURL(resolve(baselinePath)).href) as { runExport: RunExport }).runExport : undefined;
    const mine: Round[] = [];
    const theirs: Round[] = [];
    let last: Round | undefined;
    for (let r = 0; r < rounds; r++) {
      if (baseline) {
        const b = await exportOnce(ctx, baseline, baselinePage);
        theirs.push(b);
        process.stdout.write(line('baseline export', b));
        await ctx.store.work.deleteJob(b.id);
      }
      const m = await exportOnce(ctx, runExport, PAGE_SIZE, r === 0 ? text('profile') : undefined);
      mine.push(m);
      process.stdout.write(line('export', m));
      if (last) await ctx.store.work.deleteJob(last.id);
      last = m;
    }
    const rate = (rs: Round[]): number => median(rs.map((x) => x.state.exported / x.seconds));
    if (baseline) process.stdout.write(`median resources/s: ${fmt(rate(mine))} vs baseline ${fmt(rate(theirs))}: ${fmt(rate(mine) / rate(theirs), 2)}×\n`);

    if (!withImport || !last) {
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
    await ctx.store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
