// Write hooks: business rules that must hold together with a write (a booked Appointment marks
// its Slot busy, a finished Encounter gets its charges). A hook runs inside the write's store
// transaction, after the resource is stored and before it commits: what it writes commits with
// the triggering write, and an error it throws undoes both. Because the store serialises write
// transactions, a hook's check-then-write cannot race another request's.
import type { Resource } from 'fhir/r4.js';
import type { OutboxAppend, VersionRecord, WriteFollowUp } from '../../store/port.js';
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

/** A hook's inline part declined the write: it is undone and made again in a transaction. */
class Declined extends Error {}

/**
 * The hooks' inline parts (WriteHook.inline) as the store write's followUp: the write keeps
 * group commit and its notifications commit with it. Resolves undefined when a hook declined
 * (nothing was written; the caller makes the write again with the hooks in a transaction).
 */
async function inlineWrite<R>(
  type: string, hooks: readonly WriteHook[], write: (followUp: WriteFollowUp) => Promise<R>,
): Promise<{ result: R } | undefined> {
  let after: (() => void)[] = [];
  const followUp: WriteFollowUp = (written, replaced, generation) => {
    after = [];
    const previous = parse(replaced);
    const current = parse(written);
    if (!previous && !current) return [];
    const change: WriteChange = { type, id: written.id, ...(previous ? { previous } : {}), ...(current ? { current } : {}) };
    const appends: OutboxAppend[] = [];
    for (const h of hooks) {
      const done = h.inline?.run(change, generation);
      if (!done) throw new Declined();
      appends.push(...done.appends);
      if (done.after) after.push(done.after);
    }
    return appends;
  };
  let result: R;
  try {
    result = await write(followUp);
  } catch (err) {
    if (err instanceof Declined) return undefined;
    throw err;
  }
  for (const effect of after) effect();
  return { result };
}

/**
 * Runs `write` (a store write of `type/id`) with the type's hooks: in one transaction with
 * them when there are any, as a plain write otherwise. `target.id` is undefined for a create
 * with a server-assigned id; `target.resource` is what is written (undefined for a deletion).
 * A create or update whose hooks all work inline (WriteHook.inline) on a store with followUps
 * passes `write` their followUp and keeps group commit; `write` must hand it to the store.
 */
export async function hookedWrite<R extends { record?: VersionRecord }>(
  ctx: FhirContext, type: string, target: { id?: string; resource?: Resource; create: boolean },
  write: (c: FhirContext, followUp?: WriteFollowUp) => Promise<R>,
): Promise<R> {
  const { id } = target;
  const hooks = hooksFor(ctx, type, target.resource, target.create);
  if (hooks.length === 0) return write(ctx);
  if (!ctx.deferred && target.resource && ctx.store.followUps && hooks.every((h) => h.inline?.handles(type))) {
    const done = await inlineWrite(type, hooks, (followUp) => write(ctx, followUp));
    if (done) return done.result;
  }
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
