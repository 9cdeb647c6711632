// Differential test: the same data in the SQLite adapter and in the MongoDB adapter (its
// filters and pipelines evaluated by mingo), the same parsed searches on both: the same
// matches in the same order, page after page forwards and back, the same includes and
// totals, with and without an access policy; the same history, references and reindex.
// Sorting by _lastUpdated is left to test/helpers/search-suite.ts: the two stores stamp their
// own clocks, so resources written in one millisecond by one may not be by the other.
import t, { type Test } from 'tap';
import type { CodeSystem, Resource, ValueSet } from 'fhir/r4.js';
import type { TerminologySource } from '../../src/terminology/expand.js';
import { loadDefinitions } from '../../src/definitions/registry.js';
import { SearchParams } from '../../src/search/params.js';
import { SearchParser } from '../../src/search/parse.js';
import { Indexer } from '../../src/search/extract.js';
import type { AccessConstraint, SearchQuery } from '../../src/search/ir.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import type { SearchPage, Store, VersionRecord } from '../../src/store/port.js';
import { clinic } from '../helpers/app.js';
import { syntheaResources } from '../helpers/synthea.js';
import { MingoDb } from '../helpers/mingo-db.js';

const BASE = 'http://flint.test/fhir';
const defs = loadDefinitions();
const params = new SearchParams(defs);
const indexer = new Indexer(defs, BASE, params);
const parser = new SearchParser(defs, params);
parser.setBaseUrl(BASE);

const SITE = 'http://example.org/fhir/CodeSystem/site';

/** Hand-made resources for what the fixtures lack: numbers, URIs, canonicals, open ranges, absent sort values. */
const handMade = [
  { resourceType: 'RiskAssessment', id: 'ra-1', status: 'final', subject: { reference: 'Patient/pat-bob' }, prediction: [{ probabilityDecimal: 0.25 }, { probabilityDecimal: 0.8 }] },
  { resourceType: 'RiskAssessment', id: 'ra-2', status: 'final', subject: { reference: 'Patient/pat-alice' }, prediction: [{ probabilityDecimal: 0.5 }] },
  { resourceType: 'RiskAssessment', id: 'ra-3', status: 'final', subject: { reference: 'Patient/pat-chloe' } },
  { resourceType: 'ValueSet', id: 'vs-a', status: 'active', url: 'http://example.org/fhir/ValueSet/a', version: '1.0', name: 'Alpha' },
  { resourceType: 'ValueSet', id: 'vs-ab', status: 'active', url: 'http://example.org/fhir/ValueSet/a/b', version: '2.0', name: 'AlphaBeta' },
  { resourceType: 'ValueSet', id: 'vs-c', status: 'draft', url: 'urn:oid:1.2.3', name: 'Gamma' },
  { resourceType: 'Questionnaire', id: 'q-1', status: 'active', url: 'http://example.org/Questionnaire/intake', version: '1.0' },
  { resourceType: 'QuestionnaireResponse', id: 'qr-1', status: 'completed', questionnaire: 'http://example.org/Questionnaire/intake|1.0', subject: { reference: 'Patient/pat-bob' } },
  { resourceType: 'QuestionnaireResponse', id: 'qr-2', status: 'completed', questionnaire: 'http://example.org/Questionnaire/intake', subject: { reference: 'Patient/pat-alice' } },
  { resourceType: 'Observation', id: 'obs-range', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: 'Patient/pat-chloe' }, effectivePeriod: { start: '2021-05-01' }, valueRange: { low: { value: 60, system: 'http://unitsofmeasure.org', code: '/min' } } },
  { resourceType: 'Observation', id: 'obs-nodate', status: 'preliminary', code: { text: 'note only' }, subject: { reference: 'Patient/pat-alice' } },
  { resourceType: 'Patient', id: 'pat-nobirth', name: [{ family: 'Zeta', given: ['Zed'] }], gender: 'unknown' },
  { resourceType: 'Patient', id: 'pat-dup', name: [{ family: 'Bernier' }, { family: 'bernier' }], birthDate: '1990', active: false },
  ...['arm', 'hand', 'finger', 'leg'].map((code) => ({ resourceType: 'Observation', id: `obs-site-${code}`, status: 'final', code: { coding: [{ system: SITE, code }] }, subject: { reference: 'Patient/pat-bob' } })),
];

