// One IR, one meaning: a subscription's criteria decided in memory (src/subscriptions/match.ts,
// against the stored version's index entries) give, for every resource, the verdict of running
// that search in the store restricted to the resource, on SQLite and on MongoDB (over mingo).
// The criteria are the search suite's filters (test/helpers/search-cases.ts, without sorting,
// paging or includes), with and without a patient's or a granular access constraint.
import t from 'tap';
import type { Resource } from 'fhir/r4.js';
import type { AccessConstraint, Expr, SearchQuery } from '../../src/search/ir.js';
import type { Store } from '../../src/store/port.js';
import { InMemoryMatcher, entryKeys, requiredKeys, type Candidate } from '../../src/subscriptions/match.js';
import { loadBoth, QUERIES, searchMachinery } from '../helpers/search-cases.js';

const { indexer, parser, terminology } = searchMachinery();

/** What has no meaning in Subscription criteria (src/subscriptions/spec.ts refuses it). */
const NOT_CRITERIA = /^_(count|sort|include|revinclude|summary|elements|total|format|pretty|cursor|type)(:|$)/;

function criteria(url: string): { type: string; where: Expr } | undefined {
  const [type = '', qs = ''] = url.split('?');
  if (type === '') return undefined;
  const pairs = [...new URLSearchParams(qs)].filter(([k]) => !NOT_CRITERIA.test(k)) as [string, string][];
  return { type, where: parser.parse({ terminology, types: [type], params: pairs, handling: 'strict', defaultCount: 1, maxCount: 1 }).query.where };
}

const search = (type: string, where: Expr, access?: AccessConstraint): SearchQuery => ({
  types: [type], where, sort: [], count: 1000, total: 'none', include: [], revinclude: [], ...(access ? { access } : {}),
});

async function matchingIds(store: Store, q: SearchQuery): Promise<Set<string>> {
  const out = new Set<string>();
  let page = await store.search(q);
  for (;;) {
    for (const r of page.records) out.add(r.id);
    if (!page.next) return out;
    page = await store.search({ ...q, cursor: page.next });
  }
}

