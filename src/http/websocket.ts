// A minimal RFC 6455 server side (no dependency: `ws` is only transitive here), for the
// subscription websocket channel. Only what that channel needs: the opening handshake, single
// unfragmented text frames, ping/pong and close. Anything else from a client is closed with the
// RFC's code. Hostile clients are bounded: frame size, bytes buffered towards a slow reader,
// connection count and idle time.
import { createHash } from 'node:crypto';
import { ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

// RFC 6455 §1.3: the fixed GUID appended to the client's key.
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface WebSocketLimits {
  /** Largest client frame payload accepted (else close 1009). */
  maxFrame: number;
  /** Bytes queued towards a client past which it is dropped (a slow reader). */
  maxBuffered: number;
  /** Connections open at once; more are answered 503. */
  maxConnections: number;
  /** A connection that sends nothing (not even a pong) for this long is closed (ms). */
  idleMs: number;
}

export const WEBSOCKET_DEFAULTS: WebSocketLimits = { maxFrame: 64 * 1024, maxBuffered: 1024 * 1024, maxConnections: 1000, idleMs: 120_000 };

export interface WebSocketPeer {
  /** Queues a text frame; false (and the connection dropped) when the client reads too slowly. */
  send(text: string): boolean;
  close(code: number, reason?: string): void;
  readonly open: boolean;
}

export interface WebSocketHandlers {
  text(peer: WebSocketPeer, text: string): void;
  closed(peer: WebSocketPeer): void;
}

function frame(opcode: number, payload: Buffer): Buffer {
  // Server frames are never masked (RFC 6455 §5.1).
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, n]) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (n >= 126 && n < 65536) {
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else if (n >= 65536) {
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

/** An upgrade not taken: an OperationOutcome, as every error of this server, then the connection closed. */
function refuse(socket: Duplex, status: string, message: string): void {
  const body = JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: status.startsWith('503') ? 'throttled' : status.startsWith('404') ? 'not-found' : 'invalid', diagnostics: message }] });
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: application/fhir+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  setTimeout(() => socket.destroy(), 1000).unref();
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

class Connection implements WebSocketPeer {
  open = true;
  private buf: Buffer = Buffer.alloc(0);
  private lastRx = Date.now();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly socket: Duplex, private readonly limits: WebSocketLimits, private readonly on: WebSocketHandlers, done: () => void) {
    socket.on('data', (d: Buffer) => this.receive(d));
    socket.on('error', () => socket.destroy());
    // The client went away without a close frame: nothing more will come, nothing need be sent.
    socket.on('end', () => socket.destroy());
    socket.on('close', () => {
      clearInterval(this.timer);
      this.open = false;
      done();
      on.closed(this);
    });
    // A live client answers our pings (RFC 6455 §5.5.2), so silence means it is gone.
    this.timer = setInterval(() => {
      if (Date.now() - this.lastRx > limits.idleMs) this.close(1001, 'idle');
      else this.write(frame(0x9, Buffer.alloc(0)));
    }, Math.max(10, Math.floor(limits.idleMs / 3)));
    this.timer.unref();
  }

  private write(b: Buffer): boolean {
    if (!this.open) return false;
    if (this.socket.writableLength + b.length > this.limits.maxBuffered) {
      // A reader this slow would make us buffer without bound: drop it (its events stay in the outbox).
      this.open = false;
      this.socket.destroy();
      return false;
    }
    this.socket.write(b);
    return true;
  }

  send(text: string): boolean {
    return this.write(frame(0x1, Buffer.from(text, 'utf8')));
  }

  close(code: number, reason = ''): void {
    if (!this.open) return;
    const p = Buffer.alloc(2 + Buffer.byteLength(reason.slice(0, 100)));
    p.writeUInt16BE(code, 0);
    p.write(reason.slice(0, 100), 2);
    this.write(frame(0x8, p));
    this.open = false;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private receive(d: Buffer): void {
    if (!this.open) return;
    this.lastRx = Date.now();
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.open && this.buf.length >= 2) {
      const b0 = this.buf[0] ?? 0;
      const b1 = this.buf[1] ?? 0;
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      // RFC 6455 §5.2: no extension was negotiated, so RSV bits must be 0; §5.1: client frames are masked.
      if (b0 & 0x70) return this.close(1002, 'reserved bits set');
      if (!(b1 & 0x80)) return this.close(1002, 'client frames must be masked');
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        const big = this.buf.readBigUInt64BE(2);
        if (big > BigInt(this.limits.maxFrame)) return this.close(1009, 'frame too large');
        len = Number(big);
        off = 10;
      }
      if (len > this.limits.maxFrame) return this.close(1009, 'frame too large');
      if (opcode >= 0x8 && (!fin || len > 125)) return this.close(1002, 'bad control frame');
      if (this.buf.length < off + 4 + len) return;
      const mask = this.buf.subarray(off, off + 4);
      const payload = Buffer.from(this.buf.subarray(off + 4, off + 4 + len));
      for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] ?? 0) ^ (mask[i & 3] ?? 0);
      this.buf = this.buf.subarray(off + 4 + len);
      this.handle(opcode, fin, payload);
    }
  }

  private handle(opcode: number, fin: boolean, payload: Buffer): void {
    switch (opcode) {
      case 0x1: {
        // The channel's messages are short lines: fragmentation is not needed, so not supported.
        if (!fin) return this.close(1003, 'fragmented messages are not supported');
        let text: string;
        try {
          text = utf8.decode(payload);
        } catch {
          return this.close(1007, 'text frame is not UTF-8');
        }
        return this.on.text(this, text);
      }
      case 0x0: return this.close(1003, 'fragmented messages are not supported');
      case 0x2: return this.close(1003, 'binary frames are not supported');
      case 0x8: return this.close(1000);
      case 0x9: {
        this.write(frame(0xa, payload));
        return;
      }
      case 0xa: return;
      default: return this.close(1002, 'unknown opcode');
    }
  }
}

