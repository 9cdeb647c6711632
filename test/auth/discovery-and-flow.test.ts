// SMART discovery, the authorization endpoint and the authorization_code / refresh grants
// (shared/docs/smart-requirements.md §21.1–21.3, 21.5, 21.7).
import t from 'tap';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { authApp, addClient, addUser, authorize, codeFlow, pkce, tokenRequest, BASE, AUTH, REDIRECT, seedClinic } from '../helpers/auth.js';

const PUB_SCOPES = ['openid', 'fhirUser', 'launch', 'launch/patient', 'offline_access', 'patient/*.cruds', 'user/*.cruds'];

t.test('discovery: smart-configuration, OpenID configuration and JWKS (DISC-01..14)', async (t) => {
  const app = await authApp(t);
  for (const accept of [undefined, 'application/fhir+json', 'text/html']) {
    const res = await app.inject({ url: '/fhir/.well-known/smart-configuration', headers: accept ? { accept } : {} });
    t.equal(res.statusCode, 200, `Accept ${accept}`);
    t.match(res.headers['content-type'], /^application\/json/);
  }
  const res = await app.inject({ url: '/fhir/.well-known/smart-configuration', headers: { origin: 'http://evil.example' } });
  t.equal(res.headers['access-control-allow-origin'], '*', 'open to any origin');
  const c = JSON.parse(res.body);
  t.equal(c.authorization_endpoint, `${AUTH}/authorize`);
  t.equal(c.token_endpoint, `${AUTH}/token`);
  for (const k of ['authorization_endpoint', 'token_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'management_endpoint', 'jwks_uri']) t.match(c[k], /^https?:\/\//, `${k} is absolute`);
  t.ok(c.grant_types_supported.includes('authorization_code') && c.grant_types_supported.includes('client_credentials'));
  t.ok(c.code_challenge_methods_supported.includes('S256'));
  t.notOk(c.code_challenge_methods_supported.includes('plain'));
  t.ok(c.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
  t.ok(c.token_endpoint_auth_signing_alg_values_supported.includes('RS384'));
  for (const cap of ['launch-standalone', 'launch-ehr', 'client-public', 'client-confidential-symmetric', 'client-confidential-asymmetric', 'sso-openid-connect',
    'context-standalone-patient', 'context-ehr-patient', 'permission-offline', 'permission-patient', 'permission-user', 'permission-v1', 'permission-v2', 'authorize-post']) {
    t.ok(c.capabilities.includes(cap), cap);
  }
  t.notOk(c.capabilities.includes('permission-online'), 'not advertised: not implemented');
  t.equal(c.issuer, BASE);
  const oidc = JSON.parse((await app.inject('/fhir/.well-known/openid-configuration')).body);
  t.equal(oidc.issuer, c.issuer);
  t.ok(oidc.id_token_signing_alg_values_supported.includes('RS256'));
  const jwks = JSON.parse((await app.inject('/fhir/.well-known/jwks.json')).body);
  t.ok(jwks.keys.length >= 1);
  t.ok(jwks.keys.every((k: any) => k.kty === 'RSA' && k.kid && k.n && k.e && !k.d && !k.p && !k.q), 'public members only');
  const meta = await app.inject({ url: '/fhir/metadata', headers: { origin: 'http://evil.example' } });
  t.equal(meta.statusCode, 200, 'metadata needs no token');
  t.equal(meta.headers['access-control-allow-origin'], '*');
  const sec = JSON.parse(meta.body).rest[0].security;
  t.equal(sec.service[0].coding[0].code, 'SMART-on-FHIR');
  const uris = Object.fromEntries(sec.extension[0].extension.map((e: any) => [e.url, e.valueUri]));
  t.same(uris, { authorize: c.authorization_endpoint, token: c.token_endpoint, introspect: c.introspection_endpoint, revoke: c.revocation_endpoint, manage: c.management_endpoint }, 'the same endpoints in both documents');
});

t.test('standalone launch: code, token response, id_token, and the patient\'s data (AUTHZ-01, TOK-01/02, OIDC-01..04)', async (t) => {
  const app = await authApp(t);
  await seedClinic(app);
  await addClient(app, { client_id: 'pub', type: 'public', redirect_uris: [REDIRECT], scopes: PUB_SCOPES });
  const { verifier, challenge } = pkce();
  const loc = await authorize(app, { clientId: 'pub', scope: 'launch/patient openid fhirUser offline_access patient/*.rs', user: 'alice', state: 'a+b/c=d%e' }, challenge);
  t.equal(`${loc.origin}${loc.pathname}`, REDIRECT);
  t.equal(loc.searchParams.get('state'), 'a+b/c=d%e', 'state comes back exactly');
  const code = loc.searchParams.get('code') ?? '';
  t.match(code, /^[A-Za-z0-9\-._~]+$/, 'a URL-safe code');
  t.notOk(loc.searchParams.has('scope') || loc.searchParams.has('access_token'));
  // client-js sends the code unencoded: the URL-safe alphabet makes that work.
  const res = await app.inject({
    method: 'POST', url: '/auth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: `code=${code}&grant_type=authorization_code&redirect_uri=${encodeURIComponent(REDIRECT)}&client_id=pub&code_verifier=${verifier}`,
  });
  t.equal(res.statusCode, 200);
  t.match(res.headers['cache-control'], /no-store/);
  t.match(res.headers.pragma, /no-cache/);
  const tok = JSON.parse(res.body);
  t.equal(tok.token_type, 'Bearer');
  t.equal(typeof tok.expires_in, 'number');
  t.ok(tok.expires_in <= 3600);
  t.equal(tok.patient, 'pat-alice');
  t.same(tok.scope.split(' ').sort(), ['fhirUser', 'launch/patient', 'offline_access', 'openid', 'patient/*.rs']);
  t.ok(tok.refresh_token);
  const jwks = JSON.parse((await app.inject('/fhir/.well-known/jwks.json')).body);
  const { payload, protectedHeader } = await jwtVerify(tok.id_token, createLocalJWKSet(jwks), { issuer: BASE, audience: 'pub' });
  t.equal(protectedHeader.alg, 'RS256');
  t.equal(payload.fhirUser, `${BASE}/Patient/pat-alice`);
  t.ok(payload.sub && String(payload.sub).length < 256);
  const patient = await app.inject({ url: '/fhir/Patient/pat-alice', headers: { authorization: `Bearer ${tok.access_token}` } });
  t.equal(patient.statusCode, 200, 'GET Patient/{patient} with the token');
  const again = await tokenRequest(app, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: 'pub' });
  t.equal(again.status, 400, 'a code works once');
  t.equal(again.body.error, 'invalid_grant');
  const after = await app.inject({ url: '/fhir/Patient/pat-alice', headers: { authorization: `Bearer ${tok.access_token}` } });
  t.equal(after.statusCode, 401, 'and its replay revokes what it issued');
});

t.test('authorize refuses: unknown client or redirect without redirecting; the rest by redirect (AUTHZ-03..16)', async (t) => {
  const app = await authApp(t);
  await addClient(app, { client_id: 'pub', type: 'public', redirect_uris: [REDIRECT, 'https://app.example/cb?x=1'], scopes: PUB_SCOPES });
  await addUser(app, 'alice', 'Patient/pat-alice');
  const { challenge } = pkce();
  const base = { response_type: 'code', client_id: 'pub', redirect_uri: REDIRECT, scope: 'patient/*.rs', state: 's1', aud: BASE, code_challenge: challenge, code_challenge_method: 'S256' };
  const get = (over: Record<string, string | undefined>) => {
    const q = new URLSearchParams(Object.entries({ ...base, ...over }).filter(([, v]) => v !== undefined) as [string, string][]);
    return app.inject(`/auth/authorize?${q}`);
  };
  t.equal((await get({ client_id: 'nobody' })).statusCode, 400, 'unknown client: error page');
  for (const r of [`${REDIRECT}/`, `${REDIRECT}?x=1`, 'http://evil.example/cb']) {
    const res = await get({ redirect_uri: r });
    t.equal(res.statusCode, 400, `unregistered redirect ${r}: no redirect`);
    t.notOk(res.headers.location);
  }
  const err = async (over: Record<string, string | undefined>, error: string, name: string) => {
    const res = await get(over);
    t.equal(res.statusCode, 302, name);
    const loc = new URL(String(res.headers.location));
    t.equal(loc.searchParams.get('error'), error, name);
    t.notOk(loc.searchParams.get('code'), `${name}: no code`);
  };
  await err({ response_type: 'token' }, 'unsupported_response_type', 'response_type=token');
  await err({ aud: 'https://inferno.healthit.gov/invalid_aud' }, 'invalid_request', 'wrong aud');
  await err({ aud: undefined }, 'invalid_request', 'missing aud');
  await err({ code_challenge: undefined }, 'invalid_request', 'no PKCE');
  await err({ code_challenge_method: 'plain' }, 'invalid_request', 'plain PKCE');
  await err({ code_challenge_method: undefined }, 'invalid_request', 'PKCE method missing');
  await err({ launch: 'bogus' }, 'invalid_request', 'unknown launch');
  await err({ __test_user: 'alice', __test_deny: '1' }, 'access_denied', 'the user denies');
  const slash = await get({ aud: `${BASE}/`, __test_user: 'alice' });
  t.ok(new URL(String(slash.headers.location)).searchParams.get('code'), 'aud with a trailing slash is the same server');
  const withQuery = await get({ redirect_uri: 'https://app.example/cb?x=1', __test_user: 'alice' });
  const wq = new URL(String(withQuery.headers.location));
  t.equal(wq.searchParams.get('x'), '1');
  t.ok(wq.searchParams.get('code'));
  const posted = await app.inject({ method: 'POST', url: '/auth/authorize', payload: new URLSearchParams({ ...base, __test_user: 'alice' }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal(posted.statusCode, 302, 'POST authorize behaves as GET');
  t.ok(new URL(String(posted.headers.location)).searchParams.get('code'));
});

t.test('the sign-in and consent pages, through their forms', async (t) => {
  const app = await authApp(t, { AUTH_TEST_HOOKS: '0' });
  await addUser(app, 'alice', 'Patient/pat-alice');
  await addClient(app, { client_id: 'pub', name: 'Chart <App>', type: 'public', redirect_uris: [REDIRECT], scopes: PUB_SCOPES });
  const { challenge } = pkce();
  const q = new URLSearchParams({ response_type: 'code', client_id: 'pub', redirect_uri: REDIRECT, scope: 'launch/patient patient/Observation.rs patient/Patient.rs offline_access', state: 's', aud: BASE, code_challenge: challenge, code_challenge_method: 'S256', __test_user: 'alice' });
  const login = await app.inject(`/auth/authorize?${q}`);
  t.equal(login.statusCode, 200, 'test hooks are off: the login page');
  t.match(login.body, /Chart &lt;App&gt;/, 'names are escaped');
  const tx = /name="tx" value="([^"]+)"/.exec(login.body)?.[1] ?? '';
  const form = (body: Record<string, string | string[]>) => app.inject({ method: 'POST', url: body.__url as string, headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(Object.entries(body).filter(([k]) => k !== '__url').flatMap(([k, v]): [string, string][] => (Array.isArray(v) ? v.map((x): [string, string] => [k, x]) : [[k, v]]))).toString() });
  const wrong = await form({ __url: '/auth/login', tx, username: 'alice', password: 'nope' });
  t.equal(wrong.statusCode, 401);
  const consent = await form({ __url: '/auth/login', tx, username: 'alice', password: 'correct horse battery' });
  t.equal(consent.statusCode, 200);
  t.match(consent.body, /patient\/Observation\.rs/);
  t.match(consent.body, /category=http:\/\/terminology\.hl7\.org\/CodeSystem\/observation-category\|laboratory/, 'category sub-scopes are offered');
  // The patient grants only laboratory Observations instead of all, and no offline access.
  const done = await form({ __url: '/auth/consent', tx, decision: 'allow', scope: 'patient/Patient.rs', granular: 'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory' });
  t.equal(done.statusCode, 302);
  t.ok(new URL(String(done.headers.location)).searchParams.get('code'));
  t.equal((await form({ __url: '/auth/consent', tx, decision: 'allow' })).statusCode, 400, 'a finished sign-in cannot be replayed');
});

t.test('token endpoint errors (TOK-04..14, TOK-20)', async (t) => {
  const app = await authApp(t);
  await addUser(app, 'alice', 'Patient/pat-alice');
  await addClient(app, { client_id: 'pub', type: 'public', redirect_uris: [REDIRECT], scopes: PUB_SCOPES });
  const sym = await addClient(app, { client_id: 'sym', type: 'symmetric', redirect_uris: [REDIRECT], scopes: PUB_SCOPES });
  const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });
  const fresh = async (clientId = 'pub') => {
    const { verifier, challenge } = pkce();
    const loc = await authorize(app, { clientId, scope: 'launch/patient patient/*.rs', user: 'alice' }, challenge);
    return { code: loc.searchParams.get('code') ?? '', verifier };
  };
  const check = async (name: string, form: Record<string, string>, status: number | number[], error: string, headers: Record<string, string> = {}) => {
    const r = await tokenRequest(app, form, headers);
    t.ok([status].flat().includes(r.status), `${name}: ${r.status}`);
    t.equal(r.body.error, error, name);
    t.match(r.headers['cache-control'], /no-store/, `${name}: no-store`);
    return r;
  };
  let c = await fresh();
  await check('grant_type=password', { grant_type: 'password', code: c.code }, 400, 'unsupported_grant_type');
  await check('BAD_CODE', { grant_type: 'authorization_code', code: 'BAD_CODE', redirect_uri: REDIRECT, code_verifier: c.verifier, client_id: 'pub' }, 400, 'invalid_grant');
  for (const v of [undefined, '', 'x'.repeat(42), c.verifier.replace(/./, 'Z'), 'wrong'.repeat(10)]) {
    c = await fresh();
    const form: Record<string, string> = { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT, client_id: 'pub' };
    if (v !== undefined) form.code_verifier = v;
    await check(`code_verifier ${JSON.stringify(v?.slice(0, 10))}`, form, 400, 'invalid_grant');
  }
  c = await fresh();
  await check('redirect_uri differs', { grant_type: 'authorization_code', code: c.code, redirect_uri: 'http://app.example/other', code_verifier: c.verifier, client_id: 'pub' }, 400, 'invalid_grant');
  c = await fresh('sym');
  const wrongSecret = await check('wrong secret', { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT, code_verifier: c.verifier }, 401, 'invalid_client', basic('sym', 'nope'));
  t.match(wrongSecret.headers['www-authenticate'], /^Basic/);
  await check('BAD_CLIENT_ID', { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT, code_verifier: c.verifier }, [400, 401], 'invalid_client', basic('BAD_CLIENT_ID', sym.secret ?? ''));
  const ok = await tokenRequest(app, { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT, code_verifier: c.verifier }, basic('sym', sym.secret ?? ''));
  t.equal(ok.status, 200, 'symmetric client with Basic');
  c = await fresh();
  await check('code of pub redeemed by sym', { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT, code_verifier: c.verifier }, 400, 'invalid_grant', basic('sym', sym.secret ?? ''));
  await check('a confidential client without its secret', { grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT, client_id: 'sym' }, 401, 'invalid_client');
  const json = await app.inject({ method: 'POST', url: '/auth/token', payload: JSON.stringify({ grant_type: 'authorization_code' }), headers: { 'content-type': 'application/json' } });
  t.equal(json.statusCode, 400);
  t.equal(JSON.parse(json.body).error, 'invalid_request', 'JSON bodies get an OAuth error, not a FHIR one');
});

t.test('refresh: same scope, narrower scope, never wider; rotation with reuse detection (REF-01..09)', async (t) => {
  const app = await authApp(t);
  await seedClinic(app);
  await addClient(app, { client_id: 'pub', type: 'public', redirect_uris: [REDIRECT], scopes: PUB_SCOPES });
  const tok = await codeFlow(app, { clientId: 'pub', scope: 'launch/patient offline_access patient/Patient.rs patient/Observation.rs', user: 'alice' });
  const r1 = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: tok.refresh_token });
  t.equal(r1.status, 200, 'a public client may refresh without client_id (client-js)');
  t.equal(r1.body.scope, tok.scope);
  t.equal(r1.body.patient, 'pat-alice');
  t.match(r1.headers['cache-control'], /no-store/);
  t.equal((await app.inject({ url: '/fhir/Patient/pat-alice', headers: { authorization: `Bearer ${r1.body.access_token}` } })).statusCode, 200);
  const narrow = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: r1.body.refresh_token, scope: 'launch/patient offline_access patient/Patient.rs', client_id: 'pub' });
  t.equal(narrow.status, 200);
  t.equal(narrow.body.scope, 'launch/patient offline_access patient/Patient.rs');
  const wider = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: narrow.body.refresh_token, scope: 'launch/patient offline_access patient/Patient.rs patient/Practitioner.rs' });
  t.equal(wider.status, 400);
  t.equal(wider.body.error, 'invalid_scope');
  const reuse = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: tok.refresh_token });
  t.equal(reuse.status, 400, 'a rotated refresh token used again');
  t.equal((await app.inject({ url: '/fhir/Patient/pat-alice', headers: { authorization: `Bearer ${r1.body.access_token}` } })).statusCode, 401, 'reuse revokes the grant');
  const random = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: 'f3c0a1e2-0000-4000-8000-000000000000' });
  t.equal(random.status, 400);
  t.equal(random.body.error, 'invalid_grant');
  const noOffline = await codeFlow(app, { clientId: 'pub', scope: 'launch/patient patient/Patient.rs', user: 'alice' });
  t.equal(noOffline.refresh_token, undefined, 'no offline_access, no refresh token');
  const other = await addClient(app, { client_id: 'pub2', type: 'public', redirect_uris: [REDIRECT], scopes: PUB_SCOPES });
  const stolen = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: narrow.body.refresh_token, client_id: other.clientId });
  t.equal(stolen.status, 400, 'another client\'s refresh token');
});
