// Claim/$submit (R4 claim-operation-submit.html): Flint as a payer endpoint. The body is a Claim,
// a Bundle holding one Claim and its supporting resources (Patient, Coverage, Organizations,
// Practitioners…), or a Parameters with that as `resource`. Everything is validated and stored
// (a Bundle's resources under new ids, references rewritten, so a sender's ids never collide
// with the payer's own), and the Claim is adjudicated into a ClaimResponse, also stored:
//  - outcome complete; per item: submitted = eligible = net (unitPrice × quantity when net is
//    absent), copay = the patient's share (src/clinic/share.ts, from the Claim's focal
//    Coverage as the payer holds it: its own Coverage with the member's identifier or
//    subscriberId, else the copy the sender sent), benefit = eligible − copay; the same four as totals, and
//    a payment of the total benefit.
// A Claim whose business identifier the payer already holds is not adjudicated twice: its
// ClaimResponse is answered again (safe retries).
import { randomUUID } from 'node:crypto';
import type { Claim, ClaimResponse, Coverage } from 'fhir/r4.js';
import type { FhirContext } from '../fhir/context.js';
import { badRequest, FhirError } from '../fhir/errors.js';
import { requirePerm } from '../fhir/access.js';
import { inTransaction } from '../fhir/tx.js';
import { create } from '../fhir/interactions/write.js';
import { rewriteReferences } from '../fhir/references.js';
import { isObject } from '../fhir-basics/json.js';
import { parseReference, referenceKey } from '../fhir-basics/references.js';
import { adjudication } from './adjudication.js';
import { findAll, localId, readCurrent, written } from './query.js';

interface Incoming { resource: Record<string, unknown>; fullUrl?: string }

function unwrap(body: unknown): Incoming[] {
  if (!isObject(body)) throw badRequest('Claim/$submit takes a Claim, a Bundle or a Parameters resource', 'structure');
  if (body.resourceType === 'Parameters') {
    const p = (Array.isArray(body.parameter) ? body.parameter : []).find((x: unknown) => isObject(x) && x.name === 'resource');
    if (!isObject(p) || !isObject(p.resource)) throw badRequest('The Parameters need a "resource" parameter holding the Claim or Bundle', 'required');
    return unwrap(p.resource);
  }
  if (body.resourceType === 'Claim') return [{ resource: body }];
  if (body.resourceType === 'Bundle') {
    const entries = Array.isArray(body.entry) ? body.entry : [];
    return entries.map((e: unknown, i: number) => {
      if (!isObject(e) || !isObject(e.resource)) throw badRequest(`Bundle.entry[${i}] has no resource`, 'structure');
      return { resource: e.resource, ...(typeof e.fullUrl === 'string' ? { fullUrl: e.fullUrl } : {}) };
    });
  }
  throw badRequest(`Claim/$submit takes a Claim or a Bundle, not ${String(body.resourceType).slice(0, 40)}`, 'not-supported');
}

/** Old reference → `Type/newId`, for every form a reference to an entry may take (R4 bundle.html#references). */
function identities(entries: Incoming[]): { map: Map<string, string>; ids: string[] } {
  const map = new Map<string, string>();
  const ids = entries.map((e) => {
    const type = String(e.resource.resourceType);
    const id = randomUUID();
    const target = `${type}/${id}`;
    if (e.fullUrl) {
      map.set(e.fullUrl, target);
      // An absolute fullUrl is also referred to as Type/id (R4 bundle.html#references).
      const parsed = parseReference(e.fullUrl);
      if (parsed) map.set(referenceKey(parsed), target);
    }
    if (typeof e.resource.id === 'string') map.set(`${type}/${e.resource.id}`, target);
    return id;
  });
  return { map, ids };
}

/**
 * The payer's own record of the member's coverage, when it holds one: a Coverage other than the
 * sender's copy whose identifier carries one of the copy's identifiers or its subscriberId (the
 * member number). The payer's terms, not the sender's, decide the patient's share.
 */
