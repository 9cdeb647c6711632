// bench/read: GET /fhir/Patient/:id under concurrency, Flint against a bare Fastify route that
// answers the same bytes, and Flint again with SMART tokens on (each request carries a bearer
// token that is looked up and turned into an access policy). Alternating runs in one process;
// medians and the ratios are printed. Beside requests per second, each run also reports the
// server's CPU time per request (utime + stime of its process, from /proc): on a shared machine
// the throughput ratio follows whatever else runs, the CPU cost of a request much less so.
// `--before <dist>` adds a fourth server, another build's `<dist>/bench/server.js` with SMART
// tokens, so that a change is measured before and after in one run.
//   npm run bench:read [-- --rounds 3 --duration 8 --connections 32 --before /path/to/old/dist]
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { arg, argString, cannon, cpuSeconds, fmt, median, startServer, stop } from './lib.js';

const rounds = arg('rounds', 3);
const duration = arg('duration', 8);
const connections = arg('connections', 32);
const patients = arg('patients', 1000);
const before = argString('before');

type Name = 'flint' | 'bare' | 'smart' | 'before';

interface Server {
  name: Name;
  port: number;
  child: ChildProcess;
  requests: { method: string; path: string; headers?: Record<string, string> }[];
  runs: { rps: number; p99: number; p50: number; cpuUs: number }[];
}

/** A Flint server seeded with `patients` patients in its own folder, with the requests that read them. */
async function flintServer(name: Name, env: Record<string, string>, script?: string): Promise<Server & { dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), `flint-bench-read-${name}-`));
  // One client at full speed: the per-client limits would measure themselves, not the read path.
  const unlimited = { RATE_LIMIT: '0', CLIENT_CONCURRENCY: '0' };
  const { port, child } = await startServer('flint', { BENCH_DIR: dir, READ_PATIENTS: String(patients), ...unlimited, ...env }, join(dir, 'flint.log'), script);
  const { ids } = JSON.parse(readFileSync(join(dir, 'patients.json'), 'utf8')) as { ids: string[] };
  const headers = env.AUTH === 'smart' ? { authorization: `Bearer ${readFileSync(join(dir, 'token.txt'), 'utf8')}` } : undefined;
  const requests = ids.slice(0, 200).map((id) => ({ method: 'GET', path: `/fhir/Patient/${id}`, ...(headers ? { headers } : {}) }));
  return { name, port, child, requests, runs: [], dir };
}

async function main(): Promise<void> {
  const flint = await flintServer('flint', {});
  const bareServer = await startServer('bare', { BENCH_DIR: flint.dir });
  const bare: Server = { name: 'bare', ...bareServer, requests: flint.requests, runs: [] };
  const smart = await flintServer('smart', { AUTH: 'smart' });
  const old = before ? await flintServer('before', { AUTH: 'smart' }, join(before, 'bench', 'server.js')) : undefined;
  const servers: Server[] = [flint, bare, smart, ...(old ? [old] : [])];

  const run = async (s: Server): Promise<void> => {
    const pid = s.child.pid ?? 0;
    const cpu0 = cpuSeconds(pid);
    const r = await cannon({ url: `http://127.0.0.1:${s.port}`, connections, duration, requests: s.requests });
    const cpuUs = ((cpuSeconds(pid) - cpu0) * 1e6) / Math.max(1, r.requests.total);
    if (r.non2xx || r.errors) throw new Error(`${s.name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    s.runs.push({ rps: r.requests.average, p99: r.latency.p99, p50: r.latency.p50, cpuUs });
    console.log(`  ${s.name.padEnd(6)} ${fmt(r.requests.average).padStart(7)} req/s  p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  server CPU ${fmt(cpuUs, 1)} µs/req`);
  };
  console.log(`bench/read: ${patients} patients, ${connections} connections, ${duration}s × ${rounds} rounds each, alternating`);
  for (const s of servers) await cannon({ url: `http://127.0.0.1:${s.port}`, connections, duration: 2, requests: s.requests }); // warm-up
  for (let i = 0; i < rounds; i++) for (const s of servers) await run(s);
  for (const s of servers) await stop(s.child);
  const logLines = readFileSync(join(flint.dir, 'flint.log'), 'utf8').split('\n').length;
  for (const s of [flint, smart, ...(old ? [old] : [])]) rmSync(s.dir, { recursive: true, force: true });
  console.log(`flint wrote ${fmt(logLines)} log lines (LOG_LEVEL=${process.env.LOG_LEVEL ?? 'info'})`);

  const rps = (s: Server): number => median(s.runs.map((r) => r.rps));
  const p99 = (s: Server): number => median(s.runs.map((r) => r.p99));
  const cpu = (s: Server): number => median(s.runs.map((r) => r.cpuUs));
  const label: Record<Name, string> = { flint: 'flint', bare: 'bare', smart: 'flint with SMART tokens', before: 'before (--before) with SMART tokens' };
  for (const s of servers) console.log(`median ${label[s.name]}: ${fmt(rps(s))} req/s, p99 ${p99(s)} ms, server CPU ${fmt(cpu(s), 1)} µs/req`);
  console.log(`ratio flint/bare: ${fmt(rps(flint) / rps(bare), 2)} (target ≥ 0.50); with tokens: ${fmt(rps(smart) / rps(bare), 2)} (target ≥ 0.45); tokens cost ${fmt((1 - rps(smart) / rps(flint)) * 100, 1)}% of throughput`);
  // The same ratios from CPU time per request: bare's cost over Flint's (1 = as cheap as bare).
  console.log(`CPU ratio bare/flint: ${fmt(cpu(bare) / cpu(flint), 2)}; with tokens: ${fmt(cpu(bare) / cpu(smart), 2)}; tokens cost ${fmt(cpu(smart) - cpu(flint), 1)} µs per request`);
  if (old) console.log(`before → after, with tokens: ratio to bare ${fmt(rps(old) / rps(bare), 2)} → ${fmt(rps(smart) / rps(bare), 2)}; CPU ratio ${fmt(cpu(bare) / cpu(old), 2)} → ${fmt(cpu(bare) / cpu(smart), 2)}`);
  console.log(`load average at the end: ${loadavg().map((l) => fmt(l, 2)).join(' ')} (${cpus().length} cores)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
