// bench/export: Bulk Data export throughput (resources/s) and peak RSS over a SQLite database of
// N generated resources (half Patients, half Observations), then the import of the exported
// NDJSON into an empty database (validation and indexing included).
//   npm run bench:export [-- --count 100000] [--import 0]
// The export runs as the job runner would run it (runExport with checkpoints in the store), in
// this process; RSS is sampled every 50 ms. Memory should not grow with --count.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Resource } from 'fhir/r4.js';
import { loadConfig } from '../src/config.js';
import { openEngine } from '../src/app.js';
import type { FhirContext } from '../src/fhir/context.js';
import { runExport } from '../src/operations/export-job.js';
import { importItems, ndjsonLines } from '../src/operations/import.js';
import type { ExportState } from '../src/operations/export-state.js';
import { arg, fmt } from './lib.js';
import { sampleResource } from './data.js';

const count = arg('count', 100_000);
/** `--import 0` skips the import half. */
const withImport = arg('import', 1) !== 0;
const MB = 1024 * 1024;

function engine(dir: string, name: string): Promise<FhirContext> {
  return openEngine(loadConfig({ DATABASE_URL: `sqlite:${join(dir, name)}`, LOG_LEVEL: 'silent', SQLITE_SYNCHRONOUS: 'normal', AUTH: 'off' }), { hooks: [] });
}

function rssSampler(): { peak: () => number; stop: () => void } {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 50);
  return { peak: () => peak, stop: () => clearInterval(timer) };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flint-bench-export-'));
  try {
    const ctx = await engine(dir, 'source.db');
    let t0 = performance.now();
    for (let i = 0; i < count; i += 1000) {
      await ctx.store.transaction(async (tx) => {
        for (let j = i; j < Math.min(count, i + 1000); j++) await tx.create({ ...sampleResource(j), id: `r${j}` } as Resource);
      });
    }
    process.stdout.write(`loaded ${fmt(count)} resources in ${fmt((performance.now() - t0) / 1000, 1)} s (setup, store writes)\n`);
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
    t0 = performance.now();
    await runExport(ctx, work, job, (change) => work.saveJob(id, 'bench', change, 60_000), { fileMaxBytes: 64 * MB, retentionMs: 3_600_000, pageSize: 1000 });
    const seconds = (performance.now() - t0) / 1000;
    rss.stop();
    const done = (await work.getJob(id))?.data as unknown as ExportState;
    process.stdout.write(`export: ${fmt(done.exported)} resources in ${fmt(seconds, 1)} s = ${fmt(done.exported / seconds)} resources/s; `
      + `peak RSS ${fmt(rss.peak() / MB)} MiB (${fmt((rss.peak() - base) / MB)} MiB over the ${fmt(base / MB)} MiB before), ${done.outputs.length} files\n`);

    if (!withImport) {
      await ctx.store.close();
      return;
    }
    // Import the export into an empty database: file by file, line by line.
    const target = await engine(dir, 'target.db');
    t0 = performance.now();
    let loaded = 0;
    for (const f of done.outputs) {
      let text = '';
      for await (const chunk of (await work.readFile(id, f.name)) ?? []) text += chunk;
      const s = await importItems(target, ndjsonLines(text));
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
