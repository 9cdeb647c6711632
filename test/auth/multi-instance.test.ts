// Two Flint instances on one MongoDB database (the in-process emulation, test/helpers/mingo-db.ts,
// or a real server with FLINT_TEST_STORE=mongodb: test/helpers/app.ts sharedDatabase),
// as behind a load balancer without sticky sessions: a token issued by one is accepted by the
// other, a revocation through one takes effect on the other within the token cache's bound (one
// second), an authorization code issued by one is redeemed once, through the other, and a
// client assertion's jti is refused on the second instance. Neither writes anything to local
// disk (issue 18: nothing of a MongoDB deployment lives on an instance's disk).
import t from 'tap';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';
import { issueOperatorToken } from '../../src/auth/server/admin.js';
import { sharedDatabase } from '../helpers/app.js';
import { addClient, addUser, authorize, pkce, tokenRequest, BASE, REDIRECT } from '../helpers/auth.js';

const dir = mkdtempSync(join(tmpdir(), 'flint-two-'));
const cwd = process.cwd();
t.teardown(() => {
  process.chdir(cwd);
  rmSync(dir, { recursive: true, force: true });
});

/** Two apps on one emulated database; one with AUTH_DB named, one with the default (data/auth.db under cwd). */
async function twoInstances(t: { teardown(fn: () => unknown): void }): Promise<[FastifyInstance, FastifyInstance]> {
  const db = sharedDatabase();
  process.chdir(dir);
  const env = { DATABASE_URL: 'mongodb://db.invalid/flint', LOG_LEVEL: 'silent', BASE_URL: BASE, AUTH: 'smart', AUTH_TEST_HOOKS: '1', RATE_LIMIT: '0' };
  const a = await buildApp(loadConfig({ ...env, AUTH_DB: join(dir, 'auth.db') }), { mongoDb: await db.handle() });
  const b = await buildApp(loadConfig(env), { mongoDb: await db.handle() });
  process.chdir(cwd);
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  return [a, b];
}

const get = (app: FastifyInstance, token: string, url = '/fhir/Patient') => app.inject({ url, headers: { authorization: `Bearer ${token}` } });

