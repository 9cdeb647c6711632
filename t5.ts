import { readdirSync, readFileSync } from 'node:fs';
import { loadDefinitions } from './src/definitions/registry.js';
import { Indexer } from './src/search/extract.js';
const defs = loadDefinitions();
const ix = new Indexer(defs, 'http://x/fhir');
let fast = 0, slow = 0; const slowList: string[] = [];
for (const t of defs.resourceTypes) for (const p of ix.params.forType(t).values()) for (const path of p.paths) { if (path.fast) fast++; else { slow++; slowList.push(t + '.' + p.code + ': ' + path.source); } }
console.log('fast', fast, 'fallback', slow); console.log(slowList.slice(0, 20).join('\n'));
const res: any[] = [];
for (const f of readdirSync('../shared/corpus/synthea')) { const b = JSON.parse(readFileSync('../shared/corpus/synthea/' + f, 'utf8')); for (const e of b.entry) res.push(e.resource); }
for (const f of readdirSync('../shared/corpus/r4-examples').filter(f => f.endsWith('.json'))) { try { res.push(JSON.parse(readFileSync('../shared/corpus/r4-examples/' + f, 'utf8'))); } catch {} }
console.log('resources', res.length);
for (let r = 0; r < 3; r++) { const t0 = performance.now(); let n = 0; for (const x of res) { const e = ix.extract(x); n += e.token.length + e.string.length + e.date.length + e.reference.length; } console.log('extract µs/resource', ((performance.now() - t0) * 1000 / res.length).toFixed(1), 'entries', n); }
const obs = res.find(x => x.resourceType === 'Observation' && x.valueQuantity);
console.log(JSON.stringify(ix.extract(obs), null, 0).slice(0, 1500));
const pat = res.find(x => x.resourceType === 'Patient');
console.log(JSON.stringify(ix.extract(pat).token));
