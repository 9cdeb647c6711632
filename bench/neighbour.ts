// bench/neighbour: how much one busy client slows another. A quiet client (one request at a
// time, from 127.0.0.2) reads patients alone, then while a busy client (many connections, from
// 127.0.0.3) hammers the same server; its p99 in both cases and the ratio are printed, with the
// per-client limits on (the defaults), tight, and off (RATE_LIMIT=0, CLIENT_CONCURRENCY=0). Then
// the busy client runs heavy sorted searches instead (a few connections, on --patients patients),
// with the searches on the main thread (SQLITE_READERS=0) and on reader threads (the default):
// the quiet client's p50 and p99 beside it, and the searches served. The busy client runs in its
// own process, so that its loops do not delay the quiet client's.
//   npm run bench:neighbour [-- --rounds 3 --duration 5 --busy 128 --searchers 4 --patients 2000 --only searches|reads|defaults,off,main-thread,readers,tight] [--base <another build's dist>] [--busy-nice 10]
import { Agent, request } from 'node:http';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, fmt, median, startServer, stop } from './lib.js';

const rounds = arg('rounds', 3);
const duration = arg('duration', 5);
const busyConnections = arg('busy', 128);
const searchers = arg('searchers', 4);
const searchPatients = arg('patients', 2000);
const busyNice = arg('busy-nice', 0);
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

/** The builds compared: this one, and with `--base <dist>` another build's (its dist/ directory). */
const baseArg = process.argv.includes('--base') ? process.argv[process.argv.indexOf('--base') + 1] : undefined;
const builds: { name: string; script?: string }[] = [
  ...(baseArg ? [{ name: 'base', script: join(baseArg, 'bench', 'server.js') }] : []),
  { name: baseArg ? 'this' : '' },
];

interface Tally { alone: number[]; crowded: number[]; alone50: number[]; crowded50: number[]; ratios: number[]; served: number[]; refused: number }

/**
 * One scenario on every build: each round measures the quiet client alone, then beside the
 * busy client, on each build in turn (so that the machine's load varies alike for all of them).
 */
async function measure(label: string, env: Record<string, string>, kind: BusyKind = 'reads', patients = 200): Promise<void> {
  const servers = [];
  for (const build of builds) {
    const dir = mkdtempSync(join(tmpdir(), 'flint-bench-neighbour-'));
    const server = await startServer('flint', { BENCH_DIR: dir, READ_PATIENTS: String(patients), LOG_LEVEL: 'warn', ...env }, '/dev/null', ...(build.script ? [build.script] : []));
    const { ids } = JSON.parse(readFileSync(join(dir, 'patients.json'), 'utf8')) as { ids: string[] };
    const tally: Tally = { alone: [], crowded: [], alone50: [], crowded50: [], ratios: [], served: [], refused: 0 };
    servers.push({ build, dir, server, paths: ids.map((id) => `/fhir/Patient/${id}`), tally });
  }
  for (let r = 0; r < rounds; r++) {
    for (const { build, dir, server, paths, tally } of servers) {
      const a = await client(server.port, '127.0.0.2', 1, paths, Date.now() + duration * 1000);
      const run = await startBusy(server.port, dir, kind);
      const until = Date.now() + duration * 1000;
      const [quiet, busy] = await Promise.all([client(server.port, '127.0.0.2', 1, paths, until), run(until)]);
      tally.alone.push(p99(a.latencies));
      tally.alone50.push(pct(a.latencies, 0.5));
      tally.crowded.push(p99(quiet.latencies));
      tally.crowded50.push(pct(quiet.latencies, 0.5));
      tally.ratios.push(p99(quiet.latencies) / p99(a.latencies));
      tally.served.push(busy.served / duration);
      tally.refused += busy.refused;
      console.log(`  ${label}${build.name ? ` [${build.name}]` : ''} round ${r + 1}: quiet p50/p99 alone ${fmt(pct(a.latencies, 0.5), 2)}/${fmt(p99(a.latencies), 2)} ms, next to the busy client ${fmt(pct(quiet.latencies, 0.5), 2)}/${fmt(p99(quiet.latencies), 2)} ms (busy ${kind}: ${fmt(busy.served)} served, ${fmt(busy.refused)} refused 429)`);
    }
  }
  for (const { build, dir, server, tally } of servers) {
    await stop(server.child);
    rmSync(dir, { recursive: true, force: true });
    const t = tally;
    console.log(`${label}${build.name ? ` [${build.name}]` : ''}: median quiet p99 alone ${fmt(median(t.alone), 2)} ms, with a busy neighbour ${fmt(median(t.crowded), 2)} ms, ratio ${fmt(median(t.crowded) / median(t.alone), 2)} (median of the rounds' ratios ${fmt(median(t.ratios), 2)}; target ≤ 2); p50 ${fmt(median(t.alone50), 2)} → ${fmt(median(t.crowded50), 2)} ms, ratio ${fmt(median(t.crowded50) / median(t.alone50), 2)}; busy client median ${fmt(median(t.served), 1)}/s served, ${fmt(t.refused)} refused`);
  }
}

