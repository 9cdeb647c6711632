// ORU^R01 and ADT → FHIR: the exact transaction each message gives (pure mapping, no store).
import t, { type Test } from 'tap';
import type { Bundle, BundleEntry, DiagnosticReport, Observation, ServiceRequest } from 'fhir/r4.js';
import { parseMessage, V2ParseError } from '../../src/v2/er7.js';
import { mapMessage } from '../../src/v2/map.js';
import { V2Error } from '../../src/v2/errors.js';
import { ADT_A04, LAB_A, LAB_B, MULTI_OBR } from '../helpers/v2.js';

const OPTS = { createPatients: true, defaultOffset: '+00:00', allowedFacilities: [] as string[] };
const map = (text: string, opts = OPTS): Bundle => mapMessage(parseMessage(text), opts).bundle;

/** Temporary ids replaced by their order of appearance, so the expected FHIR can be written out. */
function normalise(b: Bundle): BundleEntry[] {
  const seen = new Map<string, string>();
  const json = JSON.stringify(b.entry).replace(/urn:uuid:[0-9a-f-]{36}/g, (u) => {
    if (!seen.has(u)) seen.set(u, `urn:uuid:#${seen.size + 1}`);
    return seen.get(u) as string;
  });
  return JSON.parse(json) as BundleEntry[];
}

const LAB = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] };
const interp = (code: string) => [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code }] }];
const mgdl = { unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' };
const mmol = { unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' };
const type = (code: string) => ({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code }] });
const ACME = 'urn:flint:v2:id:ACME';

t.test('Lab A ORU^R01 (v2.5.1, LOINC/UCUM) gives Patient, ServiceRequest, six Observations and a DiagnosticReport in one transaction', async (t) => {
  const b = map(LAB_A);
  t.equal(b.type, 'transaction');
  const entries = normalise(b);
  const patientRef = { reference: 'urn:uuid:#1' };
  const order = { reference: 'urn:uuid:#2' };
  const obs = (n: number, code: string, display: string, rest: Partial<Observation>): BundleEntry => ({
    fullUrl: `urn:uuid:#${n + 2}`,
    resource: {
      resourceType: 'Observation', identifier: [{ system: ACME, value: `F-1001-${n}` }], basedOn: [order], status: 'final', category: [LAB],
      code: { coding: [{ system: 'http://loinc.org', code, display }] }, subject: patientRef, effectiveDateTime: '2024-03-01T07:30:00+01:00', ...rest,
    } as Observation,
    request: { method: 'PUT', url: `Observation?identifier=${encodeURIComponent(`${ACME}|F-1001-${n}`)}` },
  });
  t.same(entries, [
    {
      fullUrl: 'urn:uuid:#1',
      resource: {
        resourceType: 'Patient',
        identifier: [{ type: type('MR'), system: 'urn:oid:2.16.840.1.113883.3.1234', value: 'MRN123' }],
        name: [{ family: 'Doe', given: ['Jane', 'Q'], prefix: ['Dr'] }],
        birthDate: '1980-02-15', gender: 'female',
        address: [{ use: 'home', line: ['1 Main St'], city: 'Springfield', state: 'IL', postalCode: '62701', country: 'USA' }],
        telecom: [{ system: 'phone', value: '217 5551234', use: 'home' }],
      },
      request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${encodeURIComponent('urn:oid:2.16.840.1.113883.3.1234|MRN123')}` },
    },
    {
      fullUrl: 'urn:uuid:#2',
      resource: {
        resourceType: 'ServiceRequest',
        identifier: [{ type: type('PLAC'), system: 'urn:flint:v2:id:CLINIC', value: 'ORD-77' }, { type: type('FILL'), system: ACME, value: 'F-1001' }],
        status: 'completed', intent: 'order', code: { coding: [{ system: 'http://loinc.org', code: '24323-8', display: 'Comprehensive metabolic panel' }] }, subject: patientRef,
      },
      request: { method: 'POST', url: 'ServiceRequest', ifNoneExist: `identifier=${encodeURIComponent('urn:flint:v2:id:CLINIC|ORD-77')}` },
    },
    obs(1, '2345-7', 'Glucose', {
      valueQuantity: { value: 182, ...mgdl }, interpretation: interp('H'),
      referenceRange: [{ low: { value: 70, ...mgdl }, high: { value: 99, ...mgdl } }],
    }),
    obs(2, '2951-2', 'Sodium', {
      valueQuantity: { value: 140, ...mmol }, interpretation: interp('N'), note: [{ text: 'Verified by repeat analysis' }],
      referenceRange: [{ low: { value: 136, ...mmol }, high: { value: 145, ...mmol } }],
    }),
    obs(3, '2160-0', 'Creatinine', {
      valueQuantity: { value: 0.3, ...mgdl, comparator: '<' }, interpretation: interp('L'),
      referenceRange: [{ low: { value: 0.6, ...mgdl }, high: { value: 1.2, ...mgdl } }],
    }),
    obs(4, '8251-1', 'Service comment', { valueString: 'Fasting sample' }),
    obs(5, '882-1', 'ABO and Rh group', { valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '278149003', display: 'Blood group A Rh(D) positive' }] } }),
    (() => {
      const e = obs(6, '13945-1', 'Erythrocytes [#/area] in Urine sediment by Microscopy high power field', {});
      const hpf = { unit: 'RBC per HPF', system: 'http://unitsofmeasure.org', code: '{RBCs}/[HPF]' };
      Object.assign(e.resource as Observation, { status: 'preliminary', valueRange: { low: { value: 10, ...hpf }, high: { value: 20, ...hpf } }, interpretation: interp('A'), referenceRange: [{ high: { value: 5, ...hpf } }] });
      return e;
    })(),
    {
      fullUrl: 'urn:uuid:#9',
      resource: {
        resourceType: 'DiagnosticReport',
        identifier: [{ type: type('PLAC'), system: 'urn:flint:v2:id:CLINIC', value: 'ORD-77' }, { type: type('FILL'), system: ACME, value: 'F-1001' }],
        basedOn: [order], status: 'final', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'CH' }] }],
        code: { coding: [{ system: 'http://loinc.org', code: '24323-8', display: 'Comprehensive metabolic panel' }] }, subject: patientRef,
        effectiveDateTime: '2024-03-01T07:30:00+01:00',
        result: [3, 4, 5, 6, 7, 8].map((n) => ({ reference: `urn:uuid:#${n}` })),
        conclusion: 'Specimen slightly hemolyzed',
      },
      request: { method: 'PUT', url: `DiagnosticReport?identifier=${encodeURIComponent(`${ACME}|F-1001`)}` },
    },
    statusPatch('urn:flint:v2:id:CLINIC|ORD-77', 'completed'),
  ]);
});

