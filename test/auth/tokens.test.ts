// Introspection, revocation, the management page, EHR launch, the audit log and the external
// identity provider mode (shared/docs/smart-requirements.md §9, §11, §12, §21.9).
import t from 'tap';
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { authApp, seedClinic, addClient, codeFlow, tokenRequest, BASE, REDIRECT, pkce, authorize } from '../helpers/auth.js';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';
import { load, clinic } from '../helpers/app.js';

const SCOPES = ['openid', 'fhirUser', 'launch', 'launch/patient', 'launch/encounter', 'offline_access', 'patient/*.cruds', 'user/*.cruds'];
const form = (body: Record<string, string>) => new URLSearchParams(body).toString();
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

t.test('introspection: active tokens with their context; anything else {"active":false} (INT-01..04)', async (t) => {
  const app = await authApp(t);
  await seedClinic(app);
  await addClient(app, { client_id: 'pub', type: 'public', redirect_uris: [REDIRECT], scopes: SCOPES });
  const rs = await addClient(app, { client_id: 'rs', type: 'symmetric', redirect_uris: [], introspect: true, scopes: [] });
  const tok = await codeFlow(app, { clientId: 'pub', scope: 'openid fhirUser launch/patient offline_access patient/*.rs', user: 'alice' });
  const introspect = (token: string, authorization?: string) => app.inject({ method: 'POST', url: '/auth/introspect', payload: form({ token }), headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization ? { authorization } : {}) } });
  const res = await introspect(tok.access_token, basic('rs', rs.secret ?? ''));
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /application\/json/);
  const body = JSON.parse(res.body);
  t.equal(body.active, true);
  t.equal(body.client_id, 'pub');
  t.same(body.scope.split(' ').sort(), tok.scope.split(' ').sort());
  t.equal(typeof body.exp, 'number');
  t.equal(body.patient, 'pat-alice');
  t.equal(body.fhirUser, `${BASE}/Patient/pat-alice`);
  t.equal(body.iss, BASE);
  t.ok(body.sub);
  for (const token of ['invalid_token_value', tok.refresh_token]) {
    const r = await introspect(token, basic('rs', rs.secret ?? ''));
    t.same(JSON.parse(r.body), { active: false }, 'exactly {"active":false}');
  }
  t.equal((await introspect(tok.access_token)).statusCode, 401, 'unauthenticated callers are refused');
  t.equal((await introspect(tok.access_token, basic('rs', 'wrong'))).statusCode, 401);
  // A bearer token of a client allowed to introspect works too (SMART 2.2).
  const { client } = { client: rs };
  void client;
  const bearerClient = await addClient(app, { client_id: 'rs2', type: 'symmetric', redirect_uris: [REDIRECT], introspect: true, scopes: SCOPES });
  const { verifier, challenge } = pkce();
  const loc = await authorize(app, { clientId: 'rs2', scope: 'launch/patient patient/Patient.rs', user: 'alice' }, challenge);
  const rsTok = await tokenRequest(app, { grant_type: 'authorization_code', code: loc.searchParams.get('code') ?? '', redirect_uri: REDIRECT, code_verifier: verifier }, { authorization: basic('rs2', bearerClient.secret ?? '') });
  const viaBearer = await introspect(tok.access_token, `Bearer ${rsTok.body.access_token}`);
  t.equal(JSON.parse(viaBearer.body).active, true);
});

