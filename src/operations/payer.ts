// Claim/[id]/$submit-to-payer: sends a stored Claim, with the resources a payer needs to judge
// it (Patient, Coverage, insurer and provider Organizations, care team Practitioners), as a
// collection Bundle to the configured payer's Claim/$submit, and records the ClaimResponse it
// answers: stored locally (request → the local Claim, the payer's id kept as an identifier),
// and the patient's Invoice for the claim (same urn:flint:bill identifier) updated to the
// adjudicated share and issued. The network call is made outside any store transaction; the
// recording is one transaction.
import type { Bundle, BundleEntry, Claim, ClaimResponse, Invoice, Parameters, Reference } from 'fhir/r4.js';
import type { FhirContext } from '../fhir/context.js';
import { conflict, FhirError } from '../fhir/errors.js';
import { assertId, isObject } from '../fhir/resource.js';
import { assertVisible, requirePerm } from '../fhir/access.js';
import { inTransaction } from '../fhir/tx.js';
import { create, update } from '../fhir/interactions/write.js';
import { systemContext } from '../fhir/workflow/hooks.js';
import { issue, type Issue } from '../fhir-basics/outcome.js';
import { BILL_ID, invoiceLines } from './billing.js';
import { findAll, readCurrent } from './query.js';
import { cents, money } from './share.js';

/** The port to a payer's FHIR endpoint (the HTTP client lives in src/http/payer-client.ts). */
export interface PayerClient {
  /** The payer's FHIR base URL (recorded as the system of the ClaimResponse identifier). */
  readonly endpoint: string;
  /** POSTs the Bundle to the payer's Claim/$submit; resolves with the parsed answer. */
  submit(bundle: Bundle): Promise<unknown>;
}

/** The payer could not be reached or refused the claim. */
export class PayerError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'PayerError';
  }
}

async function supporting(ctx: FhirContext, claim: Claim): Promise<BundleEntry[]> {
  const refs: (Reference | undefined)[] = [
    claim.patient, claim.provider, claim.insurer, ...(claim.insurance ?? []).map((i) => i.coverage),
    ...(claim.careTeam ?? []).map((c) => c.provider),
  ];
  const seen = new Set<string>();
  const out: BundleEntry[] = [];
  for (const ref of refs) {
    const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(ref?.reference?.replace(`${ctx.baseUrl}/`, '') ?? '');
    if (!m?.[1] || !m[2] || seen.has(m[0])) continue;
    seen.add(m[0]);
    const found = await readCurrent(ctx, m[1], m[2]);
    if (found) out.push({ fullUrl: `${ctx.baseUrl}/${m[0]}`, resource: found.resource as BundleEntry['resource'] });
  }
  return out;
}

function claimResponseOf(answer: unknown): ClaimResponse {
  let r = answer;
  if (isObject(r) && r.resourceType === 'Parameters' && Array.isArray(r.parameter)) {
    r = (r.parameter as unknown[]).find((p) => isObject(p) && p.name === 'return' && isObject(p.resource));
    r = isObject(r) ? r.resource : undefined;
  }
  if (!isObject(r) || r.resourceType !== 'ClaimResponse') throw new FhirError(502, 'The payer did not answer a ClaimResponse', 'exception');
  return r as unknown as ClaimResponse;
}

