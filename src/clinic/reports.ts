// GET [base]/$practice-report?start=YYYY-MM-DD&end=YYYY-MM-DD: the practice's figures over a
// period (both days included), as a Parameters resource:
//  - appointments: how many start in the period, and how many per status;
//  - noShowRate: noshow / (fulfilled + arrived + checked-in + noshow), the appointments whose
//    time came and that were kept or missed (booked, cancelled… are not counted); absent when
//    there are none;
//  - claims: Claims created in the period, per status;
//  - billed: Σ Claim.total of those claims (not cancelled or entered-in-error);
//  - paid: Σ ClaimResponse.payment.amount of ClaimResponses created in the period;
//  - patientInvoiced: Σ Invoice.totalNet of issued or balanced Invoices dated in the period.
// Money is summed per currency (one parameter per currency). Searches run with the caller's
// access policy, so a restricted caller's figures cover what it may see; the figures themselves
// are a pure function of the records (practiceFigures).
import type { Appointment, Claim, ClaimResponse, Invoice, Money, Parameters, ParametersParameter } from 'fhir/r4.js';
import type { FhirContext } from '../fhir/context.js';
import { badRequest } from '../fhir/errors.js';
import { requirePerm } from '../fhir/access.js';
import { findAll } from './query.js';
import { cents } from './share.js';

const DAY = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const KEPT_OR_MISSED = new Set(['fulfilled', 'arrived', 'checked-in', 'noshow']);

function day(params: [string, string][], name: string): string {
  const values = params.filter(([k]) => k === name).map(([, v]) => v);
  if (values.length !== 1) throw badRequest(`$practice-report needs exactly one ${name} (a date, YYYY-MM-DD)`, 'required');
  const v = values[0] ?? '';
  if (!DAY.test(v)) throw badRequest(`${name} must be a date (YYYY-MM-DD), got "${v.slice(0, 40)}"`);
  return v;
}

function counts(name: string, statuses: string[]): ParametersParameter {
  const by = new Map<string, number>();
  for (const s of statuses) by.set(s, (by.get(s) ?? 0) + 1);
  return {
    name,
    part: [
      { name: 'total', valueInteger: statuses.length },
      ...[...by].sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => ({ name: 'status', part: [{ name: 'code', valueCode: s }, { name: 'count', valueInteger: n }] })),
    ],
  };
}

function sums(name: string, amounts: (Money | undefined)[]): ParametersParameter[] {
  const by = new Map<string, number>();
  for (const m of amounts) if (typeof m?.value === 'number') by.set(m.currency ?? 'USD', (by.get(m.currency ?? 'USD') ?? 0) + cents(m.value));
  if (by.size === 0) return [{ name, valueMoney: { value: 0, currency: 'USD' } }];
  return [...by].map(([currency, c]) => ({ name, valueMoney: { value: c / 100, currency } }));
}

export async function practiceReport(ctx: FhirContext, params: [string, string][]): Promise<Parameters> {
  for (const [k] of params) if (!['start', 'end', '_format', '_pretty'].includes(k)) throw badRequest(`$practice-report does not take "${k.slice(0, 60)}"`, 'not-supported');
  const start = day(params, 'start');
  const end = day(params, 'end');
  if (end < start) throw badRequest('end must not be before start');
  for (const type of ['Appointment', 'Claim', 'ClaimResponse', 'Invoice']) requirePerm(ctx, 's', type);
  const within = (param: string): [string, string][] => [[param, `ge${start}`], [param, `le${end}`]];
  const appointments = await findAll<Appointment>(ctx, 'Appointment', within('date'));
  const claims = await findAll<Claim>(ctx, 'Claim', within('created'));
  const responses = await findAll<ClaimResponse>(ctx, 'ClaimResponse', within('created'));
  const invoices = await findAll<Invoice>(ctx, 'Invoice', within('date'));
  return practiceFigures({ start, end }, { appointments, claims, responses, invoices });
}

export interface PracticeRecords {
  appointments: readonly Appointment[];
  claims: readonly Claim[];
  responses: readonly ClaimResponse[];
  invoices: readonly Invoice[];
}

/** The figures of the period from its records (the rules in the header), pure. */
export function practiceFigures(period: { start: string; end: string }, r: PracticeRecords): Parameters {
  const timeCame = r.appointments.filter((a) => KEPT_OR_MISSED.has(a.status));
  const noShows = timeCame.filter((a) => a.status === 'noshow').length;
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'period', valuePeriod: { start: period.start, end: period.end } },
      counts('appointments', r.appointments.map((a) => a.status)),
      ...(timeCame.length ? [{ name: 'noShowRate', valueDecimal: Math.round((noShows / timeCame.length) * 10_000) / 10_000 }] : []),
      counts('claims', r.claims.map((c) => c.status)),
      ...sums('billed', r.claims.filter((c) => c.status !== 'cancelled' && c.status !== 'entered-in-error').map((c) => c.total)),
      ...sums('paid', r.responses.filter((x) => x.status !== 'cancelled' && x.status !== 'entered-in-error').map((x) => x.payment?.amount)),
      ...sums('patientInvoiced', r.invoices.filter((i) => i.status === 'issued' || i.status === 'balanced').map((i) => i.totalNet)),
    ],
  };
}
