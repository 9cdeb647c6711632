// bench/neighbour: how much one busy client slows another. A quiet client (one request at a
// time, from 127.0.0.2) reads patients alone, then while a busy client (many connections, from
// 127.0.0.3) hammers the same server; its p99 in both cases and the ratio are printed, with the
// per-client limits on (the defaults), tight, and off (RATE_LIMIT=0, CLIENT_CONCURRENCY=0). Then
// the busy client runs heavy sorted searches instead (a few connections, on --patients patients),
// with the searches on the main thread (SQLITE_READERS=0) and on reader threads (the default):
// the quiet client's p50 and p99 beside it, and the searches served. The busy client runs in its
// own process, so that its loops do not delay the quiet client's.
//   npm run bench:neighbour [-- --rounds 3 --duration 5 --busy 128 --searchers 4 --patients 2000 --only searches]
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
const searchers = arg('searchers', 4);
const searchPatients = arg('patients', 2000);
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;

/** What the busy client asks: patient reads, or heavy sorted searches (a page of 200 of every patient, counted). */
type BusyKind = 'reads' | 'searches';
const HEAVY = ['/fhir/Patient?_sort=-birthdate,name&_count=200&_total=accurate', '/fhir/Patient?_sort=name,birthdate&_count=200&_total=accurate&gender=female'];

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

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? 0;
}
const p99 = (xs: number[]): number => pct(xs, 0.99);

async function measure(label: string, env: Record<string, string>, kind: BusyKind = 'reads', patients = 200): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flint-bench-neighbour-'));
  const server = await startServer('flint', { BENCH_DIR: dir, READ_PATIENTS: String(patients), LOG_LEVEL: 'warn', ...env });
  const { ids } = JSON.parse(readFileSync(join(dir, 'patients.json'), 'utf8')) as { ids: string[] };
  const paths = ids.map((id) => `/fhir/Patient/${id}`);
  const alone: number[] = [];
  const crowded: number[] = [];
  const alone50: number[] = [];
  const crowded50: number[] = [];
  const served: number[] = [];
  let busyServed = 0;
  let busyRefused = 0;
  for (let r = 0; r < rounds; r++) {
    const a = await client(server.port, '127.0.0.2', 1, paths, Date.now() + duration * 1000);
    alone.push(p99(a.latencies));
    alone50.push(pct(a.latencies, 0.5));
    const until = Date.now() + duration * 1000;
    const [quiet, busy] = await Promise.all([client(server.port, '127.0.0.2', 1, paths, until), busyProcess(server.port, dir, until, kind)]);
    crowded.push(p99(quiet.latencies));
    crowded50.push(pct(quiet.latencies, 0.5));
    served.push(busy.served / duration);
    busyServed += busy.served;
    busyRefused += busy.refused;
    console.log(`  ${label} round ${r + 1}: quiet p50/p99 alone ${fmt(pct(a.latencies, 0.5), 2)}/${fmt(p99(a.latencies), 2)} ms, next to the busy client ${fmt(pct(quiet.latencies, 0.5), 2)}/${fmt(p99(quiet.latencies), 2)} ms (busy ${kind}: ${fmt(busy.served)} served, ${fmt(busy.refused)} refused 429)`);
  }
  await stop(server.child);
  rmSync(dir, { recursive: true, force: true });
  const ratio = median(crowded) / median(alone);
  console.log(`${label}: median quiet p99 alone ${fmt(median(alone), 2)} ms, with a busy neighbour ${fmt(median(crowded), 2)} ms, ratio ${fmt(ratio, 2)} (target ≤ 2); p50 ${fmt(median(alone50), 2)} → ${fmt(median(crowded50), 2)} ms, ratio ${fmt(median(crowded50) / median(alone50), 2)}; busy client ${fmt(busyServed)} served (median ${fmt(median(served), 1)}/s), ${fmt(busyRefused)} refused`);
}

/** The busy client, in a child process (this file with `busy <port> <dir> <until>`). */
function busyProcess(port: number, dir: string, until: number, kind: BusyKind): Promise<{ served: number; refused: number }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [fileURLToPath(import.meta.url), 'busy', String(port), dir, String(until), kind, '--busy', String(busyConnections), '--searchers', String(searchers)], (err, stdout) => {
      if (err) reject(err);
      else resolve(JSON.parse(stdout) as { served: number; refused: number });
    });
  });
}

async function busyChild(): Promise<void> {
  const [port, dir, until, kind] = process.argv.slice(3, 7);
  const { ids } = JSON.parse(readFileSync(join(dir ?? '', 'patients.json'), 'utf8')) as { ids: string[] };
  const r = kind === 'searches'
    ? await client(Number(port), '127.0.0.3', searchers, HEAVY, Number(until))
    : await client(Number(port), '127.0.0.3', busyConnections, ids.map((id) => `/fhir/Patient/${id}`), Number(until));
  process.stdout.write(JSON.stringify({ served: r.latencies.length - r.refused, refused: r.refused }));
}

async function main(): Promise<void> {
  if (process.argv[2] === 'busy') return busyChild();
  console.log(`bench/neighbour: ${busyConnections} busy connections (reads) or ${searchers} (searches on ${searchPatients} patients), ${duration}s × ${rounds} rounds`);
  if (only !== 'searches') {
    await measure('limits on (defaults)', {});
    await measure('limits tight (RATE_LIMIT=1200, CLIENT_CONCURRENCY=8)', { RATE_LIMIT: '1200', CLIENT_CONCURRENCY: '8' });
    await measure('limits off', { RATE_LIMIT: '0', CLIENT_CONCURRENCY: '0' });
  }
  if (only !== 'reads') {
    await measure('heavy searches, on the main thread (SQLITE_READERS=0)', { SQLITE_READERS: '0', RATE_LIMIT: '0' }, 'searches', searchPatients);
    await measure('heavy searches, on reader threads (SQLITE_READERS default)', { RATE_LIMIT: '0' }, 'searches', searchPatients);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
