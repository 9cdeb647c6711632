// ORU^R01 (v2.3–2.5.1) → one FHIR transaction Bundle: PID → Patient, OBR → DiagnosticReport
// (+ ServiceRequest by placer/filler order number), OBX → Observation, NTE → note. Results are
// keyed by filler order number (+ OBX set id), so a correction updates them (conditional update,
// R4 http.html#cond-update) instead of adding duplicates.
import { randomUUID } from 'node:crypto';
import type {
  Annotation, BundleEntry, CodeableConcept, DiagnosticReport, Identifier, Observation, ObservationReferenceRange, Quantity, ServiceRequest,
} from 'fhir/r4.js';
import type { Segment } from './er7.js';
import { codeableConcept, dateTime, eiIdentifier, localSystem, UCUM } from './datatypes.js';
import { ERROR_CODES, fieldError, V2Error } from './errors.js';
import { tokenQuery, type MappedPatient } from './patient.js';
import { isUcumUnit } from '../search/ucum.js';

export interface MapOptions {
  /** Create a Patient absent from the store (else the message is refused with AE). */
  createPatients: boolean;
  /** Time zone offset (+HH:MM) for v2 times that carry none. */
  defaultOffset: string;
}

type Entry = BundleEntry;

const RESULT_STATUS: Record<string, Observation['status']> = {
  F: 'final', C: 'corrected', P: 'preliminary', X: 'cancelled', R: 'preliminary', S: 'preliminary', I: 'registered', D: 'entered-in-error', W: 'entered-in-error',
};
const REPORT_STATUS: Record<string, DiagnosticReport['status']> = {
  F: 'final', C: 'corrected', P: 'preliminary', X: 'cancelled', A: 'partial', R: 'preliminary', I: 'registered', O: 'registered', S: 'registered',
};
/** Abnormal flags (HL7 table 0078) → v3 ObservationInterpretation, which shares these codes. */
const FLAGS = new Set(['L', 'H', 'LL', 'HH', '<', '>', 'N', 'A', 'AA', 'U', 'D', 'B', 'W', 'S', 'R', 'I', 'MS', 'VS', 'NEG', 'POS', 'IND', 'E', 'EX', 'HX', 'LX']);
const COMPARATORS = new Set(['<', '<=', '>', '>=']);

/** ORC-5 order status (HL7 table 0038) → ServiceRequest.status (v2-to-FHIR IG). */
const ORDER_STATUS: Record<string, ServiceRequest['status']> = {
  A: 'active', CA: 'revoked', CM: 'completed', DC: 'revoked', ER: 'entered-in-error', HD: 'on-hold', IP: 'active', RP: 'revoked', SC: 'active',
};
/** The R5 element DiagnosticReport.note as an R4 cross-version extension (as the IG does for Appointment.note). */
export const REPORT_NOTE = 'http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note';

interface Order {
  obr: Segment;
  /** The ORC just before the OBR, if any (ORU_R01 ORDER_OBSERVATION group). */
  orc?: Segment;
  obrSeq: number;
  notes: string[];
  results: { obx: Segment; seq: number; notes: string[] }[];
}

/**
 * Groups OBR, its OBX and the NTEs that follow each (v2.5.1 ORU_R01 message structure), from
 * the segments after PID: NTEs right after PID (PATIENT group) are the patient notes.
 */
function orders(segments: readonly Segment[]): { list: Order[]; patientNotes: string[] } {
  const out: Order[] = [];
  const patientNotes: string[] = [];
  const counts = new Map<string, number>();
  let lastNotes: string[] | undefined = patientNotes;
  let orc: Segment | undefined;
  for (const s of segments) {
    const seq = (counts.get(s.name) ?? 0) + 1;
    counts.set(s.name, seq);
    if (s.name === 'OBR') {
      const o: Order = { obr: s, ...(orc ? { orc } : {}), obrSeq: seq, notes: [], results: [] };
      orc = undefined;
      out.push(o);
      lastNotes = o.notes;
    } else if (s.name === 'OBX') {
      const o = out.at(-1);
      if (!o) throw new V2Error('AE', ERROR_CODES.segmentSequence, 'OBX before any OBR', { segment: 'OBX', sequence: seq });
      const r = { obx: s, seq, notes: [] as string[] };
      o.results.push(r);
      lastNotes = r.notes;
    } else if (s.name === 'NTE') {
      // NTE-3 comment (repeating); NTEs after PID or elsewhere are not mapped.
      const text = s.reps(3).map((c) => c[0] ?? '').join('\n');
      if (lastNotes && text) lastNotes.push(text);
    } else if (s.name === 'ORC') {
      orc = s;
    } else if (s.name === 'PV1') {
      lastNotes = undefined;
    }
  }
  return { list: out, patientNotes };
}

