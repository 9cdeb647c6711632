// bench/neighbour: how much one busy client slows another. A quiet client (one request at a
// time, from 127.0.0.2) reads patients alone, then while a busy client (many connections, from
// 127.0.0.3) hammers the same server; its p99 in both cases and the ratio are printed, with the
// per-client limits on (the defaults), tight, and off (RATE_LIMIT=0, CLIENT_CONCURRENCY=0). The
// busy client runs in its own process, so that its loops do not delay the quiet client's.
//   npm run bench:neighbour [-- --rounds 3 --duration 5 --busy 128]
import { Agent, request } from 'node:http';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, fmt, median, startServer, stop } from './lib.js';

const rounds = arg('rounds', 3);
const duration = arg('duration', 5);
const busyConnections = arg('busy', 128);

function get(agent: Agent, port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Runs `connections` request loops from `localAddress` until `until`; returns latencies (ms) and status counts. */
async function client(port: number, localAddress: string, connections: number, paths: string[], until: number): Promise<{ latencies: number[]; refused: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections, localAddress });
  const latencies: number[] = [];
  let refused = 0;
  let i = 0;
  const loop = async (): Promise<void> => {
    while (Date.now() < until) {
      const t0 = performance.now();
      const status = await get(agent, port, paths[i++ % paths.length] ?? '/fhir/metadata');
      latencies.push(performance.now() - t0);
      if (status === 429) refused++;
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  agent.destroy();
  return { latencies, refused };
}

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] ?? 0;
}

async function measure(label: string, env: Record<string, string>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flint-bench-neighbour-'));
  const server = await startServer('flint', { BENCH_DIR: dir, READ_PATIENTS: '200', LOG_LEVEL: 'warn', ...env });
  const { ids } = JSON.parse(readFileSync(join(dir, 'patients.json'), 'utf8')) as { ids: string[] };
  const paths = ids.map((id) => `/fhir/Patient/${id}`);
  const alone: number[] = [];
  const crowded: number[] = [];
  let busyServed = 0;
  let busyRefused = 0;
  for (let r = 0; r < rounds; r++) {
    const a = await client(server.port, '127.0.0.2', 1, paths, Date.now() + duration * 1000);
    alone.push(p99(a.latencies));
    const until = Date.now() + duration * 1000;
    const [quiet, busy] = await Promise.all([client(server.port, '127.0.0.2', 1, paths, until), busyProcess(server.port, dir, until)]);
    crowded.push(p99(quiet.latencies));
    busyServed += busy.served;
    busyRefused += busy.refused;
    console.log(`  ${label} round ${r + 1}: quiet p99 alone ${fmt(a.latencies.length ? p99(a.latencies) : 0, 2)} ms, next to the busy client ${fmt(p99(quiet.latencies), 2)} ms (busy: ${fmt(busy.served)} served, ${fmt(busy.refused)} refused 429)`);
  }
  await stop(server.child);
  rmSync(dir, { recursive: true, force: true });
  const ratio = median(crowded) / median(alone);
  console.log(`${label}: median quiet p99 alone ${fmt(median(alone), 2)} ms, with a busy neighbour ${fmt(median(crowded), 2)} ms, ratio ${fmt(ratio, 2)} (target ≤ 2); busy client ${fmt(busyServed)} served, ${fmt(busyRefused)} refused`);
}

/** The busy client, in a child process (this file with `busy <port> <dir> <until>`). */
function busyProcess(port: number, dir: string, until: number): Promise<{ served: number; refused: number }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [fileURLToPath(import.meta.url), 'busy', String(port), dir, String(until), '--busy', String(busyConnections)], (err, stdout) => {
      if (err) reject(err);
      else resolve(JSON.parse(stdout) as { served: number; refused: number });
    });
  });
}

async function busyChild(): Promise<void> {
  const [port, dir, until] = process.argv.slice(3, 6);
  const { ids } = JSON.parse(readFileSync(join(dir ?? '', 'patients.json'), 'utf8')) as { ids: string[] };
  const r = await client(Number(port), '127.0.0.3', busyConnections, ids.map((id) => `/fhir/Patient/${id}`), Number(until));
  process.stdout.write(JSON.stringify({ served: r.latencies.length - r.refused, refused: r.refused }));
}

async function main(): Promise<void> {
  if (process.argv[2] === 'busy') return busyChild();
  console.log(`bench/neighbour: ${busyConnections} busy connections, ${duration}s × ${rounds} rounds`);
  await measure('limits on (defaults)', {});
  await measure('limits tight (RATE_LIMIT=1200, CLIENT_CONCURRENCY=8)', { RATE_LIMIT: '1200', CLIENT_CONCURRENCY: '8' });
  await measure('limits off', { RATE_LIMIT: '0', CLIENT_CONCURRENCY: '0' });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
