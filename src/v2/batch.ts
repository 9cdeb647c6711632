// The HL7 v2 batch protocol (v2.5.1 2.10.3): [FHS] { BHS { MSH … } BTS } [FTS] in one frame.
// The envelope is checked before anything is processed: a file header needs its trailer, a batch
// header its trailer, and the counts the trailers give (BTS-1 messages, FTS-1 batches) must be
// those received; otherwise the whole frame is rejected with one AR and nothing is stored.
// A well-formed batch's messages are each processed as if sent alone, and the answer is an
// acknowledgement batch in the same envelope: every message acknowledged, in order (BHS-12 and
// FHS-12 name the control ids of what is acknowledged; BTS-1 and FTS-1 count the answers).
import { buildAck } from './ack.js';
import { delimitersOf, escapeText, parseSegment, Segment, V2ParseError, type Delimiters, type V2Message } from './er7.js';
import { ERROR_CODES, V2Error } from './errors.js';

/** One batch (BHS … BTS) of a frame: its header and its messages' texts. */
export interface Batch {
  header: Segment;
  messages: string[];
}

export interface BatchFrame {
  delimiters: Delimiters;
  /** FHS, when the frame is a file of batches. */
  file?: Segment;
  batches: Batch[];
}

/** Whether a frame's text is a batch (starts with FHS or BHS) rather than one message. */
export function isBatch(text: string): boolean {
  return /^\s*(FHS|BHS)/.test(text);
}

/** A frame whose envelope is malformed: answered with one AR, naming the control id it could read. */
export class BatchError extends V2Error {
  constructor(message: string, readonly header: Segment | undefined, readonly delimiters: Delimiters | undefined, segment: string, sequence?: number) {
    super('AR', ERROR_CODES.segmentSequence, message, { segment, ...(sequence !== undefined ? { sequence } : {}) });
  }
}

/** A trailer's count (BTS-1, FTS-1): when given, it must be a whole number equal to what was received. */
function checkCount(trailer: Segment, received: number, what: string, header: Segment, d: Delimiters, at: number): void {
  const text = trailer.get(1).trim();
  if (text === '') return;
  if (!/^\d{1,9}$/.test(text) || Number(text) !== received) {
    throw new BatchError(`${trailer.name}-1 says ${text.slice(0, 12)} ${what}, the ${header.name === 'FHS' ? 'file' : 'batch'} holds ${received}`, header, d, trailer.name, at);
  }
}