/** ServiceRequest.status from ORC-5, else from the report's status. */
function orderStatus(o: Order, report: DiagnosticReport['status']): ServiceRequest['status'] {
  const fromOrc = ORDER_STATUS[(o.orc?.get(5) ?? '').toUpperCase()];
  if (fromOrc) return fromOrc;
  if (report === 'final' || report === 'corrected' || report === 'amended' || report === 'appended') return 'completed';
  if (report === 'cancelled') return 'revoked';
  if (report === 'entered-in-error') return 'entered-in-error';
  return 'active';
}

/** A conditional PATCH setting ServiceRequest.status (R4 http.html#patch: a Binary holding a JSON Patch). */
function statusPatch(criteria: string, status: ServiceRequest['status']): Entry {
  const ops = [{ op: 'replace', path: '/status', value: status }];
  return {
    resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from(JSON.stringify(ops)).toString('base64') },
    request: { method: 'PATCH', url: `ServiceRequest?${criteria}` },
  };
}

function number(text: string): number | undefined {
  const t = text.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(t)) return undefined;
  return Number(t);
}

/** OBX-6 (units, CWE) → the unit part of a Quantity: UCUM when it is a UCUM unit. */
function unitOf(obx: Segment): Omit<Quantity, 'value'> {
  const code = obx.get(6, 1);
  const text = obx.get(6, 2);
  const system = obx.get(6, 3);
  if (!code && !text) return {};
  const ucum = code !== '' && ((/^UCUM$/i.test(system) || system === '') && isUcumUnit(code));
  return { unit: text || code, ...(ucum ? { system: UCUM, code } : {}) };
}

function quantity(value: number, unit: Omit<Quantity, 'value'>): Quantity {
  return { value, ...unit };
}

/** OBX-7 ("3.9-6.1", "<10", ">5", text) → referenceRange. */
function referenceRange(text: string, unit: Omit<Quantity, 'value'>): ObservationReferenceRange | undefined {
  const t = text.trim();
  if (!t) return undefined;
  const range = /^([+-]?\d+\.?\d*)\s*-\s*([+-]?\d+\.?\d*)$/.exec(t);
  if (range) return { low: quantity(Number(range[1]), unit), high: quantity(Number(range[2]), unit) };
  const below = /^<=?\s*([+-]?\d+\.?\d*)$/.exec(t);
  if (below) return { high: quantity(Number(below[1]), unit) };
  const above = /^>=?\s*([+-]?\d+\.?\d*)$/.exec(t);
  if (above) return { low: quantity(Number(above[1]), unit) };
  return { text: t };
}

/** OBX-2/OBX-5 → Observation.value[x]. */
function value(obx: Segment, seq: number, status: Observation['status']): Partial<Observation> {
  const type = obx.get(2).toUpperCase();
  const reps = obx.field(5);
  if (reps.length === 0 || (reps.length === 1 && reps[0]?.every((c) => c.every((s) => s === '')))) {
    if (status === 'cancelled' || status === 'entered-in-error' || status === 'registered') return {};
    throw fieldError(ERROR_CODES.requiredField, 'observation value is empty', 'OBX', seq, 5);
  }
  const first = obx.reps(5)[0] ?? [];
  const unit = unitOf(obx);
  switch (type) {
    case 'NM': {
      const n = number(first[0] ?? '');
      if (n === undefined) throw fieldError(ERROR_CODES.dataType, `"${(first[0] ?? '').slice(0, 30)}" is not a number (OBX-2 is NM)`, 'OBX', seq, 5);
      return { valueQuantity: quantity(n, unit) };
    }
    case 'ST': case 'TX': case 'FT':
      return { valueString: obx.reps(5).map((c) => c.join('^')).join('\n') };
    case 'CE': case 'CWE': case 'CNE': {
      const cc = codeableConcept(first);
      if (!cc) throw fieldError(ERROR_CODES.dataType, 'coded value is empty', 'OBX', seq, 5);
      return { valueCodeableConcept: cc };
    }
    case 'SN': {
      // SN: comparator ^ num1 ^ separator/suffix ^ num2 (v2.5.1 2.A.74)
      const [cmp = '', n1 = '', sep = '', n2 = ''] = first;
      const a = number(n1);
      const b = number(n2);
      if (a === undefined) throw fieldError(ERROR_CODES.dataType, 'structured numeric has no number', 'OBX', seq, 5);
      if (sep === '-' && b !== undefined) return { valueRange: { low: quantity(a, unit), high: quantity(b, unit) } };
      if ((sep === ':' || sep === '/') && b !== undefined) return { valueRatio: { numerator: { value: a }, denominator: { value: b } } };
      if (sep === '' && (cmp === '' || cmp === '=')) return { valueQuantity: quantity(a, unit) };
      if (sep === '' && COMPARATORS.has(cmp)) return { valueQuantity: { ...quantity(a, unit), comparator: cmp as Quantity['comparator'] } };
      throw fieldError(ERROR_CODES.dataType, `structured numeric "${first.join('^').slice(0, 40)}" is not supported`, 'OBX', seq, 5);
    }
    case 'DT': case 'TS': case 'DTM': {
      const dt = dateTime(first[0] ?? '', '+00:00');
      if (!dt) throw fieldError(ERROR_CODES.dataType, 'not a date/time', 'OBX', seq, 5);
      return { valueDateTime: dt };
    }
    default:
      throw fieldError(ERROR_CODES.dataType, `value type "${type.slice(0, 5)}" is not supported (NM, ST, TX, FT, CE, CWE, SN, DT, TS)`, 'OBX', seq, 2);
  }
}

