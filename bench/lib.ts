// Shared helpers for the benchmarks: servers in child processes, autocannon runs, medians.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

export interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
}

export interface CannonOptions {
  url: string;
  connections: number;
  duration?: number;
  amount?: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  requests?: { method?: string; path?: string; body?: string; headers?: Record<string, string>; setupRequest?: (req: Record<string, unknown>) => Record<string, unknown> }[];
}

type Autocannon = (opts: CannonOptions, cb: (err: Error | null, res: CannonResult) => void) => unknown;
const autocannon = require('autocannon') as Autocannon;

export function cannon(opts: CannonOptions): Promise<CannonResult> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] ?? 0 : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

/**
 * Starts `bench/server.ts <kind>` in a child process and waits for its "ready <port>" line on
 * stderr. The server's stdout (its request log) goes straight to `logFile`, as it would to a
 * collector, without passing through this process. `script`: another build's server (comparisons).
 */
export function startServer(kind: string, env: Record<string, string> = {}, logFile = '/dev/null', script = fileURLToPath(new URL('./server.js', import.meta.url))): Promise<{ port: number; child: ChildProcess }> {
  const log = openSync(logFile, 'a');
  // The compiled server next to this file: benchmarks measure what `npm start` runs.
  const child = spawn(process.execPath, [script, kind], {
    env: { ...process.env, ...env }, stdio: ['ignore', log, 'pipe'],
  });
  closeSync(log);
  child.stderr?.pipe(process.stderr);
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stderr?.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /ready (\d+)/.exec(buf);
      if (m) resolve({ port: Number(m[1]), child });
    });
    child.once('exit', (code) => reject(new Error(`server ${kind} exited with ${code}`)));
  });
}

export async function stop(child: ChildProcess): Promise<void> {
  child.removeAllListeners('exit');
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** A string command-line option `--name value`. */
export function argString(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** A numeric command-line option `--name value`. */
export function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** CPU time a process has used so far (user + system), in seconds, from /proc (Linux). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The fields after the command name (which may hold spaces) start at the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the line, in clock ticks (USER_HZ, 100 on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A command-line switch `--name`. */
export function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}
