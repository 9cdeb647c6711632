// Encounter/[id]/$charge: the encounter's coded services become ChargeItems, priced by the fee
// schedule (ChargeItemDefinition resources). Also run by the engine when an Encounter is
// finished (src/clinic/visit.ts).
//
// What is charged (one ChargeItem per source and code, quantity 1):
//  - Encounter.type codings (the visit's E/M code, e.g. CPT 99213);
//  - Procedures of the encounter with status completed;
//  - Observations of the encounter in category laboratory or procedure, status final, amended
//    or corrected (vital signs are part of the visit's E/M service, not billed apart);
//  - MedicationAdministrations of the encounter (context) with status completed (J-codes).
// Orders (ServiceRequest, MedicationRequest) are not charged: only what was done is.
//
// A ChargeItemDefinition prices the codes of its `code`: the first coding is the billing code
// (CPT/HCPCS) the ChargeItem carries, further codings are clinical codes (LOINC, SNOMED CT) it
// also prices, so a CBC Observation (LOINC 58410-2) is charged as CPT 85025. The price is the
// `base` priceComponent of its propertyGroup; the ChargeItem pins `url|version` of the definition.
//
// Idempotent: each ChargeItem carries an identifier derived from encounter, source and code;
// a second run creates only what is missing. Codes without a definition are reported as
// warnings in the answer, never dropped silently.
//
// The fee schedule, the price of a definition and the ChargeItem of a service are pure
// functions (feeSchedule, basePrice, chargeItemFor); chargeEncounter gathers and stores.
import type { ChargeItem, ChargeItemDefinition, CodeableConcept, Coding, Encounter, MedicationAdministration, Observation, OperationOutcome, Parameters, Procedure, Reference, Resource } from 'fhir/r4.js';
import type { FhirContext } from '../fhir/context.js';
import { FhirError } from '../fhir/errors.js';
import { assertId } from '../fhir/resource.js';
import { assertVisible, requirePerm } from '../fhir/access.js';
import { inTransaction } from '../fhir/tx.js';
import { create } from '../fhir/interactions/write.js';
import { systemContext } from '../fhir/workflow/hooks.js';
import { issue, type Issue } from '../fhir-basics/outcome.js';
import { parseReference } from '../fhir-basics/references.js';
import { findAll, readCurrent, written } from './query.js';

export const CHARGE_SOURCE = 'urn:flint:charge-source';
const OBS_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

export interface Source {
  /** The resource the service is recorded in (absent for Encounter.type). */
  ref?: string;
  concept: CodeableConcept | undefined;
}

export interface ChargeResult {
  chargeItems: ChargeItem[];
  created: number;
  issues: Issue[];
}

const key = (c: Coding): string => `${c.system ?? ''}|${c.code ?? ''}`;

function effectiveOn(d: ChargeItemDefinition, day: string | undefined): boolean {
  const p = d.effectivePeriod;
  return day !== undefined && p !== undefined && (!p.start || p.start.slice(0, 10) <= day) && (!p.end || p.end.slice(0, 10) >= day);
}

/**
 * The fee schedule: every clinical or billing coding (`system|code`) → its definition among
 * `definitions` (the active ones). When several price a code (a schedule per year), the one
 * whose effectivePeriod holds `day` wins; a definition out of its period is still used rather
 * than leaving the service unpriced.
 */
export function feeSchedule(definitions: readonly ChargeItemDefinition[], day: string | undefined): Map<string, ChargeItemDefinition> {
  const byCode = new Map<string, ChargeItemDefinition>();
  for (const d of definitions) {
    for (const c of d.code?.coding ?? []) {
      const held = byCode.get(key(c));
      if (c.code && (!held || (!effectiveOn(held, day) && effectiveOn(d, day)))) byCode.set(key(c), d);
    }
  }
  return byCode;
}

async function sources(ctx: FhirContext, encounter: Encounter & { id: string }): Promise<Source[]> {
  const enc = `Encounter/${encounter.id}`;
  const out: Source[] = (encounter.type ?? []).map((concept) => ({ concept }));
  const refOf = (r: Resource): string => `${r.resourceType}/${r.id ?? ''}`;
  for (const p of await findAll<Procedure>(ctx, 'Procedure', [['encounter', enc], ['status', 'completed']])) {
    out.push({ ref: refOf(p), concept: p.code });
  }
  const categories = ['laboratory', 'procedure'].map((c) => `${OBS_CATEGORY}|${c}`).join(',');
  for (const o of await findAll<Observation>(ctx, 'Observation', [['encounter', enc], ['status', 'final,amended,corrected'], ['category', categories]])) {
    out.push({ ref: refOf(o), concept: o.code });
  }
  for (const m of await findAll<MedicationAdministration>(ctx, 'MedicationAdministration', [['context', enc], ['status', 'completed']])) {
    out.push({ ref: refOf(m), concept: m.medicationCodeableConcept });
  }
  return out;
}

/** The definition that prices a service: the first of its codings the schedule knows. */
export function definitionFor(schedule: ReadonlyMap<string, ChargeItemDefinition>, s: Source): ChargeItemDefinition | undefined {
  return (s.concept?.coding ?? []).map((c) => schedule.get(key(c))).find((d) => d !== undefined);
}

