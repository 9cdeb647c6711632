// Pricing ChargeItems by the fee schedule (R4 chargeitem.html, chargeitemdefinition.html), pure:
// a ChargeItem's unit price is its priceOverride, else the `base` priceComponent of the
// ChargeItemDefinition it pins (definitionCanonical `url|version`); net = unit × quantity.
// Amounts are in cents (src/clinic/share.ts).
import type { ChargeItem, ChargeItemDefinition } from 'fhir/r4.js';
import { FhirError } from '../fhir/errors.js';
import { cents } from './share.js';

export interface PricedCharge {
  charge: ChargeItem & { id: string };
  /** Unit price, cents. */
  unit: number;
  quantity: number;
  /** unit × quantity, cents. */
  net: number;
}

export interface PricedCharges {
  lines: PricedCharge[];
  currency: string;
  /** Σ net, cents. */
  total: number;
}

/** The `base` price of a definition (R4 chargeitemdefinition.html#propertyGroup). */
export function basePrice(d: ChargeItemDefinition): { value: number; currency: string } | undefined {
  for (const g of d.propertyGroup ?? []) {
    for (const p of g.priceComponent ?? []) {
      if (p.type === 'base' && typeof p.amount?.value === 'number') return { value: p.amount.value, currency: p.amount.currency ?? 'USD' };
    }
  }
  return undefined;
}

/** `url` and optional `version` of a canonical (`url|version`, R4 datatypes.html#canonical). */
export function splitCanonical(canonical: string): { url: string; version?: string } {
  const [url = '', version] = canonical.split('|');
  return version ? { url, version } : { url };
}

/**
 * The definition a ChargeItem pins: the first of `definitions` with its canonical's url (and
 * version, when the canonical names one).
 */
export function pinnedDefinition(c: ChargeItem, definitions: readonly ChargeItemDefinition[]): ChargeItemDefinition | undefined {
  const canonical = c.definitionCanonical?.[0];
  if (!canonical) return undefined;
  const { url, version } = splitCanonical(canonical);
  return definitions.find((d) => d.url === url && (version === undefined || d.version === version));
}

/** The unit price of a ChargeItem, or undefined when nothing prices it. */
export function priceOf(c: ChargeItem, definitions: readonly ChargeItemDefinition[]): { value: number; currency: string } | undefined {
  if (typeof c.priceOverride?.value === 'number') return { value: c.priceOverride.value, currency: c.priceOverride.currency ?? 'USD' };
  const def = pinnedDefinition(c, definitions);
  return def ? basePrice(def) : undefined;
}

const businessRule = (msg: string): FhirError => new FhirError(422, msg, 'business-rule');

/** Prices every ChargeItem (quantity 1 when absent); 422 when one has no price or currencies differ. */
export function priceCharges(charges: readonly (ChargeItem & { id: string })[], definitions: readonly ChargeItemDefinition[]): PricedCharges {
  const currencies: string[] = [];
  const lines: PricedCharge[] = charges.map((charge) => {
    const p = priceOf(charge, definitions);
    if (!p) throw businessRule(`ChargeItem/${charge.id} has no price: its ChargeItemDefinition is missing or has no base priceComponent`);
    currencies.push(p.currency);
    const quantity = typeof charge.quantity?.value === 'number' ? charge.quantity.value : 1;
    return { charge, unit: cents(p.value), quantity, net: Math.round(cents(p.value) * quantity) };
  });
  const currency = currencies[0] ?? 'USD';
  if (currencies.some((c) => c !== currency)) throw businessRule('The ChargeItems are priced in different currencies');
  return {
    lines,
    currency,
    total: lines.reduce((a, l) => a + l.net, 0),
  };
}
