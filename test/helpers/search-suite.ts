// The store-level search suite: every kind of IR condition, every prefix, modifiers, nested
// chains and _has, sorts paged both ways, every total mode, includes and revincludes with
// :iterate, compartments, access policies, referencesTo and reindex — on a small data set whose
// answers were worked out by hand. Every adapter runs exactly these (test/store/search.test.ts).
import type { Resource } from 'fhir/r4.js';
import type { Test } from 'tap';
import { loadDefinitions } from '../../src/definitions/registry.js';
import { SearchParams } from '../../src/search/params.js';
import { SearchParser } from '../../src/search/parse.js';
import { Indexer } from '../../src/search/extract.js';
import type { AccessConstraint, Expr, SearchQuery } from '../../src/search/ir.js';
import type { SearchPage, Store, StoreIndexer } from '../../src/store/port.js';

type Tap = typeof import('tap').default;

export interface SearchAdapter {
  name: string;
  /** A fresh, empty store indexing with `indexer`. */
  open(indexer: StoreIndexer): Promise<Store>;
}

const BASE = 'http://flint.test/fhir';
const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const MRN = 'http://clinic.example/mrn';

const hr = { coding: [{ system: LOINC, code: '8867-4' }], text: 'Heart rate' };
const weight = { coding: [{ system: LOINC, code: '29463-7' }], text: 'Body weight' };
const vitals = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }];
const ref = (r: string) => ({ reference: r });

