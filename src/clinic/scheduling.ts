// Scheduling rules (R4 appointment.html, slot.html), run as a write hook on Appointment inside
// the write's transaction, so they hold for create, update, PATCH, delete and Bundle entries
// alike and cannot race (the store serialises write transactions):
//  - an Appointment that holds time takes its Slots: free → busy (busy-tentative while it is
//    only `pending`, R4 Slot.status); a Slot that is not free is refused with 409;
//  - a Practitioner taking part (participant not `declined`) cannot hold two overlapping
//    Appointments: 409;
//  - cancelled, noshow and entered-in-error (or deleting the Appointment, or dropping the Slot
//    from it) give the Slot back: free;
//  - an Appointment on one Slot lies within the Slot's start and end (422 otherwise);
//  - a Slot that an Appointment holds cannot be freed or deleted directly (409): cancel the
//    Appointment instead (a write hook on Slot).
// Statuses that hold time: pending, booked, arrived, checked-in and fulfilled (the time was
// used). proposed and waitlist do not: R4 defines them as not yet agreed / waiting for a slot.
import { atEndOfBundle } from '../fhir/tx.js';
import type { Appointment, Slot } from 'fhir/r4.js';
import type { FhirContext } from '../fhir/context.js';
import { conflict, FhirError } from '../fhir/errors.js';
import { update } from '../fhir/interactions/write.js';
import { systemContext, type WriteChange, type WriteHook } from '../fhir/workflow/hooks.js';
import { findAll, localId, readCurrent } from './query.js';

type SlotHold = 'busy' | 'busy-tentative';

const HOLDS: Partial<Record<Appointment['status'], SlotHold>> = {
  pending: 'busy-tentative', booked: 'busy', arrived: 'busy', 'checked-in': 'busy', fulfilled: 'busy',
};
export const TIME_HOLDING = Object.keys(HOLDS);

/**
 * The overlap search looks back this far for Appointments that started earlier and may still
 * run; Appointments with a Practitioner may not be longer (checked below), so none is missed.
 */
const MAX_APPOINTMENT_MS = 24 * 3600_000;

const unprocessable = (msg: string): FhirError => new FhirError(422, msg, 'business-rule');

function holdOf(a: Appointment | undefined): SlotHold | undefined {
  return a ? HOLDS[a.status] : undefined;
}