t.test('revocation: the refresh token takes the grant with it; another client\'s token is left alone (REV-01..03)', async (t) => {
  const app = await authApp(t);
  await seedClinic(app);
  await addClient(app, { client_id: 'pub', type: 'public', redirect_uris: [REDIRECT], scopes: SCOPES });
  await addClient(app, { client_id: 'other', type: 'public', redirect_uris: [REDIRECT], scopes: SCOPES });
  const tok = await codeFlow(app, { clientId: 'pub', scope: 'launch/patient offline_access patient/*.rs', user: 'alice' });
  const revoke = (body: Record<string, string>) => app.inject({ method: 'POST', url: '/auth/revoke', payload: form(body), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal((await revoke({ token: tok.refresh_token, client_id: 'other' })).statusCode, 200, 'another client: 200, no effect');
  t.equal((await app.inject({ url: '/fhir/Patient/pat-alice', headers: { authorization: `Bearer ${tok.access_token}` } })).statusCode, 200);
  t.equal((await revoke({ token: 'nothing-like-a-token', client_id: 'pub' })).statusCode, 200, 'unknown token: 200');
  t.equal((await revoke({ token: tok.refresh_token, client_id: 'pub', token_type_hint: 'refresh_token' })).statusCode, 200);
  t.equal((await app.inject({ url: '/fhir/Patient/pat-alice', headers: { authorization: `Bearer ${tok.access_token}` } })).statusCode, 401, 'its access tokens die with it');
  const refreshed = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: tok.refresh_token });
  t.equal(refreshed.status, 400);
  t.equal(refreshed.body.error, 'invalid_grant');
  t.equal((await revoke({ token: 'x', client_id: 'pub', token_type_hint: 'id_token' })).statusCode, 400, 'unsupported_token_type');
});

t.test('a user revokes an app on the management page; its tokens stop working at once (REV-04)', async (t) => {
  const app = await authApp(t);
  await seedClinic(app);
  await addClient(app, { client_id: 'pub', name: 'Diary', type: 'public', redirect_uris: [REDIRECT], scopes: SCOPES });
  const tok = await codeFlow(app, { clientId: 'pub', scope: 'launch/patient offline_access patient/*.rs', user: 'alice' });
  const post = (url: string, body: Record<string, string>) => app.inject({ method: 'POST', url, payload: form(body), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal((await app.inject('/auth/manage')).statusCode, 200);
  t.equal((await post('/auth/manage', { username: 'alice', password: 'wrong' })).statusCode, 401);
  const list = await post('/auth/manage', { username: 'alice', password: 'correct horse battery' });
  t.match(list.body, /Diary/);
  const session = /name="session" value="([^"]+)"/.exec(list.body)?.[1] ?? '';
  const grant = /name="grant" value="([^"]+)"/.exec(list.body)?.[1] ?? '';
  const after = await post('/auth/manage/revoke', { session, grant });
  t.notMatch(after.body, /Diary/);
  t.equal((await app.inject({ url: '/fhir/Patient/pat-alice', headers: { authorization: `Bearer ${tok.access_token}` } })).statusCode, 401);
  t.equal((await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: tok.refresh_token })).status, 400);
});