/** The entry that sets an existing order's status: a conditional JSON Patch in a Binary. */
function statusPatch(identifier: string, status: string): BundleEntry {
  return {
    resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from('[{"op":"replace","path":"/status","value":"' + status + '"}]').toString('base64') },
    request: { method: 'PATCH', url: `ServiceRequest?identifier=${encodeURIComponent(identifier)}` },
  };
}

t.test('NTEs right after PID are patient notes: each DiagnosticReport of the message carries them as the R5 DiagnosticReport.note', async (t) => {
  const text = MULTI_OBR.replace(/(PID\|[^\r]*\r)/, '$1NTE|1||Patient is fasting\rNTE|2||Needle phobia^second line\r');
  const entries = normalise(map(text));
  const reports = entries.filter((e) => e.resource?.resourceType === 'DiagnosticReport').map((e) => e.resource as DiagnosticReport);
  const note = 'http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note';
  t.equal(reports.length, 2);
  for (const r of reports) {
    t.same(r.extension, [{ url: note, valueAnnotation: { text: 'Patient is fasting' } }, { url: note, valueAnnotation: { text: 'Needle phobia' } }]);
    t.equal(r.conclusion, undefined, 'not mixed with the order notes');
  }
  t.notOk(entries.some((e) => (e.resource as Observation).note), 'not on the results either');
  t.notOk(normalise(map(MULTI_OBR)).some((e) => (e.resource as DiagnosticReport).extension), 'no patient NTE, no extension');
});

