// One v2 message → one FHIR transaction Bundle: checks the header (MSH-9 type, MSH-11
// processing id, MSH-12 version, sending facility), then ORU^R01 or ADT^A04/A08.
import type { Bundle, BundleEntry } from 'fhir/r4.js';
import type { V2Message } from './er7.js';
import { ERROR_CODES, V2Error } from './errors.js';
import { mapPid, tokenQuery } from './patient.js';
import { mapResults, patientEntries, type MapOptions } from './oru.js';

export interface MappedMessage {
  /** MSH-9, e.g. ORU^R01. */
  type: string;
  bundle: Bundle;
}

const VERSIONS = /^2\.(3(\.1)?|4|5(\.1)?)$/;

/** MSH-4 namespace id: who sent the message (the allow-list and local identifiers use it). */
export function sendingFacility(m: V2Message): string {
  return m.header.get(4, 1) || m.header.get(4, 2);
}

export function mapMessage(m: V2Message, opts: MapOptions & { allowedFacilities: readonly string[] }): MappedMessage {
  const h = m.header;
  const facility = sendingFacility(m);
  if (opts.allowedFacilities.length && !opts.allowedFacilities.includes(facility)) {
    throw new V2Error('AR', ERROR_CODES.unknownKey, 'The sending facility (MSH-4) is not allowed to send to this server', { segment: 'MSH', sequence: 1, field: 4 });
  }
  const version = h.get(12);
  if (!VERSIONS.test(version)) {
    throw new V2Error('AR', ERROR_CODES.unsupportedVersion, `Version "${version.slice(0, 10)}" is not supported (2.3 to 2.5.1)`, { segment: 'MSH', sequence: 1, field: 12 });
  }
  const processing = h.get(11).toUpperCase();
  if (processing !== 'P' && processing !== 'T' && processing !== 'D') {
    throw new V2Error('AR', ERROR_CODES.unsupportedProcessingId, `Processing id "${processing.slice(0, 3)}" is not P, T or D`, { segment: 'MSH', sequence: 1, field: 11 });
  }
  if (!h.get(10)) throw new V2Error('AR', ERROR_CODES.requiredField, 'MSH-10 (message control id) is required', { segment: 'MSH', sequence: 1, field: 10 });
  const type = `${h.get(9, 1)}^${h.get(9, 2)}`;
  const pidAt = m.segments.findIndex((s) => s.name === 'PID');
  const pid = m.segments[pidAt];
  const supported = type === 'ORU^R01' || type === 'ADT^A04' || type === 'ADT^A08';
  if (!supported) {
    const known = h.get(9, 1) === 'ORU' || h.get(9, 1) === 'ADT';
    throw new V2Error('AR', known ? ERROR_CODES.unsupportedEvent : ERROR_CODES.unsupportedMessageType, `Message type ${type.slice(0, 10)} is not supported (ORU^R01, ADT^A04, ADT^A08)`, { segment: 'MSH', sequence: 1, field: 9 });
  }
  if (!pid) throw new V2Error('AE', ERROR_CODES.segmentSequence, `${type} needs a PID segment`, { segment: 'PID' });
  const patient = mapPid(pid, facility, opts.defaultOffset);
  let entry: BundleEntry[];
  if (type === 'ORU^R01') {
    if (m.segments.filter((s) => s.name === 'PID').length > 1) {
      throw new V2Error('AE', ERROR_CODES.segmentSequence, 'One patient per message: several PID segments are not accepted', { segment: 'PID', sequence: 2 });
    }
    const p = patientEntries(patient, opts);
    entry = [...p.entries, ...mapResults(m.segments.slice(pidAt + 1), p.reference, facility, opts)];
  } else {
    // ADT^A04 (register) and ADT^A08 (update): the PID is the source of truth for the patient.
    entry = [{ resource: patient.patient, request: { method: 'PUT', url: `Patient?identifier=${tokenQuery(patient.key.system, patient.key.value)}` } }];
  }
  return { type, bundle: { resourceType: 'Bundle', type: 'transaction', entry } };
}