/** A CodeSystem with a hierarchy and a ValueSet over two systems, as if stored through the API (for :in, :not-in, :above, :below). */
const siteSystem = {
  resourceType: 'CodeSystem', url: SITE, status: 'active', content: 'complete',
  concept: [{ code: 'limb', concept: [{ code: 'arm', concept: [{ code: 'hand', concept: [{ code: 'finger' }] }] }, { code: 'leg' }] }],
} as CodeSystem;
const mixedSet = {
  resourceType: 'ValueSet', url: 'http://example.org/fhir/ValueSet/mixed', status: 'active',
  compose: { include: [{ system: SITE, filter: [{ property: 'concept', op: 'is-a', value: 'hand' }] }, { system: 'http://loinc.org', concept: [{ code: '8867-4' }, { code: '29463-7' }] }] },
} as ValueSet;
const terminology: TerminologySource = {
  codeSystem: (url) => (url === SITE ? siteSystem : defs.codeSystem(url)),
  valueSet: (url) => (url === mixedSet.url ? mixedSet : defs.valueSet(url)),
};

interface Loaded {
  sqlite: Store;
  mongo: Store;
  synthea: string[];
}

async function load(): Promise<Loaded> {
  const sqlite = SqliteStore.open({ filename: ':memory:', indexer });
  const mongo = await MongoStore.open({ db: new MingoDb(), indexer });
  const synthea = syntheaResources(3);
  const all = [...clinic(), ...handMade, ...synthea] as (Resource & { id: string })[];
  for (const r of all) {
    await sqlite.update(r);
    await mongo.update(r);
  }
  // A few later versions and deletions, so that only current versions may match.
  for (const s of [sqlite, mongo]) {
    await s.update({ ...handMade[1], prediction: [{ probabilityDecimal: 0.55 }] } as unknown as Resource & { id: string });
    await s.delete('ValueSet', 'vs-c');
    await s.delete('Observation', 'obs-nodate');
  }
  return { sqlite, mongo, synthea: synthea.filter((r) => r.resourceType === 'Patient').map((r) => r.id) };
}

function parse(url: string, access?: AccessConstraint, count?: number): SearchQuery {
  const [path = '', qs = ''] = url.split('?');
  const types = path === '' ? [...defs.resourceTypes] : [path];
  const pairs = [...new URLSearchParams(qs)] as [string, string][];
  if (count !== undefined) pairs.push(['_count', String(count)]);
  const q = parser.parse({ terminology, types, params: pairs, handling: 'strict', defaultCount: 50, maxCount: 1000 }).query;
  return access ? { ...q, access } : q;
}

const key = (r: VersionRecord): string => `${r.type}/${r.id}`;
const keys = (p: SearchPage): string[] => p.records.map(key);
const incl = (p: SearchPage): string[] => p.included.map(key).sort();

interface Tally {
  queries: number;
  nonEmpty: number;
  pages: number;
  included: number;
}

/** Runs one search on both, then follows `next` to the end and `previous` back to the start. */
async function same(t: Test, l: Loaded, label: string, q: SearchQuery, tally: Tally): Promise<void> {
  let a = await l.sqlite.search(q);
  let b = await l.mongo.search(q);
  tally.queries++;
  if (a.records.length) tally.nonEmpty++;
  tally.included += a.included.length;
  const check = (where: string): boolean => {
    const ok = JSON.stringify(keys(a)) === JSON.stringify(keys(b)) && JSON.stringify(incl(a)) === JSON.stringify(incl(b))
      && a.total === b.total && !!a.next === !!b.next && !!a.previous === !!b.previous && !!a.includesTruncated === !!b.includesTruncated;
    if (!ok) {
      t.same({ matches: keys(b), included: incl(b), total: b.total, next: !!b.next, previous: !!b.previous },
        { matches: keys(a), included: incl(a), total: a.total, next: !!a.next, previous: !!a.previous }, `${label} ${where}`);
    }
    return ok;
  };
  if (!check('first page')) return;
  let page = 0;
  while (a.next && b.next && page < 12) {
    page++;
    tally.pages++;
    a = await l.sqlite.search({ ...q, cursor: a.next });
    b = await l.mongo.search({ ...q, cursor: b.next });
    if (!check(`page ${page + 1}`)) return;
  }
  while (a.previous && b.previous && page > 0) {
    page--;
    tally.pages++;
    a = await l.sqlite.search({ ...q, cursor: a.previous });
    b = await l.mongo.search({ ...q, cursor: b.previous });
    if (!check(`back to page ${page + 1}`)) return;
  }
  t.pass(label);
}