t.test('EHR launch: the launch handle carries patient, encounter, banner and style into the token (AUTHZ-11/12, TOK-19)', async (t) => {
  const app = await authApp(t);
  await seedClinic(app);
  await addClient(app, { client_id: 'ehr-app', type: 'public', redirect_uris: [REDIRECT], launch_uris: ['http://app.example/launch'], scopes: SCOPES });
  const admin = await adminToken(app);
  const res = await app.inject({ method: 'POST', url: '/auth/launch', payload: JSON.stringify({ client_id: 'ehr-app', patient: 'pat-bob', encounter: 'enc-bob-1', username: 'dr-smith' }), headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` } });
  t.equal(res.statusCode, 201);
  const { launch, launch_url: url } = JSON.parse(res.body);
  t.equal(url, `http://app.example/launch?iss=${encodeURIComponent(BASE)}&launch=${launch}`);
  const tok = await codeFlow(app, { clientId: 'ehr-app', scope: 'launch openid fhirUser user/*.rs patient/*.rs', user: 'dr-smith', launch });
  t.equal(tok.patient, 'pat-bob');
  t.equal(tok.encounter, 'enc-bob-1');
  t.equal(tok.need_patient_banner, true);
  t.match(tok.smart_style_url, /^http:\/\/flint\.test\/auth\/style\.json$/);
  t.ok(tok.scope.split(' ').includes('launch'));
  t.equal((await app.inject('/auth/style.json')).statusCode, 200, 'the style document is public');
  t.equal((await app.inject({ url: '/fhir/Encounter/enc-bob-1', headers: { authorization: `Bearer ${tok.access_token}` } })).statusCode, 200);
  const other = await addClient(app, { client_id: 'other', type: 'public', redirect_uris: [REDIRECT], scopes: SCOPES });
  const { challenge } = pkce();
  const stolen = await authorize(app, { clientId: other.clientId, scope: 'launch patient/*.rs', user: 'dr-smith', launch }, challenge);
  t.equal(stolen.searchParams.get('error'), 'invalid_request', 'a launch handle is bound to its application');
  t.equal((await app.inject({ method: 'POST', url: '/auth/launch', payload: '{}', headers: { 'content-type': 'application/json' } })).statusCode, 401, 'only the EHR (admin) creates launches');
});

async function adminToken(app: Awaited<ReturnType<typeof authApp>>): Promise<string> {
  const { generateKeyPair: gen, exportJWK: exp, SignJWT: Sign } = await import('jose');
  const { privateKey, publicKey } = await gen('ES384', { extractable: true });
  await addClient(app, { client_id: 'ehr-admin', type: 'asymmetric', jwks: { keys: [{ ...(await exp(publicKey)), kid: 'k1' }] }, admin: true, scopes: ['system/*.cruds'] });
  const assertion = await new Sign({ jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'ES384', kid: 'k1' }).setIssuer('ehr-admin').setSubject('ehr-admin')
    .setAudience('http://flint.test/auth/token').setExpirationTime(Math.floor(Date.now() / 1000) + 120).sign(privateKey);
  const r = await tokenRequest(app, { grant_type: 'client_credentials', scope: 'system/*.rs __admin', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion });
  if (r.status !== 200) throw new Error(JSON.stringify(r.body));
  return r.body.access_token as string;
}

t.test('admin API: clients and users registered over HTTP; the audit log records every access', async (t) => {
  const app = await authApp(t);
  await seedClinic(app);
  const admin = await adminToken(app);
  const json = (method: string, url: string, body?: unknown, token = admin) => app.inject({ method: method as 'POST', url, ...(body ? { payload: JSON.stringify(body) } : {}), headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
  const created = await json('POST', '/admin/clients', { client_id: 'web', type: 'symmetric', redirect_uris: ['https://web.example/cb'] });
  t.equal(created.statusCode, 201);
  const c = JSON.parse(created.body);
  t.ok(c.client_secret, 'the secret is shown once');
  t.notOk(c.secretHash, 'its hash never');
  t.same(c.allowedOrigins, ['https://web.example'], 'CORS origins from the redirect URIs');
  t.equal((await json('POST', '/admin/clients', { type: 'asymmetric' })).statusCode, 400, 'an asymmetric client needs keys');
  t.equal((await json('POST', '/admin/users', { username: 'carol', password: 'long enough pass', fhirUser: 'Patient/pat-chloe' })).statusCode, 201);
  t.equal((await json('POST', '/admin/users', { username: 'dave', password: 'short', fhirUser: 'Patient/x' })).statusCode, 400);
  const list = JSON.parse((await json('GET', '/admin/clients')).body);
  t.ok(list.some((x: any) => x.clientId === 'web'));
  t.equal((await app.inject('/admin/clients')).statusCode, 401, 'no admin token: 401');
  await app.inject({ url: '/fhir/Patient/pat-alice' });
  await app.inject({ url: '/fhir/Observation?code=4548-4', headers: { authorization: `Bearer ${admin}` } });
  const audit = JSON.parse((await json('GET', '/admin/audit?limit=1000')).body) as any[];
  const refused = audit.find((e) => e.target === 'Patient/pat-alice' && e.status === 401);
  t.ok(refused, 'a refused read is recorded');
  const search = audit.find((e) => e.action === 'GET /fhir/:type' && e.query === 'code=4548-4');
  t.equal(search?.clientId, 'ehr-admin', 'with the client, the action and the query');
  t.equal(search?.status, 200);
});

t.test('AUTH=external: JWT access tokens of another issuer, checked against its JWKS', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' };
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => server.close());
  const address = server.address();
  const jwksUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/certs`;
  const issuer = 'https://keycloak.example/realms/clinic';
  const app = await buildApp(loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', BASE_URL: BASE, AUTH: 'external', AUTH_ISSUER: issuer, AUTH_JWKS_URL: jwksUrl }));
  t.teardown(() => app.close());
  const internal = await buildApp(loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', BASE_URL: BASE, AUTH: 'off' }));
  void internal;
  await internal.close();
  const token = (claims: Record<string, unknown>, iss = issuer, aud = BASE) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'idp-1' })
    .setIssuer(iss).setAudience(aud).setSubject('u1').setExpirationTime('5m').sign(privateKey);
  const loader = await token({ scope: 'system/*.cruds' });
  const bearer = (tk: string) => new Proxy(app, { get: (tg, p, r) => (p === 'inject' ? (o: any) => tg.inject({ ...(typeof o === 'string' ? { url: o } : o), headers: { ...(o.headers ?? {}), authorization: `Bearer ${tk}` } }) : Reflect.get(tg, p, r)) });
  await load(bearer(loader), clinic());
  const patientToken = await token({ scope: 'patient/*.rs', patient: 'pat-alice' });
  const r = await app.inject({ url: '/fhir/Observation', headers: { authorization: `Bearer ${patientToken}` } });
  t.equal(r.statusCode, 200);
  t.same(JSON.parse(r.body).entry.map((e: any) => e.resource.id).sort(), ['obs-alice-hr', 'obs-alice-weight'], 'the patient claim confines the token');
  t.equal((await app.inject({ url: '/fhir/Observation', headers: { authorization: `Bearer ${await token({ scope: 'patient/*.rs', patient: 'pat-alice' }, 'https://evil.example')}` } })).statusCode, 401, 'another issuer');
  t.equal((await app.inject({ url: '/fhir/Observation', headers: { authorization: `Bearer ${await token({ scope: 'patient/*.rs' }, issuer, 'https://other.example/fhir')}` } })).statusCode, 401, 'another audience');
  t.not((await app.inject('/fhir/.well-known/smart-configuration')).statusCode, 200, 'no SMART server of its own in this mode');
  const cs = JSON.parse((await app.inject('/fhir/metadata')).body);
  t.match(cs.rest[0].security.description, /keycloak/);
});

t.test('AUTH=off is explicit and said in the CapabilityStatement', async (t) => {
  const app = await buildApp(loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', BASE_URL: BASE, AUTH: 'off' }));
  t.teardown(() => app.close());
  t.equal((await app.inject('/fhir/Patient')).statusCode, 200);
  t.match(JSON.parse((await app.inject('/fhir/metadata')).body).rest[0].security.description, /AUTHENTICATION IS OFF/);
  t.throws(() => loadConfig({ AUTH: 'maybe' }), /AUTH must be/);
  t.throws(() => loadConfig({ AUTH: 'external' }), /AUTH_ISSUER/);
  t.throws(() => loadConfig({ AUTH_TEST_HOOKS: '1', NODE_ENV: 'production' }), /AUTH_TEST_HOOKS/);
});

t.test('CORS: registered origins on the token and FHIR endpoints, preflight answered (TOK-21, RS-22/23)', async (t) => {
  const app = await authApp(t);
  await seedClinic(app);
  await addClient(app, { client_id: 'spa', type: 'public', redirect_uris: ['http://localhost:5173/index.html'], scopes: SCOPES });
  const pre = await app.inject({ method: 'OPTIONS', url: '/fhir/Patient/pat-alice', headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
  t.equal(pre.statusCode, 204);
  t.equal(pre.headers['access-control-allow-origin'], 'http://localhost:5173');
  t.match(String(pre.headers['access-control-allow-headers']), /authorization/);
  t.match(String(pre.headers['access-control-allow-methods']), /GET/);
  const tokPre = await app.inject({ method: 'OPTIONS', url: '/auth/token', headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
  t.equal(tokPre.statusCode, 204);
  const unknown = await app.inject({ url: '/fhir/Patient/pat-alice', headers: { origin: 'http://evil.example' } });
  t.notOk(unknown.headers['access-control-allow-origin'], 'an unregistered origin gets no CORS grant');
  const denied = await app.inject({ url: '/fhir/Patient/pat-alice', headers: { origin: 'http://localhost:5173' } });
  t.equal(denied.statusCode, 401);
  t.equal(denied.headers['access-control-allow-origin'], 'http://localhost:5173', 'CORS headers on errors too');
  t.match(String(denied.headers['access-control-expose-headers']), /WWW-Authenticate/);
});
