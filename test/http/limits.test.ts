// Per-client limits: a client over its rate or its concurrency gets 429 with Retry-After and an
// OperationOutcome; other clients are not affected; the table of clients stays bounded.
import t from 'tap';
import { testApp, body } from '../helpers/app.js';
import { ClientTable } from '../../src/http/limits.js';

t.test('a client over RATE_LIMIT gets 429 with Retry-After; another client still gets through', async (t) => {
  // RATE_LIMIT=6 holds ten seconds' worth (one request) and refills one every 10 s; the second
  // request comes well within that even on a loaded machine (the burst size itself is checked on
  // ClientTable below, with a clock the test controls).
  const app = await testApp(t, { RATE_LIMIT: '6', CLIENT_CONCURRENCY: '0' });
  const ok = await app.inject({ url: '/fhir/metadata', remoteAddress: '10.0.0.1' });
  t.equal(ok.statusCode, 200, 'the first request is within the burst');
  const refused = await app.inject({ url: '/fhir/metadata', remoteAddress: '10.0.0.1' });
  t.equal(refused.statusCode, 429);
  t.match(String(refused.headers['content-type']), /^application\/fhir\+json/);
  t.ok(Number(refused.headers['retry-after']) >= 1, 'Retry-After in seconds');
  t.equal(body(refused).resourceType, 'OperationOutcome');
  t.equal(body(refused).issue[0].code, 'throttled');
  const other = await app.inject({ url: '/fhir/metadata', remoteAddress: '10.0.0.2' });
  t.equal(other.statusCode, 200, 'another address is another client');
});

t.test('RATE_LIMIT=0 and CLIENT_CONCURRENCY=0 turn the limits off', async (t) => {
  const app = await testApp(t, { RATE_LIMIT: '0', CLIENT_CONCURRENCY: '0' });
  for (let i = 0; i < 30; i++) t.equal((await app.inject({ url: '/fhir/metadata' })).statusCode, 200);
});

t.test('concurrency per client: the n+1th request in progress is refused until one finishes', async (t) => {
  const table = new ClientTable({ requestsPerMinute: 0, concurrent: 2 });
  t.same(table.admit('a', 0), { ok: true });
  t.same(table.admit('a', 0), { ok: true });
  t.match(table.admit('a', 0), { ok: false, why: 'concurrency', retryAfterS: 1 });
  t.same(table.admit('b', 0), { ok: true }, 'another client is not affected');
  table.release('a');
  t.same(table.admit('a', 0), { ok: true });
});

t.test('the rate refills over time', async (t) => {
  const table = new ClientTable({ requestsPerMinute: 600, concurrent: 0 });
  for (let i = 0; i < 100; i++) table.admit('a', 0);
  const refused = table.admit('a', 0);
  t.match(refused, { ok: false, why: 'rate' });
  t.same(table.admit('a', 1000), { ok: true }, '10 a second come back after a second');
});

t.test('many distinct clients keep the table bounded, and busy clients are kept', async (t) => {
  const table = new ClientTable({ requestsPerMinute: 60, concurrent: 1 }, 100);
  t.same(table.admit('busy', 0), { ok: true });
  for (let i = 0; i < 10_000; i++) {
    table.admit(`ip:${i}`, i);
    table.release(`ip:${i}`);
  }
  t.ok(table.size <= 100, `at most 100 entries (${table.size})`);
  t.match(table.admit('busy', 10_000), { ok: false, why: 'concurrency' }, 'the client with a request in progress was not forgotten');
});
