// bench/transaction: transaction ingest of the Synthea records (fresh urn:uuids for every copy,
// so each one is a new patient), and Patient/$everything latency for a patient with more than
// 1,000 resources.
//   npm run bench:transaction [-- --copies 60 --extra 1200 --runs 20]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../src/config.js';
import { buildApp } from '../src/app.js';
import { arg, fmt, median } from './lib.js';

const DIR = join(process.cwd(), '..', 'shared', 'corpus', 'synthea');
const copies = arg('copies', 60);
const extra = arg('extra', 1200);
const runs = arg('runs', 20);

type Json = Record<string, unknown>;

function files(): { shared: string[]; patients: string[] } {
  const all = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
  const isShared = (f: string): boolean => f.startsWith('hospitalInformation') || f.startsWith('practitionerInformation');
  return { shared: all.filter(isShared), patients: all.filter((f) => !isShared(f)) };
}

/** A copy of a bundle with every urn:uuid replaced by a fresh one (consistently). */
function freshCopy(text: string): string {
  const map = new Map<string, string>();
  return text.replace(/urn:uuid:[0-9a-f-]{36}/g, (u) => {
    let v = map.get(u);
    if (!v) {
      v = `urn:uuid:${randomUUID()}`;
      map.set(u, v);
    }
    return v;
  });
}

async function postBundle(app: FastifyInstance, payload: string): Promise<number> {
  const res = await app.inject({ method: 'POST', url: '/fhir', payload, headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' } });
  if (res.statusCode !== 200) throw new Error(`transaction: ${res.statusCode} ${res.body.slice(0, 300)}`);
  return (JSON.parse(res.body) as { entry: unknown[] }).entry.length;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flint-bench-tx-'));
  const app = await buildApp(loadConfig({ DATABASE_URL: `sqlite:${join(dir, 'flint.db')}`, LOG_LEVEL: 'silent', BASE_URL: 'http://bench/fhir', AUTH: 'off' }));
  const { shared, patients } = files();
  // Shared organizations and practitioners first (PUT with their uuids), as the corpus says.
  const sharedMap = new Map<string, string>();
  for (const f of shared) {
    const b = JSON.parse(readFileSync(join(DIR, f), 'utf8')) as { entry: { fullUrl: string; resource: Json & { resourceType: string; id: string } }[] };
    const entries = b.entry.map((e) => {
      sharedMap.set(e.fullUrl, `${e.resource.resourceType}/${e.resource.id}`);
      return { resource: e.resource, request: { method: 'PUT', url: `${e.resource.resourceType}/${e.resource.id}` } };
    });
    await postBundle(app, JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: entries }));
  }
  const templates = patients.map((f) => {
    const b = JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Json & { entry: { fullUrl: string }[] };
    const own = new Set(b.entry.map((e) => e.fullUrl));
    let text = JSON.stringify({ ...b, type: 'transaction' });
    // References to the shared files are resolved by the loader (corpus README).
    for (const [urn, ref] of sharedMap) if (!own.has(urn)) text = text.split(`"reference":"${urn}"`).join(`"reference":"${ref}"`);
    return text;
  });
  const payloads = Array.from({ length: copies }, (_, i) => freshCopy(templates[i % templates.length] ?? ''));
  console.log(`bench/transaction: ${copies} Synthea records as transactions (${templates.length} templates, fresh ids each)`);
  const rates: number[] = [];
  for (let round = 0; round < 3; round++) {
    const slice = payloads.slice(Math.floor((round * copies) / 3), Math.floor(((round + 1) * copies) / 3));
    const t0 = performance.now();
    let n = 0;
    for (const p of slice) n += await postBundle(app, p);
    const s = (performance.now() - t0) / 1000;
    rates.push(n / s);
    console.log(`  round ${round + 1}: ${fmt(n)} resources in ${fmt(s, 2)} s = ${fmt(n / s)} resources/s (${fmt((s * 1000) / slice.length, 1)} ms per transaction)`);
  }
  console.log(`median: ${fmt(median(rates))} resources/s through POST /fhir transactions (validation, reference rewriting, indexing, one durable commit each)`);

  // A patient with a long record: one Synthea record plus `extra` observations.
  const big = JSON.parse(freshCopy(templates[0] ?? '')) as { entry: { fullUrl: string; resource: Json & { resourceType: string } }[] };
  const patientUrn = big.entry.find((e) => e.resource.resourceType === 'Patient')?.fullUrl ?? '';
  for (let i = 0; i < extra; i++) {
    big.entry.push({
      fullUrl: `urn:uuid:${randomUUID()}`,
      resource: {
        resourceType: 'Observation', status: 'final', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] }, subject: { reference: patientUrn },
        effectiveDateTime: new Date(Date.UTC(2020, 0, 1) + i * 3_600_000).toISOString(), valueQuantity: { value: 60 + (i % 40), unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      },
      request: { method: 'POST', url: 'Observation' },
    } as never);
  }
  const res = await app.inject({ method: 'POST', url: '/fhir', payload: JSON.stringify(big), headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' } });
  const locations = (JSON.parse(res.body) as { entry: { response: { location: string } }[] }).entry.map((e) => e.response.location);
  const patient = locations.find((l) => l.startsWith('Patient/'))?.split('/')[1] ?? '';
  const whole: number[] = [];
  const first: number[] = [];
  let count = 0;
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now();
    let url: string | undefined = `/fhir/Patient/${patient}/$everything?_count=1000`;
    let pages = 0;
    let n = 0;
    while (url) {
      const r = await app.inject(url);
      const b = JSON.parse(r.body) as { entry?: unknown[]; link: { relation: string; url: string }[] };
      n += b.entry?.length ?? 0;
      if (pages === 0 && i >= 3) first.push(performance.now() - t0);
      pages++;
      url = b.link.find((l) => l.relation === 'next')?.url.replace('http://bench', '');
    }
    if (i >= 3) whole.push(performance.now() - t0);
    count = n;
  }
  console.log(`Patient/$everything for a patient with ${fmt(count)} resources (record + referenced): first page (1,000) p50 ${fmt(median(first), 1)} ms, whole record p50 ${fmt(median(whole), 1)} ms over ${runs} runs`);
  await app.close();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
