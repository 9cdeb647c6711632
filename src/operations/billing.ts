// Encounter/[id]/$bill: the encounter's billable ChargeItems become
//  - a Claim (R4 claim.html; type professional, use claim) to the patient's insurer: one item
//    per ChargeItem with its billing code, quantity, unit price (the fee schedule's base price,
//    or ChargeItem.priceOverride) and net; the encounter's diagnoses (Encounter.diagnosis and
//    Conditions recorded in the encounter); the patient's active Coverage; the provider
//    (Encounter.serviceProvider, else the performing Practitioner). No Coverage, no Claim: R4
//    Claim.insurance is 1..*, and the patient pays everything;
//  - an Invoice (R4 invoice.html) for the patient's share (src/operations/share.ts): one line
//    per ChargeItem with its base price and, when insured, a deduction for what the insurer is
//    expected to pay. `draft` while the Claim awaits adjudication, `issued` when self-pay;
//  - the ChargeItems become `billed`, with the Claim and Invoice in supportingInformation.
// Claim and Invoice share an identifier (system urn:flint:bill) that ties them together.
// All in one transaction: a concurrent second $bill finds nothing billable (422).
import { randomUUID } from 'node:crypto';
import type { ChargeItem, ChargeItemDefinition, Claim, ClaimDiagnosis, ClaimItem, Condition, Coverage, Encounter, Invoice, InvoiceLineItem, Parameters, Reference } from 'fhir/r4.js';
import type { FhirContext } from '../fhir/context.js';
import { FhirError } from '../fhir/errors.js';
import { assertId } from '../fhir/resource.js';
import { assertVisible, requirePerm } from '../fhir/access.js';
import { inTransaction } from '../fhir/tx.js';
import { create, update } from '../fhir/interactions/write.js';
import { systemContext } from '../fhir/workflow/hooks.js';
import { issue, type Issue } from '../fhir-basics/outcome.js';
import { basePrice } from './charge.js';
import { findAll, localId, readCurrent } from './query.js';
import { allocate, cents, money, patientShareCents } from './share.js';

export const BILL_ID = 'urn:flint:bill';
const businessRule = (msg: string): FhirError => new FhirError(422, msg, 'business-rule');

interface Line {
  charge: ChargeItem & { id: string };
  versionId: string;
  unit: number;
  quantity: number;
  net: number;
  currency: string;
}

async function price(ctx: FhirContext, c: ChargeItem): Promise<{ value: number; currency: string } | undefined> {
  if (typeof c.priceOverride?.value === 'number') return { value: c.priceOverride.value, currency: c.priceOverride.currency ?? 'USD' };
  const canonical = c.definitionCanonical?.[0];
  if (!canonical) return undefined;
  const [url = '', version] = canonical.split('|');
  const defs = await findAll<ChargeItemDefinition>(ctx, 'ChargeItemDefinition', [['url', url], ...(version ? [['version', version] as [string, string]] : [])]);
  const def = defs[0];
  return def ? basePrice(def) : undefined;
}

/** The patient's active Coverage in force on `date`, first by Coverage.order. */
export async function activeCoverage(ctx: FhirContext, patient: string, date: string | undefined): Promise<(Coverage & { id: string }) | undefined> {
  const all = await findAll<Coverage>(ctx, 'Coverage', [['beneficiary', patient], ['status', 'active']]);
  const day = date?.slice(0, 10);
  const inForce = all.filter((c) => !day || ((!c.period?.start || c.period.start.slice(0, 10) <= day) && (!c.period?.end || c.period.end.slice(0, 10) >= day)));
  inForce.sort((a, b) => (a.order ?? 1) - (b.order ?? 1));
  return inForce[0] as (Coverage & { id: string }) | undefined;
}

async function diagnoses(ctx: FhirContext, encounter: Encounter & { id: string }): Promise<ClaimDiagnosis[]> {
  const refs = [...(encounter.diagnosis ?? [])].sort((a, b) => (a.rank ?? 99) - (b.rank ?? 99))
    .map((d) => localId(ctx, d.condition?.reference, 'Condition')).filter((id): id is string => id !== undefined);
  for (const c of await findAll<Condition>(ctx, 'Condition', [['encounter', `Encounter/${encounter.id}`]])) if (c.id && !refs.includes(c.id)) refs.push(c.id);
  const out: ClaimDiagnosis[] = [];
  for (const id of refs) {
    const found = await readCurrent<Condition>(ctx, 'Condition', id);
    if (found?.resource.code) out.push({ sequence: out.length + 1, diagnosisCodeableConcept: found.resource.code });
  }
  return out;
}