function interpretation(obx: Segment): CodeableConcept[] {
  return obx.reps(8).map((c) => c[0] ?? '').filter((f) => FLAGS.has(f.toUpperCase())).map((f) => ({
    coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: f.toUpperCase() }],
  }));
}

const notes = (texts: readonly string[]): Annotation[] => texts.map((text) => ({ text }));

function orderKey(o: Order, facility: string): { filler?: Identifier; placer?: Identifier; key: Identifier & { system: string; value: string } } {
  const fallback = facility ? localSystem('id', facility) : undefined;
  const filler = eiIdentifier(o.obr.reps(3)[0] ?? [], 'FILL', fallback);
  const placer = eiIdentifier(o.obr.reps(2)[0] ?? [], 'PLAC', fallback);
  const key = filler ?? placer;
  if (!key?.system || !key.value) throw fieldError(ERROR_CODES.requiredField, 'filler (OBR-3) or placer (OBR-2) order number is required', 'OBR', o.obrSeq, 3);
  return { ...(filler ? { filler } : {}), ...(placer ? { placer } : {}), key: key as Identifier & { system: string; value: string } };
}

/** The entries for the message's patient: a reference to use, and the entry creating it if asked. */
export function patientEntries(p: MappedPatient, opts: MapOptions): { reference: string; entries: Entry[] } {
  const criteria = `identifier=${tokenQuery(p.key.system, p.key.value)}`;
  if (!opts.createPatients) return { reference: `Patient?${criteria}`, entries: [] };
  const fullUrl = 'urn:uuid:00000000-0000-4000-8000-000000000001';
  return {
    reference: fullUrl,
    entries: [{ fullUrl, resource: p.patient, request: { method: 'POST', url: 'Patient', ifNoneExist: criteria } }],
  };
}

function tempId(): string {
  return `urn:uuid:${randomUUID()}`;
}