function slotIds(ctx: FhirContext, a: Appointment): string[] {
  const ids: string[] = [];
  for (const s of a.slot ?? []) {
    const id = localId(ctx, s.reference, 'Slot');
    if (!id) throw unprocessable(`Appointment.slot "${String(s.reference).slice(0, 100)}" must reference a Slot on this server`);
    if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

async function setSlot(ctx: FhirContext, id: string, slot: Slot, versionId: string, status: Slot['status']): Promise<void> {
  if (slot.status === status) return;
  await update(ctx, { type: 'Slot', id, body: { ...slot, status }, ifMatch: versionId });
}

/** R4 appointment.html: the Slots are the time the Appointment takes, so its times lie within them. */
function checkWithin(a: Appointment, id: string, slot: Slot): void {
  if (!a.start || !a.end) return;
  if (Date.parse(a.start) < Date.parse(slot.start) || Date.parse(a.end) > Date.parse(slot.end)) {
    throw unprocessable(`The Appointment (${a.start} to ${a.end}) does not lie within Slot/${id} (${slot.start} to ${slot.end})`);
  }
}

async function takeSlots(ctx: FhirContext, a: Appointment, ids: string[], held: string[], hold: SlotHold): Promise<void> {
  for (const id of ids) {
    const found = await readCurrent<Slot>(ctx, 'Slot', id);
    if (!found) throw unprocessable(`Slot/${id} does not exist`);
    const { resource: slot, versionId } = found;
    if (ids.length === 1) checkWithin(a, id, slot);
    // A Slot this Appointment already held stays its own (e.g. booked → arrived).
    if (!held.includes(id) && slot.status !== 'free') throw conflict(`Slot/${id} is not free (it is ${slot.status})`);
    await setSlot(ctx, id, slot, versionId, hold);
  }
}

async function releaseSlots(ctx: FhirContext, ids: string[]): Promise<void> {
  for (const id of ids) {
    const found = await readCurrent<Slot>(ctx, 'Slot', id);
    // Only a Slot the Appointment holds is released; busy-unavailable was set by the schedule.
    if (found && (found.resource.status === 'busy' || found.resource.status === 'busy-tentative')) {
      await setSlot(ctx, id, found.resource, found.versionId, 'free');
    }
  }
}

function practitioners(ctx: FhirContext, a: Appointment): string[] {
  return (a.participant ?? [])
    .filter((p) => p.status !== 'declined')
    .map((p) => localId(ctx, p.actor?.reference, 'Practitioner'))
    .filter((id): id is string => id !== undefined);
}

async function checkPractitioners(ctx: FhirContext, a: Appointment, id: string, quiet: boolean): Promise<void> {
  const people = practitioners(ctx, a);
  if (people.length === 0 || !a.start || !a.end) return;
  const start = Date.parse(a.start);
  const end = Date.parse(a.end);
  if (!(end > start)) throw unprocessable('Appointment.end must be after Appointment.start');
  if (end - start > MAX_APPOINTMENT_MS) throw unprocessable('An Appointment with a Practitioner may last at most 24 hours');
  for (const pr of people) {
    const others = await findAll<Appointment>(ctx, 'Appointment', [
      ['actor', `Practitioner/${pr}`], ['status', TIME_HOLDING.join(',')],
      ['date', `ge${new Date(start - MAX_APPOINTMENT_MS).toISOString()}`], ['date', `lt${new Date(end).toISOString()}`],
    ]);
    const clash = others.find((o) => o.id !== id && o.start && o.end
      && Date.parse(o.start) < end && Date.parse(o.end) > start && practitioners(ctx, o).includes(pr));
    if (clash) {
      // A restricted caller learns that the time is taken, not by which (other patient's) Appointment.
      throw conflict(`Practitioner/${pr} already has an appointment from ${clash.start} to ${clash.end}${quiet ? '' : ` (Appointment/${clash.id})`}`);
    }
  }
}

async function onAppointment(ctx: FhirContext, change: WriteChange): Promise<void> {
  // In a transaction Bundle the Slots may be written after the Appointment (POSTs come before
  // PUTs): the rules are checked once every entry is written, still before the commit.
  await atEndOfBundle(ctx, () => schedule(ctx, change));
}

async function schedule(ctx: FhirContext, change: WriteChange): Promise<void> {
  const previous = change.previous as Appointment | undefined;
  const current = change.current as Appointment | undefined;
  // Slot changes are effects of the booking: done as the system, whatever the caller may do to Slots.
  const sys = systemContext(ctx);
  const held = holdOf(previous) ? slotIds(sys, previous as Appointment) : [];
  const hold = holdOf(current);
  const wanted = hold && current ? slotIds(sys, current) : [];
  await releaseSlots(sys, held.filter((s) => !wanted.includes(s)));
  if (hold && current) {
    await takeSlots(sys, current, wanted, held, hold);
    await checkPractitioners(sys, current, change.id, ctx.access !== undefined);
  }
}

export const schedulingHook: WriteHook = { types: ['Appointment'], onWrite: onAppointment };

/** A held Slot is freed by cancelling its Appointment, never behind the Appointment's back. */
async function onSlot(ctx: FhirContext, change: WriteChange): Promise<void> {
  // In a Bundle the Appointment may be cancelled by a later entry: judge the final state.
  await atEndOfBundle(ctx, () => guardSlot(ctx, change));
}

async function guardSlot(ctx: FhirContext, change: WriteChange): Promise<void> {
  const before = (change.previous as Slot | undefined)?.status;
  const after = (change.current as Slot | undefined)?.status;
  if ((before !== 'busy' && before !== 'busy-tentative') || after === 'busy' || after === 'busy-tentative') return;
  const holders = await findAll<Appointment>(systemContext(ctx), 'Appointment', [['slot', `Slot/${change.id}`], ['status', TIME_HOLDING.join(',')]]);
  if (holders.length > 0) {
    const which = ctx.access === undefined ? ` (Appointment/${holders[0]?.id})` : '';
    throw conflict(`Slot/${change.id} is held by an appointment${which}: cancel the appointment to free the slot`);
  }
}

export const slotGuardHook: WriteHook = {
  types: ['Slot'],
  onWrite: onSlot,
  // Only a Slot that stops being busy can take time from an Appointment.
  wants: (resource, create) => !create && (resource === undefined || !['busy', 'busy-tentative'].includes((resource as Slot).status)),
};
