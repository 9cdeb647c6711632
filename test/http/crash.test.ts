// kill -9 of the real server (src/main.ts on a SQLite file) in the middle of concurrent writes:
// after a restart (a Flint opened on the same file) every acknowledged (201) write is there. The log on the way: the ready line is
// written at once, and request lines older than a second survived the kill.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';

const dir = mkdtempSync(join(tmpdir(), 'flint-crash-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

interface Running {
  child: ChildProcess;
  base: string;
  stdout: () => string;
}

/** Every server started, killed when the test ends however it ends. */
const servers = new Set<ChildProcess>();
t.teardown(() => { for (const c of servers) c.kill('SIGKILL'); });

/** Starts `src/main.ts` and resolves when its ready line (JSON, stdout) names the address. */
function start(): Promise<Running> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', AUTH: 'off', LOG_LEVEL: 'info', DATABASE_URL: `sqlite:${join(dir, 'flint.db')}`, RATE_LIMIT: '0', CLIENT_CONCURRENCY: '0' },
    // stderr through this process, not inherited: a server left behind by a killed test run must
    // not hold tap's pipe open (tap then waits for it for ever).
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  servers.add(child);
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no ready line within 90 s; stdout: ${out.slice(0, 500)}`));
    }, 90_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"listening":"(http:\/\/[^"]+)"[^\n]*"msg":"Flint is ready"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, base: `${m[1]}/fhir`, stdout: () => out });
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out.slice(0, 500)}`)));
  });
}

t.test('kill -9 mid-stream loses no acknowledged write, nor request lines older than a second', async (t) => {
  const first = await start();
  t.pass('the ready line (address, database) reached stdout at once');
  const acked: string[] = [];
  let firstAck: { at: number; reqId: string } | undefined;
  let stopped = false;
  const writer = async (w: number): Promise<void> => {
    for (let i = 0; !stopped; i++) {
      try {
        const res = await fetch(`${first.base}/Patient`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Patient', name: [{ family: `W${w}`, given: [String(i)] }] }) });
        if (res.status === 201) {
          acked.push((res.headers.get('location') ?? '').replace(/\/_history\/.*$/, ''));
          firstAck ??= { at: Date.now(), reqId: res.headers.get('x-request-id') ?? '' };
        }
        await res.arrayBuffer();
      } catch {
        return; // the server is gone
      }
    }
  };
  const writers = Array.from({ length: 8 }, (_, w) => writer(w));
  while (!firstAck || Date.now() - firstAck.at < 1500) await new Promise((r) => setTimeout(r, 50));
  const exited = new Promise((r) => first.child.once('exit', r));
  first.child.kill('SIGKILL');
  await exited;
  stopped = true;
  await Promise.all(writers);
  t.ok(acked.length > 0, `${acked.length} writes acknowledged before the kill`);
  t.match(first.stdout(), `"reqId":"${firstAck.reqId}"`, 'the request line of a write acknowledged 1.5 s before the kill is in the log');

  // The restart: a Flint on the same file, in this process (one server boot fewer than a second
  // child; what it opens, recovers and answers is the same).
  const second = await buildApp(loadConfig({ DATABASE_URL: `sqlite:${join(dir, 'flint.db')}`, LOG_LEVEL: 'silent', BASE_URL: 'http://flint.test/fhir', AUTH: 'off', RATE_LIMIT: '0' }));
  t.teardown(() => second.close());
  let missing = 0;
  for (const location of acked) {
    const res = await second.inject(location.replace(/^http:\/\/[^/]+/, ''));
    if (res.statusCode !== 200) missing++;
  }
  t.equal(missing, 0, 'every acknowledged write is there after the restart');
});