t.test('the order status comes from ORC-5 (table 0038), else from the results; it is set on the ServiceRequest whether new or existing', async (t) => {
  const cases: [string, string][] = [['CM', 'completed'], ['IP', 'active'], ['CA', 'revoked'], ['HD', 'on-hold'], ['', 'completed']];
  for (const [orc5, status] of cases) {
    const text = MULTI_OBR.replace('OBR|1|', `ORC|RE||F-2001^ACME||${orc5}\rOBR|1|`);
    const entries = normalise(map(text));
    const srs = entries.filter((e) => e.resource?.resourceType === 'ServiceRequest');
    t.equal((srs[0]?.resource as ServiceRequest).status, status, `ORC-5 ${orc5 || '(empty)'}`);
    t.equal((srs[1]?.resource as ServiceRequest).status, 'completed', 'the second OBR has no ORC: from its final results');
    t.same(entries.filter((e) => e.request?.method === 'PATCH'), [statusPatch(`${ACME}|F-2001`, status), statusPatch(`${ACME}|F-2002`, 'completed')]);
  }
  const prelim = normalise(map(MULTI_OBR.replace(/\|H\|\|\|F/g, '|H|||P')));
  t.same(prelim.filter((e) => e.resource?.resourceType === 'ServiceRequest').map((e) => (e.resource as ServiceRequest).status), ['active', 'active'], 'preliminary results: still active');
});