/**
 * The busy client, in a child process (this file with `busy <port> <dir> <kind>`), started
 * before the window opens: under load a Node process takes seconds to start, and a busy client
 * that starts late leaves the quiet one alone. It says "ready" on stdout, then reads the end of
 * the window (a timestamp) on stdin, and writes its counts as JSON.
 */
async function startBusy(port: number, dir: string, kind: BusyKind): Promise<(until: number) => Promise<{ served: number; refused: number }>> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'busy', String(port), dir, kind, '--busy', String(busyConnections), '--searchers', String(searchers), '--busy-nice', String(busyNice)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`busy client exited with ${code}`)));
    child.stdout.on('data', (d: string) => {
      out += d;
      if (out.startsWith('ready\n')) resolve();
    });
  });
  child.removeAllListeners('exit');
  return (until) => new Promise((resolve, reject) => {
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.slice('ready\n'.length)) as { served: number; refused: number }) : reject(new Error(`busy client exited with ${code}`))));
    child.stdin.end(`${until}\n`);
  });
}

async function busyChild(): Promise<void> {
  const [port, dir, kind] = process.argv.slice(3, 6);
  // --busy-nice n: the busy client's process yields the CPU (on a shared machine the load
  // generator takes its cores from the server it measures; a real busy client runs elsewhere).
  if (busyNice > 0) setPriority(0, busyNice);
  const { ids } = JSON.parse(readFileSync(join(dir ?? '', 'patients.json'), 'utf8')) as { ids: string[] };
  process.stdout.write('ready\n');
  let line = '';
  for await (const chunk of process.stdin) line += String(chunk);
  const until = Number(line.trim());
  const r = kind === 'searches'
    ? await client(Number(port), '127.0.0.3', searchers, HEAVY, until)
    : await client(Number(port), '127.0.0.3', busyConnections, ids.map((id) => `/fhir/Patient/${id}`), until);
  process.stdout.write(JSON.stringify({ served: r.latencies.length - r.refused, refused: r.refused }));
}

async function main(): Promise<void> {
  if (process.argv[2] === 'busy') return busyChild();
  console.log(`bench/neighbour: ${busyConnections} busy connections (reads) or ${searchers} (searches on ${searchPatients} patients), ${duration}s × ${rounds} rounds`);
  const scenarios: [string, () => Promise<void>][] = [
    ['defaults', () => measure('limits on (defaults)', {})],
    ['tight', () => measure('limits tight (RATE_LIMIT=1200, CLIENT_CONCURRENCY=8)', { RATE_LIMIT: '1200', CLIENT_CONCURRENCY: '8' })],
    ['off', () => measure('limits off', { RATE_LIMIT: '0', CLIENT_CONCURRENCY: '0' })],
    ['main-thread', () => measure('heavy searches, on the main thread (SQLITE_READERS=0)', { SQLITE_READERS: '0', RATE_LIMIT: '0' }, 'searches', searchPatients)],
    ['readers', () => measure('heavy searches, on reader threads (SQLITE_READERS default)', { RATE_LIMIT: '0' }, 'searches', searchPatients)],
  ];
  // --only reads | searches | a comma-separated list of the names above.
  const wanted = only === 'reads' ? ['defaults', 'tight', 'off'] : only === 'searches' ? ['main-thread', 'readers'] : only?.split(',');
  for (const [name, run] of scenarios) if (!wanted || wanted.includes(name)) await run();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