/** The identifier value that makes charging idempotent: one per encounter, source and billing code. */
export function sourceId(encounterId: string, s: Source, def: ChargeItemDefinition): string {
  const code = (def.code?.coding?.[0]?.code ?? def.id ?? '').replace(/[^A-Za-z0-9.-]/g, '_');
  return [`Encounter/${encounterId}`, s.ref ?? 'type', code].join('/');
}

function describe(s: Source): string {
  const codes = (s.concept?.coding ?? []).map((c) => `${c.system ?? '?'}|${c.code ?? '?'}`).join(', ') || s.concept?.text || 'no code';
  return `${s.ref ?? 'Encounter.type'} (${codes})`;
}

/**
 * The ChargeItem for one service of an encounter, priced by `def`: billable, quantity 1, the
 * definition pinned as `url|version`, the performing Practitioner and Organization of the
 * encounter, and an identifier that makes charging idempotent.
 */
export function chargeItemFor(encounter: Encounter & { id: string; subject: Reference }, s: Source, def: ChargeItemDefinition, enteredDate: string): ChargeItem {
  const isPractitioner = (r: string | undefined): boolean => { const p = parseReference(r ?? ''); return p?.type === 'Practitioner' && p.base === undefined; };
  const performer = (encounter.participant ?? []).find((p) => isPractitioner(p.individual?.reference))?.individual;
  const billing = def.code?.coding?.[0];
  return {
    resourceType: 'ChargeItem',
    identifier: [{ system: CHARGE_SOURCE, value: sourceId(encounter.id, s, def) }],
    status: 'billable',
    ...(def.url ? { definitionCanonical: [def.version ? `${def.url}|${def.version}` : def.url] } : {}),
    code: { coding: billing ? [billing] : [], ...(def.title ? { text: def.title } : {}) },
    subject: encounter.subject,
    context: { reference: `Encounter/${encounter.id}` },
    ...(encounter.period ? { occurrencePeriod: encounter.period } : {}),
    ...(performer ? { performer: [{ actor: performer as Reference }] } : {}),
    ...(encounter.serviceProvider ? { performingOrganization: encounter.serviceProvider } : {}),
    quantity: { value: 1 },
    enteredDate,
    ...(s.ref ? { service: [{ reference: s.ref }] } : {}),
  };
}

/** Charges an encounter inside `ctx`'s transaction (the engine's or the operation's own). */
export async function chargeEncounter(ctx: FhirContext, encounterId: string): Promise<ChargeResult> {
  const found = await readCurrent<Encounter>(ctx, 'Encounter', encounterId);
  if (!found) throw new FhirError(404, `Encounter/${encounterId} is not known`, 'not-found');
  const subject = found.resource.subject;
  if (!subject?.reference) throw new FhirError(422, `Encounter/${encounterId} has no subject to charge`, 'business-rule');
  const encounter = { ...found.resource, id: encounterId, subject };
  const active = await findAll<ChargeItemDefinition>(ctx, 'ChargeItemDefinition', [['status', 'active']]);
  const schedule = feeSchedule(active, encounter.period?.start?.slice(0, 10));
  const entered = new Date().toISOString();
  const existing = await findAll<ChargeItem>(ctx, 'ChargeItem', [['context', `Encounter/${encounterId}`]]);
  const known = new Set(existing.flatMap((c) => (c.identifier ?? []).filter((i) => i.system === CHARGE_SOURCE).map((i) => i.value)));
  const issues: Issue[] = [];
  const made: ChargeItem[] = [];
  for (const s of await sources(ctx, encounter)) {
    const def = definitionFor(schedule, s);
    if (!def) {
      issues.push(issue('warning', 'not-found', `No ChargeItemDefinition prices ${describe(s)}; nothing was charged for it`));
      continue;
    }
    const value = sourceId(encounter.id, s, def);
    if (known.has(value)) continue;
    known.add(value);
    const item = chargeItemFor(encounter, s, def, entered);
    made.push(written<ChargeItem>(await create(ctx, 'ChargeItem', item)));
  }
  return { chargeItems: [...existing, ...made], created: made.length, issues };
}

/** POST Encounter/[id]/$charge, with the caller's access: it must see the Encounter and may create and read ChargeItems. */
export async function chargeOperation(ctx: FhirContext, encounterId: string): Promise<Parameters> {
  assertId(encounterId);
  requirePerm(ctx, 'r', 'Encounter');
  requirePerm(ctx, 'c', 'ChargeItem');
  requirePerm(ctx, 'r', 'ChargeItem');
  const found = await readCurrent(ctx, 'Encounter', encounterId);
  if (!found) throw new FhirError(404, `Encounter/${encounterId} is not known`, 'not-found');
  await assertVisible(ctx, 'r', 'Encounter', encounterId);
  // The charge is complete whatever clinical records the caller may read: sources are
  // gathered by the engine itself, in one transaction (two concurrent runs cannot both create).
  const result = await inTransaction(systemContext(ctx), (tx) => chargeEncounter(tx, encounterId));
  return chargeAnswer(result);
}

export function chargeAnswer(result: ChargeResult): Parameters {
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: [
      issue('information', 'informational', `${result.created} ChargeItem(s) created; ${result.chargeItems.length} for the encounter in all`),
      ...result.issues,
    ],
  };
  return {
    resourceType: 'Parameters',
    parameter: [
      ...result.chargeItems.map((resource) => ({ name: 'chargeItem', resource })),
      { name: 'outcome', resource: outcome },
    ],
  };
}
