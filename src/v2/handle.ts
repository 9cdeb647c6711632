// One v2 message in, one ACK out: parse → map → one transaction handed to the engine
// (processBundle, with the listener's system context). Never throws: every failure is an ACK.
import type { FhirContext } from '../fhir/context.js';
import { FhirError } from '../fhir/errors.js';
import { processBundle } from '../fhir/interactions/bundle.js';
import type { RouteTable } from '../fhir/request.js';
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

export async function handleMessage(ctx: FhirContext, table: RouteTable, text: string, opts: HandleOptions): Promise<Handled> {
  let message: V2Message | undefined;
  try {
    message = parseMessage(text);
  } catch (err) {
    const reason = err instanceof V2ParseError ? err.message : 'The message could not be parsed';
    const e = new V2Error('AR', ERROR_CODES.segmentSequence, reason, { segment: 'MSH', sequence: 1 });
    return { ack: buildAck(undefined, 'AR', e), code: 'AR', reason };
  }
  const type = `${message.header.get(9, 1)}^${message.header.get(9, 2)}`.slice(0, 20);
  try {
    const { bundle } = mapMessage(message, opts);
    await processBundle(ctx, bundle, 'minimal', table);
    return { ack: buildAck(message, 'AA'), code: 'AA', type };
  } catch (err) {
    const e = err instanceof V2Error ? err
      : err instanceof FhirError ? new V2Error('AE', err.status === 412 ? ERROR_CODES.unknownKey : ERROR_CODES.internal, err.message)
        : new V2Error('AE', ERROR_CODES.internal, 'Internal error while storing the message');
    return { ack: buildAck(message, e.ack, e), code: e.ack, type, reason: `${e.code}${e.location ? ` ${e.location.segment}-${e.location.field ?? ''}` : ''}` };
  }
}
