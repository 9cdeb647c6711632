// Token :in, :not-in, :above and :below over CodeSystems and ValueSets stored through the API and
// over the definitions, on both adapters (R4 search.html#token, search.html#modifiers).
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import { MingoDb } from '../helpers/mingo-db.js';
import { body, ids, load, put } from '../helpers/app.js';

const SYS = 'http://example.org/fhir/CodeSystem/body-site';

// A hierarchy: limb > arm > hand > finger; limb > leg; trunk; `foot` is below `leg` through a parent property.
const codeSystem = {
  resourceType: 'CodeSystem', id: 'body-site', url: SYS, status: 'active', content: 'complete', hierarchyMeaning: 'is-a',
  concept: [
    { code: 'limb', concept: [{ code: 'arm', concept: [{ code: 'hand', concept: [{ code: 'finger' }] }] }, { code: 'leg' }] },
    { code: 'trunk' },
    { code: 'foot', property: [{ code: 'parent', valueCode: 'leg' }] },
  ],
  property: [{ code: 'parent', type: 'code' }],
};

const upperLimb = {
  resourceType: 'ValueSet', id: 'upper', url: 'http://example.org/fhir/ValueSet/upper-limb', status: 'active',
  compose: { include: [{ system: SYS, filter: [{ property: 'concept', op: 'is-a', value: 'arm' }] }] },
};

const listed = {
  resourceType: 'ValueSet', id: 'listed', url: 'http://example.org/fhir/ValueSet/listed', status: 'active',
  compose: { include: [{ system: SYS, concept: [{ code: 'trunk' }, { code: 'leg' }] }] },
};

const obs = (id: string, code: string, system = SYS) => ({
  resourceType: 'Observation', id, status: 'final', code: { coding: [{ system, code }] },
});
const observations = [obs('o-finger', 'finger'), obs('o-hand', 'hand'), obs('o-arm', 'arm'), obs('o-leg', 'leg'), obs('o-foot', 'foot'), obs('o-trunk', 'trunk'), obs('o-other', 'arm', 'http://example.org/other')];

const STORES = {
  sqlite: {},
  mingo: { store: (indexer: never) => MongoStore.open({ db: new MingoDb('replicaset'), indexer }) },
};

async function app(t: { teardown(fn: () => unknown): void }, which: keyof typeof STORES): Promise<FastifyInstance> {
  const config = loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', BASE_URL: 'http://flint.test/fhir', AUTH: 'off', RATE_LIMIT: '0' });
  const a = await buildApp(config, STORES[which] as never);
  t.teardown(() => a.close());
  await load(a, [codeSystem, upperLimb, listed, ...observations]);
  return a;
}

const sorted = (xs: string[]): string[] => [...xs].sort();
const search = async (a: FastifyInstance, q: string): Promise<string[]> => sorted(await ids(a, `/fhir/Observation?${q}`));