async function ownCoverage(ctx: FhirContext, copy: Coverage, copyId: string): Promise<Coverage | undefined> {
  const keys = [
    ...(copy.identifier ?? []).filter((i) => i.value).map((i) => (i.system ? `${i.system}|${i.value}` : `${i.value}`)),
    ...(copy.subscriberId ? [copy.subscriberId] : []),
  ];
  for (const key of keys) {
    const found = (await findAll<Coverage & { id: string }>(ctx, 'Coverage', [['identifier', key], ['status', 'active']])).filter((c) => c.id !== copyId);
    if (found.length === 1) return found[0];
  }
  return undefined;
}

/** The payer's decision on a stored Claim (the rule in src/clinic/adjudication.ts). */
export async function adjudicate(ctx: FhirContext, claim: Claim & { id: string }): Promise<ClaimResponse> {
  const focal = claim.insurance?.find((i) => i.focal) ?? claim.insurance?.[0];
  const covId = localId(ctx, focal?.coverage?.reference, 'Coverage');
  const submitted = covId ? (await readCurrent<Coverage>(ctx, 'Coverage', covId))?.resource : undefined;
  const coverage = (submitted && await ownCoverage(ctx, submitted, covId ?? '')) ?? submitted;
  return adjudication(claim, coverage, new Date().toISOString());
}

async function alreadySubmitted(ctx: FhirContext, claim: Record<string, unknown>): Promise<ClaimResponse | undefined> {
  const ids = Array.isArray(claim.identifier) ? claim.identifier.filter((i: unknown) => isObject(i) && typeof i.value === 'string') : [];
  for (const i of ids as { system?: string; value: string }[]) {
    const esc = (s: string): string => s.replace(/[\\,|$]/g, (c) => `\\${c}`);
    const token = i.system ? `${esc(i.system)}|${esc(i.value)}` : esc(i.value);
    for (const c of await findAll<Claim>(ctx, 'Claim', [['identifier', token]])) {
      const [response] = await findAll<ClaimResponse>(ctx, 'ClaimResponse', [['request', `Claim/${c.id ?? ''}`]]);
      if (response) return response;
    }
  }
  return undefined;
}

export async function submitClaim(ctx: FhirContext, body: unknown): Promise<{ response: ClaimResponse; created: boolean }> {
  const entries = unwrap(body);
  const claims = entries.filter((e) => e.resource.resourceType === 'Claim');
  if (claims.length !== 1) throw badRequest(`Claim/$submit needs exactly one Claim (found ${claims.length})`, claims.length ? 'invalid' : 'required');
  requirePerm(ctx, 'c', 'ClaimResponse');
  for (const e of entries) requirePerm(ctx, 'c', String(e.resource.resourceType));
  return inTransaction(ctx, async (tx) => {
    const previous = await alreadySubmitted(tx, claims[0]?.resource ?? {});
    if (previous) return { response: previous, created: false };
    const { map, ids } = identities(entries);
    let stored: (Claim & { id: string }) | undefined;
    for (const [i, e] of entries.entries()) {
      const type = String(e.resource.resourceType);
      if (!tx.defs.isResourceType(type)) throw badRequest(`entry ${i}: unknown resourceType "${type.slice(0, 60)}"`, 'not-supported');
      const { id: _old, meta: _meta, ...rest } = e.resource;
      void _old; void _meta;
      try {
        const record = await create(tx, type, rewriteReferences(rest, map), ids[i]);
        if (type === 'Claim') stored = written<Claim>(record);
      } catch (err) {
        if (!(err instanceof FhirError)) throw err;
        throw new FhirError(err.status, err.issues.map((x) => ({ ...x, diagnostics: `${entries.length > 1 ? `entry ${i} (${type}): ` : ''}${x.diagnostics}` })));
      }
    }
    if (!stored) throw badRequest('No Claim was stored');
    const response = await adjudicate(tx, stored);
    const record = await create(tx, 'ClaimResponse', response);
    return { response: written<ClaimResponse>(record), created: true };
  });
}