const QUERIES = (p: string[]): string[] => [
  // string
  'Patient?family=bernier', 'Patient?family=BERN', 'Patient?name=chloe', 'Patient?name:exact=Chloé', 'Patient?name:contains=ber',
  'Patient?address-state=massachusetts', 'Practitioner?name=dr', 'Organization?name=hospital', 'Patient?family:exact=Bernier',
  'Patient?given=z,zed', 'Patient?phonetic=smith',
  // token
  'Patient?gender=female', 'Patient?gender:not=female', 'Patient?gender=female,male', 'Patient?active=true', 'Patient?deceased=false',
  'Patient?identifier=http://hl7.org/fhir/sid/us-ssn|', 'Patient?_id=pat-alice,pat-bob', 'Observation?code=http://loinc.org|8867-4',
  'Observation?code=29463-7', 'Observation?code=|29463-7', 'Observation?category=laboratory', 'Observation?status=final&code=8867-4',
  'Observation?code:not=8867-4&category=vital-signs', 'Observation?combo-code=8480-6', 'Condition?clinical-status=active',
  'Condition?code=http://snomed.info/sct|840539006', 'Encounter?class=AMB', 'Encounter?type=http://snomed.info/sct|185349003',
  'Immunization?vaccine-code=http://hl7.org/fhir/sid/cvx|140', 'DiagnosticReport?category=LAB', 'Claim?use=claim',
  'ExplanationOfBenefit?status=active', 'MedicationRequest?status=active', 'Observation?code:text=body', 'Condition?code:text=diab',
  'Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|', 'Condition?clinical-status:in=http://hl7.org/fhir/ValueSet/condition-clinical',
  `Observation?code:below=${SITE}|arm`, `Observation?code:above=${SITE}|hand`, `Observation?code:below=${SITE}|limb&_sort=_id`,
  'Observation?code:in=http://example.org/fhir/ValueSet/mixed&_sort=_id', 'Observation?code:not-in=http://example.org/fhir/ValueSet/mixed&patient=pat-bob',
  'Condition?clinical-status:not-in=http://hl7.org/fhir/ValueSet/condition-clinical',
  // date and lastUpdated, every prefix
  'Patient?birthdate=ge1990', 'Patient?birthdate=2015', 'Patient?birthdate=eq1990', 'Patient?birthdate=ne1990', 'Patient?birthdate=gt1960',
  'Patient?birthdate=lt1960', 'Patient?birthdate=le1990-12-31', 'Patient?birthdate=sa1950', 'Patient?birthdate=eb2000', 'Patient?birthdate=ap1990',
  'Observation?date=2020', 'Observation?date=ge2020-03-01&date=lt2020-04-01', 'Encounter?date=ge2020-01-01', 'Observation?date=sa2021-01-01',
  'Observation?date=eb2015', 'Observation?date=gt2021-05-01', 'Observation?_lastUpdated=gt2000', 'Patient?_lastUpdated=lt2000',
  'Patient?_lastUpdated=ne2000',
  // number and quantity
  'RiskAssessment?probability=0.8', 'RiskAssessment?probability=gt0.3', 'RiskAssessment?probability=le0.5', 'RiskAssessment?probability=ne0.25',
  'RiskAssessment?probability=ap0.5', 'RiskAssessment?probability:missing=true', 'RiskAssessment?_sort=probability', 'RiskAssessment?_sort=-probability',
  'Observation?value-quantity=lt40|http://unitsofmeasure.org|Cel', 'Observation?value-quantity=gt100', 'Observation?value-quantity=ap70',
  'Observation?value-quantity=70||kg', 'Observation?value-quantity=ge60|http://unitsofmeasure.org|/min', 'Observation?value-quantity=ne5',
  'Observation?value-quantity=sa50', 'Observation?value-quantity=eb50', 'Observation?_sort=value-quantity', 'Observation?_sort=-value-quantity',
  // reference, chains, _has
  'Encounter?subject=Patient/pat-bob', 'Encounter?subject=pat-bob', 'Observation?patient=pat-alice', 'Observation?subject:Patient=pat-chloe',
  'Observation?subject:Patient.gender=male&code=8867-4', 'Observation?subject:Patient.name=walker', 'Observation?patient.birthdate=lt1960',
  'Encounter?subject.general-practitioner.name=smith&_sort=_id', 'Observation?encounter.subject:Patient.gender=male&code=4548-4',
  'Coverage?payor:Organization.name=acme&_sort=_id', 'Claim?patient.general-practitioner:Practitioner.family=smith',
  'Patient?_has:Observation:patient:code=4548-4', 'Patient?_has:Observation:subject:code=29463-7&_sort=_id',
  'Patient?_has:Encounter:subject:_has:Observation:encounter:code=8310-5', 'Practitioner?_has:Observation:performer:code=85354-9',
  'Patient?_has:Condition:subject:code=http://snomed.info/sct|840539006', 'Encounter?service-provider:missing=true',
  'Encounter?service-provider:missing=false', 'QuestionnaireResponse?questionnaire=http://example.org/Questionnaire/intake',
  'QuestionnaireResponse?questionnaire=http://example.org/Questionnaire/intake|1.0', 'Patient?general-practitioner:missing=true',
  // uri
  'ValueSet?url=http://example.org/fhir/ValueSet/a', 'ValueSet?url:below=http://example.org/fhir', 'ValueSet?url:above=http://example.org/fhir/ValueSet/a/b/c',
  'ValueSet?url=urn:oid:1.2.3', 'ValueSet?_sort=url',
  // composite
  'Observation?code-value-quantity=http://loinc.org|29463-7$gt50', 'Observation?component-code-value-quantity=8480-6$gt100',
  'Observation?combo-code-value-quantity=8480-6$lt200',
  // sorts and paging
  'Patient?_sort=birthdate', 'Patient?_sort=-birthdate', 'Patient?_sort=family,-birthdate',
  'Patient?_sort=_id', 'Patient?_sort=-_id', 'Observation?_sort=-date,_id&patient=pat-bob', 'Observation?_sort=date', 'Observation?_sort=code',
  'Practitioner?_sort=family', 'Appointment?_sort=-date', 'Encounter?_sort=-date', 'Condition?_sort=onset-date', 'Observation?_sort=status,-date',
  // totals
  'Observation?_total=accurate', 'Observation?_total=estimate', 'Observation?_total=none', 'Patient?_summary=count', 'Encounter?_total=estimate&class=AMB',
  // includes
  'MedicationRequest?_id=mr-bob-metformin&_include=MedicationRequest:subject&_include=MedicationRequest:requester',
  'Encounter?_id=enc-bob-1&_include=Encounter:participant:Practitioner',
  'Observation?_id=obs-bob-hba1c&_include=Observation:patient&_include:iterate=Patient:organization',
  'Patient?_id=pat-chloe&_revinclude=Observation:subject&_revinclude=Encounter:subject', 'Claim?_include=*',
  'Organization?_id=org-payer&_revinclude=Coverage:payor&_revinclude:iterate=Claim:insurer', 'Encounter?_include=Encounter:subject&_sort=date',
  'Patient?_revinclude=Encounter:subject&_revinclude:iterate=Observation:encounter', 'Observation?code=8867-4&_include=Observation:subject',
  // system searches
  '?_id=pat-alice,org-clinic', '?_lastUpdated=gt2000&_type=Patient,Practitioner', '?_type=Observation,Condition&_sort=_id',
  // per Synthea patient
  ...p.flatMap((id) => [
    `Observation?subject=Patient/${id}&_sort=-date`, `Encounter?patient=${id}&_include=Encounter:service-provider`,
    `Condition?patient=${id}&_sort=code`, `Patient?_id=${id}&_revinclude=Encounter:subject`, `Claim?patient=${id}&_include=Claim:provider`,
    `Observation?patient=${id}&category=vital-signs&_total=accurate`, `Procedure?subject=${id}&date=ge2010`,
  ]),
];

