// The visit's life, as write hooks (inside the triggering write's transaction):
//  - checking in (Appointment → arrived or checked-in) opens the visit: an Encounter,
//    in-progress, for the Appointment's patient, practitioners and locations, linked back
//    through Encounter.appointment (unless one is linked already);
//  - finishing the Encounter (an existing Encounter → finished) fulfils its Appointments and
//    charges it (src/clinic/charges.ts). An Encounter stored as finished from the start
//    (an import of past visits) is charged only on request, with $charge.
import { atEndOfBundle } from '../fhir/tx.js';
import type { Appointment, Encounter, EncounterParticipant } from 'fhir/r4.js';
import type { FhirContext } from '../fhir/context.js';
import { create, update } from '../fhir/interactions/write.js';
import { systemContext, type WriteChange, type WriteHook } from '../fhir/workflow/hooks.js';
import { chargeEncounter } from './charges.js';
import { findAll, localId, readCurrent } from './query.js';

const ARRIVED = new Set(['arrived', 'checked-in']);

/**
 * The Encounter that checking in to Appointment `id` opens (started at `now`), or undefined when
 * the Appointment has no Patient taking part. `baseUrl` tells local references from others.
 */
export function encounterFor(baseUrl: string, id: string, a: Appointment, now: string): Encounter | undefined {
  const ctx = { baseUrl };
  const actors = (a.participant ?? []).filter((p) => p.status !== 'declined').map((p) => p.actor?.reference ?? '');
  const patient = actors.find((r) => localId(ctx, r, 'Patient') !== undefined);
  if (!patient) return undefined;
  const participant: EncounterParticipant[] = actors.filter((r) => localId(ctx, r, 'Practitioner') || localId(ctx, r, 'PractitionerRole')).map((r) => ({
    type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PPRF', display: 'primary performer' }] }],
    individual: { reference: r },
  }));
  const locations = actors.filter((r) => localId(ctx, r, 'Location')).map((r) => ({ location: { reference: r } }));
  const service = a.serviceType?.[0];
  return {
    resourceType: 'Encounter',
    status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
    ...(service ? { serviceType: service } : {}),
    subject: { reference: patient },
    ...(participant.length ? { participant } : {}),
    appointment: [{ reference: `Appointment/${id}` }],
    period: { start: now },
    ...(a.reasonCode ? { reasonCode: a.reasonCode } : {}),
    ...(a.reasonReference ? { reasonReference: a.reasonReference } : {}),
    ...(locations.length ? { location: locations } : {}),
  };
}

async function onAppointment(ctx: FhirContext, change: WriteChange): Promise<void> {
  const current = change.current as Appointment | undefined;
  const previous = change.previous as Appointment | undefined;
  if (!current || !ARRIVED.has(current.status) || (previous && ARRIVED.has(previous.status))) return;
  const sys = systemContext(ctx);
  const linked = await findAll(sys, 'Encounter', [['appointment', `Appointment/${change.id}`]]);
  if (linked.length) return;
  const encounter = encounterFor(sys.baseUrl, change.id, current, new Date().toISOString());
  if (encounter) await create(sys, 'Encounter', encounter);
}

async function onEncounter(ctx: FhirContext, change: WriteChange): Promise<void> {
  const current = change.current as Encounter | undefined;
  const previous = change.previous as Encounter | undefined;
  if (!current || current.status !== 'finished' || !previous || previous.status === 'finished') return;
  const sys = systemContext(ctx);
  for (const ref of current.appointment ?? []) {
    const id = localId(sys, ref.reference, 'Appointment');
    const found = id ? await readCurrent<Appointment>(sys, 'Appointment', id) : undefined;
    if (id && found && (ARRIVED.has(found.resource.status) || found.resource.status === 'booked')) {
      await update(sys, { type: 'Appointment', id, body: { ...found.resource, status: 'fulfilled' }, ifMatch: found.versionId });
    }
  }
  // Without a subject there is no one to charge: the visit still finishes ($charge would say why).
  if (!current.subject?.reference) return;
  // In a transaction Bundle the encounter's records may be written after it: charge once every entry is.
  const charge = async (): Promise<void> => { await chargeEncounter(sys, change.id); };
  await atEndOfBundle(ctx, charge);
}

export const checkInHook: WriteHook = {
  types: ['Appointment'], onWrite: onAppointment,
  wants: (r) => ARRIVED.has((r as Appointment | undefined)?.status ?? ''),
};
// Only an update to finished can finish a visit: other Encounter writes keep the plain write path.
export const finishHook: WriteHook = {
  types: ['Encounter'], onWrite: onEncounter,
  wants: (r, create) => !create && (r as Encounter | undefined)?.status === 'finished',
};
