// Why a v2 message was not accepted, in the terms of its acknowledgement: AE (application
// error) or AR (rejected), an HL7 table 0357 error code and, when known, where (segment,
// repetition, field) — v2.5.1 2.9.2 (original acknowledgement) and 2.15.5 (ERR).

export type AckCode = 'AA' | 'AE' | 'AR';

/** HL7 table 0357 (message error condition codes) used here. */
export const ERROR_CODES = {
  segmentSequence: 100,
  requiredField: 101,
  dataType: 102,
  tableValue: 103,
  unsupportedMessageType: 200,
  unsupportedEvent: 201,
  unsupportedProcessingId: 202,
  unsupportedVersion: 203,
  unknownKey: 204,
  duplicateKey: 205,
  internal: 207,
} as const;

export interface ErrorLocation {
  segment: string;
  /** 1-based occurrence of the segment in the message. */
  sequence?: number;
  field?: number;
}

export class V2Error extends Error {
  constructor(
    readonly ack: 'AE' | 'AR',
    readonly code: number,
    message: string,
    readonly location?: ErrorLocation,
  ) {
    super(message);
    this.name = 'V2Error';
  }
}

/** An application error in field `field` of the `sequence`th `segment`. */
export function fieldError(code: number, message: string, segment: string, sequence: number, field: number): V2Error {
  return new V2Error('AE', code, `${segment}-${field}: ${message}`, { segment, sequence, field });
}
