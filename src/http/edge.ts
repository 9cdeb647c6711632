// The HTTP edge: errors that happen before any route runs, answered as OperationOutcomes like
// every other error. Node's own refusals (headers or URL too large → 431, bad framing → 400,
// timeouts → 408) arrive as the server's 'clientError' and are written on the socket here;
// Fastify's router refusals (a path parameter too long → 414, a malformed URL → 400) arrive as
// `frameworkErrors`. Both are audited here (no hook runs for them). A refused body is read to
// its end (bounded) so the client gets the 413.
import { STATUS_CODES } from 'node:http';
import { randomUUID } from 'node:crypto';
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

/** What the audit log records of a request Node refused before any request object existed. */
export interface EdgeAuditEntry {
  time: string;
  requestId: string;
  action: string;
  status: number;
}

/**
 * Node's 'clientError' (Fastify's clientErrorHandler): answer with an OperationOutcome, then
 * close. Each answer is audited like any other refused request (`audit`): no request object, no
 * route and no caller exist yet, so the entry says what Node refused (its error code) and with
 * which status, and nothing of what the client sent (a URL or header may carry PHI).
 */
export function clientErrorHandler(audit: (entry: EdgeAuditEntry) => void = () => undefined): (err: Error & { code?: string }, socket: Socket) => void {
  return (err, socket) => {
    // A reset by the client, or a socket already gone: nobody to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, code, message] = clientErrorAnswer(err.code);
    const entry = { time: new Date().toISOString(), requestId: randomUUID(), action: `refused by the HTTP parser (${err.code ?? 'unknown'})`, status };
    // A response already started on this socket cannot be replaced by another: the connection
    // is cut (recorded with status 0: nothing was answered).
    if (!socket.writable || (socket as Socket & { _httpMessage?: unknown })._httpMessage) {
      audit({ ...entry, status: 0 });
      socket.destroy();
      return;
    }
    audit(entry);
    // Keep reading (and discarding) what the client still sends while the answer goes out: closing
    // with unread bytes makes the kernel reset the connection, and the client never sees the answer.
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.setTimeout(LINGER_MS, () => socket.destroy());
    socket.end(rawOutcomeResponse(status, code, message));
  };
}

/**
 * Fastify's `frameworkErrors`: refusals of its router, before any route or hook runs (so the
 * audit hook does not see them either: they are audited here, by method and error code only).
 */
export function frameworkErrorHandler(audit: (entry: EdgeAuditEntry) => void = () => undefined): (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => void {
  return (err, req, reply) => {
    const [status, code, message] = frameworkErrorAnswer(err);
    audit({ time: new Date().toISOString(), requestId: String(req.id), action: `${req.method} refused by the router (${err.code})`, status });
    void sendOutcome(reply, status, [issue('error', code, message)]);
  };
}

function frameworkErrorAnswer(err: FastifyError): [number, IssueCode, string] {
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') return [414, 'too-costly', 'A path segment is longer than this server accepts (ids have at most 64 characters)'];
  if (err.code === 'FST_ERR_BAD_URL') return [400, 'structure', 'The URL is not valid (a malformed percent-encoding?)'];
  return [err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400, 'invalid', 'The request cannot be routed'];
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
