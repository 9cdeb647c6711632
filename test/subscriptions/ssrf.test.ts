// No server-side request forgery through a Subscription: only https, only public addresses,
// checked when delivering (names included), redirects not followed.
import t from 'tap';
import { checkedTarget, isPrivateAddress, send } from '../../src/subscriptions/endpoint.js';
import { testApp, post, body } from '../helpers/app.js';
import { startReceiver } from '../helpers/receiver.js';

t.test('loopback, private, link-local and reserved addresses are not public', async (t) => {
  for (const a of ['127.0.0.1', '127.1.2.3', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255',
    '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::ffff:169.254.169.254', '64:ff9b::a00:1', 'not-an-ip']) {
    t.ok(isPrivateAddress(a), a);
  }
  for (const a of ['93.184.216.34', '8.8.8.8', '2606:2800:220:1:248:1893:25c8:1946', '::ffff:8.8.8.8']) t.notOk(isPrivateAddress(a), a);
});

t.test('endpoints are refused at delivery time unless public and https', async (t) => {
  const refuse = async (url: string, why: RegExp) => t.rejects(checkedTarget(new URL(url), false), why, url);
  await refuse('http://example.org/x', /not https/);
  await refuse('https://127.0.0.1/x', /non-public/);
  await refuse('https://10.1.2.3/x', /non-public/);
  await refuse('https://169.254.169.254/latest/meta-data', /non-public/);
  await refuse('https://[::1]/x', /non-public/);
  await refuse('https://[::ffff:127.0.0.1]/x', /non-public/);
  // A name that resolves to loopback is refused like the address itself.
  await refuse('https://localhost/x', /non-public/);
  t.same(await checkedTarget(new URL('http://localhost/x'), true).then((a) => typeof a.address), 'string', 'allowed when insecure is allowed');
});

t.test('a redirect is not followed', async (t) => {
  const rx = await startReceiver(t);
  rx.answer = () => 302;
  await t.rejects(send(rx.url, { method: 'POST', headers: {}, timeoutMs: 2000, allowInsecure: true }), /redirect/);
});

t.test('a slow endpoint times out', async (t) => {
  const rx = await startReceiver(t);
  const http = await import('node:http');
  const server = http.createServer(() => { /* never answers */ });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  const port = (server.address() as { port: number }).port;
  const started = Date.now();
  await t.rejects(send(`http://127.0.0.1:${port}/`, { method: 'POST', headers: {}, timeoutMs: 200, allowInsecure: true }), /timed out/);
  t.ok(Date.now() - started < 2000);
  void rx;
});

t.test('without SUBSCRIPTION_ALLOW_INSECURE a subscription to a loopback endpoint never reaches it and ends in error', async (t) => {
  const app = await testApp(t, { SUBSCRIPTION_RETRY_MS: '10', SUBSCRIPTION_MAX_ATTEMPTS: '3' });
  const rx = await startReceiver(t);
  const https = `https://127.0.0.1:${rx.port}/hook`;
  const created = body(await post(app, '/fhir/Subscription', { resourceType: 'Subscription', status: 'requested', reason: 'x', criteria: 'Observation', channel: { type: 'rest-hook', endpoint: https } }));
  const until = Date.now() + 5000;
  let sub: Record<string, any> = {};
  while (Date.now() < until) {
    sub = body(await app.inject({ url: `/fhir/Subscription/${created.id as string}` }));
    if (sub.status === 'error') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(sub.status, 'error');
  t.match(sub.error, /non-public/);
  t.equal(rx.received.length, 0, 'nothing was sent');
});
