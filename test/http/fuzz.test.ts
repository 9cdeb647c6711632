// A hostile client, seeded and reproducible: malformed and extreme bodies, params, headers and
// Bundles (a bounded number of cases from a small PRNG). No case may get a 5xx, and the server
// still answers a normal read afterwards.
import t from 'tap';
import { testApp, post, body } from '../helpers/app.js';

const SEED = 20_251_202;
const CASES = 250;

/** mulberry32: a tiny seeded PRNG, enough to make cases reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = prng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
const int = (n: number): number => Math.floor(rand() * n);

const NASTY = ['', ' ', '\u0000', '%00', '..', '../../etc/passwd', '\ud800', '😀'.repeat(50), 'x'.repeat(70), '-1', '1e309', 'null', '[]', '{}', '<xml/>', "' OR 1=1 --", '$', '_history', 'a,b,c', 'eq2020-13-45', 'gt', '|', '||', 'http://x|', '%', '%zz', '\r\nX-Injected: 1'];
const TYPES = ['Patient', 'Observation', 'Bundle', 'Encounter', 'NotAType', 'patient', 'OperationOutcome', 'Binary', '$everything', '_search'];
const PARAMS = ['_id', 'name', 'birthdate', '_count', '_sort', '_include', '_revinclude', '_has:Observation:patient:code', 'subject.name', '_elements', '_summary', '_total', 'code:in', 'value-quantity', '_format', '_pretty', '_since', '_at', '_lastUpdated', 'patient._has:Observation:subject:code', ''];

function value(depth: number): unknown {
  switch (int(depth > 4 ? 5 : 8)) {
    case 0: return pick(NASTY);
    case 1: return rand() < 0.5 ? int(1e9) - 5e8 : rand() * 1e300;
    case 2: return rand() < 0.5;
    case 3: return null;
    case 4: return 'y'.repeat(int(3) === 0 ? 200_000 : 10);
    case 5: return Array.from({ length: int(5) }, () => value(depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = int(6); i > 0; i--) o[pick(['resourceType', 'id', 'meta', 'name', 'subject', 'entry', 'request', 'resource', 'extension', 'contained', 'text', 'code', 'value[x]', 'valueQuantity', pick(NASTY)])] = value(depth + 1);
      return o;
    }
  }
}

function deep(n: number): string {
  return `{"resourceType":"Patient","extension":${'['.repeat(n)}${']'.repeat(n)}}`;
}

function bundle(): unknown {
  return {
    resourceType: 'Bundle',
    type: pick(['transaction', 'batch', 'collection', 'history', 'nonsense', 5]),
    entry: Array.from({ length: int(8) }, () => ({
      fullUrl: pick(['urn:uuid:1', 'urn:uuid:1', 'Patient/1', pick(NASTY)]),
      resource: rand() < 0.7 ? { resourceType: pick(TYPES), id: pick(['a', pick(NASTY)]), ...(value(1) as object) } : value(1),
      request: { method: pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'x']), url: `${pick(TYPES)}${pick(['', '/1', '?name=a', `/${pick(NASTY)}`])}`, ifNoneExist: pick(['', 'identifier=a|b', pick(NASTY)]) },
    })),
  };
}

function payload(): string | undefined {
  switch (int(7)) {
    case 0: return undefined;
    case 1: return JSON.stringify(value(0));
    case 2: return JSON.stringify(bundle());
    case 3: return deep(pick([10, 1000, 5000]));
    case 4: return JSON.stringify(value(0)).slice(0, int(40));
    case 5: return pick(NASTY);
    default: return JSON.stringify({ resourceType: pick(TYPES), ...(value(1) as object) });
  }
}

/** Percent-encodes; a lone surrogate becomes its (invalid) UTF-8 bytes, hostile input too. */
function enc(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return '%ED%A0%80';
  }
}

function url(): string {
  const path = pick([
    `/fhir/${pick(TYPES)}`,
    `/fhir/${pick(TYPES)}/${enc(pick(NASTY))}`,
    `/fhir/${pick(TYPES)}/${pick(['a', '1'])}/_history/${enc(pick(NASTY))}`,
    `/fhir/${pick(TYPES)}/a/$everything`,
    '/fhir', '/fhir/_history', '/fhir/metadata', `/${enc(pick(NASTY))}`,
  ]);
  const q = Array.from({ length: int(4) }, () => `${enc(pick(PARAMS))}=${enc(pick(NASTY))}`).join('&');
  return q ? `${path}?${q}` : path;
}

function headers(): Record<string, string> {
  const h: Record<string, string> = {};
  if (rand() < 0.8) h['content-type'] = pick(['application/fhir+json', 'application/json', 'application/json-patch+json', 'application/xml', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/fhir+json; charset=latin1']);
  if (rand() < 0.3) h.accept = pick(['application/fhir+xml', '*/*', 'application/fhir+json; fhirVersion=3.0', 'text/html', ';;;', 'application/json;q=0']);
  if (rand() < 0.2) h['if-match'] = pick(['W/"1"', 'W/"x"', '*', pick(NASTY)]);
  if (rand() < 0.2) h['if-none-exist'] = pick(['identifier=a|b', '', pick(NASTY)]);
  if (rand() < 0.2) h.prefer = pick(['return=minimal', 'return=OperationOutcome', 'handling=strict', 'respond-async', pick(NASTY)]);
  if (rand() < 0.1) h['x-request-id'] = pick(['ok-id', 'x'.repeat(200), pick(NASTY)]);
  for (const k of Object.keys(h)) h[k] = (h[k] ?? '').replace(/[\r\n\u0000]/g, '');
  return h;
}

t.test(`${CASES} hostile requests (seed ${SEED}) get no 5xx, and a normal read works afterwards`, async (t) => {
  const app = await testApp(t, { BODY_LIMIT: String(4 * 1024 * 1024), RATE_LIMIT: '0' });
  const created = await post(app, '/fhir/Patient', { resourceType: 'Patient', id: 'x', name: [{ family: 'Fuzz' }] });
  t.equal(created.statusCode, 201);
  const id = body(created).id as string;
  const failures: string[] = [];
  for (let i = 0; i < CASES; i++) {
    const method = pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);
    const u = url();
    const data = method === 'GET' || method === 'HEAD' ? undefined : payload();
    const res = await app.inject({ method: method as 'GET', url: u, headers: headers(), ...(data !== undefined ? { payload: data } : {}) });
    if (res.statusCode >= 500) failures.push(`case ${i}: ${method} ${u.slice(0, 120)} → ${res.statusCode} ${res.body.slice(0, 200)}`);
  }
  t.same(failures, [], 'no 5xx');
  const read = await app.inject({ url: `/fhir/Patient/${id}` });
  t.equal(read.statusCode, 200, 'the server still answers a normal read');
  t.equal(body(read).name[0].family, 'Fuzz');
});

t.test('a resource with 200,000 repeated values is stored or refused, never a 5xx', async (t) => {
  const app = await testApp(t, { RATE_LIMIT: '0' });
  const given = Array.from({ length: 200_000 }, (_, i) => `G${i}`);
  const res = await post(app, '/fhir/Patient', { resourceType: 'Patient', name: [{ family: 'Many', given }] });
  t.ok(res.statusCode < 500, `answered ${res.statusCode}`);
});
