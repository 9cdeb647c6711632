// Encounter/[id]/$bill: the encounter's billable ChargeItems, priced (src/clinic/pricing.ts),
// become
//  - a Claim (src/clinic/claim.ts) to the patient's insurer when the patient has an active
//    Coverage in force on the visit day. No Coverage, no Claim: R4 Claim.insurance is 1..*, and
//    the patient pays everything;
//  - an Invoice (src/clinic/invoice.ts) for the patient's share (src/clinic/share.ts): `draft`
//    while the Claim awaits adjudication, `issued` when self-pay;
//  - the ChargeItems become `billed`, with the Claim and Invoice in supportingInformation.
// Claim and Invoice share an identifier (system urn:flint:bill) that ties them together.
// This module gathers what the builders need and stores what they build, all in one
// transaction: a concurrent second $bill finds nothing billable (422).
import { randomUUID } from 'node:crypto';
import type { ChargeItem, ChargeItemDefinition, Claim, Condition, Coverage, Encounter, Invoice, Parameters, Reference } from 'fhir/r4.js';
import type { FhirContext } from '../fhir/context.js';
import { FhirError } from '../fhir/errors.js';
import { assertId } from '../fhir/resource.js';
import { assertVisible, requirePerm } from '../fhir/access.js';
import { inTransaction } from '../fhir/tx.js';
import { create, update } from '../fhir/interactions/write.js';
import { systemContext } from '../fhir/workflow/hooks.js';
import { issue, operationOutcome, type Issue } from '../fhir-basics/outcome.js';
import { billingParties, claimDiagnoses, claimFor } from './claim.js';
import { invoiceFor } from './invoice.js';
import { priceCharges, splitCanonical } from './pricing.js';
import { findAll, localId, readCurrent, written } from './query.js';
import { allocate, patientShareCents } from './share.js';

export const BILL_ID = 'urn:flint:bill';
const businessRule = (msg: string): FhirError => new FhirError(422, msg, 'business-rule');

/** The patient's active Coverage in force on `date`, first by Coverage.order. */
export async function activeCoverage(ctx: FhirContext, patient: string, date: string | undefined): Promise<(Coverage & { id: string }) | undefined> {
  const all = await findAll<Coverage>(ctx, 'Coverage', [['beneficiary', patient], ['status', 'active']]);
  const day = date?.slice(0, 10);
  const inForce = all.filter((c) => !day || ((!c.period?.start || c.period.start.slice(0, 10) <= day) && (!c.period?.end || c.period.end.slice(0, 10) >= day)));
  inForce.sort((a, b) => (a.order ?? 1) - (b.order ?? 1));
  return inForce[0] as (Coverage & { id: string }) | undefined;
}

/** The ChargeItemDefinitions the charges pin (by url, and version when pinned). */
async function pinnedDefinitions(ctx: FhirContext, charges: readonly ChargeItem[]): Promise<ChargeItemDefinition[]> {
  const out: ChargeItemDefinition[] = [];
  const asked = new Set<string>();
  for (const c of charges) {
    const canonical = c.definitionCanonical?.[0];
    if (typeof c.priceOverride?.value === 'number' || !canonical || asked.has(canonical)) continue;
    asked.add(canonical);
    const { url, version } = splitCanonical(canonical);
    out.push(...await findAll<ChargeItemDefinition>(ctx, 'ChargeItemDefinition', [['url', url], ...(version ? [['version', version] as [string, string]] : [])]));
  }
  return out;
}

/** The Conditions a Claim's diagnoses come from: Encounter.diagnosis and those recorded in the encounter. */
async function encounterConditions(ctx: FhirContext, encounter: Encounter & { id: string }): Promise<Condition[]> {
  const out = await findAll<Condition>(ctx, 'Condition', [['encounter', `Encounter/${encounter.id}`]]);
  for (const d of encounter.diagnosis ?? []) {
    const id = localId(ctx, d.condition?.reference, 'Condition');
    if (!id || out.some((c) => c.id === id)) continue;
    const found = await readCurrent<Condition>(ctx, 'Condition', id);
    if (found) out.push({ ...found.resource, id });
  }
  return out;
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
  const { lines, currency, total } = priceCharges(charges, await pinnedDefinitions(ctx, charges));
  const coverage = await activeCoverage(ctx, patient, encounter.period?.start);
  const share = patientShareCents(coverage, total);
  const shares = allocate(lines.map((l) => l.net), share.cents);
  const identifier = [{ system: BILL_ID, value: randomUUID() }];
  const parties = billingParties(encounter, ctx.baseUrl);
  const now = new Date().toISOString();
  const issues: Issue[] = [issue('information', 'informational', `Patient share: ${(share.cents / 100).toFixed(2)} ${currency} of ${(total / 100).toFixed(2)} (${share.rule})`)];

  let claim: Claim | undefined;
  if (coverage) {
    const diagnoses = claimDiagnoses(encounter, await encounterConditions(ctx, encounter), ctx.baseUrl);
    const draft = claimFor({ encounter, patient, lines, currency, total, coverage, diagnoses, parties, identifier, created: now.slice(0, 10) });
    claim = written<Claim>(await create(ctx, 'Claim', draft));
  } else {
    issues.push(issue('information', 'informational', `${patient} has no active Coverage: no Claim, the Invoice is for the whole amount`));
  }

  let invoice: Invoice | undefined;
  // Insured: always a draft, even for a predicted share of 0, because the payer's answer may
  // still give the patient a share (it is then issued, or cancelled when there is nothing to pay).
  if (share.cents > 0 || coverage) {
    const issuer = localId(ctx, encounter.serviceProvider?.reference, 'Organization') ? encounter.serviceProvider : undefined;
    const draft = invoiceFor({
      patient, currency, insured: coverage !== undefined, total, share: share.cents, identifier, date: now,
      lines: lines.map((l, i) => ({ sequence: i + 1, chargeItem: `ChargeItem/${l.charge.id}`, net: l.net, share: shares[i] ?? 0 })),
      ...(issuer ? { issuer } : {}),
    });
    invoice = written<Invoice>(await create(ctx, 'Invoice', draft));
  } else {
    issues.push(issue('information', 'informational', 'Nothing for the patient to pay: no Invoice'));
  }

  const links: Reference[] = [];
  if (claim) links.push({ reference: `Claim/${claim.id}` });
  if (invoice) links.push({ reference: `Invoice/${invoice.id}` });
  for (const l of lines) {
    const current = await readCurrent(ctx, 'ChargeItem', l.charge.id);
    const body: ChargeItem = { ...l.charge, status: 'billed', supportingInformation: [...(l.charge.supportingInformation ?? []), ...links] };
    await update(ctx, { type: 'ChargeItem', id: l.charge.id, body, ifMatch: current?.versionId ?? '1' });
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
      { name: 'outcome', resource: operationOutcome(result.issues) },
    ],
  };
}