t.test('SQLite and MongoDB (over mingo) answer every search alike', async (t) => {
  const l = await load();
  t.teardown(async () => { await l.sqlite.close(); await l.mongo.close(); });
  const tally: Tally = { queries: 0, nonEmpty: 0, pages: 0, included: 0 };
  const list = QUERIES(l.synthea);
  for (const url of list) {
    await same(t, l, url, parse(url), tally);
    await same(t, l, `${url} (3 per page)`, parse(url, undefined, 3), tally);
  }
  // A patient-scoped caller, with a granular filter on Observations: the policy travels in the
  // IR and applies to matches, includes, chains and _has.
  const bob = parser.compartment('Patient', 'pat-bob');
  const vitals = parser.parse({ types: ['Observation'], params: [['category', 'vital-signs']], handling: 'strict', defaultCount: 1, maxCount: 1 }).query.where;
  const policies: [string, AccessConstraint][] = [
    ['patient pat-bob', { compartment: bob, types: {}, otherTypes: { inCompartment: true } }],
    ['patient pat-bob, vital signs only', { compartment: bob, types: { Observation: { inCompartment: true, filter: vitals } }, otherTypes: { inCompartment: true } }],
    ['Patient and Encounter only', { types: { Patient: { inCompartment: false }, Encounter: { inCompartment: false } } }],
  ];
  const restricted = [
    'Observation?_sort=_id', 'Observation?code=8867-4', 'Encounter?_include=Encounter:subject&_include=Encounter:participant',
    'Patient?_revinclude=Observation:subject', 'Patient?_has:Observation:patient:code=4548-4', 'Observation?subject:Patient.gender=male',
    'Patient?_sort=birthdate', 'Encounter?_total=accurate', '?_type=Patient,Observation,Encounter&_sort=_id', 'Practitioner?_sort=_id',
    'Organization?_revinclude=Encounter:service-provider',
  ];
  for (const [name, access] of policies) {
    for (const url of restricted) {
      await same(t, l, `${url} as ${name}`, parse(url, access), tally);
      await same(t, l, `${url} as ${name} (2 per page)`, parse(url, access, 2), tally);
    }
  }
  // The compartment search (Patient/pat-bob/*).
  for (const url of ['Observation?_sort=_id', 'Encounter?_sort=-date', '?_type=Observation,Condition,Encounter&_sort=_id']) {
    await same(t, l, `${url} in pat-bob's compartment`, { ...parse(url, undefined, 4), compartment: bob }, tally);
  }
  t.ok(tally.queries >= 300, `${tally.queries} searches compared`);
  t.ok(tally.nonEmpty >= tally.queries * 0.7, `${tally.nonEmpty} of them found something`);
  t.ok(tally.pages >= 200, `${tally.pages} further pages compared`);
  t.ok(tally.included >= 100, `${tally.included} included resources compared`);
  console.log(`# differential: ${tally.queries} searches (${tally.nonEmpty} non-empty), ${tally.pages} further pages, ${tally.included} included resources`);

  t.test('history, with and without an access policy, and its paging', async (t) => {
    for (const hq of [{ count: 50 }, { type: 'Patient', count: 7 }, { type: 'RiskAssessment', id: 'ra-2', count: 10 }, { count: 20, access: policies[0]?.[1] }, { type: 'Observation', count: 20, access: policies[1]?.[1] }]) {
      let a = await l.sqlite.history(hq);
      let b = await l.mongo.history(hq);
      // Order values differ between the adapters (a counter, a clock): the order is compared.
      const v = (p: { records: VersionRecord[] }): string[] => p.records.map((r) => `${key(r)}/${r.versionId}/${r.deleted}`);
      t.same(v(b), v(a), JSON.stringify({ ...hq, access: !!hq.access }));
      t.equal(b.total, a.total);
      for (let i = 0; i < 5 && a.next && b.next; i++) {
        a = await l.sqlite.history({ ...hq, cursor: a.next });
        b = await l.mongo.history({ ...hq, cursor: b.next });
        t.same(v(b), v(a), `page ${i + 2}`);
      }
      t.equal(!!b.next, !!a.next);
    }
  });

  t.test('referencesTo and reindex', async (t) => {
    for (const [type, id] of [['Patient', 'pat-bob'], ['Organization', 'org-clinic'], ['Practitioner', 'pr-smith'], ['Patient', l.synthea[0] ?? '']] as const) {
      const a = (await l.sqlite.referencesTo(type, id, 1000)).map((r) => `${r.type}/${r.id}`).sort();
      const b = (await l.mongo.referencesTo(type, id, 1000)).map((r) => `${r.type}/${r.id}`).sort();
      t.same(b, a, `references to ${type}/${id}`);
      t.ok(a.length > 0);
    }
    t.equal(await l.mongo.reindex(['Patient']), await l.sqlite.reindex(['Patient']), 'reindex counts alike');
    await same(t, l, 'after reindex', parse('Patient?family=bernier&_sort=_id'), tally);
  });
});
