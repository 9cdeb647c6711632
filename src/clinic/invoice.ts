// The patient's Invoice (R4 invoice.html), pure: one line per ChargeItem with its base price and,
// when insured, a deduction for what the insurer pays; totalGross = the bill, totalNet = the
// patient's share. Insured, it is a `draft` estimate until the payer's ClaimResponse settles it
// (then `issued`, or `cancelled` when the payer pays everything); self-pay, it is `issued`.
import type { Claim, ClaimResponse, Identifier, Invoice, InvoiceLineItem, Reference } from 'fhir/r4.js';
import { cents, money } from './share.js';

export interface InvoiceLine {
  sequence: number;
  /** `ChargeItem/[id]`. */
  chargeItem: string;
  /** The line's net, cents. */
  net: number;
  /** The patient's share of it, cents. */
  share: number;
}

/** The Invoice lines: base price per ChargeItem, minus what the insurer pays (when insured). */
export function invoiceLines(lines: readonly InvoiceLine[], currency: string, insured: boolean): InvoiceLineItem[] {
  return lines.map((l) => ({
    sequence: l.sequence,
    chargeItemReference: { reference: l.chargeItem },
    priceComponent: [
      { type: 'base', amount: money(l.net, currency) },
      ...(insured && l.net - l.share > 0 ? [{ type: 'deduction' as const, code: { text: 'paid by the insurer' }, amount: money(l.net - l.share, currency) }] : []),
    ],
  }));
}

export interface InvoiceInput {
  /** The patient billed (subject and recipient). */
  patient: string;
  lines: readonly InvoiceLine[];
  currency: string;
  /** Whether a Claim goes to an insurer (the Invoice is then a draft). */
  insured: boolean;
  /** Σ net, cents. */
  total: number;
  /** The patient's share, cents. */
  share: number;
  issuer?: Reference;
  /** Shared with the Claim of the same bill. */
  identifier: Identifier[];
  /** When the Invoice is made (dateTime). */
  date: string;
}

export function invoiceFor(input: InvoiceInput): Invoice {
  return {
    resourceType: 'Invoice', identifier: input.identifier,
    // Insured: an estimate until the payer's ClaimResponse fixes the share (then issued).
    status: input.insured ? 'draft' : 'issued',
    subject: { reference: input.patient },
    recipient: { reference: input.patient },
    date: input.date,
    ...(input.issuer ? { issuer: input.issuer } : {}),
    lineItem: invoiceLines(input.lines, input.currency, input.insured),
    totalGross: money(input.total, input.currency),
    totalNet: money(input.share, input.currency),
  };
}

/**
 * The patient's share per Claim item sequence, as the payer adjudicated it: copay + deductible
 * (R4 adjudication codes), else what the payer's benefit leaves of the item's net.
 */
export function adjudicatedShares(response: ClaimResponse, claim: Claim): Map<number, number> {
  const out = new Map<number, number>();
  for (const item of response.item ?? []) {
    const amounts = (code: string): number[] => (item.adjudication ?? [])
      .filter((a) => a.category.coding?.some((c) => c.code === code) && typeof a.amount?.value === 'number').map((a) => cents(a.amount?.value ?? 0));
    const patient = [...amounts('copay'), ...amounts('deductible')];
    let share: number;
    if (patient.length) share = patient.reduce((a, b) => a + b, 0);
    else {
      // No patient categories: what the payer does not pay of the net.
      const net = cents(claim.item?.find((i) => i.sequence === item.itemSequence)?.net?.value ?? 0);
      share = Math.max(net - amounts('benefit').reduce((a, b) => a + b, 0), 0);
    }
    out.set(item.itemSequence, share);
  }
  return out;
}

/** The draft Invoice of a Claim, settled by the payer's (complete or partial) answer. */
export function settledInvoice(invoice: Invoice, claim: Claim, response: ClaimResponse): { invoice: Invoice; share: number; currency: string } {
  const shares = adjudicatedShares(response, claim);
  const currency = invoice.totalGross?.currency ?? 'USD';
  const lines = (invoice.lineItem ?? []).map((l) => ({
    sequence: l.sequence ?? 0,
    chargeItem: l.chargeItemReference?.reference ?? '',
    net: cents(l.priceComponent?.find((p) => p.type === 'base')?.amount?.value ?? 0),
    share: shares.get(l.sequence ?? 0) ?? 0,
  }));
  const total = lines.reduce((a, l) => a + l.share, 0);
  return {
    invoice: {
      ...invoice,
      status: total > 0 ? 'issued' : 'cancelled',
      ...(total > 0 ? {} : { cancelledReason: 'The payer covers the whole amount' }),
      lineItem: invoiceLines(lines, currency, true),
      totalNet: money(total, currency),
    },
    share: total,
    currency,
  };
}