t.test('in-memory subscription matching agrees with search on SQLite and MongoDB (mingo), resource by resource', async (t) => {
  const { sqlite, mongo, written: all, synthea: patients } = await loadBoth(indexer, 2);
  t.teardown(async () => { await sqlite.close(); await mongo.close(); });
  // The versions as stored (SQLite's; MongoDB's differ in lastUpdated only), by type.
  const byType = new Map<string, Candidate[]>();
  for (const r of all) {
    const found = await sqlite.read(r.resourceType, r.id);
    if (found.status !== 'found' || found.record.json === undefined) continue;
    const res = JSON.parse(found.record.json) as Resource;
    const list = byType.get(r.resourceType) ?? [];
    if (list.some((c) => c.id === r.id)) continue;
    list.push({ type: r.resourceType, id: r.id, lastUpdated: Date.parse(found.record.lastUpdated), entries: indexer.extract(res) });
    byType.set(r.resourceType, list);
  }

  const bob = parser.compartment('Patient', 'pat-bob');
  const vitals = parser.parse({ types: ['Observation'], params: [['category', 'vital-signs']], handling: 'strict', defaultCount: 1, maxCount: 1 }).query.where;
  const policies: [string, AccessConstraint | undefined][] = [
    ['unrestricted', undefined],
    ['patient pat-bob', { compartment: bob, types: {}, otherTypes: { inCompartment: true } }],
    ['patient pat-bob, vital signs only', { compartment: bob, types: { Observation: { inCompartment: true, filter: vitals } }, otherTypes: { inCompartment: true } }],
    ['Patient and Encounter only', { types: { Patient: { inCompartment: false }, Encounter: { inCompartment: false } } }],
  ];
  // Plus comparisons exactly at stored values (a < that should be <=, or the reverse, shows here).
  const edges = ['RiskAssessment?probability=gt0.5', 'RiskAssessment?probability=lt0.5', 'RiskAssessment?probability=ge0.55', 'RiskAssessment?probability=le0.25',
    'RiskAssessment?probability=sa0.8', 'RiskAssessment?probability=eb0.25', 'Observation?date=lt2021-05-01', 'Observation?date=ge2021-05-01',
    'Observation?date=le2021-05-01', 'Observation?value-quantity=gt60', 'Observation?value-quantity=le60', 'Observation?value-quantity=lt60',
    'Patient?birthdate=gt1990', 'Patient?birthdate=le1990', 'Observation?_lastUpdated=lt2000', 'Patient?_id=pat-bob', 'Patient?name:contains=ERN'];
  const urls = [...new Set([...QUERIES(patients), ...edges])];
  const matcher = new InMemoryMatcher();
  const tally = { criteria: 0, verdicts: 0, matches: 0, undecided: 0, restricted: 0, prefiltered: 0 };
  const wrong: string[] = [];
  for (const [name, access] of policies) {
    for (const url of name === 'unrestricted' ? urls : urls.filter((u) => /^(Observation|Patient|Encounter|Practitioner)\?/.test(u))) {
      const c = criteria(url);
      if (!c) continue;
      tally.criteria++;
      const inSqlite = await matchingIds(sqlite, search(c.type, c.where, access));
      const inMongo = await matchingIds(mongo, search(c.type, c.where, access));
      if ([...inSqlite].sort().join() !== [...inMongo].sort().join()) wrong.push(`${url} as ${name}: the stores disagree`);
      const keys = requiredKeys(c.where);
      for (const cand of byType.get(c.type) ?? []) {
        const id = cand.id ?? '';
        const verdict = matcher.matches(c.where, cand, access);
        // The pre-filter never drops a resource the criteria match.
        if (keys && !keys.some((k) => entryKeys(cand.entries).has(k))) {
          tally.prefiltered++;
          if (inSqlite.has(id)) wrong.push(`${url} as ${name}: ${c.type}/${id} matches but the pre-filter dropped it`);
        }
        if (verdict === undefined) {
          tally.undecided++;
          continue;
        }
        tally.verdicts++;
        if (verdict) tally.matches++;
        if (verdict !== inSqlite.has(id) || verdict !== inMongo.has(id)) wrong.push(`${url} as ${name}: ${c.type}/${id} in memory ${verdict}, SQLite ${inSqlite.has(id)}, MongoDB ${inMongo.has(id)}`);
      }
      // And literally "the search restricted to the resource's id", for the first few of the type.
      for (const cand of (byType.get(c.type) ?? []).slice(0, 3)) {
        const verdict = matcher.matches(c.where, cand, access);
        if (verdict === undefined) continue;
        const restricted = { and: [{ cond: { kind: 'id' as const, ids: [cand.id ?? ''] } }, c.where] };
        for (const [label, store] of [['SQLite', sqlite], ['MongoDB', mongo]] as const) {
          const found = (await store.search(search(c.type, restricted, access))).records.length > 0;
          tally.restricted++;
          if (found !== verdict) wrong.push(`${url} as ${name}: ${c.type}/${cand.id ?? ''} in memory ${verdict}, ${label} restricted to its id ${found}`);
        }
      }
    }
  }
  t.same(wrong.slice(0, 20), [], `${wrong.length} disagreements`);
  t.ok(tally.criteria >= 150, `${tally.criteria} criteria compared`);
  t.ok(tally.verdicts >= 10_000, `${tally.verdicts} in-memory verdicts compared`);
  t.ok(tally.matches >= 500 && tally.matches < tally.verdicts / 2, `${tally.matches} of them matches`);
  t.ok(tally.undecided > 0, `${tally.undecided} left to the store (chains, _has)`);
  t.ok(tally.prefiltered > 0, `${tally.prefiltered} pre-filtered away`);
  console.log(`# match differential: ${JSON.stringify(tally)}`);
});
