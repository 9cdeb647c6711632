// Flint as a payer: the decision on a Claim (R4 claimresponse.html), pure and deterministic:
// outcome complete; per item submitted = eligible = net (unitPrice × quantity × factor when net
// is absent), copay = the patient's share (src/clinic/share.ts, from the Coverage the payer
// holds, spread over the items in proportion), benefit = eligible − copay; the same four as
// totals, and a payment of the total benefit.
import type { Claim, ClaimResponse, ClaimResponseItem, Coverage } from 'fhir/r4.js';
import { FhirError } from '../fhir/errors.js';
import { allocate, cents, money, patientShareCents } from './share.js';

const ADJUDICATION = 'http://terminology.hl7.org/CodeSystem/adjudication';

/** What a Claim item asks, in cents. */
export function itemCents(item: NonNullable<Claim['item']>[number]): number {
  if (typeof item.net?.value === 'number') return cents(item.net.value);
  const unit = typeof item.unitPrice?.value === 'number' ? cents(item.unitPrice.value) : 0;
  return Math.round(unit * (item.quantity?.value ?? 1) * (item.factor ?? 1));
}

const adj = (code: string, c: number, currency: string) => ({ category: { coding: [{ system: ADJUDICATION, code }] }, amount: money(c, currency) });

/**
 * The ClaimResponse to a stored Claim, judged on `coverage` (the payer's own record of the
 * member's Coverage, else the copy the sender sent; undefined when the payer holds none: the
 * whole claim is then eligible). `created` is the dateTime of the decision. 422 when neither
 * the Claim nor the Coverage names an insurer.
 */
export function adjudication(claim: Claim & { id: string }, coverage: Coverage | undefined, created: string): ClaimResponse {
  const insurer = claim.insurer ?? coverage?.payor?.[0];
  if (!insurer) throw new FhirError(422, 'The Claim names no insurer and its Coverage no payor', 'business-rule');
  const items = claim.item ?? [];
  const currency = items.find((i) => i.net?.currency)?.net?.currency ?? claim.total?.currency ?? 'USD';
  const nets = items.map(itemCents);
  const total = nets.reduce((a, b) => a + b, 0);
  // A Coverage the payer does not hold is no ground for a co-pay: the whole claim is eligible.
  const share = coverage ? patientShareCents(coverage, total) : { cents: 0, rule: 'Coverage not found at the payer: no patient share' };
  const shares = allocate(nets, share.cents);
  const responseItems: ClaimResponseItem[] = items.map((item, i) => ({
    itemSequence: item.sequence,
    adjudication: [
      adj('submitted', nets[i] ?? 0, currency), adj('eligible', nets[i] ?? 0, currency),
      adj('copay', shares[i] ?? 0, currency), adj('benefit', (nets[i] ?? 0) - (shares[i] ?? 0), currency),
    ],
  }));
  return {
    resourceType: 'ClaimResponse',
    status: 'active',
    type: claim.type,
    use: claim.use,
    patient: claim.patient,
    created,
    insurer,
    requestor: claim.provider,
    request: { reference: `Claim/${claim.id}` },
    outcome: 'complete',
    disposition: `Adjudicated by Flint: eligible = net, patient share by ${share.rule}`,
    ...(responseItems.length ? { item: responseItems } : {}),
    total: [adj('submitted', total, currency), adj('eligible', total, currency), adj('copay', share.cents, currency), adj('benefit', total - share.cents, currency)],
    payment: {
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/ex-paymenttype', code: 'complete' }] },
      date: created.slice(0, 10),
      amount: money(total - share.cents, currency),
    },
  };
}
