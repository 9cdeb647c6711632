// PID → Patient (v2-to-FHIR IG "Segment PID to Patient"), and the identifier a message's patient
// is matched by: a PID-3 identifier with its assigning authority.
import type { ContactPoint, Identifier, Patient } from 'fhir/r4.js';
import type { Segment } from './er7.js';
import { address, contactPoint, cxIdentifier, date, dateTime, humanName, localSystem } from './datatypes.js';
import { ERROR_CODES, fieldError } from './errors.js';

const GENDER: Record<string, Patient['gender']> = { M: 'male', F: 'female', O: 'other', A: 'other', U: 'unknown', N: 'unknown' };

export interface MappedPatient {
  patient: Patient;
  /** The identifier the patient is matched by (system and value both present). */
  key: { system: string; value: string };
}

/**
 * Maps PID. An identifier without an assigning authority is scoped by the sending facility
 * (MSH-4): a bare MRN means something only within the system that sent it.
 */
export function mapPid(pid: Segment, sendingFacility: string, defaultOffset: string): MappedPatient {
  const fallback = sendingFacility ? localSystem('id', sendingFacility) : undefined;
  const identifier: Identifier[] = [];
  for (const rep of pid.field(3)) {
    const id = cxIdentifier(rep, fallback);
    if (id) identifier.push(id);
  }
  if (identifier.length === 0) throw fieldError(ERROR_CODES.requiredField, 'patient identifier list is required', 'PID', 1, 3);
  const withSystem = identifier.filter((i): i is Identifier & { system: string; value: string } => !!i.system && !!i.value);
  const mr = withSystem.find((i) => i.type?.coding?.[0]?.code === 'MR') ?? withSystem[0];
  if (!mr) throw fieldError(ERROR_CODES.requiredField, 'a patient identifier needs an assigning authority (or MSH-4)', 'PID', 1, 3);

  const patient: Patient = { resourceType: 'Patient', identifier };
  const names = pid.reps(5).map(humanName).filter((n) => n !== undefined);
  if (names.length) patient.name = names;
  const birth = pid.get(7);
  if (birth) {
    const d = date(birth);
    if (!d) throw fieldError(ERROR_CODES.dataType, `"${birth.slice(0, 20)}" is not a date`, 'PID', 1, 7);
    patient.birthDate = d;
  }
  const gender = GENDER[pid.get(8).toUpperCase()];
  if (gender) patient.gender = gender;
  const addresses = pid.reps(11).map(address).filter((a) => a !== undefined);
  if (addresses.length) patient.address = addresses;
  const telecom: ContactPoint[] = [
    ...pid.reps(13).map((c) => contactPoint(c, 'home')),
    ...pid.reps(14).map((c) => contactPoint(c, 'work')),
  ].filter((c): c is ContactPoint => c !== undefined);
  if (telecom.length) patient.telecom = telecom;
  const deathTime = pid.get(29);
  const deathFlag = pid.get(30).toUpperCase();
  if (deathTime) {
    const dt = dateTime(deathTime, defaultOffset);
    if (dt) patient.deceasedDateTime = dt;
  } else if (deathFlag === 'Y' || deathFlag === 'N') {
    patient.deceasedBoolean = deathFlag === 'Y';
  }
  return { patient, key: { system: mr.system, value: mr.value } };
}

/** A search value for `identifier=system|value` (R4 search.html#escaping). */
export function tokenQuery(system: string, value: string): string {
  const esc = (s: string): string => s.replace(/[\\|,$]/g, (c) => `\\${c}`);
  return encodeURIComponent(`${esc(system)}|${esc(value)}`);
}
