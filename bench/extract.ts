// bench/extract: search index extraction (resource → typed index entries) over the corpus,
// the typed fast path against fhirpath.js for every expression, in one process.
//   npm run bench:extract
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Resource } from 'fhir/r4.js';
import { loadDefinitions } from '../src/definitions/registry.js';
import { SearchParams } from '../src/search/params.js';
import { Indexer } from '../src/search/extract.js';
import { fmt, median } from './lib.js';

const corpus = join(process.cwd(), '..', 'shared', 'corpus');
const resources: Resource[] = [];
for (const f of readdirSync(join(corpus, 'synthea'))) {
  const b = JSON.parse(readFileSync(join(corpus, 'synthea', f), 'utf8')) as { entry: { resource: Resource }[] };
  resources.push(...b.entry.map((e) => e.resource));
}
for (const f of readdirSync(join(corpus, 'r4-examples')).filter((x) => x.endsWith('.json'))) {
  try {
    resources.push(JSON.parse(readFileSync(join(corpus, 'r4-examples', f), 'utf8')) as Resource);
  } catch {
    // not JSON
  }
}
const defs = loadDefinitions();
const fast = new Indexer(defs, 'http://bench/fhir', new SearchParams(defs));
const slow = new Indexer(defs, 'http://bench/fhir', new SearchParams(defs, { fastPaths: false }));

function run(ix: Indexer): number {
  const t0 = performance.now();
  let entries = 0;
  for (const r of resources) {
    const e = ix.extract(r);
    entries += e.token.length + e.string.length + e.date.length + e.reference.length + e.quantity.length + e.uri.length;
  }
  void entries;
  return ((performance.now() - t0) * 1000) / resources.length;
}

// Same entries either way, except that the fast path knows a `code` element's type and so adds
// the code system its required binding implies (fhirpath.js results carry no type), and that it
// answers `where(resolve() is Patient)` from the reference itself, where fhirpath.js, having
// nothing to resolve with, returns nothing: the differences left are those references.
const norm = (e: ReturnType<Indexer['extract']>): string => JSON.stringify({ ...e, token: e.token.map((t) => ({ ...t, system: null })) });
let differ = 0;
for (const r of resources) if (norm(fast.extract(r)) !== norm(slow.extract(r))) differ++;
run(fast);
run(slow); // warm both
const f: number[] = [];
const s: number[] = [];
for (let i = 0; i < 7; i++) {
  f.push(run(fast));
  s.push(run(slow));
}
console.log(`bench/extract: ${fmt(resources.length)} resources (Synthea + official examples), 7 alternating rounds`);
console.log(`  typed fast path:   median ${fmt(median(f), 1)} µs/resource`);
console.log(`  fhirpath.js only:  median ${fmt(median(s), 1)} µs/resource`);
console.log(`  speed-up ${fmt(median(s) / median(f), 1)}×; resources whose entries differ (beyond implied code systems): ${differ}`);
