// The patient's share of a bill, one rule for both sides: the clinic's Invoice (an estimate until
// the payer answers) and Flint-as-payer's adjudication (src/clinic/adjudication.ts).
//  - no Coverage: the patient pays everything (self-pay);
//  - Coverage.costToBeneficiary of type `copaypct` (or a valueQuantity in %): that percentage;
//  - else the first costToBeneficiary with a valueMoney (copay, gpvisit, …): a flat amount per
//    visit, at most the total;
//  - else nothing (the Coverage pays all).
// Amounts are computed in cents; a share is spread over the lines in proportion to their net,
// the rounding remainder on the last line, so the lines always add up to the share.
import type { Coverage } from 'fhir/r4.js';

export const cents = (value: number): number => Math.round(value * 100);
export const money = (c: number, currency: string): { value: number; currency: string } => ({ value: c / 100, currency });

export function patientShareCents(coverage: Coverage | undefined, totalCents: number): { cents: number; rule: string } {
  if (!coverage) return { cents: totalCents, rule: 'self-pay: no active Coverage' };
  const costs = coverage.costToBeneficiary ?? [];
  const pct = costs.find((c) => c.type?.coding?.some((x) => x.code === 'copaypct') || c.valueQuantity?.unit === '%' || c.valueQuantity?.code === '%');
  if (pct && typeof pct.valueQuantity?.value === 'number') {
    const p = Math.min(Math.max(pct.valueQuantity.value, 0), 100);
    return { cents: Math.round((totalCents * p) / 100), rule: `co-insurance ${p}% (Coverage.costToBeneficiary)` };
  }
  const flat = costs.find((c) => typeof c.valueMoney?.value === 'number');
  if (flat && typeof flat.valueMoney?.value === 'number') {
    return { cents: Math.min(cents(Math.max(flat.valueMoney.value, 0)), totalCents), rule: 'co-pay per visit (Coverage.costToBeneficiary)' };
  }
  return { cents: 0, rule: 'the Coverage has no cost to the beneficiary' };
}

/** Spreads `share` (cents) over lines of the given nets (cents), in proportion. */
export function allocate(nets: readonly number[], share: number): number[] {
  const total = nets.reduce((a, b) => a + b, 0);
  if (total === 0 || nets.length === 0) return nets.map(() => 0);
  const out = nets.map((n) => Math.floor((share * n) / total));
  const last = out.length - 1;
  out[last] = (out[last] ?? 0) + share - out.reduce((a, b) => a + b, 0);
  return out;
}
