// One v2 message in, one ACK out: parse → map → one transaction handed to the engine
// (processBundle, with the listener's system context). Never throws: every failure is an ACK.
// Messages that arrive together on a connection share one commit (group commit): see handleMessages.
import type { FhirContext } from '../fhir/context.js';
import { FhirError } from '../fhir/errors.js';
import { processBundle } from '../fhir/interactions/bundle.js';
import type { RouteTable } from '../fhir/request.js';
import { inTransaction } from '../fhir/tx.js';
import type { Bundle } from 'fhir/r4.js';
import { buildAck } from './ack.js';
import { parseMessage, V2ParseError, type V2Message } from './er7.js';
import { ERROR_CODES, V2Error, type AckCode } from './errors.js';
import { mapMessage } from './map.js';
import type { MapOptions } from './oru.js';

export interface HandleOptions extends MapOptions {
  allowedFacilities: readonly string[];
}

export interface Handled {
  ack: string;
  code: AckCode;
  /** MSH-9 when it could be read; for the log line (no PHI). */
  type?: string;
  /** Why it was not accepted (no PHI: field positions and codes only). */
  reason?: string;
}

/** A message parsed and mapped, ready for the engine; or already answered (refused before any write). */
type Prepared = { done: Handled } | { message: V2Message; type: string; bundle: Bundle };

function prepare(text: string, opts: HandleOptions): Prepared {
  let message: V2Message;
  try {
    message = parseMessage(text);
  } catch (err) {
    const reason = err instanceof V2ParseError ? err.message : 'The message could not be parsed';
    const e = new V2Error('AR', ERROR_CODES.segmentSequence, reason, { segment: 'MSH', sequence: 1 });
    return { done: { ack: buildAck(undefined, 'AR', e), code: 'AR', reason } };
  }
  const type = `${message.header.get(9, 1)}^${message.header.get(9, 2)}`.slice(0, 20);
  try {
    return { message, type, bundle: mapMessage(message, opts).bundle };
  } catch (err) {
    return { done: refusal(message, type, err) };
  }
}

function refusal(message: V2Message, type: string, err: unknown): Handled {
  const e = err instanceof V2Error ? err
    : err instanceof FhirError ? new V2Error('AE', err.status === 412 ? ERROR_CODES.unknownKey : ERROR_CODES.internal, err.message)
      : new V2Error('AE', ERROR_CODES.internal, 'Internal error while storing the message');
  return { ack: buildAck(message, e.ack, e), code: e.ack, type, reason: `${e.code}${e.location ? ` ${e.location.segment}-${e.location.field ?? ''}` : ''}` };
}

const accepted = (p: { message: V2Message; type: string }): Handled => ({ ack: buildAck(p.message, 'AA'), code: 'AA', type: p.type });

/** One message, in a transaction of its own. */
async function store(ctx: FhirContext, table: RouteTable, p: { message: V2Message; type: string; bundle: Bundle }): Promise<Handled> {
  try {
    await processBundle(ctx, p.bundle, 'minimal', table);
    return accepted(p);
  } catch (err) {
    return refusal(p.message, p.type, err);
  }
}

export async function handleMessage(ctx: FhirContext, table: RouteTable, text: string, opts: HandleOptions): Promise<Handled> {
  const [handled] = await handleMessages(ctx, table, [text], opts);
  return handled as Handled;
}

/**
 * Several messages of one connection, answered in order. Each message stays all-or-nothing, and
 * an AA still means "committed": the messages that map cleanly are first tried together in one
 * store transaction, each message's Bundle processed in turn (later ones see the earlier ones'
 * writes, as they would one by one), and all are acknowledged after its single commit, so one
 * fsync serves them all. If any of them fails, that transaction is rolled back whole and every
 * message is run again alone, so a bad message never costs its neighbours their AA.
 */
export async function handleMessages(ctx: FhirContext, table: RouteTable, texts: readonly string[], opts: HandleOptions): Promise<Handled[]> {
  const prepared = texts.map((t) => prepare(t, opts));
  const ready = prepared.filter((p): p is Exclude<Prepared, { done: Handled }> => !('done' in p));
  if (ready.length > 1) {
    try {
      await inTransaction(ctx, async (tx) => {
        for (const p of ready) await processBundle(tx, p.bundle, 'minimal', table);
      });
      return prepared.map((p) => ('done' in p ? p.done : accepted(p)));
    } catch {
      // Fall through: each message again, alone, from a fresh mapping (the engine may have
      // rewritten the first attempt's Bundles).
      return alone(ctx, table, texts.map((t) => prepare(t, opts)));
    }
  }
  return alone(ctx, table, prepared);
}

/** In order, each message in its own transaction. */
async function alone(ctx: FhirContext, table: RouteTable, prepared: readonly Prepared[]): Promise<Handled[]> {
  const out: Handled[] = [];
  for (const p of prepared) out.push('done' in p ? p.done : await store(ctx, table, p));
  return out;
}
