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
import { assertId } from '../fhir/resource.js';
import { assertVisible, requirePerm } from '../fhir/access.js';
import { inTransaction } from '../fhir/tx.js';
import { create, update } from '../fhir/interactions/write.js';
import { systemContext } from '../fhir/workflow/hooks.js';
import { isObject } from '../fhir-basics/json.js';
import { issue, operationOutcome, type Issue } from '../fhir-basics/outcome.js';
import { parseLocalReference, referenceKey } from '../fhir-basics/references.js';
import { BILL_ID } from './billing.js';
import { settledInvoice } from './invoice.js';
import { findAll, readCurrent, written } from './query.js';

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
    const parsed = ref?.reference ? parseLocalReference(ref.reference, ctx.baseUrl) : undefined;
    const key = parsed ? referenceKey(parsed) : undefined;
    if (!parsed || !key || seen.has(key)) continue;
    seen.add(key);
    const found = await readCurrent(ctx, parsed.type, parsed.id);
    if (found) out.push({ fullUrl: `${ctx.baseUrl}/${key}`, resource: found.resource as BundleEntry['resource'] });
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

async function settleInvoice(ctx: FhirContext, claim: Claim, response: ClaimResponse, issues: Issue[]): Promise<Invoice | undefined> {
  const bill = claim.identifier?.find((i) => i.system === BILL_ID)?.value;
  if (!bill) return undefined;
  const [invoice] = await findAll<Invoice & { id: string }>(ctx, 'Invoice', [['identifier', `${BILL_ID}|${bill}`]]);
  if (!invoice) return undefined;
  if (response.outcome === 'error' || response.outcome === 'queued') {
    issues.push(issue('warning', 'incomplete', `The payer's outcome is ${response.outcome}: Invoice/${invoice.id} stays ${invoice.status}`));
    return invoice;
  }
  const settled = settledInvoice(invoice, claim, response);
  const body = settled.invoice;
  const found = await readCurrent(ctx, 'Invoice', invoice.id);
  const record = await update(ctx, { type: 'Invoice', id: invoice.id, body, ...(found ? { ifMatch: found.versionId } : {}) });
  issues.push(issue('information', 'informational', `Invoice/${invoice.id}: patient share ${(settled.share / 100).toFixed(2)} ${settled.currency} as adjudicated`));
  return written<Invoice>(record.record);
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
    const response = written<ClaimResponse>(record);
    const invoice = await settleInvoice(tx, claim, response, issues);
    return { response, invoice };
  });
  issues.unshift(issue('information', 'informational', `The payer answered ${result.response.outcome}; recorded as ClaimResponse/${result.response.id}`));
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'claimResponse', resource: result.response },
      ...(result.invoice ? [{ name: 'invoice', resource: result.invoice }] : []),
      { name: 'outcome', resource: operationOutcome(issues) },
    ],
  };
}
