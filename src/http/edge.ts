// The HTTP edge: errors that happen before any route runs, answered as OperationOutcomes like
// every other error. Node's own refusals (headers or URL too large → 431, bad framing → 400,
// timeouts → 408) arrive as the server's 'clientError' and are written on the socket here;
// Fastify's router refusals (a path parameter too long → 414, a malformed URL → 400) arrive as
// `frameworkErrors`. A refused body is read to its end (bounded) so the client gets the 413.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { issue, outcomeJson, type IssueCode } from '../fhir-basics/outcome.js';
import { FHIR_JSON, sendOutcome } from './outcome.js';

/** Longest a refused request may keep sending after its answer, and how many more bytes it may send. */
const DRAIN_MS = 10_000;
const DRAIN_MIN_BYTES = 16 * 1024 * 1024;
/** Node's 'clientError' answers: how long the client may still send (discarded) before the socket closes. */
const LINGER_MS = 2000;

/** A whole HTTP/1.1 response carrying an OperationOutcome, for sockets no Fastify reply exists for. */
export function rawOutcomeResponse(status: number, code: IssueCode, message: string): string {
  const body = outcomeJson([issue('error', code, message)]);
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: ${FHIR_JSON}\r\n`
    + `Content-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\n\r\n${body}`;
}

function clientErrorAnswer(code: string | undefined): [number, IssueCode, string] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'too-costly', 'The request line and headers are larger than this server accepts (16 KiB): shorten the URL (or use POST [type]/_search) and the headers'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_HTTP_HEADERS_TIMEOUT':
      return [408, 'timeout', 'The request was not received in time'];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return [400, 'too-costly', 'The chunk extensions are too long'];
    default:
      return [400, 'structure', 'The request is not valid HTTP/1.1'];
  }
}

/** Node's 'clientError' (Fastify's clientErrorHandler): answer with an OperationOutcome, then close. */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  // A reset by the client, or a socket already gone: nobody to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // A response already started on this socket cannot be replaced by another.
  if (!socket.writable || (socket as Socket & { _httpMessage?: unknown })._httpMessage) {
    socket.destroy();
    return;
  }
  const [status, code, message] = clientErrorAnswer(err.code);
  // Keep reading (and discarding) what the client still sends while the answer goes out: closing
  // with unread bytes makes the kernel reset the connection, and the client never sees the answer.
  socket.on('data', () => undefined);
  socket.on('error', () => undefined);
  socket.setTimeout(LINGER_MS, () => socket.destroy());
  socket.end(rawOutcomeResponse(status, code, message));
}

/** Fastify's `frameworkErrors`: refusals of its router, before any route or hook runs. */
export function frameworkErrorHandler(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void sendOutcome(reply, 414, [issue('error', 'too-costly', 'A path segment is longer than this server accepts (ids have at most 64 characters)')]);
    return;
  }
  if (err.code === 'FST_ERR_BAD_URL') {
    void sendOutcome(reply, 400, [issue('error', 'structure', 'The URL is not valid (a malformed percent-encoding?)')]);
    return;
  }
  void sendOutcome(reply, err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400, [issue('error', 'invalid', 'The request cannot be routed')]);
}

/**
 * A request refused before its body was read (413, a parse error): read the rest of the body and
 * drop it, so that a client still sending is not reset and receives the answer. Without this,
 * Fastify answers `Connection: close` and Node destroys the socket as soon as the answer is
 * written, with the client's bytes unread: the kernel then resets the connection. The connection
 * stays open while the body drains (at most DRAIN_MS and max(BODY_LIMIT, 16 MiB) more bytes;
 * past either, it is cut).
 */
export function discardRestOfBody(req: FastifyRequest, reply: FastifyReply): void {
  const raw = req.raw;
  if (raw.complete !== false || raw.destroyed) return;
  reply.removeHeader('connection');
  const socket = raw.socket;
  const max = Math.max(req.server.initialConfig.bodyLimit ?? 0, DRAIN_MIN_BYTES);
  let seen = 0;
  const stop = (): void => {
    clearTimeout(timer);
    raw.off('data', count);
  };
  const cut = (): void => {
    stop();
    socket.destroy();
  };
  const count = (chunk: Buffer): void => {
    seen += chunk.length;
    if (seen > max) cut();
  };
  const timer = setTimeout(cut, DRAIN_MS);
  timer.unref();
  raw.on('data', count);
  raw.once('end', stop);
  raw.once('close', stop);
  raw.resume();
}
