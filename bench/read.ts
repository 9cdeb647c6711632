// bench/read: GET /fhir/Patient/:id under concurrency, Flint against a bare Fastify route that
// answers the same bytes, and Flint again with SMART tokens on (each request carries a bearer
// token that is looked up and turned into an access policy). Alternating runs in one process;
// medians and the ratios are printed.
//   npm run bench:read [-- --rounds 3 --duration 8 --connections 32]
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, cannon, fmt, median, startServer, stop } from './lib.js';

const rounds = arg('rounds', 3);
const duration = arg('duration', 8);
const connections = arg('connections', 32);
const patients = arg('patients', 1000);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flint-bench-read-'));
  // One client at full speed: the per-client limits would measure themselves, not the read path.
  const unlimited = { RATE_LIMIT: '0', CLIENT_CONCURRENCY: '0' };
  const flint = await startServer('flint', { BENCH_DIR: dir, READ_PATIENTS: String(patients), ...unlimited }, join(dir, 'flint.log'));
  const bare = await startServer('bare', { BENCH_DIR: dir });
  const smartDir = mkdtempSync(join(tmpdir(), 'flint-bench-read-smart-'));
  const smart = await startServer('flint', { BENCH_DIR: smartDir, READ_PATIENTS: String(patients), AUTH: 'smart', ...unlimited }, join(smartDir, 'flint.log'));
  const { ids } = JSON.parse(readFileSync(join(dir, 'patients.json'), 'utf8')) as { ids: string[] };
  const smartIds = (JSON.parse(readFileSync(join(smartDir, 'patients.json'), 'utf8')) as { ids: string[] }).ids;
  const token = readFileSync(join(smartDir, 'token.txt'), 'utf8');
  const requests = ids.slice(0, 200).map((id) => ({ method: 'GET', path: `/fhir/Patient/${id}` }));
  const smartRequests = smartIds.slice(0, 200).map((id) => ({ method: 'GET', path: `/fhir/Patient/${id}`, headers: { authorization: `Bearer ${token}` } }));
  type Name = 'flint' | 'bare' | 'smart';
  const results: Record<Name, { rps: number; p99: number; p50: number }[]> = { flint: [], bare: [], smart: [] };
  const run = async (name: Name, port: number) => {
    const r = await cannon({ url: `http://127.0.0.1:${port}`, connections, duration, requests: name === 'smart' ? smartRequests : requests });
    if (r.non2xx || r.errors) throw new Error(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    results[name].push({ rps: r.requests.average, p99: r.latency.p99, p50: r.latency.p50 });
    console.log(`  ${name.padEnd(5)} ${fmt(r.requests.average)} req/s  p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms`);
  };
  console.log(`bench/read: ${patients} patients, ${connections} connections, ${duration}s × ${rounds} rounds each, alternating`);
  await cannon({ url: `http://127.0.0.1:${flint.port}`, connections, duration: 2, requests }); // warm-up
  await cannon({ url: `http://127.0.0.1:${bare.port}`, connections, duration: 2, requests });
  await cannon({ url: `http://127.0.0.1:${smart.port}`, connections, duration: 2, requests: smartRequests });
  for (let i = 0; i < rounds; i++) {
    await run('flint', flint.port);
    await run('bare', bare.port);
    await run('smart', smart.port);
  }
  await stop(flint.child);
  await stop(bare.child);
  await stop(smart.child);
  rmSync(smartDir, { recursive: true, force: true });
  const logLines = readFileSync(join(dir, 'flint.log'), 'utf8').split('\n').length;
  rmSync(dir, { recursive: true, force: true });
  console.log(`flint wrote ${fmt(logLines)} log lines (LOG_LEVEL=${process.env.LOG_LEVEL ?? 'info'})`);
  const f = { rps: median(results.flint.map((r) => r.rps)), p99: median(results.flint.map((r) => r.p99)) };
  const b = { rps: median(results.bare.map((r) => r.rps)), p99: median(results.bare.map((r) => r.p99)) };
  console.log(`median flint: ${fmt(f.rps)} req/s, p99 ${f.p99} ms`);
  const sm = { rps: median(results.smart.map((r) => r.rps)), p99: median(results.smart.map((r) => r.p99)) };
  console.log(`median bare:  ${fmt(b.rps)} req/s, p99 ${b.p99} ms`);
  console.log(`median flint with SMART tokens: ${fmt(sm.rps)} req/s, p99 ${sm.p99} ms`);
  console.log(`ratio flint/bare: ${fmt(f.rps / b.rps, 2)} (target ≥ 0.50); with tokens: ${fmt(sm.rps / b.rps, 2)}; tokens cost ${fmt((1 - sm.rps / f.rps) * 100, 1)}% of throughput`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
