// The MLLP listener: a TCP server beside the HTTP one (a sibling of src/http). Each connection
// decodes frames, handles its messages one at a time and answers each with an ACK, in order.
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
        const batch = waiting.splice(0, MAX_BATCH);
        if (waiting.length < MAX_WAITING && !socket.writableNeedDrain) socket.resume();
        const started = performance.now();
        let handled: Handled[];
        try {
          const texts = batch.filter((p): p is Buffer => p !== 'oversize').map(decode);
          const answers = texts.length ? await handleMessages(ctx, table, texts, opts) : [];
          // Oversize frames are answered with an AR, in order with the others.
          handled = batch.map((p) => (p === 'oversize'
            ? { ack: buildAck(undefined, 'AR', new V2Error('AR', ERROR_CODES.internal, `Frame larger than ${opts.maxFrameBytes} bytes (MLLP_MAX_FRAME)`)), code: 'AR' as const, reason: 'oversize' }
            : answers.shift() ?? internalError()));
        } catch {
          handled = batch.map(internalError);
        }
        const ms = Math.round(((performance.now() - started) / batch.length) * 10) / 10;
        for (const h of handled) {
          send(h.ack);
          log.info({ mllp: conn, type: h.type, ack: h.code, ...(h.reason ? { reason: h.reason } : {}), ms, ...(batch.length > 1 ? { batch: batch.length } : {}) }, 'mllp message');
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
