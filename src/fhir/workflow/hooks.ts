// Write hooks: business rules that must hold together with a write (a booked Appointment marks
// its Slot busy, a finished Encounter gets its charges). A hook runs inside the write's store
// transaction, after the resource is stored and before it commits: what it writes commits with
// the triggering write, and an error it throws undoes both. Because the store serialises write
// transactions, a hook's check-then-write cannot race another request's.
import type { Resource } from 'fhir/r4.js';
import type { VersionRecord } from '../../store/port.js';
import type { FhirContext, WriteChange, WriteHook } from '../context.js';
import { inTransaction } from '../tx.js';
import { storeCall } from '../store-errors.js';

export type { WriteChange, WriteHook };

export function hooksFor(ctx: FhirContext, type: string, resource?: Resource, create = false): WriteHook[] {
  return (ctx.hooks ?? []).filter((h) => h.types.includes(type) && (!h.wants || h.wants(resource, create)));
}

/** The context for effects of a write that the caller asked for implicitly (no access policy). */
export function systemContext(ctx: FhirContext): FhirContext {
  if (!ctx.access) return ctx;
  const { access: _dropped, ...rest } = ctx;
  void _dropped;
  return rest;
}

function parse(record: VersionRecord | undefined): Resource | undefined {
  return record?.json !== undefined && !record.deleted ? JSON.parse(record.json) as Resource : undefined;
}

/**
 * Runs `write` (a store write of `type/id`) with the type's hooks: in one transaction with
 * them when there are any, as a plain write otherwise. `target.id` is undefined for a create
 * with a server-assigned id; `target.resource` is what is written (undefined for a deletion).
 */
export async function hookedWrite<R extends { record?: VersionRecord }>(
  ctx: FhirContext, type: string, target: { id?: string; resource?: Resource; create: boolean }, write: (c: FhirContext) => Promise<R>,
): Promise<R> {
  const { id } = target;
  const hooks = hooksFor(ctx, type, target.resource, target.create);
  if (hooks.length === 0) return write(ctx);
  return inTransaction(ctx, async (tx) => {
    let previous: Resource | undefined;
    if (id !== undefined && !target.create) {
      const found = await storeCall(() => tx.store.read(type, id));
      if (found.status === 'found') previous = parse(found.record);
    }
    const result = await write(tx);
    const record = result.record;
    if (!record) return result;
    const current = parse(record);
    const change: WriteChange = { type, id: record.id, ...(previous ? { previous } : {}), ...(current ? { current } : {}) };
    if (!previous && !current) return result;
    for (const h of hooks) await h.onWrite(tx, change);
    return result;
  });
}