t.test('Lab B ORU^R01 (v2.3, LF line ends, local codes, no assigning authority) scopes identifiers by MSH-4 and decodes escapes', async (t) => {
  const entries = normalise(map(LAB_B));
  const patient = entries[0]?.resource as { identifier: unknown };
  t.same(patient.identifier, [{ system: 'urn:flint:v2:id:NORTHLAB', value: '778899' }]);
  const [wbc, hgb, comment] = entries.slice(2, 5).map((e) => e.resource as Observation);
  t.same(wbc?.code, { coding: [{ system: 'urn:flint:v2:cs:L', code: 'WBC', display: 'White cells' }] });
  t.same(wbc?.valueQuantity, { value: 7.2, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' }, 'a unit without coding system that parses as UCUM is UCUM');
  t.equal(wbc?.effectiveDateTime, '2024-03-02T09:00:00Z', 'a time without offset takes the configured one');
  t.same(hgb?.interpretation, interp('L'));
  t.equal(comment?.valueString, 'Result checked\nsecond line', '\\.br\\ is a line break');
  const report = entries[5]?.resource as DiagnosticReport;
  t.equal(report.status, 'final', 'no OBR-25: final because every result is');
  t.same(report.category, [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB' }] }]);
});

t.test('several OBRs give one DiagnosticReport each, results keyed by their own filler order number', async (t) => {
  const entries = normalise(map(MULTI_OBR));
  const reports = entries.filter((e) => e.resource?.resourceType === 'DiagnosticReport');
  t.equal(reports.length, 2);
  t.same(entries.filter((e) => e.resource?.resourceType === 'Observation').map((e) => e.request?.url), [
    `Observation?identifier=${encodeURIComponent(`${ACME}|F-2001-1`)}`,
    `Observation?identifier=${encodeURIComponent(`${ACME}|F-2002-1`)}`,
  ]);
  const a1c = entries.find((e) => (e.resource as Observation).code?.coding?.[0]?.code === '4548-4' && e.resource?.resourceType === 'Observation');
  t.same((a1c?.resource as Observation).valueQuantity, { value: 6.1, unit: '%', system: 'http://unitsofmeasure.org', code: '%' });
});

t.test('without MLLP_CREATE_PATIENTS the patient is a conditional reference (the transaction fails if absent)', async (t) => {
  const b = map(LAB_A, { ...OPTS, createPatients: false });
  t.notOk(b.entry?.some((e) => e.resource?.resourceType === 'Patient'));
  const obs = b.entry?.find((e) => e.resource?.resourceType === 'Observation')?.resource as Observation;
  t.equal(obs.subject?.reference, `Patient?identifier=${encodeURIComponent('urn:oid:2.16.840.1.113883.3.1234|MRN123')}`);
});

t.test('ADT^A04 and ADT^A08 are a conditional update of the Patient by identifier', async (t) => {
  const b = map(ADT_A04);
  t.same(b.entry, [{
    resource: {
      resourceType: 'Patient', identifier: [{ type: type('MR'), system: 'urn:flint:v2:id:CLINIC', value: 'P-900' }],
      name: [{ family: 'Roe', given: ['Richard'] }], birthDate: '1955-05-05', gender: 'male', address: [{ line: ['5 Elm St'], city: 'Salem', state: 'OR', postalCode: '97301' }],
    },
    request: { method: 'PUT', url: `Patient?identifier=${encodeURIComponent('urn:flint:v2:id:CLINIC|P-900')}` },
  }]);
});

function refused(t: Test, text: string, ack: 'AE' | 'AR', code: number, where?: string): void {
  try {
    map(text);
    t.fail('expected a refusal');
  } catch (err) {
    t.ok(err instanceof V2Error, String(err));
    const e = err as V2Error;
    t.equal(e.ack, ack, e.message);
    t.equal(e.code, code, e.message);
    if (where) t.equal(`${e.location?.segment}-${e.location?.field}`, where);
  }
}

const MSH = 'MSH|^~\\&|ACMELAB|ACME|FLINT|CLINIC|20240301083000||ORU^R01|X1|P|2.5.1';
const PID = 'PID|1||MRN123^^^CLINIC^MR||Doe^Jane';
const OBR = 'OBR|1||F-9^ACME|2345-7^Glucose^LN|||20240301073000';

t.test('bad messages are refused with the reason and its place', async (t) => {
  refused(t, [MSH, PID, OBR, 'OBX|1|NM|2345-7^Glucose^LN||high|mg/dL|||||F'].join('\r'), 'AE', 102, 'OBX-5');
  refused(t, [MSH, PID, OBR, 'OBX|1|NM|2345-7^Glucose^LN||5|mg/dL|||||Q'].join('\r'), 'AE', 103, 'OBX-11');
  refused(t, [MSH, PID, OBR, 'OBX|1|ED|PDF^Report^L||^AP^PDF^Base64^AAAA||||||F'].join('\r'), 'AE', 102, 'OBX-2');
  refused(t, [MSH, PID, OBR, 'OBX|1|NM|2345-7^Glucose^LN||5|mg/dL|||||F', 'OBX|1|NM|2345-7^Glucose^LN||6|mg/dL|||||F'].join('\r'), 'AE', 205, 'OBX-1');
  refused(t, [MSH, PID, 'OBR|1|||2345-7^Glucose^LN', 'OBX|1|NM|2345-7^Glucose^LN||5|mg/dL|||||F'].join('\r'), 'AE', 101, 'OBR-3');
  refused(t, [MSH, PID].join('\r'), 'AE', 100);
  refused(t, [MSH, 'PID|1||^^^CLINIC^MR', OBR].join('\r'), 'AE', 101, 'PID-3');
  refused(t, [MSH, PID, 'OBX|1|NM|2345-7^Glucose^LN||5|mg/dL|||||F'].join('\r'), 'AE', 100);
  refused(t, [MSH.replace('ORU^R01', 'ORM^O01'), PID].join('\r'), 'AR', 200, 'MSH-9');
  refused(t, [MSH.replace('ORU^R01', 'ORU^R30'), PID].join('\r'), 'AR', 201, 'MSH-9');
  refused(t, [MSH.replace('|2.5.1', '|2.8'), PID].join('\r'), 'AR', 203, 'MSH-12');
  refused(t, [MSH.replace('|X1|', '||'), PID].join('\r'), 'AR', 101, 'MSH-10');
});

t.test('the facility allow-list refuses other senders with AR', async (t) => {
  t.throws(() => mapMessage(parseMessage(LAB_B), { ...OPTS, allowedFacilities: ['ACME'] }), { ack: 'AR', code: 204 });
  t.doesNotThrow(() => mapMessage(parseMessage(LAB_A), { ...OPTS, allowedFacilities: ['ACME'] }));
});

t.test('unparseable bytes: empty, no MSH, wrong encoding characters', async (t) => {
  for (const text of ['', '\r\r', 'PID|1||X', 'MSH|^^\\&|A|B', 'MSH|^~|A|B', 'MSHX^~\\&|A', 'MSH', 'garbage \u0000\u0001', 'MSH|^~\\&|A|B|||||X|P|2.5\rpid|lower']) {
    t.throws(() => parseMessage(text), V2ParseError, JSON.stringify(text).slice(0, 40));
  }
});
