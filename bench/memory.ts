// bench/memory: the server's memory (RSS of its process, from /proc) after start, after loading
// N resources over HTTP, after reading them all (read cache full) and some searches, and after a
// few large request bodies, each also as a ratio of the after-start figure.
//   npm run bench:memory [-- --resources 20000 --big 16]
import { readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { arg, fmt, startServer, stop } from './lib.js';
import { sampleResource } from './data.js';

const resources = arg('resources', 20_000);
const bigMiB = arg('big', 16);
const bigCount = arg('bigcount', 3);

/**
 * Resident set of a process in MiB (Linux /proc), and its two parts: anonymous memory (the V8
 * heap, SQLite's page caches, malloc) and file pages (the memory-mapped database file and the
 * code; the kernel can drop those when it needs the room).
 */
function rssMiB(pid: number): { rss: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const m = new RegExp(`${name}:\\s+(\\d+) kB`).exec(status);
    return m ? Number(m[1]) / 1024 : NaN;
  };
  return { rss: field('VmRSS'), anon: field('RssAnon'), file: field('RssFile') };
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function post(base: string, path: string, body: string): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' }, body });
}

async function main(): Promise<void> {
  const { port, child } = await startServer('flint', { READ_PATIENTS: '0', LOG_LEVEL: 'warn', SQLITE_SYNCHRONOUS: 'normal' });
  const pid = (child as ChildProcess).pid ?? 0;
  const base = `http://127.0.0.1:${port}/fhir`;
  const rows: [string, { rss: number; anon: number; file: number }][] = [];
  const note = async (label: string): Promise<void> => {
    await pause(1000);
    rows.push([label, rssMiB(pid)]);
  };
  await note('after start');
  // One request of each common kind: what the first requests compile (validators, plans) counts too.
  await post(base, '/Patient', JSON.stringify(sampleResource(0)));
  await fetch(`${base}/Patient?name=Family1`);
  await note('after the first requests');

  const ids: string[] = [];
  for (let i = 0; i < resources; i += 500) {
    const entry = Array.from({ length: Math.min(500, resources - i) }, (_, k) => {
      const r = sampleResource(i + k);
      return { resource: r, request: { method: 'POST', url: String(r.resourceType) } };
    });
    const res = await post(base, '', JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry }));
    if (res.status !== 200) throw new Error(`load: ${res.status} ${(await res.text()).slice(0, 200)}`);
    for (const e of (await res.json() as { entry: { response: { location: string } }[] }).entry) ids.push(e.response.location.split('/_history')[0] ?? '');
  }
  await note(`after loading ${fmt(resources)} resources`);
  for (const id of ids) await (await fetch(`${base}/${id}`)).arrayBuffer();
  for (let i = 0; i < 50; i++) await (await fetch(`${base}/Observation?code=http://loinc.org|2339-0&_count=100&_sort=-date`)).arrayBuffer();
  await note('after reading each once and 50 searches');

  // Large bodies: a transaction of Patients, ~bigMiB each (accepted), then refused (unknown type).
  // Patients with a 2 KB narrative, so that the entry count stays under BUNDLE_MAX_ENTRIES.
  const narrative = { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${'Lorem ipsum dolor sit amet. '.repeat(72)}</div>` };
  const per = JSON.stringify({ ...sampleResource(0), text: narrative }).length + 60;
  const n = Math.floor((bigMiB * 1024 * 1024) / per);
  const big = JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: Array.from({ length: n }, (_, k) => ({ resource: { ...sampleResource(2 * k), text: narrative }, request: { method: 'POST', url: 'Patient' } })) });
  for (let i = 0; i < bigCount; i++) {
    const res = await post(base, '', big);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`big body: ${res.status}`);
  }
  await note(`right after ${bigCount} bodies of ${bigMiB} MiB`);
  await pause(10_000);
  await note('10 s later');
  await stop(child as ChildProcess);

  const start = rows[0]?.[1].rss ?? 1;
  console.log(`Flint RSS (MiB, /proc/<pid>/status), SQLite synchronous=normal; ratio to after start; anonymous + file pages`);
  for (const [label, m] of rows) console.log(`  ${label.padEnd(44)} ${fmt(m.rss).padStart(6)} MiB  ${fmt(m.rss / start, 2)}×  (${fmt(m.anon)} + ${fmt(m.file)})`);
  console.log('  targets: ≤ 200 MiB after start, ≤ 350 MiB under load with 100k resources');
}

void main();
