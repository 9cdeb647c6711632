// Conditional create, update, delete and patch (R4 http.html#ccreate, #cond-update, #cdelete,
// #patch), for HTTP and Bundle entries alike; the "at most one match" rule (matchOne) is used by a
// transaction's conditional references too. Each runs inside one store transaction: the criteria
// are evaluated and the write made while the store's write lock is held, so concurrent requests
// cannot both see "no match".
import type { DeleteResult, VersionRecord } from '../../store/port.js';
import type { FhirContext } from '../context.js';
import { matchCriteria } from '../criteria.js';
import { badRequest, FhirError, notFound } from '../errors.js';
import { assertType } from '../resource.js';
import { isObject } from '../../fhir-basics/json.js';
import { create, remove, update } from './write.js';
import { patch } from './patch.js';
import { inTransaction } from '../tx.js';
import { memoOf } from '../match-memo.js';

const multiple = (what: string, n: string): FhirError =>
  new FhirError(412, `The ${what} criteria match ${n} resources; they must match at most one`, 'multiple-matches');

/**
 * The one resource `criteria` select, undefined when none; 412 when several (`what` names the
 * criteria). Inside a transaction Bundle the answer found while resolving its identities is
 * reused until one of its writes could change it (src/fhir/match-memo.ts).
 */
export async function matchOne(ctx: FhirContext, type: string, criteria: string, what: string): Promise<VersionRecord | undefined> {
  const memo = memoOf(ctx.store);
  const known = memo?.get(ctx.access, type, criteria);
  if (known) return known.record;
  const matches = await matchCriteria(ctx, type, criteria, 2);
  if (matches.length > 1) throw multiple(what, 'several');
  memo?.set(ctx.access, type, criteria, matches[0]);
  return matches[0];
}

export interface ConditionalCreateResult {
  record: VersionRecord;
  /** False when an existing resource matched and nothing was created. */
  created: boolean;
}

/** `assignedId`: the id a transaction chose up front for the resource, if one is created. */
export async function conditionalCreate(ctx: FhirContext, type: string, body: unknown, ifNoneExist: string, assignedId?: string): Promise<ConditionalCreateResult> {
  assertType(ctx, type);
  return inTransaction(ctx, async (txCtx) => {
    const existing = await matchOne(txCtx, type, stripQuestionMark(ifNoneExist), 'If-None-Exist');
    if (existing) return { record: existing, created: false };
    return { record: await create(txCtx, type, body, assignedId), created: true };
  });
}

export async function conditionalUpdate(
  ctx: FhirContext, type: string, criteria: string, body: unknown, ifMatch?: string, assignedId?: string,
): Promise<{ record: VersionRecord; created: boolean }> {
  assertType(ctx, type);
  return inTransaction(ctx, async (txCtx) => {
    const bodyId = isObject(body) && typeof body.id === 'string' ? body.id : undefined;
    const existing = await matchOne(txCtx, type, criteria, 'update');
    if (existing) {
      if (bodyId !== undefined && bodyId !== existing.id) {
        throw badRequest(`The id "${bodyId}" in the body is not the id of the resource the criteria match (${existing.id})`);
      }
      return update(txCtx, { type, id: existing.id, body: { ...(body as object), id: existing.id }, ...(ifMatch !== undefined ? { ifMatch } : {}) });
    }
    // No match: create, with the client's id if it gave one (update-as-create), else a new one.
    if (bodyId !== undefined) return update(txCtx, { type, id: bodyId, body });
    return { record: await create(txCtx, type, body, assignedId), created: true };
  });
}

export interface ConditionalDeleteResult {
  deleted: VersionRecord[];
}

/** Deletes every match (R4 conditionalDelete = multiple). */
export async function conditionalDelete(ctx: FhirContext, type: string, criteria: string): Promise<ConditionalDeleteResult> {
  assertType(ctx, type);
  return inTransaction(ctx, async (txCtx) => {
    const deleted: VersionRecord[] = [];
    for (;;) {
      // Deleted resources leave the index, so the same first page is asked for until it is empty.
      const batch = await matchCriteria(txCtx, type, criteria, 500);
      if (batch.length === 0) break;
      for (const r of batch) {
        const result: DeleteResult = await remove(txCtx, type, r.id);
        if (result.record) deleted.push(result.record);
      }
    }
    return { deleted };
  });
}

export async function conditionalPatch(ctx: FhirContext, type: string, criteria: string, body: unknown, ifMatch?: string): Promise<VersionRecord> {
  assertType(ctx, type);
  return inTransaction(ctx, async (txCtx) => {
    const target = await matchOne(txCtx, type, criteria, 'patch');
    if (!target) throw notFound(`No ${type} matches the patch criteria`);
    return patch(txCtx, { type, id: target.id, body, ...(ifMatch !== undefined ? { ifMatch } : {}) });
  });
}

/** If-None-Exist may be given as `Type?criteria` or `criteria`. */
function stripQuestionMark(criteria: string): string {
  const at = criteria.indexOf('?');
  return at >= 0 ? criteria.slice(at + 1) : criteria;
}