/** The transaction entries for the orders and results of an ORU^R01. */
export function mapResults(segments: readonly Segment[], patientRef: string, facility: string, opts: MapOptions): Entry[] {
  const { list, patientNotes } = orders(segments);
  if (list.length === 0) throw new V2Error('AE', ERROR_CODES.segmentSequence, 'ORU^R01 needs at least one OBR', { segment: 'OBR' });
  const entries: Entry[] = [];
  const seenOrders = new Set<string>();
  for (const o of list) {
    const { filler, placer, key } = orderKey(o, facility);
    const orderId = `${key.system}|${key.value}`;
    if (seenOrders.has(orderId)) throw fieldError(ERROR_CODES.duplicateKey, `order number ${key.value} appears in two OBRs`, 'OBR', o.obrSeq, 3);
    seenOrders.add(orderId);
    const code = codeableConcept(o.obr.reps(4)[0] ?? []);
    if (!code) throw fieldError(ERROR_CODES.requiredField, 'universal service identifier is required', 'OBR', o.obrSeq, 4);
    const effective = o.obr.get(7) ? dateTime(o.obr.get(7), opts.defaultOffset) : undefined;
    if (o.obr.get(7) && !effective) throw fieldError(ERROR_CODES.dataType, 'observation date/time is not a valid TS', 'OBR', o.obrSeq, 7);
    const identifiers = [placer, filler].filter((i): i is Identifier => !!i);

    // ServiceRequest: found by its order number, or created once (If-None-Exist); its status is
    // then set from this message (an order placed elsewhere is updated, not only referred to).
    const srUrl = tempId();
    const srKey = placer?.system && placer.value ? placer : key;
    const srCriteria = `identifier=${tokenQuery(srKey.system ?? '', srKey.value ?? '')}`;
    const srAt = entries.length;

    const resultRefs: { reference: string }[] = [];
    const seenSets = new Set<string>();
    const statuses: Observation['status'][] = [];
    for (const [i, r] of o.results.entries()) {
      const setId = r.obx.get(1) || String(i + 1);
      const sub = r.obx.get(4);
      const obsKey = `${key.value}-${setId}${sub ? `-${sub}` : ''}`;
      if (seenSets.has(obsKey)) throw fieldError(ERROR_CODES.duplicateKey, `set id ${setId}${sub ? ` (sub-id ${sub})` : ''} appears twice in one order`, 'OBX', r.seq, 1);
      seenSets.add(obsKey);
      const flag = (r.obx.get(11) || o.obr.get(25)).toUpperCase();
      const status = RESULT_STATUS[flag];
      if (!status) throw fieldError(ERROR_CODES.tableValue, flag ? `result status "${flag.slice(0, 3)}" is unknown` : 'result status is required', 'OBX', r.seq, 11);
      statuses.push(status);
      const obsCode = codeableConcept(r.obx.reps(3)[0] ?? []);
      if (!obsCode) throw fieldError(ERROR_CODES.requiredField, 'observation identifier is required', 'OBX', r.seq, 3);
      const when = r.obx.get(14) ? dateTime(r.obx.get(14), opts.defaultOffset) : effective;
      const range = referenceRange(r.obx.get(7), unitOf(r.obx));
      const interp = interpretation(r.obx);
      const obs: Observation = {
        resourceType: 'Observation',
        identifier: [{ system: key.system, value: obsKey }],
        basedOn: [{ reference: srUrl }],
        status,
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
        code: obsCode,
        subject: { reference: patientRef },
        ...(when ? { effectiveDateTime: when } : {}),
        ...value(r.obx, r.seq, status),
        ...(interp.length ? { interpretation: interp } : {}),
        ...(r.notes.length ? { note: notes(r.notes) } : {}),
        ...(range ? { referenceRange: [range] } : {}),
      };
      const url = tempId();
      resultRefs.push({ reference: url });
      entries.push({ fullUrl: url, resource: obs, request: { method: 'PUT', url: `Observation?identifier=${tokenQuery(key.system, obsKey)}` } });
    }

    const reportFlag = o.obr.get(25).toUpperCase();
    const reportStatus = REPORT_STATUS[reportFlag]
      ?? (statuses.includes('corrected') ? 'corrected' : statuses.length && statuses.every((s) => s === 'final') ? 'final' : 'preliminary');
    const sectionCode = o.obr.get(24);
    const report: DiagnosticReport = {
      resourceType: 'DiagnosticReport',
      identifier: identifiers,
      basedOn: [{ reference: srUrl }],
      status: reportStatus,
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: sectionCode || 'LAB' }] }],
      code,
      subject: { reference: patientRef },
      ...(effective ? { effectiveDateTime: effective } : {}),
      ...(resultRefs.length ? { result: resultRefs } : {}),
      // R4 DiagnosticReport has no note: comments on the order go into the conclusion.
      ...(o.notes.length ? { conclusion: o.notes.join('\n') } : {}),
    };
    // Notes on the patient (NTE after PID): the IG leaves them unmapped in ORU_R01; they travel
    // with each report as the R5 DiagnosticReport.note, one Annotation per NTE.
    if (patientNotes.length) report.extension = patientNotes.map((text) => ({ url: REPORT_NOTE, valueAnnotation: { text } }));
    entries.push({ fullUrl: tempId(), resource: report, request: { method: 'PUT', url: `DiagnosticReport?identifier=${tokenQuery(key.system, key.value)}` } });
    const srStatus = orderStatus(o, reportStatus);
    const sr: ServiceRequest = { resourceType: 'ServiceRequest', identifier: identifiers, status: srStatus, intent: 'order', code, subject: { reference: patientRef } };
    entries.splice(srAt, 0, { fullUrl: srUrl, resource: sr, request: { method: 'POST', url: 'ServiceRequest', ifNoneExist: srCriteria } });
    entries.push(statusPatch(srCriteria, srStatus));
  }
  return entries;
}

