// Synthetic clinical data at scale, made by multiplying the Synthea corpus: each generated
// patient is a copy of one Synthea patient's record with fresh ids, another name, another
// birth date and every date shifted, so that searches are as selective as on real data.
//   npx tsx scripts/generate-data.ts --patients 1000 > data.ndjson
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

type Json = Record<string, unknown>;
export type GenResource = Json & { resourceType: string; id: string };

const DIR = join(process.cwd(), '..', 'shared', 'corpus', 'synthea');
const FAMILIES = ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez',
  'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Perez',
  'Thompson', 'White', 'Harris', 'Sanchez', 'Clark', 'Ramirez', 'Lewis', 'Robinson', 'Walker', 'Young', 'Allen', 'King',
  'Wright', 'Scott', 'Torres', 'Nguyen', 'Hill', 'Flores', 'Green', 'Adams', 'Nelson', 'Baker', 'Hall', 'Rivera', 'Campbell',
  'Mitchell', 'Carter', 'Roberts', 'Dubois', 'Müller', 'Østergaard', 'Nakamura', 'Kowalski'];
const GIVEN = ['Ava', 'Liam', 'Noah', 'Emma', 'Olivia', 'Elijah', 'Mia', 'James', 'Chloé', 'Lucas', 'Zoë', 'Mateo', 'Aria', 'Henry', 'Léa'];

/** A small deterministic PRNG (mulberry32), so a seed always gives the same data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Template {
  resources: GenResource[];
}

let cache: { shared: GenResource[]; templates: Template[] } | undefined;

/** A copy of `v` with every `reference` found in `map` replaced by its target. */
export function localRefs(v: unknown, map: Map<string, string>): unknown {
  if (Array.isArray(v)) return v.map((x) => localRefs(x, map));
  if (v && typeof v === 'object') {
    const out: Json = {};
    for (const [k, x] of Object.entries(v as Json)) out[k] = k === 'reference' && typeof x === 'string' && map.has(x) ? map.get(x) : localRefs(x, map);
    return out;
  }
  return v;
}

/** The Synthea corpus: shared organizations/practitioners and one template per patient. */
export function corpus(): { shared: GenResource[]; templates: Template[] } {
  if (cache) return cache;
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
  const bundles = files.map((f) => ({ f, b: JSON.parse(readFileSync(join(DIR, f), 'utf8')) as { entry: { fullUrl: string; resource: GenResource }[] } }));
  const map = new Map<string, string>();
  for (const { b } of bundles) for (const e of b.entry) map.set(e.fullUrl, `${e.resource.resourceType}/${e.resource.id}`);
  const isShared = (f: string): boolean => f.startsWith('hospitalInformation') || f.startsWith('practitionerInformation');
  const shared = bundles.filter(({ f }) => isShared(f)).flatMap(({ b }) => b.entry.map((e) => localRefs(e.resource, map) as GenResource));
  const templates = bundles.filter(({ f }) => !isShared(f)).map(({ b }) => ({ resources: b.entry.map((e) => localRefs(e.resource, map) as GenResource) }));
  cache = { shared, templates };
  return cache;
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$/;

function shiftDate(s: string, days: number): string {
  const m = DATE_TIME.exec(s);
  if (!m) return s;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) + days * 86_400_000);
  const date = d.toISOString().slice(0, 10);
  return m[4] ? date + m[4] : date;
}

function transform(v: unknown, ids: Map<string, string>, days: number, key = ''): unknown {
  if (Array.isArray(v)) return v.map((x) => transform(x, ids, days, key));
  if (v && typeof v === 'object') {
    const out: Json = {};
    for (const [k, x] of Object.entries(v as Json)) out[k] = transform(x, ids, days, k);
    return out;
  }
  if (typeof v === 'string') {
    if (key === 'reference' && ids.has(v)) return ids.get(v);
    if (key !== 'id' && v.length >= 10 && v.length <= 35 && v.charCodeAt(4) === 45) return shiftDate(v, days);
  }
  return v;
}

/** The full record of generated patient number `n` (deterministic). */
export function patientRecord(n: number): GenResource[] {
  const { templates } = corpus();
  const template = templates[n % templates.length];
  if (!template) return [];
  const r = rng(n + 1);
  const ids = new Map<string, string>();
  template.resources.forEach((res, i) => ids.set(`${res.resourceType}/${res.id}`, `${res.resourceType}/g${n}-${i}`));
  const days = Math.floor(r() * 3650) - 1825;
  const out: GenResource[] = [];
  template.resources.forEach((res, i) => {
    const copy = transform(res, ids, days) as GenResource;
    copy.id = `g${n}-${i}`;
    if (copy.resourceType === 'Patient') {
      const family = FAMILIES[Math.floor(r() * FAMILIES.length)] ?? 'Smith';
      const given = GIVEN[Math.floor(r() * GIVEN.length)] ?? 'Ava';
      copy.name = [{ use: 'official', family: `${family}${n % 200}`, given: [given] }];
      const year = 1930 + Math.floor(r() * 90);
      copy.birthDate = `${year}-${String(1 + Math.floor(r() * 12)).padStart(2, '0')}-${String(1 + Math.floor(r() * 28)).padStart(2, '0')}`;
      copy.identifier = [{ system: 'http://bench.example/mrn', value: `MRN-${n}` }];
    }
    out.push(copy);
  });
  return out;
}

if (/generate-data\.(ts|js)$/.test(process.argv[1] ?? '')) {
  const i = process.argv.indexOf('--patients');
  const patients = i >= 0 ? Number(process.argv[i + 1]) : 100;
  const { shared } = corpus();
  for (const r of shared) process.stdout.write(`${JSON.stringify(r)}\n`);
  for (let n = 0; n < patients; n++) {
    for (const r of patientRecord(n)) process.stdout.write(`${JSON.stringify(r)}\n`);
    if (n % 1000 === 999) process.stderr.write(`${n + 1} patients…\n`);
  }
}