/**
 * Node hands every request carrying `Upgrade` to the upgrade listener once there is one. One
 * that does not ask for a websocket (e.g. `Upgrade: h2c`) is served as the ordinary request it
 * also is (RFC 9110 section 7.8: a server may ignore Upgrade), on a connection then closed.
 */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return /\bwebsocket\b/i.test(String(req.headers.upgrade ?? ''));
}

export function serveIgnoringUpgrade(server: Server, req: IncomingMessage, socket: Duplex): void {
  socket.on('error', () => socket.destroy());
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  res.on('finish', () => {
    res.detachSocket(socket as Socket);
    socket.end();
  });
  server.emit('request', req, res);
}

/** Accepts upgrades for one path, within the limits; other upgrades are answered 404. */
export class WebSocketServer {
  private readonly conns = new Set<WebSocketPeer>();

  constructor(private readonly path: string, private readonly limits: WebSocketLimits, private readonly handlers: WebSocketHandlers) {}

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '').split('?')[0];
    if (path !== this.path) return refuse(socket, '404 Not Found', 'No websocket endpoint here');
    const key = req.headers['sec-websocket-key'];
    if (req.method !== 'GET' || !/\bwebsocket\b/i.test(String(req.headers.upgrade ?? '')) || req.headers['sec-websocket-version'] !== '13'
      || typeof key !== 'string' || Buffer.from(key, 'base64').length !== 16) {
      return refuse(socket, '400 Bad Request', 'Not a websocket handshake (RFC 6455 section 4.2.1)');
    }
    if (this.conns.size >= this.limits.maxConnections) return refuse(socket, '503 Service Unavailable', 'Too many websocket connections');
    const accept = createHash('sha1').update(key + GUID).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const conn: Connection = new Connection(socket, this.limits, this.handlers, () => this.conns.delete(conn));
    this.conns.add(conn);
    // Bytes that arrived with the upgrade request are the first frame's.
    if (head.length) socket.emit('data', head);
  }

  /** Server shutdown: upgraded sockets would otherwise keep the HTTP server from closing. */
  closeAll(): void {
    for (const c of [...this.conns]) c.close(1001, 'server shutting down');
  }
}
