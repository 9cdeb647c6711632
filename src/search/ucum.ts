// UCUM canonical quantities (R4 search.html#quantity: "the server may choose to compare the
// values in a canonical form"): a UCUM quantity is indexed a second time in base units, and a
// UCUM quantity search is compared in base units, so mg/dL matches g/L and mmol/L matches
// umol/L. Units of different dimensions never meet. UCUM treats the mole as a pure number
// (6.0221367e23); it is kept here as its own dimension, so amounts of substance (mmol/L) never
// compare with counts (10*9/L) or with masses (mg/dL: that needs a molar mass UCUM has not).
// Composite parameters (code-value-quantity) compare values as given.
import ucum from '@lhncbc/ucum-lhc';
import type { QuantityEntry } from './extract.js';

export const UCUM_SYSTEM = 'http://unitsofmeasure.org';

const AVOGADRO = 6.0221367e23; // the value UCUM defines the mole with
const utils = ucum.UcumLhcUtils.getInstance();

interface Unit {
  /** Canonical code: base units with exponents, e.g. `g.m-3`, `mol.m-3`, `1`. */
  code: string;
  /** Multiply to get the canonical value; absent for special (non-linear) units such as Cel. */
  factor?: number;
}

const cache = new Map<string, Unit | null>();
const CACHE_MAX = 2000;

function lookup(code: string): Unit | null {
  const hit = cache.get(code);
  if (hit !== undefined) return hit;
  let unit: Unit | null = null;
  if (code.length <= 100) {
    try {
      const base = utils.convertToBaseUnits(code, 1);
      if (base.status === 'succeeded' && base.unitToExp && typeof base.magnitude === 'number') {
        const parsed = utils.getSpecifiedUnit(code, 'validate').unit;
        const mole = parsed?.moleExp_ ?? 0;
        const dims = Object.entries(base.unitToExp).filter(([, e]) => e !== 0);
        if (mole !== 0) dims.push(['mol', mole]);
        dims.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        const canonical = dims.length ? dims.map(([u, e]) => (e === 1 ? u : `${u}${e}`)).join('.') : '1';
        unit = {
          code: canonical,
          ...(base.fromUnitIsSpecial ? {} : { factor: base.magnitude / AVOGADRO ** mole }),
        };
      }
    } catch {
      unit = null; // a unit string the library cannot read is incomparable, as any unknown unit
    }
  }
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(code, unit);
  return unit;
}

/** Twelve significant digits: the same quantity reached through different units compares equal. */
function round(n: number): number {
  return Number.isFinite(n) ? Number(n.toPrecision(12)) : n;
}

function convert(value: number, code: string, unit: Unit): number | undefined {
  if (!Number.isFinite(value)) return value; // open range ends stay open
  if (unit.factor !== undefined) return round(value * unit.factor);
  const r = utils.convertToBaseUnits(code, value);
  return r.status === 'succeeded' && typeof r.magnitude === 'number' ? round(r.magnitude) : undefined;
}

/** Whether `code` is a UCUM unit this module can put in canonical form. */
export function isUcumUnit(code: string): boolean {
  return lookup(code) !== null;
}

/** A value in a UCUM unit, in canonical form; undefined when the unit is not comparable. */
export function canonical(value: number, code: string): { value: number; code: string } | undefined {
  const unit = lookup(code);
  if (!unit) return undefined;
  const v = convert(value, code, unit);
  return v === undefined ? undefined : { value: v, code: unit.code };
}

/** A range [low, high] in a UCUM unit, in canonical form (each end converted: Cel is affine). */
export function canonicalRange(low: number, high: number, code: string): { low: number; high: number; code: string } | undefined {
  const unit = lookup(code);
  if (!unit) return undefined;
  const lo = convert(low, code, unit);
  const hi = convert(high, code, unit);
  return lo === undefined || hi === undefined ? undefined : { low: lo, high: hi, code: unit.code };
}

/** The index key of a quantity parameter's canonical entries, apart from the values as given. */
export function canonicalParam(param: string): string {
  return `${param}:canonical`;
}

/**
 * Adds the canonical twin of every UCUM entry from index `from` on, under the parameter's
 * canonical key (so a search without units never sees them); the adapters need no change.
 */
export function addCanonical(entries: QuantityEntry[], from = 0): void {
  const end = entries.length;
  for (let i = from; i < end; i++) {
    const q = entries[i];
    if (!q || q.system !== UCUM_SYSTEM || !q.code) continue;
    const c = canonicalRange(q.low, q.high, q.code);
    if (c) entries.push({ param: canonicalParam(q.param), low: c.low, high: c.high, system: UCUM_SYSTEM, code: c.code });
  }
}

/** A UCUM search value in canonical form, on the canonical key; the same value when its unit is not comparable. */
export function canonicalQuery<T extends { param: string; value: number; low: number; high: number; system?: string; code?: string }>(q: T): T {
  if (q.system !== UCUM_SYSTEM || !q.code) return q;
  const unit = lookup(q.code);
  if (!unit) return q;
  const value = convert(q.value, q.code, unit);
  const low = convert(q.low, q.code, unit);
  const high = convert(q.high, q.code, unit);
  if (value === undefined || low === undefined || high === undefined) return q;
  return { ...q, param: canonicalParam(q.param), value, low, high, code: unit.code };
}
