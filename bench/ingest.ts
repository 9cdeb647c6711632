// bench/ingest: resources/s for POSTs of generated resources over HTTP (validation, versioning,
// history, durable commit per request), against raw better-sqlite3 inserts of the same JSON
// (one durable transaction each, same pragmas). Alternating rounds; medians and the ratio.
//   npm run bench:ingest [-- --rounds 3 --count 5000 --connections 16]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { arg, cannon, fmt, median, startServer, stop } from './lib.js';
import { sampleResource } from './data.js';

const rounds = arg('rounds', 3);
const count = arg('count', 5000);
const connections = arg('connections', 16);

function rawInserts(dir: string, bodies: string[]): number {
  const db = new Database(join(dir, `raw-${Date.now()}.db`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE r (id INTEGER PRIMARY KEY, type TEXT NOT NULL, json TEXT NOT NULL)');
  const ins = db.prepare('INSERT INTO r (type, json) VALUES (?, ?)');
  const start = performance.now();
  for (const b of bodies) ins.run(b.includes('"Patient"') ? 'Patient' : 'Observation', b);
  const seconds = (performance.now() - start) / 1000;
  db.close();
  return bodies.length / seconds;
}

async function flintPosts(port: number, bodies: string[]): Promise<number> {
  const requests = bodies.map((body) => ({
    method: 'POST', path: `/fhir/${body.includes('"resourceType":"Patient"') ? 'Patient' : 'Observation'}`, body,
    headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
  }));
  const start = performance.now();
  const r = await cannon({ url: `http://127.0.0.1:${port}`, connections, amount: bodies.length, requests });
  const seconds = (performance.now() - start) / 1000;
  if (r.non2xx || r.errors) throw new Error(`flint: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return bodies.length / seconds;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flint-bench-ingest-'));
  const bodies = Array.from({ length: count }, (_, i) => JSON.stringify(sampleResource(i)));
  const warmup = Array.from({ length: 2000 }, (_, i) => JSON.stringify(sampleResource(count + i)));
  console.log(`bench/ingest: ${fmt(count)} resources per round (patients and observations), ${connections} connections, ${rounds} rounds`);
  const flintRates: number[] = [];
  const rawRates: number[] = [];
  for (let i = 0; i < rounds; i++) {
    // Per-client limits off: one bench client plays many clients' worth of load.
    const server = await startServer('flint', { BENCH_DIR: join(dir, `f${i}`), RATE_LIMIT: '0', CLIENT_CONCURRENCY: '0' }, join(dir, `flint-${i}.log`));
    // Warm-up (JIT, prepared statements, page cache) on other resources, then the measured run.
    await flintPosts(server.port, warmup);
    const f = await flintPosts(server.port, bodies);
    await stop(server.child);
    const raw = rawInserts(dir, bodies);
    flintRates.push(f);
    rawRates.push(raw);
    console.log(`  round ${i + 1}: flint ${fmt(f)} resources/s, raw inserts ${fmt(raw)} rows/s`);
  }
  rmSync(dir, { recursive: true, force: true });
  const f = median(flintRates);
  const raw = median(rawRates);
  console.log(`median flint: ${fmt(f)} resources/s over HTTP`);
  console.log(`median raw:   ${fmt(raw)} rows/s (better-sqlite3, one durable transaction per row)`);
  console.log(`ratio flint/raw: ${fmt(f / raw, 2)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