t.test('a token issued by one instance is accepted by the other; a revocation through one holds on the other within a second', async (t) => {
  const [a, b] = await twoInstances(t);
  const token = (await issueOperatorToken(a.authService, ['system/*.rs'])).access_token;
  t.equal((await get(a, token)).statusCode, 200, 'instance A accepts its token');
  t.equal((await get(b, token)).statusCode, 200, 'instance B accepts it too (and caches it)');
  // The operator's grant is revoked through A (as the manage page or a code reuse would).
  const found = await a.authService.tokens.resolveAccess(token);
  if (!('grant' in found)) throw new Error('token not found');
  const revokedAt = Date.now();
  await a.authService.store.revokeGrant(found.grant.grantId);
  t.equal((await get(a, token)).statusCode, 401, 'A refuses at once');
  // B may still answer from its cache, but never longer than the bound.
  let refusedAfter = -1;
  while (Date.now() - revokedAt < 3000) {
    if ((await get(b, token)).statusCode === 401) {
      refusedAfter = Date.now() - revokedAt;
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(refusedAfter >= 0 && refusedAfter <= 1000 + 250, `B refuses within the 1 s bound (after ${refusedAfter} ms)`);
  t.equal((await get(b, token)).statusCode, 401, 'and keeps refusing');
});

t.test('an access token revoked at /auth/revoke of one instance stops working on the other', async (t) => {
  const [a, b] = await twoInstances(t);
  const { clientId, secret } = await addClient(a, { client_id: 'conf-app', type: 'symmetric', redirect_uris: [REDIRECT], scopes: ['user/*.rs'] });
  await addUser(b, 'dr', 'Practitioner/pr-1');
  const { verifier, challenge } = pkce();
  const code = (await authorize(a, { clientId, scope: 'user/*.rs', user: 'dr' }, challenge)).searchParams.get('code') ?? '';
  const basic = { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` };
  const issued = await tokenRequest(b, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }, basic);
  t.equal(issued.status, 200, 'a code issued by A is redeemed through B');
  const token = issued.body.access_token as string;
  t.equal((await get(a, token)).statusCode, 200);
  t.equal((await get(b, token)).statusCode, 200);
  const revoke = await b.inject({ method: 'POST', url: '/auth/revoke', payload: new URLSearchParams({ token }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic } });
  t.equal(revoke.statusCode, 200);
  t.equal((await get(b, token)).statusCode, 401, 'B (which revoked it) refuses at once');
  await new Promise((r) => setTimeout(r, 1100));
  t.equal((await get(a, token)).statusCode, 401, 'A refuses once its cache bound has passed');
  const introspect = await a.inject({ method: 'POST', url: '/auth/introspect', payload: new URLSearchParams({ token }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic } });
  t.equal(JSON.parse(introspect.body).active, false, 'introspection on A agrees');
});

t.test('an authorization code issued by one instance is redeemed once, via the other; the second redemption revokes what was issued', async (t) => {
  const [a, b] = await twoInstances(t);
  await addClient(a, { client_id: 'pub-app', type: 'public', redirect_uris: [REDIRECT], scopes: ['patient/*.rs', 'launch/patient'] });
  await addUser(a, 'alice', 'Patient/pat-alice');
  const { verifier, challenge } = pkce();
  const code = (await authorize(a, { clientId: 'pub-app', scope: 'patient/*.rs', user: 'alice' }, challenge)).searchParams.get('code') ?? '';
  const form = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: 'pub-app' };
  // Both instances at once: exactly one wins.
  const both = await Promise.all([tokenRequest(b, form), tokenRequest(a, form)]);
  t.same(both.map((r) => r.status).sort(), [200, 400], 'one redemption succeeds, the other is refused');
  const won = both.find((r) => r.status === 200);
  t.equal(both.find((r) => r.status === 400)?.body.error, 'invalid_grant');
  const again = await tokenRequest(b, form);
  t.equal(again.status, 400, 'a third try is refused');
  const token = won?.body.access_token as string;
  await new Promise((r) => setTimeout(r, 1100));
  t.equal((await get(a, token, '/fhir/Patient/pat-alice')).statusCode, 401, 'the reuse revoked the token on every instance');
  t.equal((await get(b, token, '/fhir/Patient/pat-alice')).statusCode, 401);
});

t.test('a client assertion accepted by one instance is refused as a replay by the other', async (t) => {
  const [a, b] = await twoInstances(t);
  const { privateKey, publicKey } = await generateKeyPair('RS384', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS384' };
  await addClient(b, { client_id: 'svc', type: 'asymmetric', jwks: { keys: [jwk] }, scopes: ['system/*.rs'], grant_types: ['client_credentials'] });
  const tokenUrl = `${a.authService.settings.authBase}/token`;
  const jwt = await new SignJWT({ jti: 'same-jti' }).setProtectedHeader({ alg: 'RS384', kid: 'k1', typ: 'JWT' })
    .setIssuer('svc').setSubject('svc').setAudience(tokenUrl).setExpirationTime('4m').sign(privateKey);
  const form = { grant_type: 'client_credentials', scope: 'system/*.rs', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt };
  const first = await tokenRequest(a, form);
  t.equal(first.status, 200, JSON.stringify(first.body));
  const replay = await tokenRequest(b, form);
  t.equal(replay.status, 401, 'the other instance refuses the replayed assertion');
  t.match(replay.body.error_description, /jti/);
  t.equal((await get(b, first.body.access_token as string)).statusCode, 200, 'the backend token works on the other instance');
});

t.test('on MongoDB nothing is written to local disk: no AUTH_DB, no data/ under the working directory', async (t) => {
  const [a, b] = await twoInstances(t);
  const token = (await issueOperatorToken(b.authService, ['system/*.cruds'], true)).access_token;
  const created = await a.inject({ method: 'POST', url: '/fhir/Patient', payload: { resourceType: 'Patient', name: [{ family: 'Disk' }] }, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' } });
  t.equal(created.statusCode, 201);
  t.equal((await b.inject({ url: '/admin/audit?limit=1000', headers: { authorization: `Bearer ${token}` } })).statusCode, 200);
  const jwks = await a.inject('/fhir/.well-known/jwks.json');
  t.equal(jwks.statusCode, 200, 'signing keys are made (in the database)');
  await a.close();
  await b.close();
  t.same(readdirSync(dir), [], 'the working directory and the AUTH_DB folder stay empty');
});

t.test('the audit entries of both instances land in the one database, and either instance reads them all', async (t) => {
  const [a, b] = await twoInstances(t);
  const token = (await issueOperatorToken(a.authService, ['system/*.rs'], true)).access_token;
  const ra = await get(a, token);
  const rb = await get(b, token);
  const log = await b.inject({ url: '/admin/audit?limit=1000', headers: { authorization: `Bearer ${token}` } });
  t.equal(log.statusCode, 200);
  const list = JSON.parse(log.body) as { requestId: string; seq: number }[];
  // A's queue may not have been sent yet: flush it, then read again through B.
  await a.authService.store.flushAudit();
  const all = await b.authService.store.auditLog({ limit: 1000 });
  t.ok(all.some((e) => e.requestId === ra.headers['x-request-id']), 'A\'s request is in the log read through B');
  t.ok(all.some((e) => e.requestId === rb.headers['x-request-id']), 'B\'s request too');
  t.ok(list.length > 0);
});

// ---- The sign-in pages without sticky sessions: the authorization in progress and the
// management session live in the database, so each page may be served by either instance.

type Form = Record<string, string | string[]>;
const post = (app: FastifyInstance, url: string, body: Form) => app.inject({
  method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: new URLSearchParams(Object.entries(body).flatMap(([k, v]): [string, string][] => (Array.isArray(v) ? v.map((x): [string, string] => [k, x]) : [[k, v]]))).toString(),
});
const txOf = (body: string): string => /name="tx" value="([^"]+)"/.exec(body)?.[1] ?? '';
const startQuery = (challenge: string, extra: Record<string, string> = {}) => new URLSearchParams({
  response_type: 'code', client_id: 'pub-app', redirect_uri: REDIRECT, scope: 'launch/patient patient/*.rs openid fhirUser', state: 'st-1',
  aud: BASE, code_challenge: challenge, code_challenge_method: 'S256', ...extra,
});

t.test('a sign-in started on A, signed in and consented on B (patient picked on A), its code redeemed on A: the token works on both', async (t) => {
  const [a, b] = await twoInstances(t);
  await addClient(a, { client_id: 'pub-app', type: 'public', redirect_uris: [REDIRECT], scopes: ['patient/*.rs', 'launch/patient', 'openid', 'fhirUser'] });
  await addUser(b, 'dr', 'Practitioner/pr-1');
  const { verifier, challenge } = pkce();
  const login = await a.inject(`/auth/authorize?${startQuery(challenge)}`);
  t.equal(login.statusCode, 200, 'A shows the login page');
  const tx = txOf(login.body);
  t.ok(tx);
  const picker = await post(b, '/auth/login', { tx, username: 'dr', password: 'correct horse battery' });
  t.equal(picker.statusCode, 200, 'B knows the sign-in A started');
  t.match(picker.body, /\/auth\/picker/, 'a practitioner picks a patient');
  const consent = await post(a, '/auth/picker', { tx, patient: 'pat-7' });
  t.equal(consent.statusCode, 200, 'A sees that the user signed in on B');
  t.match(consent.body, /pat-7/);
  const done = await post(b, '/auth/consent', { tx, decision: 'allow', scope: 'patient/*.rs' });
  t.equal(done.statusCode, 302, 'B sees the patient picked on A and issues the code');
  const location = new URL(String(done.headers.location));
  t.equal(location.searchParams.get('state'), 'st-1');
  const code = location.searchParams.get('code') ?? '';
  const issued = await tokenRequest(a, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: 'pub-app' });
  t.equal(issued.status, 200, JSON.stringify(issued.body));
  t.equal(issued.body.patient, 'pat-7');
  t.match(issued.body.scope, /patient\/\*\.rs/, 'the scope consented on B');
  const token = issued.body.access_token as string;
  t.equal((await get(a, token, '/fhir/Patient?_id=pat-7')).statusCode, 200, 'the token works on A');
  t.equal((await get(b, token, '/fhir/Patient?_id=pat-7')).statusCode, 200, 'and on B');
  t.equal((await post(a, '/auth/consent', { tx, decision: 'allow' })).statusCode, 400, 'the finished sign-in cannot be replayed on the other instance');
});

t.test('two consent posts for one sign-in, one to each instance at once: one code', async (t) => {
  const [a, b] = await twoInstances(t);
  await addClient(a, { client_id: 'pub-app', type: 'public', redirect_uris: [REDIRECT], scopes: ['patient/*.rs', 'launch/patient'] });
  await addUser(a, 'alice', 'Patient/pat-alice');
  const { challenge } = pkce();
  const tx = txOf((await b.inject(`/auth/authorize?${startQuery(challenge)}`)).body);
  t.equal((await post(a, '/auth/login', { tx, username: 'alice', password: 'correct horse battery' })).statusCode, 200, 'a patient goes straight to consent');
  const both = await Promise.all([post(a, '/auth/consent', { tx, decision: 'allow' }), post(b, '/auth/consent', { tx, decision: 'allow' })]);
  t.same(both.map((r) => r.statusCode).sort(), [302, 400], 'exactly one instance issues a code');
  const denied = await Promise.all([post(a, '/auth/consent', { tx, decision: 'deny' }), post(b, '/auth/consent', { tx, decision: 'deny' })]);
  t.same(denied.map((r) => r.statusCode), [400, 400], 'nor can it be denied afterwards');
});

t.test('the management page: signed in on A, a grant revoked through B', async (t) => {
  const [a, b] = await twoInstances(t);
  await addClient(a, { client_id: 'pub-app', type: 'public', redirect_uris: [REDIRECT], scopes: ['patient/*.rs', 'launch/patient'] });
  await addUser(a, 'alice', 'Patient/pat-alice');
  const { challenge } = pkce();
  await authorize(a, { clientId: 'pub-app', scope: 'patient/*.rs', user: 'alice' }, challenge);
  const list = await post(a, '/auth/manage', { username: 'alice', password: 'correct horse battery' });
  t.equal(list.statusCode, 200);
  const session = /name="session" value="([^"]+)"/.exec(list.body)?.[1] ?? '';
  const grant = /name="grant" value="([^"]+)"/.exec(list.body)?.[1] ?? '';
  t.ok(session && grant);
  const after = await post(b, '/auth/manage/revoke', { session, grant });
  t.equal(after.statusCode, 200, 'B knows the session A opened');
  t.notMatch(after.body, grant, 'the grant is gone from the list');
  t.equal((await a.authService.store.grant(grant))?.revoked, true);
  t.equal((await post(b, '/auth/manage/revoke', { session: 'x'.repeat(5000), grant })).statusCode, 401, 'an unknown session is refused');
});

t.test('hostile: sign-ins in progress are capped per client across instances; oversized or malformed requests keep nothing', async (t) => {
  const [a, b] = await twoInstances(t);
  await addClient(a, { client_id: 'pub-app', type: 'public', redirect_uris: [REDIRECT], scopes: ['patient/*.rs', 'launch/patient'] });
  await addClient(a, { client_id: 'other-app', type: 'public', redirect_uris: [REDIRECT], scopes: ['patient/*.rs'] });
  for (const app of [a, b]) app.authService.settings.pendingPerClient = 5;
  const { challenge } = pkce();
  const started = await Promise.all(Array.from({ length: 5 }, (_, i) => (i % 2 ? a : b).inject(`/auth/authorize?${startQuery(challenge)}`)));
  t.same(started.map((r) => r.statusCode), [200, 200, 200, 200, 200]);
  const refused = await a.inject(`/auth/authorize?${startQuery(challenge)}`);
  t.equal(refused.statusCode, 302, 'the sixth is refused with a redirect');
  t.equal(new URL(String(refused.headers.location)).searchParams.get('error'), 'temporarily_unavailable');
  t.equal((await b.inject(`/auth/authorize?${startQuery(challenge)}`)).statusCode, 302, 'on the other instance too');
  const other = await b.inject(`/auth/authorize?${startQuery(challenge, { client_id: 'other-app', scope: 'patient/*.rs' })}`);
  t.equal(other.statusCode, 200, 'another client is not affected');
  // A finished sign-in frees its place.
  await addUser(a, 'alice', 'Patient/pat-alice');
  const tx = txOf(started[0]?.body ?? '');
  await post(b, '/auth/login', { tx, username: 'alice', password: 'correct horse battery' });
  t.equal((await post(a, '/auth/consent', { tx, decision: 'deny' })).statusCode, 302);
  t.equal((await a.inject(`/auth/authorize?${startQuery(challenge)}`)).statusCode, 200, 'a place is free again');

  const huge = await a.inject({ method: 'POST', url: '/auth/authorize', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: startQuery(challenge, { client_id: 'other-app', scope: `patient/*.rs ${'x'.repeat(20_000)}` }).toString() });
  t.equal(huge.statusCode, 302);
  t.equal(new URL(String(huge.headers.location)).searchParams.get('error'), 'invalid_request', 'an oversized scope is refused, not kept');
  for (const tx of ['', 'nope', 'x'.repeat(10_000), ['a', 'b']]) {
    const r = await post(b, '/auth/login', { tx, username: 'alice', password: 'correct horse battery' });
    t.equal(r.statusCode, 400, `login with tx ${JSON.stringify(tx).slice(0, 20)}: 400`);
  }
  t.equal((await b.inject('/auth/picker?tx=zzz')).statusCode, 400);
  t.equal((await post(a, '/auth/picker', { tx: 'zzz', patient: 'p' })).statusCode, 400);
});
