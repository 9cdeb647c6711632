// The MLLP listener: a TCP server beside the HTTP one (a sibling of src/http). Each connection
// decodes frames, handles their messages and answers each frame, in order: a message with its
// ACK, a batch (FHS/BHS, src/v2/batch.ts) with an acknowledgement batch.
// Memory per connection is bounded (frame size, messages waiting), idle connections are
// closed, and the number of connections is capped. TLS is left to a proxy in front (README).
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { FhirContext } from '../fhir/context.js';
import { buildAck } from './ack.js';
import { ERROR_CODES, V2Error } from './errors.js';
import { handleMessages, type Handled, type HandleOptions } from './handle.js';
import type { RouteTable } from '../fhir/request.js';
import { frame, MllpDecoder } from './mllp.js';
import { BatchError, batchAcknowledgement, batchRejection, isBatch, parseBatch, type BatchFrame } from './batch.js';

export interface MllpOptions extends HandleOptions {
  port: number;
  host: string;
  maxFrameBytes: number;
  maxConnections: number;
  idleTimeoutMs: number;
}

/** Messages received but not yet answered, per connection, before reading pauses. */
const MAX_WAITING = 64;
/**
 * Most messages handled (and committed) together. Bounds how long one connection's batch holds
 * the store's writer from the others (HTTP writes wait behind it).
 */
const MAX_BATCH = 32;

function internalError(): Handled {
  const e = new V2Error('AE', ERROR_CODES.internal, 'Internal error');
  return { ack: buildAck(undefined, 'AE', e), code: 'AE' };
}

/** What one frame asks for: a fixed answer (refused), or messages to handle (one, or a batch's). */
type Plan = { answer: Handled } | { texts: string[]; batch?: BatchFrame };

/** One frame's answer (an ACK, or an acknowledgement batch) and its messages' outcomes for the log. */
interface Answer {
  ack: string;
  handled: Handled[];
}

function plan(f: Buffer | 'oversize', maxFrameBytes: number): Plan {
  if (f === 'oversize') {
    return { answer: { ack: buildAck(undefined, 'AR', new V2Error('AR', ERROR_CODES.internal, `Frame larger than ${maxFrameBytes} bytes (MLLP_MAX_FRAME)`)), code: 'AR', reason: 'oversize' } };
  }
  const text = decode(f);
  if (!isBatch(text)) return { texts: [text] };
  try {
    const batch = parseBatch(text);
    return { texts: batch.batches.flatMap((b) => b.messages), batch };
  } catch (err) {
    if (!(err instanceof BatchError)) throw err;
    return { answer: { ack: batchRejection(err), code: 'AR', type: 'batch', reason: `${err.code} ${err.location?.segment ?? ''}` } };
  }
}

/** Takes the frame's outcomes from the front of `handled` (in order) and builds its answer. */
function answer(p: Plan, handled: Handled[]): Answer {
  if ('answer' in p) return { ack: p.answer.ack, handled: [p.answer] };
  const mine = handled.splice(0, p.texts.length);
  if (!p.batch) {
    const h = mine[0] ?? internalError();
    return { ack: h.ack, handled: [h] };
  }
  let at = 0;
  const acks = p.batch.batches.map((b) => mine.slice(at, (at += b.messages.length)).map((h) => h.ack));
  return { ack: batchAcknowledgement(p.batch, acks), handled: mine };
}

export interface MllpListener {
  listen(): Promise<AddressInfo>;
  address(): AddressInfo | undefined;
  close(): Promise<void>;
}

function decode(payload: Buffer): string {
  // MSH-18 character set: 8859/1 is Latin-1; anything else is read as UTF-8 (ASCII included).
  const head = payload.subarray(0, Math.min(payload.length, 512)).toString('latin1');
  const firstSegment = head.split(/\r|\n/)[0] ?? '';
  return /\|8859\/1(\||$)/.test(firstSegment) ? payload.toString('latin1') : payload.toString('utf8');
}

export function createMllpListener(ctx: FhirContext, table: RouteTable, opts: MllpOptions, log: Logger): MllpListener {
  const sockets = new Set<Socket>();
  let seq = 0;

  const serve = (socket: Socket): void => {
    const conn = ++seq;
    sockets.add(socket);
    const decoder = new MllpDecoder(opts.maxFrameBytes);
    const waiting: (Buffer | 'oversize')[] = [];
    let busy = false;
    let closed = false;
    socket.setNoDelay(true);
    socket.setTimeout(opts.idleTimeoutMs, () => {
      log.info({ mllp: conn }, 'mllp: idle connection closed');
      socket.destroy();
    });
    const send = (ack: string): void => {
      if (closed) return;
      if (!socket.write(frame(ack))) {
        socket.pause();
        socket.once('drain', () => { if (waiting.length < MAX_WAITING) socket.resume(); });
      }
    };
    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      while (!closed && waiting.length) {
        // Every frame already received is handled in one go: they share one commit (handleMessages).
        const frames = waiting.splice(0, MAX_BATCH);
        if (waiting.length < MAX_WAITING && !socket.writableNeedDrain) socket.resume();
        const started = performance.now();
        let answers: Answer[];
        let count = 0;
        try {
          const plans = frames.map((f) => plan(f, opts.maxFrameBytes));
          const texts = plans.flatMap((p) => ('texts' in p ? p.texts : []));
          count = texts.length;
          const handled: Handled[] = [];
          // A batch frame may hold many messages: at most MAX_BATCH share one commit.
          for (let i = 0; i < texts.length; i += MAX_BATCH) handled.push(...await handleMessages(ctx, table, texts.slice(i, i + MAX_BATCH), opts));
          answers = plans.map((p) => answer(p, handled));
        } catch {
          answers = frames.map(() => ({ ack: internalError().ack, handled: [internalError()] }));
        }
        const ms = Math.round(((performance.now() - started) / Math.max(1, count)) * 10) / 10;
        for (const a of answers) {
          send(a.ack);
          for (const h of a.handled) {
            log.info({ mllp: conn, type: h.type, ack: h.code, ...(h.reason ? { reason: h.reason } : {}), ms, ...(count > 1 ? { batch: count } : {}) }, 'mllp message');
          }
        }
      }
      busy = false;
    };
    socket.on('data', (chunk: Buffer) => {
      for (const ev of decoder.push(chunk)) {
        if (ev.kind === 'frame') {
          waiting.push(ev.payload);
        } else if (ev.kind === 'oversize') {
          // Answered with an AR, in order with the others.
          waiting.push('oversize');
          log.warn({ mllp: conn, limit: opts.maxFrameBytes }, 'mllp: frame over MLLP_MAX_FRAME refused');
        } else {
          log.debug({ mllp: conn, bytes: ev.bytes }, 'mllp: bytes outside a frame dropped');
        }
      }
      if (waiting.length >= MAX_WAITING) socket.pause();
      void pump();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      closed = true;
      waiting.length = 0;
      sockets.delete(socket);
    });
  };

  const server: Server = createServer({ pauseOnConnect: false }, serve);
  server.maxConnections = opts.maxConnections;
  server.on('drop', () => log.warn({ limit: opts.maxConnections }, 'mllp: connection refused (MLLP_MAX_CONNECTIONS)'));

  return {
    listen: () => new Promise<AddressInfo>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        const a = server.address() as AddressInfo;
        log.info({ port: a.port, host: opts.host }, 'MLLP listener ready');
        resolve(a);
      });
    }),
    address: () => (server.listening ? server.address() as AddressInfo : undefined),
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      if (!server.listening) {
        resolve();
        return;
      }
      server.close(() => resolve());
    }),
  };
}