/** Splits a batch frame into its batches and messages, checking the envelope. */
export function parseBatch(text: string): BatchFrame {
  const lines = text.split(/\r\n|\r|\n/).filter((l) => l.trim() !== '');
  const first = lines[0] ?? '';
  let d: Delimiters;
  try {
    d = delimitersOf(first);
  } catch (err) {
    throw new BatchError(err instanceof Error ? err.message.replace(/^MSH/g, first.slice(0, 3)) : 'bad encoding characters', undefined, undefined, first.slice(0, 3));
  }
  const seg = (i: number): Segment => {
    try {
      return parseSegment(lines[i] ?? '', d, i + 1);
    } catch (err) {
      throw new BatchError(err instanceof V2ParseError ? err.message : 'unreadable segment', undefined, d, 'BHS');
    }
  };
  let i = 0;
  let file: Segment | undefined;
  const out: BatchFrame = { delimiters: d, batches: [] };
  if (first.startsWith('FHS')) {
    file = seg(0);
    out.file = file;
    i = 1;
  }
  const names = lines.map((l) => l.slice(0, 3));
  while (i < lines.length && names[i] === 'BHS') {
    const start = i + 1;
    const header = seg(i);
    const batch: Batch = { header, messages: [] };
    i++;
    let current: string[] | undefined;
    while (i < lines.length && names[i] !== 'BTS') {
      const name = names[i];
      if (name === 'BHS' || name === 'FHS' || name === 'FTS') throw new BatchError(`${name} at segment ${i + 1}: the batch begun at segment ${start} has no BTS before it`, header, d, 'BTS');
      if (name === 'MSH') {
        current = [];
        batch.messages.push('');
      } else if (!current) {
        throw new BatchError(`segment ${i + 1} (${(name ?? '').slice(0, 3)}) is outside any message: a batch holds MSH-led messages`, header, d, name ?? 'BHS', i + 1);
      }
      current.push(lines[i] ?? '');
      batch.messages[batch.messages.length - 1] = `${current.join('\r')}\r`;
      i++;
    }
    if (i >= lines.length) throw new BatchError('the batch has no BTS trailer', header, d, 'BTS');
    checkCount(seg(i), batch.messages.length, 'messages', header, d, i + 1);
    i++;
    out.batches.push(batch);
  }
  const last = out.batches.at(-1)?.header ?? file;
  if (out.batches.length === 0) throw new BatchError('a batch starts with BHS (after FHS, if any)', file, d, 'BHS', i + 1);
  if (file) {
    if (names[i] !== 'FTS') throw new BatchError('the file (FHS) has no FTS trailer after its batches', file, d, 'FTS');
    checkCount(seg(i), out.batches.length, 'batches', file, d, i + 1);
    i++;
  } else if (out.batches.length > 1) {
    throw new BatchError('several batches in one frame need a file envelope (FHS … FTS)', last, d, 'BHS');
  }
  if (i < lines.length) throw new BatchError(`segment ${i + 1} (${(names[i] ?? '').slice(0, 3)}) comes after the end of the ${file ? 'file' : 'batch'}`, last, d, names[i] ?? 'BTS', i + 1);
  return out;
}

/** A header segment (FHS/BHS) seen as an MSH, so that an ACK can answer it (MSH-3…6, control id). */
function asMessage(header: Segment, d: Delimiters): V2Message {
  const fields = [3, 4, 5, 6].map((n) => header.raw(n));
  const control = header.get(11);
  const e = (s: string): string => escapeText(s, d);
  const line = ['MSH', `${d.component}${d.repetition}${d.escape}${d.subcomponent}`, ...fields, '', '', '', e(control), 'P', '2.5.1'].join(d.field);
  const msh = parseSegment(line, d, 1);
  return { delimiters: d, segments: [msh], header: msh };
}

/** The single AR that answers a frame whose envelope is malformed. */
export function batchRejection(err: BatchError): string {
  const d = err.delimiters;
  return buildAck(err.header && d ? asMessage(err.header, d) : undefined, 'AR', err);
}

let counter = 0;

/** A batch/file header answering `received`: sender and receiver swapped, our control id, its control id referenced. */
function answerHeader(received: Segment, d: Delimiters, now: Date): string {
  counter = (counter + 1) % 1_000_000;
  const ts = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const enc = `${d.component}${d.repetition}${d.escape}${d.subcomponent}`;
  return [
    received.name, enc, received.raw(5) || 'FLINT', received.raw(6), received.raw(3), received.raw(4), ts, '', '', '',
    `FLB${now.getTime()}${String(counter).padStart(6, '0')}`, escapeText(received.get(11), d),
  ].join(d.field);
}

/**
 * The acknowledgement batch: the received envelope with every message's ACK in order. `acks`
 * holds, per batch, its messages' ACKs (each a complete ACK message, segments ending in CR).
 */
export function batchAcknowledgement(frame: BatchFrame, acks: readonly (readonly string[])[], now = new Date()): string {
  const d = frame.delimiters;
  const segments: string[] = [];
  if (frame.file) segments.push(answerHeader(frame.file, d, now));
  frame.batches.forEach((b, i) => {
    const answers = acks[i] ?? [];
    segments.push(answerHeader(b.header, d, now));
    for (const a of answers) segments.push(...a.split('\r').filter((s) => s !== ''));
    segments.push(['BTS', String(answers.length)].join(d.field));
  });
  if (frame.file) segments.push(['FTS', String(frame.batches.length)].join(d.field));
  return `${segments.join('\r')}\r`;
}
