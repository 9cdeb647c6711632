// bench/subscriptions: Observation writes/s over HTTP with 0, 100 and 1,000 active R4 rest-hook
// subscriptions (criteria `Observation?subject=Patient/pN`, 100 patients, so each write matches
// about one subscription once there are 100), and the notification latency after commit: from
// the write's 201 to the receiver getting the PUT of that version. Flint and the writing client share
// the same process; the receiver runs in a child process (a real endpoint is another machine: its
// work is not Flint's), timing arrivals on the shared wall clock (performance.timeOrigin + now()).
//   npm run bench:subscriptions -- [--writes 1000 --connections 8]   (or npx tsx bench/subscriptions.ts …)
import http from 'node:http';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../src/config.js';
import { buildApp } from '../src/app.js';
import { arg, fmt } from './lib.js';

const writes = arg('writes', 1000);
const connections = arg('connections', 8);
const PATIENTS = 100;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

async function round(subs: number): Promise<{ perSecond: number; p50: number; p99: number; delivered: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'flint-subs-bench-'));
  const rx = await receiver();
  const hook = `http://127.0.0.1:${rx.port}/hook`;
  const app = await buildApp(loadConfig({
    DATABASE_URL: `sqlite:${join(dir, 'flint.db')}`, LOG_LEVEL: 'silent', BASE_URL: 'http://127.0.0.1/fhir', AUTH: 'off', RATE_LIMIT: '0',
    SUBSCRIPTION_ALLOW_INSECURE: '1', AUTH_DB: join(dir, 'auth.db'),
  }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/fhir`;
  const post = (type: string, body: unknown) => fetch(`${base}/${type}`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' }, body: JSON.stringify(body) });
  for (let i = 0; i < subs; i++) {
    const res = await post('Subscription', { resourceType: 'Subscription', status: 'requested', reason: 'bench', criteria: `Observation?subject=Patient/p${i % PATIENTS}`, channel: { type: 'rest-hook', endpoint: hook, payload: 'application/fhir+json' } });
    if (res.status !== 201) throw new Error(`subscription: ${res.status}`);
  }
  // Steady state: every subscription active (its handshake answered and its status written back).
  const active = async (): Promise<number> => {
    const res = await fetch(`${base}/Subscription?status=active&_summary=count`);
    return ((await res.json()) as { total?: number }).total ?? 0;
  };
  for (let waited = 0; ((await rx.ask()).handshakes < subs || await active() < subs) && waited < 300_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
  const acked = new Map<string, number>();
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: connections }, async () => {
    while (next < writes) {
      const i = next++;
      const res = await post('Observation', { resourceType: 'Observation', status: 'final', code: { text: 'glucose' }, subject: { reference: `Patient/p${i % PATIENTS}` }, valueQuantity: { value: i, unit: 'mg/dL' } });
      if (res.status !== 201) throw new Error(`write: ${res.status}`);
      const id = /Observation\/([^/]+)/.exec(res.headers.get('location') ?? '')?.[1] ?? '';
      acked.set(id, now());
    }
  }));
  const perSecond = writes / ((performance.now() - start) / 1000);
  const expect = subs === 0 ? 0 : [...acked.keys()].length;
  let arrived = new Map<string, number>();
  for (let waited = 0; waited < 60_000; waited += 20) {
    arrived = new Map((await rx.ask()).arrived);
    if (arrived.size >= expect) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const lat = [...acked].filter(([id]) => arrived.has(id)).map(([id, t]) => (arrived.get(id) ?? t) - t);
  await app.close();
  rx.child.kill();
  rmSync(dir, { recursive: true, force: true });
  return { perSecond, p50: pct(lat, 50), p99: pct(lat, 99), delivered: lat.length };
}

/** Wall-clock milliseconds, comparable between processes. */
function now(): number {
  return performance.timeOrigin + performance.now();
}

interface Receiver { port: number; child: ChildProcess; ask: () => Promise<{ handshakes: number; arrived: [string, number][] }> }

/** The test endpoint in a child process: first arrival per Observation id, and the handshakes. */
async function receiver(): Promise<Receiver> {
  const child = fork(fileURLToPath(import.meta.url), ['--receiver'], { execArgv: process.execArgv, stdio: 'inherit' });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`receiver exited with ${code}`)));
  });
  const ask = () => new Promise<{ handshakes: number; arrived: [string, number][] }>((resolve) => {
    child.once('message', (m) => resolve(m as { handshakes: number; arrived: [string, number][] }));
    child.send('ask');
  });
  return { port, child, ask };
}

function serveAsReceiver(): void {
  const arrived = new Map<string, number>();
  let handshakes = 0;
  const rx = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const m = /\/Observation\/([^/]+)$/.exec(req.url ?? '');
      if (m?.[1]) { if (!arrived.has(m[1])) arrived.set(m[1], now()); } else handshakes++;
      res.writeHead(200).end();
    });
  });
  rx.listen(0, '127.0.0.1', () => process.send?.({ port: (rx.address() as AddressInfo).port }));
  process.on('message', () => process.send?.({ handshakes, arrived: [...arrived] }));
  process.on('disconnect', () => process.exit(0));
}

if (process.argv.includes('--receiver')) serveAsReceiver();
else await main();

async function main(): Promise<void> {
  // Each round is printed as it ends (a long run on a busy machine still leaves figures).
  console.log(`writes=${writes} connections=${connections} (Observation POST, SQLite file, synchronous FULL)`);
  let base0: number | undefined;
  for (const n of [0, 100, 1000]) {
    const r = await round(n);
    base0 ??= r.perSecond;
    console.log(`${String(n).padStart(5)} subscriptions: ${fmt(r.perSecond)} writes/s (${fmt((r.perSecond / base0) * 100)}% of 0)` +
      (n ? `, delivered ${r.delivered}/${writes}, latency after commit p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99, 1)} ms` : ''));
  }
}
