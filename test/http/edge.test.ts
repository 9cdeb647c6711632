// Errors before any route runs, on a real socket (node:net): oversized URLs and headers, path
// parameters too long, broken HTTP framing and oversized bodies all answer an OperationOutcome
// with the right status, and a client still sending its body receives the 413 (no reset).
import t, { type Test } from 'tap';
import { connect } from 'node:net';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';

async function listening(t: Test): Promise<number> {
  const app = await buildApp(loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', AUTH: 'off', BODY_LIMIT: String(1024 * 1024) }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

interface Exchange {
  status: number;
  headers: string;
  body: string;
  /** An error while sending (a reset while the client was still writing). */
  sendError?: string;
}

/** Writes `head` and then `bodyBytes` bytes of body (in 64 KiB chunks, honouring backpressure) while reading the answer. */
function exchange(port: number, head: string, bodyBytes = 0, chunked = false): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let sendError: string | undefined;
    socket.on('data', (d) => got.push(d));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      sendError = e.code ?? e.message;
    });
    socket.on('close', () => {
      const text = Buffer.concat(got).toString('utf8');
      const at = text.indexOf('\r\n\r\n');
      const headers = at >= 0 ? text.slice(0, at) : text;
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1] ?? 0), headers, body: at >= 0 ? text.slice(at + 4) : '', ...(sendError ? { sendError } : {}) });
    });
    socket.write(head);
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let left = bodyBytes;
    const pump = (): void => {
      while (left > 0 && !socket.destroyed) {
        const n = Math.min(left, chunk.length);
        left -= n;
        const piece = chunked ? Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), chunk.subarray(0, n), Buffer.from('\r\n')]) : chunk.subarray(0, n);
        if (!socket.write(piece)) {
          socket.once('drain', pump);
          return;
        }
      }
      if (!socket.destroyed) {
        if (chunked) socket.write('0\r\n\r\n');
        // Done sending: close our side; the server closes after its answer.
        setTimeout(() => socket.end(), 200);
      }
    };
    if (bodyBytes > 0) pump();
    else setTimeout(() => socket.end(), 500);
  });
}

function isOutcome(t: Test, res: Exchange, status: number, code: string): void {
  t.equal(res.status, status, `answers ${status}`);
  t.match(res.headers, /content-type: application\/fhir\+json/i);
  const oo = JSON.parse(res.body.replace(/\r\n0\r\n\r\n$/, '')) as { resourceType: string; issue: { code: string; diagnostics: string }[] };
  t.equal(oo.resourceType, 'OperationOutcome');
  t.equal(oo.issue[0]?.code, code);
  t.ok((oo.issue[0]?.diagnostics ?? '').length > 0, 'with a message');
}

t.test('errors before any route are OperationOutcomes on the wire', async (t) => {
  const port = await listening(t);
  isOutcome(t, await exchange(port, `GET /fhir/Patient/${'a'.repeat(5000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`), 414, 'too-costly');
  isOutcome(t, await exchange(port, `GET /fhir/Patient?name=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`), 431, 'too-costly');
  isOutcome(t, await exchange(port, `GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`), 431, 'too-costly');
  isOutcome(t, await exchange(port, 'GARBAGE\r\n\r\n'), 400, 'structure');
  isOutcome(t, await exchange(port, 'GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'), 400, 'structure');
  isOutcome(t, await exchange(port, 'GET /fhir/Patient/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 400, 'structure');
  const after = await fetch(`http://127.0.0.1:${port}/fhir/metadata`);
  t.equal(after.status, 200, 'the server still answers');
});

t.test('a body over BODY_LIMIT gets 413 while the client is still sending, without a reset', async (t) => {
  const port = await listening(t);
  const size = 8 * 1024 * 1024;
  const declared = await exchange(port, `POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: ${size}\r\n\r\n`, size);
  t.equal(declared.sendError, undefined, 'no reset while sending a declared-length body');
  isOutcome(t, declared, 413, 'too-costly');
  const chunked = await exchange(port, 'POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\n\r\n', size, true);
  t.equal(chunked.sendError, undefined, 'no reset while sending a chunked body');
  isOutcome(t, chunked, 413, 'too-costly');
  const created = await fetch(`http://127.0.0.1:${port}/fhir/Patient`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Patient' }) });
  t.equal(created.status, 201, 'the server still takes writes');
});
