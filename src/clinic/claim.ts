// The Claim of a visit (R4 claim.html; type professional, use claim), as pure functions of the
// Encounter, its priced ChargeItems (src/clinic/pricing.ts), the patient's Coverage and the
// encounter's Conditions: one item per ChargeItem with its billing code, quantity, unit price
// and net; the diagnoses (Encounter.diagnosis by rank, then the encounter's other Conditions);
// the Coverage as the focal insurance and its payor as insurer; the provider
// (Encounter.serviceProvider, else the performing Practitioner) and care team.
import type { Claim, ClaimDiagnosis, ClaimItem, Condition, Coverage, Encounter, Identifier, Reference } from 'fhir/r4.js';
import { FhirError } from '../fhir/errors.js';
import type { PricedCharge } from './pricing.js';
import { localId } from './query.js';
import { money } from './share.js';

export interface BillingParties {
  /** Who bills: Encounter.serviceProvider, else the performing Practitioner. */
  provider: Reference;
  /** The encounter's first Practitioner participant (the care team), when there is one. */
  practitioner?: Reference;
}

/** Who bills for an encounter; 422 when it names no serviceProvider or Practitioner. */
export function billingParties(encounter: Encounter & { id: string }, baseUrl: string): BillingParties {
  const practitioner = (encounter.participant ?? []).find((p) => localId({ baseUrl }, p.individual?.reference, 'Practitioner'))?.individual;
  const provider = encounter.serviceProvider ?? practitioner;
  if (!provider) throw new FhirError(422, `Encounter/${encounter.id} names no serviceProvider or Practitioner to bill as`, 'business-rule');
  return { provider, ...(practitioner ? { practitioner } : {}) };
}

/**
 * The Claim's diagnoses: the Conditions of Encounter.diagnosis by rank, then the other
 * `conditions` (those recorded in the encounter, in the given order), those with a code.
 * `conditions` holds every Condition either list names.
 */
export function claimDiagnoses(encounter: Encounter, conditions: readonly Condition[], baseUrl: string): ClaimDiagnosis[] {
  const ids = [...(encounter.diagnosis ?? [])].sort((a, b) => (a.rank ?? 99) - (b.rank ?? 99))
    .map((d) => localId({ baseUrl }, d.condition?.reference, 'Condition')).filter((id): id is string => id !== undefined);
  for (const c of conditions) if (c.id && !ids.includes(c.id)) ids.push(c.id);
  const out: ClaimDiagnosis[] = [];
  for (const id of ids) {
    const code = conditions.find((c) => c.id === id)?.code;
    if (code) out.push({ sequence: out.length + 1, diagnosisCodeableConcept: code });
  }
  return out;
}

export interface ClaimInput {
  encounter: Encounter & { id: string };
  /** The patient billed (a local reference to a Patient). */
  patient: string;
  lines: readonly PricedCharge[];
  currency: string;
  /** Σ net of the lines, cents. */
  total: number;
  coverage: Coverage & { id: string };
  diagnoses: readonly ClaimDiagnosis[];
  parties: BillingParties;
  /** Shared with the Invoice of the same bill. */
  identifier: Identifier[];
  /** The day the Claim is made (YYYY-MM-DD). */
  created: string;
}

const day = (dateTime: string | undefined, otherwise: string): string => (dateTime ?? otherwise).slice(0, 10);

/** The professional Claim of an encounter to the Coverage's payor. */
export function claimFor(input: ClaimInput): Claim {
  const { encounter, lines, currency, coverage, diagnoses, parties } = input;
  const practitioner = parties.practitioner;
  const serviced = day(encounter.period?.start, input.created);
  const items: ClaimItem[] = lines.map((l, i) => ({
    sequence: i + 1,
    ...(practitioner ? { careTeamSequence: [1] } : {}),
    ...(diagnoses.length ? { diagnosisSequence: diagnoses.slice(0, 4).map((d) => d.sequence) } : {}),
    productOrService: l.charge.code,
    servicedDate: serviced,
    quantity: { value: l.quantity },
    unitPrice: money(l.unit, currency),
    net: money(l.net, currency),
    encounter: [{ reference: `Encounter/${encounter.id}` }],
  }));
  const payor = coverage.payor?.[0];
  return {
    resourceType: 'Claim', identifier: input.identifier, status: 'active',
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }] },
    use: 'claim',
    patient: { reference: input.patient },
    billablePeriod: { start: serviced, end: day(encounter.period?.end ?? encounter.period?.start, input.created) },
    created: input.created,
    provider: parties.provider,
    priority: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/processpriority', code: 'normal' }] },
    ...(payor ? { insurer: payor } : {}),
    ...(practitioner ? { careTeam: [{ sequence: 1, provider: practitioner, role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claimcareteamrole', code: 'primary' }] } }] } : {}),
    ...(diagnoses.length ? { diagnosis: [...diagnoses] } : {}),
    insurance: [{ sequence: 1, focal: true, coverage: { reference: `Coverage/${coverage.id}` } }],
    item: items,
    total: money(input.total, currency),
  };
}
