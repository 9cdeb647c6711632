// Requests Node refuses before any request object exists (431 oversized headers, 400 bad
// framing) are in the audit log like every other refused request, on a real socket, and their
// entries carry nothing of what the client sent (the URL or a header may hold PHI).
import t from 'tap';
import { connect } from 'node:net';
import { authApp } from '../helpers/auth.js';
import { issueOperatorToken } from '../../src/auth/server/admin.js';

/** Sends raw bytes and resolves with the status line's code once the server closes. */
function raw(port: number, bytes: string): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    socket.on('data', (d) => {
      got += d.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0)));
    socket.write(bytes);
    setTimeout(() => socket.end(), 300);
  });
}

t.test("Node's own refusals are audited, without what the client sent", async (t) => {
  const app = await authApp(t);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const secret = 'Smith-1970-01-01';
  const { access_token: token } = await issueOperatorToken(app.authService, ['system/*.cruds'], true);
  const before = JSON.parse((await app.inject({ url: '/admin/audit?limit=1000', headers: { authorization: `Bearer ${token}` } })).body) as { seq: number }[];
  const after = before.at(-1)?.seq ?? 0;

  t.equal(await raw(port, `GET /fhir/Patient?name=${secret}${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`), 431, 'an oversized URL: 431');
  t.equal(await raw(port, `GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-Who: ${secret}${'b'.repeat(20_000)}\r\n\r\n`), 431, 'an oversized header: 431');
  t.equal(await raw(port, `GARBAGE ${secret}\r\n\r\n`), 400, 'not HTTP: 400');
  t.equal(await raw(port, `GET /fhir/Patient?name=${secret} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n`), 400, 'two Content-Lengths: 400');
  // Refusals of Fastify's router (414, a malformed URL): no hook runs for them either.
  t.equal(await raw(port, `GET /fhir/Patient/${'c'.repeat(5000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`), 414, 'a path parameter too long: 414');
  t.equal(await raw(port, 'GET /fhir/Patient/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 400, 'a malformed percent-encoding: 400');

  const res = await app.inject({ url: `/admin/audit?limit=1000&after=${after}`, headers: { authorization: `Bearer ${token}` } });
  t.equal(res.statusCode, 200);
  const entries = JSON.parse(res.body) as { action: string; status: number; requestId: string }[];
  const parser = entries.filter((e) => e.action.startsWith('refused by the HTTP parser'));
  t.same(parser.map((e) => e.status).sort(), [400, 400, 431, 431], 'one entry per refusal, with its status');
  t.ok(parser.filter((e) => e.status === 431).every((e) => e.action.includes('HPE_HEADER_OVERFLOW')), 'the entry names what Node refused');
  t.equal(new Set(parser.map((e) => e.requestId)).size, 4, 'each entry has its own request id');
  t.equal(entries.filter((e) => e.status === 414).length, 1, 'the 414 is audited, once');
  t.equal(entries.filter((e) => e.status === 400 && e.action.includes('FST_ERR_BAD_URL')).length, 1, 'the malformed URL is audited, once');
  t.notMatch(res.body, secret, 'no entry carries what the client sent in its URL or headers');
});