// One app per store (building one loads the definitions): the subtests share it, and the one
// that changes a ValueSet runs last.
for (const which of Object.keys(STORES) as (keyof typeof STORES)[]) t.test(which, async (t) => {
  const a = await app(t, which);
  t.test(`:in finds codes of a ValueSet stored through the API (intensional, is-a filter)`, async (t) => {
    t.same(await search(a, 'code:in=http://example.org/fhir/ValueSet/upper-limb'), ['Observation/o-arm', 'Observation/o-finger', 'Observation/o-hand']);
    t.same(await search(a, 'code:in=ValueSet/upper'), ['Observation/o-arm', 'Observation/o-finger', 'Observation/o-hand'], 'a literal ValueSet/id');
    t.same(await search(a, 'code:in=http://example.org/fhir/ValueSet/listed'), ['Observation/o-leg', 'Observation/o-trunk'], 'extensional');
    t.same(await search(a, 'code:in=http://example.org/fhir/ValueSet/listed,http://example.org/fhir/ValueSet/upper-limb'),
      ['Observation/o-arm', 'Observation/o-finger', 'Observation/o-hand', 'Observation/o-leg', 'Observation/o-trunk'], 'comma is OR');
  });

  t.test(`:not-in finds what :in does not (resources without the parameter included)`, async (t) => {
    t.same(await search(a, 'code:not-in=http://example.org/fhir/ValueSet/upper-limb'), ['Observation/o-foot', 'Observation/o-leg', 'Observation/o-other', 'Observation/o-trunk']);
  });

  t.test(`:below and :above follow the stored CodeSystem's hierarchy (nesting and parent properties)`, async (t) => {
    t.same(await search(a, `code:below=${SYS}|arm`), ['Observation/o-arm', 'Observation/o-finger', 'Observation/o-hand']);
    t.same(await search(a, `code:below=${SYS}|leg`), ['Observation/o-foot', 'Observation/o-leg'], 'parent property');
    t.same(await search(a, `code:above=${SYS}|hand`), ['Observation/o-arm', 'Observation/o-hand'], 'ancestors (limb has no observation)');
    t.same(await search(a, `code:above=${SYS}|foot`), ['Observation/o-foot', 'Observation/o-leg']);
  });

  t.test(`:in over a definitions ValueSet; a chain ends in :in`, async (t) => {
    const patients = [{ resourceType: 'Patient', id: 'p1', gender: 'female' }, { resourceType: 'Patient', id: 'p2', gender: 'unknown' }];
    await load(a, patients);
    t.same(sorted(await ids(a, '/fhir/Patient?gender:in=http://hl7.org/fhir/ValueSet/administrative-gender')), ['Patient/p1', 'Patient/p2']);
    const o = { resourceType: 'Observation', id: 'o-p1', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p1' } };
    await load(a, [o]);
    t.same(await ids(a, '/fhir/Observation?subject:Patient.gender:in=http://hl7.org/fhir/ValueSet/administrative-gender'), ['Observation/o-p1']);
  });

  t.test(`what cannot be evaluated is a clear 4xx, not a guess`, async (t) => {
    const get = (q: string) => a.inject({ url: `/fhir/Observation?${q}` });
    let res = await get('code:in=http://example.org/fhir/ValueSet/nowhere');
    t.equal(res.statusCode, 400, 'unknown value set');
    t.match(body(res).issue[0].diagnostics, /not known/);
    res = await get('code:below=http://snomed.info/sct|123037004');
    t.equal(res.statusCode, 400, 'a code system Flint holds no concepts of');
    t.match(body(res).issue[0].diagnostics, /held only in part.*cannot be evaluated/);
    res = await get('code:below=arm');
    t.equal(res.statusCode, 400, 'subsumption needs a system');
    res = await get('code:in=ValueSet/missing');
    t.equal(res.statusCode, 400, 'a literal reference to nothing');
  });

  t.test(`value sets standing for more codes than the search bound are refused as too costly`, async (t) => {
    // 6,401 + 2,370 + 1,357 codes: over SEARCH_LIMITS.valueSetCodes (10,000) together.
    const docs = 'http://hl7.org/fhir/ValueSet/c80-doc-typecodes';
    const res = await a.inject({ url: `/fhir/Observation?code:in=${docs},http://hl7.org/fhir/ValueSet/animal-breeds,http://hl7.org/fhir/ValueSet/ucum-common` });
    t.equal(res.statusCode, 400);
    t.equal(body(res).issue[0].code, 'too-costly');
    // One of them alone is within the bound.
    const o = { resourceType: 'Observation', id: 'o-doc', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '11488-4' }] } };
    await load(a, [o]);
    t.same(await ids(a, `/fhir/Observation?code:in=${docs}`), ['Observation/o-doc']);
  });

  t.test(`an updated ValueSet is used by the next search`, async (t) => {
    t.same(await search(a, 'code:in=http://example.org/fhir/ValueSet/listed'), ['Observation/o-leg', 'Observation/o-trunk']);
    const res = await put(a, '/fhir/ValueSet/listed', { ...listed, compose: { include: [{ system: SYS, concept: [{ code: 'finger' }] }] } });
    t.equal(res.statusCode, 200);
    t.same(await search(a, 'code:in=http://example.org/fhir/ValueSet/listed'), ['Observation/o-finger']);
  });
});
