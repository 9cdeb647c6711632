// kill -9 of the real server (src/main.ts on a SQLite file) in the middle of concurrent writes:
// after a restart (a Flint opened on the same file) every acknowledged (201) write is there. The log on the way: the ready line is
// written at once, and request lines older than a second survived the kill.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverProcesses } from '../helpers/server-process.js';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';

const dir = mkdtempSync(join(tmpdir(), 'flint-crash-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const server = serverProcesses(t);
const start = () => server({ AUTH: 'off', LOG_LEVEL: 'info', DATABASE_URL: `sqlite:${join(dir, 'flint.db')}`, RATE_LIMIT: '0', CLIENT_CONCURRENCY: '0' });

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
