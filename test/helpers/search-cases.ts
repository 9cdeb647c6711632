// Search cases shared by the differential tests (test/store/mongo-differential.test.ts: SQLite
// against MongoDB; test/subscriptions/match-differential.test.ts: in-memory subscription matching
// against both): hand-made resources for what the fixtures lack, and the queries.
import type { CodeSystem, Resource, ValueSet } from 'fhir/r4.js';
import type { TerminologySource } from '../../src/terminology/expand.js';
import { loadDefinitions, type Definitions } from '../../src/definitions/registry.js';
import { Indexer } from '../../src/search/extract.js';
import { SearchParams } from '../../src/search/params.js';
import { SearchParser } from '../../src/search/parse.js';
import type { Store } from '../../src/store/port.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import { clinic } from './app.js';
import { syntheaResources } from './synthea.js';
import { MingoDb } from './mingo-db.js';

export const SITE = 'http://example.org/fhir/CodeSystem/site';

/** Hand-made resources for what the fixtures lack: numbers, URIs, canonicals, open ranges, absent sort values. */
export const handMade = [
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
/** The definitions' terminology, with the site CodeSystem and the mixed ValueSet added. */
function searchTerminology(defs: Definitions): TerminologySource {
  return {
    codeSystem: (url) => (url === SITE ? siteSystem : defs.codeSystem(url)),
    valueSet: (url) => (url === mixedSet.url ? mixedSet : defs.valueSet(url)),
  };
}

export interface SearchMachinery {
  defs: Definitions;
  indexer: Indexer;
  /** Parses on `http://flint.test/fhir`, as the indexer indexes. */
  parser: SearchParser;
  /** What parsing these cases needs (see searchTerminology). */
  terminology: TerminologySource;
}

/** The base definitions, an indexer and a parser on one base URL, and the cases' terminology. */
export function searchMachinery(): SearchMachinery {
  const base = 'http://flint.test/fhir';
  const defs = loadDefinitions();
  const params = new SearchParams(defs);
  const parser = new SearchParser(defs, params);
  parser.setBaseUrl(base);
  return { defs, indexer: new Indexer(defs, base, params), parser, terminology: searchTerminology(defs) };
}

export const QUERIES = (p: string[]): string[] => [
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
  // chains into contained resources (every Synthea ExplanationOfBenefit contains its Coverage and referral)
  'ExplanationOfBenefit?coverage.status=active&_sort=_id', 'ExplanationOfBenefit?coverage:Coverage.type:text=no_ins', 'ExplanationOfBenefit?coverage.status=cancelled',
  'ExplanationOfBenefit?coverage.beneficiary:missing=false&_count=7', 'ExplanationOfBenefit?coverage.beneficiary:Patient.gender=female',
  'ExplanationOfBenefit?coverage.status:not=active', 'ExplanationOfBenefit?coverage._lastUpdated=gt2000',
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


export interface Loaded {
  sqlite: Store;
  mongo: Store;
  /** The Synthea patients' ids. */
  synthea: string[];
  /** Everything written (before the later versions and deletions). */
  written: (Resource & { id: string })[];
}

/** The clinic, the hand-made resources and `patients` Synthea patients, in SQLite and in MongoDB (mingo) alike. */
export async function loadBoth(indexer: Indexer, patients: number): Promise<Loaded> {
  const sqlite = SqliteStore.open({ filename: ':memory:', indexer });
  const mongo = await MongoStore.open({ db: new MingoDb(), indexer });
  const synthea = syntheaResources(patients);
  const written = [...clinic(), ...handMade, ...synthea] as (Resource & { id: string })[];
  for (const r of written) {
    await sqlite.update(r);
    await mongo.update(r);
  }
  // A few later versions and deletions, so that only current versions may match.
  for (const s of [sqlite, mongo]) {
    await s.update({ ...handMade[1], prediction: [{ probabilityDecimal: 0.55 }] } as unknown as Resource & { id: string });
    await s.delete('ValueSet', 'vs-c');
    await s.delete('Observation', 'obs-nodate');
  }
  return { sqlite, mongo, written, synthea: synthea.filter((r) => r.resourceType === 'Patient').map((r) => r.id) };
}
