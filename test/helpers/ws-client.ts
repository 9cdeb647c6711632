// A websocket client written by hand over node:net (RFC 6455), so tests can send what a real
// client library never would: unmasked, oversize, binary, fragmented frames.
import net from 'node:net';
import { randomBytes } from 'node:crypto';

export interface Frame { opcode: number; payload: Buffer; text: string; code?: number }

export interface WsClient {
  /** The HTTP status line of the handshake answer. */
  status: string;
  socket: net.Socket;
  sendText(text: string): void;
  /** A frame as given: opcode, fin, masked or not, payload. */
  sendFrame(opcode: number, payload: Buffer, o?: { fin?: boolean; mask?: boolean }): void;
  /** The next frame from the server that is not a ping (within ms). */
  next(ms?: number): Promise<Frame>;
  /** Resolves when the server closed the TCP connection. */
  ended: Promise<void>;
}

export function encodeFrame(opcode: number, payload: Buffer, { fin = true, mask = true } = {}): Buffer {
  const n = payload.length;
  const len = n < 126 ? Buffer.from([n]) : n < 65536 ? Buffer.from([126, n >> 8, n & 255]) : Buffer.concat([Buffer.from([127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
  len[0] = (len[0] ?? 0) | (mask ? 0x80 : 0);
  const head = Buffer.from([(fin ? 0x80 : 0) | opcode]);
  if (!mask) return Buffer.concat([head, len, payload]);
  const key = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = (body[i] ?? 0) ^ (key[i & 3] ?? 0);
  return Buffer.concat([head, len, key, body]);
}

export async function connectWs(port: number, path: string, extraHeaders = ''): Promise<WsClient> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const ended = new Promise<void>((r) => socket.on('close', () => r()));
  const frames: Frame[] = [];
  const waiters: (() => void)[] = [];
  let buf = Buffer.alloc(0);
  let status = '';
  const headerDone = new Promise<void>((resolve) => {
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!status) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        status = buf.subarray(0, buf.indexOf('\r\n')).toString();
        buf = buf.subarray(end + 4);
        resolve();
      }
      while (buf.length >= 2) {
        let len = (buf[1] ?? 0) & 0x7f;
        let off = 2;
        if (len === 126) { len = buf.readUInt16BE(2); off = 4; } else if (len === 127) { len = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf.length < off + len) break;
        const opcode = (buf[0] ?? 0) & 0x0f;
        const payload = buf.subarray(off, off + len);
        buf = buf.subarray(off + len);
        if (opcode === 0x9) continue;
        frames.push({ opcode, payload, text: opcode === 8 ? payload.subarray(2).toString() : payload.toString(), ...(opcode === 8 && len >= 2 ? { code: payload.readUInt16BE(0) } : {}) });
        waiters.shift()?.();
      }
    });
    socket.on('close', () => resolve());
  });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`);
  await headerDone;
  return {
    get status() { return status; },
    socket,
    ended,
    sendText: (text) => socket.write(encodeFrame(1, Buffer.from(text))),
    sendFrame: (opcode, payload, o) => socket.write(encodeFrame(opcode, payload, o)),
    next: async (ms = 3000) => {
      const deadline = Date.now() + ms;
      while (frames.length === 0) {
        if (Date.now() > deadline) throw new Error('no frame within time');
        await Promise.race([new Promise<void>((r) => waiters.push(r)), new Promise((r) => setTimeout(r, 50)), ended]);
        if (frames.length === 0 && socket.destroyed) throw new Error('connection closed');
      }
      return frames.shift() as Frame;
    },
  };
}
