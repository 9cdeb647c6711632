// bench/everything: Patient/$everything for one patient with a long record (~1,000 resources)
// in a database of other generated patients, over HTTP on a local socket. Figures:
// the first page at _count=1000 and the walk over every page, medians of several rounds, and
// their ratio to a raw SQLite read of the same rows' JSON (the baseline, in this process).
//   npm run bench:everything [-- --patients 200 --templates 11 --rounds 7]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Resource } from 'fhir/r4.js';
import { loadConfig } from '../src/config.js';
import { buildApp, openEngine } from '../src/app.js';
import { corpus, patientRecord } from '../scripts/generate-data.js';
import { arg, fmt, median } from './lib.js';
import { largeRecord } from './data.js';

const patients = arg('patients', 200);
const templates = arg('templates', 11);
/** --readers 0 runs the searches in this thread (for a CPU profile). */
const readers = arg('readers', -1);
const rounds = arg('rounds', 7);
const BIG = 'everything-big';
/** --keep: leave the database in place (its path is printed). */
const keep = process.argv.includes('--keep');

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flint-bench-everything-'));
  const file = join(dir, 'flint.db');
  const config = loadConfig({ DATABASE_URL: `sqlite:${file}`, LOG_LEVEL: 'silent', BASE_URL: 'http://bench/fhir', AUTH: 'off', SQLITE_SYNCHRONOUS: 'normal', ...(readers >= 0 ? { SQLITE_READERS: String(readers) } : {}) });
  try {
    const engine = await openEngine(config, { hooks: [] });
    const big = largeRecord(Array.from({ length: templates }, (_, k) => patientRecord(1_000_000 + k)), BIG);
    const batches: Resource[][] = [corpus().shared as unknown as Resource[], big as unknown as Resource[]];
    for (let n = 0; n < patients; n++) batches.push(patientRecord(n) as unknown as Resource[]);
    const t0 = performance.now();
    for (const batch of batches) await engine.store.transaction(async (tx) => { for (const r of batch) await tx.create(r); });
    const loaded = batches.reduce((n, b) => n + b.length, 0);
    await engine.store.close();
    console.log(`bench/everything: ${fmt(loaded)} resources loaded in ${fmt((performance.now() - t0) / 1000, 1)} s; Patient/${BIG} has ${fmt(big.length)} in its record; ${rounds} rounds`);

    const app = await buildApp(config);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    const origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const raw = new Database(file, { readonly: true });
    // The baseline: the compartment's rows read straight from SQLite (JSON text, no paging).
    const rawQuery = raw.prepare(`SELECT v.json FROM resource r JOIN version v ON v.seq = r.seq
      WHERE r.deleted = 0 AND (r.id = ? OR r.rid IN (SELECT rid FROM sp_reference WHERE ref_type = 'Patient' AND ref_id = ?))`);
    const firstPage: number[] = [];
    const walk: number[] = [];
    const rawTimes: number[] = [];
    let entries = 0;
    let pages = 0;
    for (let i = 0; i < rounds + 1; i++) {
      let t = performance.now();
      const rows = rawQuery.all(BIG, BIG) as { json: string }[];
      const rawMs = performance.now() - t;
      t = performance.now();
      let url: string | undefined = `/fhir/Patient/${BIG}/$everything?_count=1000`;
      let first = 0;
      let seen = 0;
      let n = 0;
      while (url) {
        const res = await fetch(origin + url);
        const text = await res.text();
        if (res.status !== 200) throw new Error(`${url}: ${res.status} ${text.slice(0, 200)}`);
        if (n === 0) first = performance.now() - t;
        const body = JSON.parse(text) as { entry?: unknown[]; link?: { relation: string; url: string }[] };
        seen += body.entry?.length ?? 0;
        n++;
        const next = body.link?.find((l) => l.relation === 'next')?.url;
        url = next ? next.replace('http://bench', '') : undefined;
      }
      const all = performance.now() - t;
      if (i === 0) {
        console.log(`  raw rows ${fmt(rows.length)}; $everything ${fmt(seen)} entries in ${n} page(s) (first round, warm-up, not counted)`);
        continue;
      }
      firstPage.push(first);
      walk.push(all);
      rawTimes.push(rawMs);
      entries = seen;
      pages = n;
      console.log(`  round ${i}: first page ${fmt(first, 1)} ms, all ${pages} pages ${fmt(all, 1)} ms, raw SQLite ${fmt(rawMs, 1)} ms`);
    }
    raw.close();
    await app.close();
    const [f, w, r] = [median(firstPage), median(walk), median(rawTimes)];
    console.log(`median first page (_count=1000): ${fmt(f, 1)} ms`);
    console.log(`median every page (${pages} pages, ${fmt(entries)} entries): ${fmt(w, 1)} ms (target < 300 ms)`);
    console.log(`median raw SQLite read of the compartment: ${fmt(r, 1)} ms`);
    console.log(`ratio $everything/raw: ${fmt(w / r, 1)}×`);
  } finally {
    if (keep) console.log(`  kept ${file}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