/** Written in this order (creation order is the default order of results). */
const DATA = [
  { resourceType: 'Practitioner', id: 'dr1', name: [{ family: 'Smith', given: ['Sam'] }] },
  { resourceType: 'Practitioner', id: 'dr2', name: [{ family: 'Jones', given: ['Jo'] }] },
  { resourceType: 'Organization', id: 'org1', name: 'Riverside Clinic' },
  { resourceType: 'Patient', id: 'p1', name: [{ family: 'Anders', given: ['Alice'] }], gender: 'female', birthDate: '1980-05-10', active: true,
    identifier: [{ system: MRN, value: 'A1' }], generalPractitioner: [ref('Practitioner/dr1')], managingOrganization: ref('Organization/org1') },
  { resourceType: 'Patient', id: 'p2', name: [{ family: 'Brown', given: ['Bob'] }], gender: 'male', birthDate: '1975-01-01', active: false,
    identifier: [{ system: MRN, value: 'B2' }], generalPractitioner: [ref('Practitioner/dr2')] },
  { resourceType: 'Patient', id: 'p3', name: [{ family: 'Chen', given: ['Carla'] }], gender: 'female', birthDate: '2001-12-31' },
  { resourceType: 'Encounter', id: 'e1', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: ref('Patient/p1'), period: { start: '2020-01-15T09:00:00Z', end: '2020-01-15T10:00:00Z' } },
  { resourceType: 'Encounter', id: 'e2', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' }, subject: ref('Patient/p2') },
  { resourceType: 'Observation', id: 'o1', status: 'final', category: vitals, code: hr, subject: ref('Patient/p1'), encounter: ref('Encounter/e1'), performer: [ref('Practitioner/dr1')],
    effectiveDateTime: '2020-01-15', valueQuantity: { value: 72, unit: '/min', system: UCUM, code: '/min' } },
  { resourceType: 'Observation', id: 'o2', status: 'final', category: vitals, code: weight, subject: ref('Patient/p1'), effectiveDateTime: '2021-06-01', valueQuantity: { value: 60, unit: 'kg', system: UCUM, code: 'kg' } },
  { resourceType: 'Observation', id: 'o3', status: 'final', category: vitals, code: weight, subject: ref('Patient/p2'), performer: [ref('Practitioner/dr2')],
    effectiveDateTime: '2019-03-03', valueQuantity: { value: 95, unit: 'kg', system: UCUM, code: 'kg' } },
  { resourceType: 'Observation', id: 'o4', status: 'preliminary', code: hr, subject: ref('Patient/p2'), effectiveDateTime: '2022-02-02', valueQuantity: { value: 110, unit: '/min', system: UCUM, code: '/min' } },
  { resourceType: 'Observation', id: 'o5', status: 'final', code: hr, subject: ref('Patient/p3') },
  { resourceType: 'RiskAssessment', id: 'r1', status: 'final', subject: ref('Patient/p1'), prediction: [{ probabilityDecimal: 0.2 }] },
  { resourceType: 'RiskAssessment', id: 'r2', status: 'final', subject: ref('Patient/p2'), prediction: [{ probabilityDecimal: 0.6 }] },
  { resourceType: 'ValueSet', id: 'vs1', status: 'active', url: 'http://ex.org/vs/a' },
  { resourceType: 'ValueSet', id: 'vs2', status: 'active', url: 'http://ex.org/vs/a/b' },
] as unknown as (Resource & { id: string })[];

/** A query and its hand-worked answer: the matches in order, and optionally includes (any order) and total. */
type Case = [url: string, matches: string[], extra?: { included?: string[]; total?: number | null; access?: AccessConstraint; compartment?: string }];

const O = (...ids: string[]): string[] => ids.map((i) => `Observation/${i}`);
const P = (...ids: string[]): string[] => ids.map((i) => `Patient/${i}`);
const RA = (...ids: string[]): string[] => ids.map((i) => `RiskAssessment/${i}`);

export function searchSuite(tap: Tap, adapter: SearchAdapter): void {
  const defs = loadDefinitions();
  const params = new SearchParams(defs);
  const indexer = new Indexer(defs, BASE, params);
  const parser = new SearchParser(defs, params);
  parser.setBaseUrl(BASE);
  const parse = (url: string, count = 50): SearchQuery => {
    const [path = '', qs = ''] = url.split('?');
    const types = path === '' ? [...defs.resourceTypes] : [path];
    return parser.parse({ types, params: [...new URLSearchParams(qs)] as [string, string][], handling: 'strict', defaultCount: count, maxCount: 1000 }).query;
  };
  const where = (type: string, qs: string): Expr => parse(`${type}?${qs}`).where;
  const compartment = (id: string) => parser.compartment('Patient', id);
  const keys = (p: SearchPage): string[] => p.records.map((r) => `${r.type}/${r.id}`);

  const onlyP2: AccessConstraint = { compartment: compartment('p2'), types: {}, otherTypes: { inCompartment: true } };
  const finalObservationsOnly: AccessConstraint = { types: { Observation: { inCompartment: false, filter: where('Observation', 'status=final') } } };
  const patientsAndPreliminary: AccessConstraint = {
    types: { Patient: { inCompartment: false }, Observation: { inCompartment: false, filter: where('Observation', 'status=preliminary') } },
  };

  const CASES: Case[] = [
    // string
    ['Patient?family=an', P('p1')], ['Patient?family=B', P('p2')], ['Patient?name=carla', P('p3')],
    ['Patient?given:exact=Carla', P('p3')], ['Patient?given:exact=carla', []], ['Patient?name:contains=ow', P('p2')],
    ['Organization?name=river', ['Organization/org1']], ['Organization?name=clinic', []],
    // token
    ['Patient?gender=female', P('p1', 'p3')], ['Patient?gender:not=female', P('p2')], ['Patient?active=true', P('p1')],
    [`Patient?identifier=${MRN}|B2`, P('p2')], ['Patient?identifier=B2', P('p2')], ['Patient?identifier=http://other|B2', []],
    [`Observation?code=${LOINC}|8867-4`, O('o1', 'o4', 'o5')], ['Observation?code=29463-7', O('o2', 'o3')],
    ['Observation?status=final,preliminary', O('o1', 'o2', 'o3', 'o4', 'o5')], ['Observation?code:text=heart', O('o1', 'o4', 'o5')],
    ['Observation?category=vital-signs&status=final', O('o1', 'o2', 'o3')], ['Observation?code=8867-4,29463-7&status:not=final', O('o4')],
    // missing
    ['Patient?general-practitioner:missing=true', P('p3')], ['Patient?general-practitioner:missing=false', P('p1', 'p2')],
    ['Observation?value-quantity:missing=true', O('o5')], ['Observation?date:missing=false', O('o1', 'o2', 'o3', 'o4')],
    // date, every prefix but ap (which moves with the clock)
    ['Patient?birthdate=1980', P('p1')], ['Patient?birthdate=eq1980-05-10', P('p1')], ['Patient?birthdate=ne1980', P('p2', 'p3')],
    ['Patient?birthdate=gt1980-05-10', P('p3')], ['Patient?birthdate=lt1980', P('p2')], ['Patient?birthdate=ge1980-05-10', P('p1', 'p3')],
    ['Patient?birthdate=le1980-05-10', P('p1', 'p2')], ['Patient?birthdate=sa1980', P('p3')], ['Patient?birthdate=eb1980', P('p2')],
    ['Observation?date=ge2020&date=lt2022', O('o1', 'o2')], ['Encounter?date=2020-01-15', ['Encounter/e1']],
    ['Patient?_lastUpdated=gt2000', P('p1', 'p2', 'p3')], ['Patient?_lastUpdated=lt2000', []],
    // number, every prefix
    ['RiskAssessment?probability=0.6', RA('r2')], ['RiskAssessment?probability=ne0.6', RA('r1')], ['RiskAssessment?probability=gt0.5', RA('r2')],
    ['RiskAssessment?probability=lt0.5', RA('r1')], ['RiskAssessment?probability=ge0.2', RA('r1', 'r2')], ['RiskAssessment?probability=le0.2', RA('r1')],
    ['RiskAssessment?probability=sa0.5', RA('r2')], ['RiskAssessment?probability=eb0.5', RA('r1')], ['RiskAssessment?probability=ap0.21', RA('r1')],
    // quantity
    ['Observation?value-quantity=gt80', O('o3', 'o4')], ['Observation?value-quantity=lt70', O('o2')], [`Observation?value-quantity=72|${UCUM}|/min`, O('o1')],
    [`Observation?value-quantity=72|${UCUM}|kg`, []], ['Observation?value-quantity=le72', O('o1', 'o2')], ['Observation?value-quantity=ge95', O('o3', 'o4')],
    ['Observation?value-quantity=ne60', O('o1', 'o3', 'o4')], ['Observation?value-quantity=sa100', O('o4')], ['Observation?value-quantity=eb70', O('o2')],
    ['Observation?value-quantity=ap100', O('o3', 'o4')],
    // reference, chains (nested), _has (nested)
    ['Observation?subject=Patient/p1', O('o1', 'o2')], ['Observation?patient=p2', O('o3', 'o4')], ['Encounter?subject=p1', ['Encounter/e1']],
    ['Observation?subject:Patient.gender=male', O('o3', 'o4')], ['Observation?patient.general-practitioner.name=smith', O('o1', 'o2')],
    ['Observation?encounter.class=AMB', O('o1')], ['Observation?subject:Patient.name=nobody', []],
    ['Patient?_has:Observation:patient:code=29463-7', P('p1', 'p2')], ['Patient?_has:Observation:patient:status=preliminary', P('p2')],
    ['Practitioner?_has:Patient:general-practitioner:_has:Observation:patient:status=preliminary', ['Practitioner/dr2']],
    ['Practitioner?_has:Patient:general-practitioner:_has:Observation:patient:code=29463-7', ['Practitioner/dr1', 'Practitioner/dr2']],
    // uri and composite
    ['ValueSet?url=http://ex.org/vs/a', ['ValueSet/vs1']], ['ValueSet?url:below=http://ex.org/vs', ['ValueSet/vs1', 'ValueSet/vs2']],
    ['ValueSet?url:above=http://ex.org/vs/a/b/c', ['ValueSet/vs1', 'ValueSet/vs2']], ['ValueSet?url:above=http://ex.org/vs/a', ['ValueSet/vs1']],
    [`Observation?code-value-quantity=${LOINC}|29463-7$gt80`, O('o3')], ['Observation?code-value-quantity=8867-4$lt100', O('o1')],
    // sorts (absent values last either way)
    ['Patient?_sort=birthdate', P('p2', 'p1', 'p3')], ['Patient?_sort=-birthdate', P('p3', 'p1', 'p2')], ['Patient?_sort=-_id', P('p3', 'p2', 'p1')],
    ['Observation?_sort=date', O('o3', 'o1', 'o2', 'o4', 'o5')], ['Observation?_sort=-date', O('o4', 'o2', 'o1', 'o3', 'o5')],
    ['Observation?_sort=-value-quantity', O('o4', 'o3', 'o1', 'o2', 'o5')], ['Observation?_sort=status,-date', O('o2', 'o1', 'o3', 'o5', 'o4')],
    // totals
    ['Observation?_total=accurate&_count=2', O('o1', 'o2'), { total: 5 }], ['Observation?_total=none', O('o1', 'o2', 'o3', 'o4', 'o5'), { total: null }],
    ['Observation?_count=2', O('o1', 'o2'), { total: null }], ['Observation?code=29463-7', O('o2', 'o3'), { total: 2 }],
    ['Observation?_total=estimate&_count=2', O('o1', 'o2'), { total: 5 }], ['Observation?_summary=count', [], { total: 5 }],
    // includes and revincludes, with :iterate
    ['Observation?_id=o1&_include=Observation:subject&_include=Observation:performer', O('o1'), { included: ['Patient/p1', 'Practitioner/dr1'] }],
    ['Observation?_id=o1&_include=Observation:subject&_include:iterate=Patient:general-practitioner&_include:iterate=Patient:organization', O('o1'),
      { included: ['Patient/p1', 'Practitioner/dr1', 'Organization/org1'] }],
    ['Patient?_id=p2&_revinclude=Observation:subject', P('p2'), { included: O('o3', 'o4') }],
    ['Patient?_id=p1&_revinclude=Encounter:subject&_revinclude:iterate=Observation:encounter', P('p1'), { included: ['Encounter/e1', 'Observation/o1'] }],
    ['Encounter?_include=Encounter:subject:Group', ['Encounter/e1'], { included: [] }],
    // system search, compartments
    ['?_id=p1,o1', ['Patient/p1', 'Observation/o1']],
    ['Observation?_sort=_id', O('o1', 'o2'), { compartment: 'p1' }], ['Encounter', ['Encounter/e1'], { compartment: 'p1' }],
    ['Patient', P('p2'), { compartment: 'p2' }],
    // access policies: in the matches, the includes, chains and _has
    ['Observation', O('o3', 'o4'), { access: onlyP2 }],
    ['Observation?_include=Observation:performer&_include=Observation:subject', O('o3', 'o4'), { access: onlyP2, included: ['Practitioner/dr2', 'Patient/p2'] }],
    ['Patient?_revinclude=RiskAssessment:subject', P('p2'), { access: onlyP2, included: RA('r2') }],
    ['Observation', O('o1', 'o2', 'o3', 'o5'), { access: finalObservationsOnly }],
    ['Observation?_include=Observation:subject', O('o1', 'o2', 'o3', 'o5'), { access: finalObservationsOnly, included: [] }],
    ['Observation?subject:Patient.gender=male', [], { access: finalObservationsOnly }],
    ['Patient?_has:Observation:patient:code=29463-7', [], { access: patientsAndPreliminary }],
    ['Patient?_has:Observation:patient:code=8867-4', P('p2'), { access: patientsAndPreliminary }],
    ['Encounter', [], { access: patientsAndPreliminary }],
  ];

  tap.test(`${adapter.name}: searches answer as worked out by hand`, async (t) => {
    const s = await adapter.open(indexer);
    t.teardown(() => s.close());
    for (const r of DATA) await s.update(r);
    await s.delete('Encounter', 'e2');
    for (const [url, matches, extra = {}] of CASES) {
      const q: SearchQuery = {
        ...parse(url),
        ...(extra.access ? { access: extra.access } : {}),
        ...(extra.compartment ? { compartment: compartment(extra.compartment) } : {}),
      };
      const label = `${url}${extra.access ? ' (access policy)' : ''}${extra.compartment ? ` in ${extra.compartment}'s compartment` : ''}`;
      const page = await s.search(q);
      t.same(keys(page), matches, label);
      if (extra.included) t.same(page.included.map((r) => `${r.type}/${r.id}`).sort(), [...extra.included].sort(), `${label}: included`);
      if (extra.total !== undefined) t.equal(page.total, extra.total ?? undefined, `${label}: total`);
    }
  });

  tap.test(`${adapter.name}: chains go through contained resources in the context of their container (R4 search.html#contained)`, async (t) => {
    const s = await adapter.open(indexer);
    t.teardown(() => s.close());
    const coverage = (id: string, status: string, payor: string) => ({ resourceType: 'Coverage', id, status, beneficiary: ref('Patient/p1'), payor: [ref(payor)] });
    const eob = (id: string, contained: unknown[], cov: string) => ({
      resourceType: 'ExplanationOfBenefit', id, status: 'active', patient: ref('Patient/p1'), contained, insurance: [{ focal: true, coverage: ref(cov) }],
    });
    const containedData = [
      ...DATA.filter((r) => r.resourceType === 'Patient' || r.resourceType === 'Organization' || r.resourceType === 'Practitioner'),
      coverage('cov-stored', 'active', 'Organization/org1'),
      eob('eob-active', [coverage('cov1', 'active', 'Organization/org1')], '#cov1'),
      // Same local id, another status, another container: must not answer for eob-active.
      eob('eob-cancelled', [coverage('cov1', 'cancelled', 'Organization/org1')], '#cov1'),
      eob('eob-stored', [], 'Coverage/cov-stored'),
      // A contained Coverage that insurance.coverage does not point at (the stored one is).
      eob('eob-other-ref', [coverage('cov1', 'draft', 'Organization/org1')], 'Coverage/cov-stored'),
      { resourceType: 'Observation', id: 'o-contained', status: 'final', code: hr, subject: ref('#pt'), performer: [ref('#dr')],
        contained: [{ resourceType: 'Patient', id: 'pt', name: [{ family: 'Zimmer' }], gender: 'other' }, { resourceType: 'Practitioner', id: 'dr', name: [{ family: 'Quill' }] }] },
      // A contained Patient the subject does not refer to (performer does): subject.name must not find it.
      { resourceType: 'Observation', id: 'o-performer', status: 'final', code: hr, subject: ref('Patient/p1'), performer: [ref('#who')],
        contained: [{ resourceType: 'Patient', id: 'who', name: [{ family: 'Zimmer' }] }] },
    ] as unknown as (Resource & { id: string })[];
    for (const r of containedData) await s.update(r);
    const E = (...ids: string[]): string[] => ids.map((i) => `ExplanationOfBenefit/${i}`);
    const cases: Case[] = [
      ['ExplanationOfBenefit?coverage.status=active', E('eob-active', 'eob-stored', 'eob-other-ref')],
      ['ExplanationOfBenefit?coverage:Coverage.status=cancelled', E('eob-cancelled')],
      ['ExplanationOfBenefit?coverage.status=draft', []],
      ['ExplanationOfBenefit?coverage.status:not=active', E('eob-cancelled')],
      ['ExplanationOfBenefit?coverage.status=active&coverage.status=cancelled', []],
      ['ExplanationOfBenefit?coverage._id=cov1', E('eob-active', 'eob-cancelled')],
      // From the contained resource on to a stored one, and none from a contained one through _has or _lastUpdated.
      ['ExplanationOfBenefit?coverage.payor:Organization.name=river&coverage.status=cancelled', E('eob-cancelled')],
      ['ExplanationOfBenefit?coverage.beneficiary:Patient.gender=male', []],
      ['ExplanationOfBenefit?coverage._lastUpdated=gt2000', E('eob-stored', 'eob-other-ref')],
      ['Observation?subject.name=zimmer', O('o-contained')], ['Observation?subject:Patient.gender=other', O('o-contained')],
      ['Observation?patient.family=zimmer', O('o-contained')], ['Observation?performer:Practitioner.family=quill', O('o-contained')],
      ['Observation?performer:Patient.name=zimmer', O('o-performer')], ['Observation?subject.name=quill', []],
      ['Observation?subject.name:missing=false', O('o-contained', 'o-performer')],
      // _include follows stored references only: a contained resource is in its container already.
      ['Observation?_id=o-contained,o-performer&_include=Observation:subject&_include=Observation:performer', O('o-contained', 'o-performer'), { included: P('p1') }],
      ['ExplanationOfBenefit?_include=ExplanationOfBenefit:coverage', E('eob-active', 'eob-cancelled', 'eob-stored', 'eob-other-ref'), { included: ['Coverage/cov-stored'] }],
      // A restricted caller sees through a contained resource what it sees of the container.
      ['ExplanationOfBenefit?coverage.status=cancelled', E('eob-cancelled'), { access: { types: { ExplanationOfBenefit: { inCompartment: false } } } }],
      ['ExplanationOfBenefit?coverage.status=active', E('eob-active'), { access: { types: { ExplanationOfBenefit: { inCompartment: false } } } }],
    ];
    for (const [url, matches, extra = {}] of cases) {
      const label = `${url}${extra.access ? ' (access policy)' : ''}`;
      const page = await s.search({ ...parse(url), ...(extra.access ? { access: extra.access } : {}) });
      t.same(keys(page), matches, label);
      if (extra.included) t.same(page.included.map((r) => `${r.type}/${r.id}`).sort(), [...extra.included].sort(), `${label}: included`);
    }
    // A new version replaces the contained index, a deletion drops it, and reindex rebuilds it.
    await s.update(eob('eob-active', [coverage('cov1', 'cancelled', 'Organization/org1')], '#cov1') as unknown as Resource & { id: string });
    t.same(keys(await s.search(parse('ExplanationOfBenefit?coverage.status=cancelled'))), E('eob-active', 'eob-cancelled'), 'after an update');
    await s.delete('ExplanationOfBenefit', 'eob-cancelled');
    t.same(keys(await s.search(parse('ExplanationOfBenefit?coverage.status=cancelled'))), E('eob-active'), 'after a delete');
    await s.reindex(undefined);
    t.same(keys(await s.search(parse('ExplanationOfBenefit?coverage.status=cancelled'))), E('eob-active'), 'after a reindex');
    t.same(keys(await s.search(parse('Observation?subject.name=zimmer'))), O('o-contained'), 'after a reindex');
  });

  tap.test(`${adapter.name}: sorted searches page forwards and back through every match`, async (t) => {
    const s = await adapter.open(indexer);
    t.teardown(() => s.close());
    for (const r of DATA) await s.update(r);
    for (const [url, all] of [
      ['Observation?_sort=-date', O('o4', 'o2', 'o1', 'o3', 'o5')], ['Observation?_sort=date', O('o3', 'o1', 'o2', 'o4', 'o5')],
      ['Patient?_sort=-birthdate', P('p3', 'p1', 'p2')], ['Observation?_sort=status,-_id', O('o5', 'o3', 'o2', 'o1', 'o4')],
      ['Observation', O('o1', 'o2', 'o3', 'o4', 'o5')],
    ] as [string, string[]][]) {
      const q = parse(url, 2);
      const pages: string[][] = [];
      let page = await s.search(q);
      pages.push(keys(page));
      t.equal(page.previous, undefined, `${url}: no page before the first`);
      while (page.next) {
        page = await s.search({ ...q, cursor: page.next });
        pages.push(keys(page));
      }
      t.same(pages.flat(), all, `${url}: forwards`);
      const back: string[][] = [];
      while (page.previous) {
        page = await s.search({ ...q, cursor: page.previous });
        back.unshift(keys(page));
      }
      t.same(back, pages.slice(0, -1), `${url}: back again, the same pages`);
    }
    // Three writes in distinct milliseconds: _lastUpdated orders them, forwards and back.
    for (const id of ['p3', 'p1', 'p2']) {
      await new Promise((r) => setTimeout(r, 3));
      const cur = await s.read('Patient', id);
      if (cur.status === 'found') await s.update(JSON.parse(cur.record.json ?? '{}') as Resource & { id: string });
    }
    const byUpdate = parse('Patient?_sort=-_lastUpdated', 1);
    const first = await s.search(byUpdate);
    t.same(keys(first), P('p2'));
    const second = await s.search({ ...byUpdate, cursor: first.next ?? '' });
    t.same(keys(second), P('p1'));
    const third = await s.search({ ...byUpdate, cursor: second.next ?? '' });
    t.same(keys(third), P('p3'));
    t.equal(third.next, undefined);
    t.same(keys(await s.search({ ...byUpdate, cursor: third.previous ?? '' })), P('p1'), '_lastUpdated: back');
    t.same(keys(await s.search(parse('Patient?_sort=_lastUpdated'))), P('p3', 'p1', 'p2'));
    const bad = s.search({ ...parse('Observation?_sort=date'), cursor: 'not-a-cursor' });
    await t.rejects(bad, { code: 'invalid-cursor' });
  });

  tap.test(`${adapter.name}: referencesTo, and reindex after the indexer learns a parameter`, async (t: Test) => {
    const s = await adapter.open(indexer);
    t.teardown(() => s.close());
    for (const r of DATA) await s.update(r);
    await s.delete('Encounter', 'e2');
    const refs = async (type: string, id: string): Promise<string[]> => (await s.referencesTo(type, id, 100)).map((r) => `${r.type}/${r.id}`).sort();
    t.same(await refs('Patient', 'p1'), ['Encounter/e1', 'Observation/o1', 'Observation/o2', 'RiskAssessment/r1']);
    t.same(await refs('Patient', 'p2'), ['Observation/o3', 'Observation/o4', 'RiskAssessment/r2'], 'a deleted resource refers to nothing');
    t.same(await refs('Practitioner', 'dr1'), ['Observation/o1', 'Patient/p1']);
    t.same((await s.referencesTo('Patient', 'p1', 2)).length, 2, 'at most limit');
    let progress = 0;
    t.equal(await s.reindex(['Patient'], (p) => { progress = p.done; }), 3, 'the live Patients');
    t.equal(progress, 3);
    t.equal(await s.reindex(undefined), DATA.length - 1, 'every live resource');
    t.same(keys(await s.search(parse('Patient?gender=female'))), P('p1', 'p3'), 'searches after reindex');
  });
}