/** The patient's share per Claim item sequence, as the payer adjudicated it. */
function adjudicatedShares(response: ClaimResponse, claim: Claim): Map<number, number> {
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

async function settleInvoice(ctx: FhirContext, claim: Claim, response: ClaimResponse, issues: Issue[]): Promise<Invoice | undefined> {
  const bill = claim.identifier?.find((i) => i.system === BILL_ID)?.value;
  if (!bill) return undefined;
  const [invoice] = await findAll<Invoice & { id: string }>(ctx, 'Invoice', [['identifier', `${BILL_ID}|${bill}`]]);
  if (!invoice) return undefined;
  if (response.outcome === 'error' || response.outcome === 'queued') {
    issues.push(issue('warning', 'incomplete', `The payer's outcome is ${response.outcome}: Invoice/${invoice.id} stays ${invoice.status}`));
    return invoice;
  }
  const shares = adjudicatedShares(response, claim);
  const currency = invoice.totalGross?.currency ?? 'USD';
  const lines = (invoice.lineItem ?? []).map((l) => ({
    sequence: l.sequence ?? 0,
    chargeItem: l.chargeItemReference?.reference ?? '',
    net: cents(l.priceComponent?.find((p) => p.type === 'base')?.amount?.value ?? 0),
    share: shares.get(l.sequence ?? 0) ?? 0,
  }));
  const total = lines.reduce((a, l) => a + l.share, 0);
  const body: Invoice = {
    ...invoice,
    status: total > 0 ? 'issued' : 'cancelled',
    ...(total > 0 ? {} : { cancelledReason: 'The payer covers the whole amount' }),
    lineItem: invoiceLines(lines, currency, true),
    totalNet: money(total, currency),
  };
  const found = await readCurrent(ctx, 'Invoice', invoice.id);
  const record = await update(ctx, { type: 'Invoice', id: invoice.id, body, ...(found ? { ifMatch: found.versionId } : {}) });
  issues.push(issue('information', 'informational', `Invoice/${invoice.id}: patient share ${(total / 100).toFixed(2)} ${currency} as adjudicated`));
  return JSON.parse(record.record.json ?? '{}') as Invoice;
}

export async function submitToPayer(ctx: FhirContext, claimId: string, payer: PayerClient | undefined): Promise<Parameters> {
  assertId(claimId);
  requirePerm(ctx, 'r', 'Claim');
  requirePerm(ctx, 'c', 'ClaimResponse');
  requirePerm(ctx, 'u', 'Invoice');
  const found = await readCurrent<Claim>(ctx, 'Claim', claimId);
  if (!found) throw new FhirError(404, `Claim/${claimId} is not known`, 'not-found');
  await assertVisible(ctx, 'r', 'Claim', claimId);
  if (!payer) throw new FhirError(501, 'No payer endpoint is configured (PAYER_URL)', 'not-supported');
  const claim = { ...found.resource, id: claimId };
  if (claim.status !== 'active') throw new FhirError(422, `Claim/${claimId} is ${claim.status}; only active claims are sent`, 'business-rule');
  const sys = systemContext(ctx);
  const recorded = await findAll(sys, 'ClaimResponse', [['request', `Claim/${claimId}`]]);
  if (recorded.length) throw conflict(`Claim/${claimId} already has a ClaimResponse (ClaimResponse/${recorded[0]?.id})`);
  const bundle: Bundle = {
    resourceType: 'Bundle', type: 'collection', timestamp: new Date().toISOString(),
    entry: [{ fullUrl: `${ctx.baseUrl}/Claim/${claimId}`, resource: claim }, ...await supporting(sys, claim)],
  };
  let answer: unknown;
  try {
    answer = await payer.submit(bundle);
  } catch (err) {
    if (err instanceof PayerError) throw new FhirError(502, `The payer at ${payer.endpoint} did not accept the claim: ${err.message}`, 'exception');
    throw err;
  }
  const remote = claimResponseOf(answer);
  const { id: remoteId, meta: _meta, ...rest } = remote;
  void _meta;
  const local: ClaimResponse = {
    ...rest,
    identifier: [...(rest.identifier ?? []), ...(remoteId ? [{ system: `${payer.endpoint}/ClaimResponse`, value: remoteId }] : [])],
    request: { reference: `Claim/${claimId}` },
    patient: claim.patient,
    ...(claim.insurer ? { insurer: claim.insurer } : {}),
    requestor: claim.provider,
  };
  const issues: Issue[] = [];
  const result = await inTransaction(sys, async (tx) => {
    // A concurrent send of the same claim recorded first: keep one answer.
    const again = await findAll(tx, 'ClaimResponse', [['request', `Claim/${claimId}`]]);
    if (again.length) throw conflict(`Claim/${claimId} already has a ClaimResponse (ClaimResponse/${again[0]?.id})`);
    let record;
    try {
      record = await create(tx, 'ClaimResponse', local);
    } catch (err) {
      if (err instanceof FhirError && err.status === 422) throw new FhirError(502, err.issues.map((i) => ({ ...i, diagnostics: `The payer's ClaimResponse is not valid: ${i.diagnostics}` })));
      throw err;
    }
    const response = JSON.parse(record.json ?? '{}') as ClaimResponse;
    const invoice = await settleInvoice(tx, claim, response, issues);
    return { response, invoice };
  });
  issues.unshift(issue('information', 'informational', `The payer answered ${result.response.outcome}; recorded as ClaimResponse/${result.response.id}`));
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'claimResponse', resource: result.response },
      ...(result.invoice ? [{ name: 'invoice', resource: result.invoice }] : []),
      { name: 'outcome', resource: { resourceType: 'OperationOutcome', issue: issues } },
    ],
  };
}
