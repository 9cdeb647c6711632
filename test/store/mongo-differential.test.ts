// Differential test: the same data in the SQLite adapter and in the MongoDB adapter (its
// filters and pipelines evaluated by mingo), the same parsed searches on both: the same
// matches in the same order, page after page forwards and back, the same includes and
// totals, with and without an access policy; the same history, references and reindex.
// Sorting by _lastUpdated is left to test/helpers/search-suite.ts: the two stores stamp their
// own clocks, so resources written in one millisecond by one may not be by the other.
import t, { type Test } from 'tap';
import type { AccessConstraint, SearchQuery } from '../../src/search/ir.js';
import type { SearchPage, VersionRecord } from '../../src/store/port.js';
import { loadBoth, QUERIES, searchMachinery, type Loaded } from '../helpers/search-cases.js';

const { defs, indexer, parser, terminology } = searchMachinery();

const load = (): Promise<Loaded> => loadBoth(indexer, 3);

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