const day = (dateTime: string | undefined): string => (dateTime ?? new Date().toISOString()).slice(0, 10);

/** The Invoice lines: base price per ChargeItem, minus what the insurer pays (when insured). */
export function invoiceLines(lines: { sequence: number; chargeItem: string; net: number; share: number }[], currency: string, insured: boolean): InvoiceLineItem[] {
  return lines.map((l) => ({
    sequence: l.sequence,
    chargeItemReference: { reference: l.chargeItem },
    priceComponent: [
      { type: 'base', amount: money(l.net, currency) },
      ...(insured && l.net - l.share > 0 ? [{ type: 'deduction' as const, code: { text: 'paid by the insurer' }, amount: money(l.net - l.share, currency) }] : []),
    ],
  }));
}

async function bill(ctx: FhirContext, encounterId: string): Promise<{ claim?: Claim; invoice?: Invoice; issues: Issue[] }> {
  const found = await readCurrent<Encounter>(ctx, 'Encounter', encounterId);
  if (!found) throw new FhirError(404, `Encounter/${encounterId} is not known`, 'not-found');
  const encounter = { ...found.resource, id: encounterId };
  const patient = encounter.subject?.reference;
  if (!patient || !localId(ctx, patient, 'Patient')) throw businessRule(`Encounter/${encounterId} has no Patient subject to bill`);
  // R4 has no ChargeItem status search parameter: the encounter's few items are filtered here.
  const charges = (await findAll<ChargeItem & { id: string }>(ctx, 'ChargeItem', [['context', `Encounter/${encounterId}`]])).filter((c) => c.status === 'billable');
  if (charges.length === 0) throw businessRule(`Encounter/${encounterId} has no billable ChargeItems (run $charge first; billed ones are not billed twice)`);
  const lines: Line[] = [];
  for (const charge of charges) {
    const p = await price(ctx, charge);
    if (!p) throw businessRule(`ChargeItem/${charge.id} has no price: its ChargeItemDefinition is missing or has no base priceComponent`);
    const quantity = typeof charge.quantity?.value === 'number' ? charge.quantity.value : 1;
    const current = await readCurrent(ctx, 'ChargeItem', charge.id);
    lines.push({ charge, versionId: current?.versionId ?? '1', unit: cents(p.value), quantity, net: Math.round(cents(p.value) * quantity), currency: p.currency });
  }
  const currency = lines[0]?.currency ?? 'USD';
  if (lines.some((l) => l.currency !== currency)) throw businessRule('The ChargeItems are priced in different currencies');
  const total = lines.reduce((a, l) => a + l.net, 0);
  const coverage = await activeCoverage(ctx, patient, encounter.period?.start);
  const share = patientShareCents(coverage, total);
  const shares = allocate(lines.map((l) => l.net), share.cents);
  const billId = randomUUID();
  const identifier = [{ system: BILL_ID, value: billId }];
  const practitioner = (encounter.participant ?? []).find((p) => localId(ctx, p.individual?.reference, 'Practitioner'))?.individual as Reference | undefined;
  const provider = encounter.serviceProvider ?? practitioner;
  if (!provider) throw businessRule(`Encounter/${encounterId} names no serviceProvider or Practitioner to bill as`);
  const issues: Issue[] = [issue('information', 'informational', `Patient share: ${(share.cents / 100).toFixed(2)} ${currency} of ${(total / 100).toFixed(2)} (${share.rule})`)];

  let claim: Claim | undefined;
  if (coverage) {
    const diagnosis = await diagnoses(ctx, encounter);
    const payor = coverage.payor?.[0];
    const items: ClaimItem[] = lines.map((l, i) => ({
      sequence: i + 1,
      ...(practitioner ? { careTeamSequence: [1] } : {}),
      ...(diagnosis.length ? { diagnosisSequence: diagnosis.slice(0, 4).map((d) => d.sequence) } : {}),
      productOrService: l.charge.code,
      servicedDate: day(encounter.period?.start),
      quantity: { value: l.quantity },
      unitPrice: money(l.unit, currency),
      net: money(l.net, currency),
      encounter: [{ reference: `Encounter/${encounterId}` }],
    }));
    const draft: Claim = {
      resourceType: 'Claim', identifier, status: 'active',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }] },
      use: 'claim',
      patient: { reference: patient },
      billablePeriod: { start: day(encounter.period?.start), end: day(encounter.period?.end ?? encounter.period?.start) },
      created: day(undefined),
      provider,
      priority: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/processpriority', code: 'normal' }] },
      ...(payor ? { insurer: payor } : {}),
      ...(practitioner ? { careTeam: [{ sequence: 1, provider: practitioner, role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claimcareteamrole', code: 'primary' }] } }] } : {}),
      ...(diagnosis.length ? { diagnosis } : {}),
      insurance: [{ sequence: 1, focal: true, coverage: { reference: `Coverage/${coverage.id}` } }],
      item: items,
      total: money(total, currency),
    };
    claim = JSON.parse((await create(ctx, 'Claim', draft)).json ?? '{}') as Claim;
  } else {
    issues.push(issue('information', 'informational', `${patient} has no active Coverage: no Claim, the Invoice is for the whole amount`));
  }

  let invoice: Invoice | undefined;
  // Insured: always a draft, even for a predicted share of 0, because the payer's answer may
  // still give the patient a share (it is then issued, or cancelled when there is nothing to pay).
  if (share.cents > 0 || coverage) {
    const issuer = localId(ctx, encounter.serviceProvider?.reference, 'Organization') ? encounter.serviceProvider : undefined;
    const draft: Invoice = {
      resourceType: 'Invoice', identifier,
      // Insured: an estimate until the payer's ClaimResponse fixes the share (then issued).
      status: coverage ? 'draft' : 'issued',
      subject: { reference: patient },
      recipient: { reference: patient },
      date: new Date().toISOString(),
      ...(issuer ? { issuer } : {}),
      lineItem: invoiceLines(lines.map((l, i) => ({ sequence: i + 1, chargeItem: `ChargeItem/${l.charge.id}`, net: l.net, share: shares[i] ?? 0 })), currency, coverage !== undefined),
      totalGross: money(total, currency),
      totalNet: money(share.cents, currency),
    };
    invoice = JSON.parse((await create(ctx, 'Invoice', draft)).json ?? '{}') as Invoice;
  } else {
    issues.push(issue('information', 'informational', 'Nothing for the patient to pay: no Invoice'));
  }

  const links: Reference[] = [];
  if (claim) links.push({ reference: `Claim/${claim.id}` });
  if (invoice) links.push({ reference: `Invoice/${invoice.id}` });
  for (const l of lines) {
    const body: ChargeItem = { ...l.charge, status: 'billed', supportingInformation: [...(l.charge.supportingInformation ?? []), ...links] };
    await update(ctx, { type: 'ChargeItem', id: l.charge.id, body, ifMatch: l.versionId });
  }
  return { ...(claim ? { claim } : {}), ...(invoice ? { invoice } : {}), issues };
}

/** POST Encounter/[id]/$bill with the caller's access. */
export async function billOperation(ctx: FhirContext, encounterId: string): Promise<Parameters> {
  assertId(encounterId);
  requirePerm(ctx, 'r', 'Encounter');
  for (const type of ['Claim', 'Invoice']) requirePerm(ctx, 'c', type);
  requirePerm(ctx, 'u', 'ChargeItem');
  if (!(await readCurrent(ctx, 'Encounter', encounterId))) throw new FhirError(404, `Encounter/${encounterId} is not known`, 'not-found');
  await assertVisible(ctx, 'r', 'Encounter', encounterId);
  const result = await inTransaction(systemContext(ctx), (tx) => bill(tx, encounterId));
  return {
    resourceType: 'Parameters',
    parameter: [
      ...(result.claim ? [{ name: 'claim', resource: result.claim }] : []),
      ...(result.invoice ? [{ name: 'invoice', resource: result.invoice }] : []),
      { name: 'outcome', resource: { resourceType: 'OperationOutcome', issue: result.issues } },
    ],
  };
}
