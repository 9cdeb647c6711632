// Asymmetric client authentication (private_key_jwt) and SMART Backend Services
// (shared/docs/smart-requirements.md §21.4, §21.6), with a real JWKS URL served over HTTP.
import t from 'tap';
import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { authApp, addClient, AUTH, seedClinic } from '../helpers/auth.js';
import { tokenRequest } from '../helpers/auth.js';

const TOKEN_URL = `${AUTH}/token`;
const ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

interface Key { kid: string; alg: 'RS384' | 'ES384'; privateKey: CryptoKey; publicJwk: JWK }

async function key(alg: 'RS384' | 'ES384', kid: string = randomUUID()): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

async function assertion(k: Key, clientId: string, over: { claims?: Record<string, unknown>; header?: Record<string, unknown>; exp?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: randomUUID(), ...(over.claims ?? {}) })
    .setProtectedHeader({ alg: k.alg, kid: k.kid, typ: 'JWT', ...(over.header ?? {}) })
    .setIssuer(String(over.claims?.iss ?? clientId)).setSubject(String(over.claims?.sub ?? clientId))
    .setAudience(String(over.claims?.aud ?? TOKEN_URL)).setExpirationTime(over.exp ?? now + 300)
    .sign(k.privateKey);
}

/** A JWKS endpoint on a real socket, with the Cache-Control we choose, counting its fetches. */
async function jwksServer(t: { teardown(fn: () => unknown): void }): Promise<{ url: string; keys: JWK[]; cacheControl: string; fetches: () => number; accepts: string[] }> {
  const state = { keys: [] as JWK[], cacheControl: 'max-age=300', count: 0, accepts: [] as string[] };
  const server: Server = createServer((req, res) => {
    state.count++;
    state.accepts.push(String(req.headers.accept));
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': state.cacheControl });
    res.end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise((r) => server.close(() => r(undefined))));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    get keys() { return state.keys; },
    set keys(v) { state.keys = v; },
    get cacheControl() { return state.cacheControl; },
    set cacheControl(v) { state.cacheControl = v; },
    fetches: () => state.count,
    accepts: state.accepts,
  } as never;
}

const cc = (clientAssertion: string, scope = 'system/*.rs', extra: Record<string, string> = {}) => ({
  grant_type: 'client_credentials', scope, client_assertion_type: ASSERTION, client_assertion: clientAssertion, ...extra,
});

t.test('backend services with RS384 and ES384 keys, inline JWKS (BS-01/02, JWT-01, JWT-15)', async (t) => {
  const app = await authApp(t);
  await seedClinic(app);
  const rs = await key('RS384');
  const es = await key('ES384');
  await addClient(app, { client_id: 'bulk', type: 'asymmetric', jwks: { keys: [rs.publicJwk, es.publicJwk] }, scopes: ['system/*.rs'] });
  for (const k of [rs, es]) {
    const r = await tokenRequest(app, cc(await assertion(k, 'bulk')));
    t.equal(r.status, 200, `${k.alg}`);
    t.equal(r.body.token_type, 'Bearer');
    t.ok(r.body.expires_in <= 300, 'short-lived');
    t.equal(r.body.scope, 'system/*.rs');
    t.equal(r.body.refresh_token, undefined, 'no refresh token for backend services');
    t.match(r.headers['cache-control'], /no-store/);
    const res = await app.inject({ url: '/fhir/Observation?_count=1', headers: { authorization: `Bearer ${r.body.access_token}` } });
    t.equal(res.statusCode, 200, 'the token reads');
    const write = await app.inject({ method: 'POST', url: '/fhir/Patient', payload: '{"resourceType":"Patient"}', headers: { authorization: `Bearer ${r.body.access_token}`, 'content-type': 'application/fhir+json' } });
    t.equal(write.statusCode, 403, 'but does not write');
  }
  const v1 = await tokenRequest(app, cc(await assertion(rs, 'bulk'), 'system/*.read'));
  t.equal(v1.status, 200, 'v1 system/*.read');
  t.equal(v1.body.scope, 'system/*.read');
});

t.test('every bad assertion is invalid_client (JWT-02..12, BS-03..08)', async (t) => {
  const app = await authApp(t);
  const rs = await key('RS384');
  const stranger = await key('RS384', rs.kid);
  await addClient(app, { client_id: 'bulk', type: 'asymmetric', jwks: { keys: [rs.publicJwk] }, scopes: ['system/Observation.rs'] });
  await addClient(app, { client_id: 'sym', type: 'symmetric', secret: 's3cret-s3cret', redirect_uris: [], grant_types: ['client_credentials'], scopes: ['system/*.rs'] });
  const now = Math.floor(Date.now() / 1000);
  const bad = async (name: string, form: Record<string, string>, status: number[] = [401], error = 'invalid_client', headers: Record<string, string> = {}) => {
    const r = await tokenRequest(app, form, headers);
    t.ok(status.includes(r.status), `${name}: ${r.status} ${r.body.error_description ?? ''}`);
    t.equal(r.body.error, error, name);
    t.notOk(r.body.access_token, `${name}: no token`);
  };
  const replayed = await assertion(rs, 'bulk');
  t.equal((await tokenRequest(app, cc(replayed, 'system/Observation.rs'))).status, 200);
  await bad('jti replay', cc(replayed, 'system/Observation.rs'));
  await bad('exp in the past', cc(await assertion(rs, 'bulk', { exp: now - 120 })));
  await bad('exp an hour ahead', cc(await assertion(rs, 'bulk', { exp: now + 3600 })));
  await bad('another aud', cc(await assertion(rs, 'bulk', { claims: { aud: 'https://elsewhere.example/token' } })));
  await bad('iss ≠ sub', cc(await assertion(rs, 'bulk', { claims: { sub: 'other' } })));
  await bad('unknown iss', cc(await assertion(rs, 'nobody')));
  await bad('client_id ≠ iss', cc(await assertion(rs, 'bulk'), 'system/Observation.rs', { client_id: 'someone-else' }));
  await bad('signed by an unregistered key with the same kid', cc(await assertion(stranger, 'bulk')));
  await bad('unknown kid', cc(await assertion(rs, 'bulk', { header: { kid: 'nope' } })));
  await bad('foreign jku', cc(await assertion(rs, 'bulk', { header: { jku: 'https://attacker.example/jwks.json' } })));
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', kid: rs.kid })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss: 'bulk', sub: 'bulk', aud: TOKEN_URL, exp: now + 60, jti: randomUUID() })).toString('base64url')}.`;
  await bad('alg none', cc(unsigned));
  const hs = await new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'HS256', kid: rs.kid }).setIssuer('bulk').setSubject('bulk').setAudience(TOKEN_URL).setExpirationTime(now + 60).sign(new TextEncoder().encode('x'.repeat(32)));
  await bad('alg HS256', cc(hs));
  await bad('not_a_grant_type', { ...cc(await assertion(rs, 'bulk')), grant_type: 'not_a_grant_type' }, [400], 'unsupported_grant_type');
  await bad('not_an_assertion_type', { ...cc(await assertion(rs, 'bulk')), client_assertion_type: 'not_an_assertion_type' }, [400, 401]);
  await bad('scope beyond the pre-authorized', cc(await assertion(rs, 'bulk'), 'system/Patient.rs'), [400], 'invalid_scope');
  const narrowed = await tokenRequest(app, cc(await assertion(rs, 'bulk'), 'system/*.rs'));
  t.equal(narrowed.status, 200, 'a wildcard is narrowed to what is pre-authorized');
  t.equal(narrowed.body.scope, 'system/Observation.rs');
  await bad('missing scope', { grant_type: 'client_credentials', client_assertion_type: ASSERTION, client_assertion: await assertion(rs, 'bulk') }, [400], 'invalid_scope');
  await bad('a symmetric client tries client_credentials', { grant_type: 'client_credentials', scope: 'system/*.rs' }, [400, 401], 'unauthorized_client', { authorization: `Basic ${Buffer.from('sym:s3cret-s3cret').toString('base64')}` });
  const expired = await tokenRequest(app, cc(await assertion(rs, 'bulk'), 'system/Observation.rs'));
  t.equal(expired.status, 200);
});

t.test('a JWKS URL is fetched with Accept: application/json and cached as its Cache-Control says (JWT-11, JWT-13, JWT-14)', async (t) => {
  const jwks = await jwksServer(t);
  const app = await authApp(t);
  const k1 = await key('ES384');
  jwks.keys = [k1.publicJwk];
  await addClient(app, { client_id: 'remote', type: 'asymmetric', jwks_uri: jwks.url, scopes: ['system/*.rs'] });
  t.equal((await tokenRequest(app, cc(await assertion(k1, 'remote')))).status, 200);
  t.equal((await tokenRequest(app, cc(await assertion(k1, 'remote', { header: { jku: jwks.url } })))).status, 200, 'jku = the registered URL');
  t.equal(jwks.fetches(), 1, 'max-age=300: fetched once');
  t.match(jwks.accepts[0], /application\/json/);
  // The client rotates its key and says no caching: the new kid works at once.
  jwks.cacheControl = 'no-store';
  const k2 = await key('RS384');
  jwks.keys = [k2.publicJwk];
  t.equal((await tokenRequest(app, cc(await assertion(k2, 'remote')))).status, 200, 'a new kid triggers a refetch');
  const before = jwks.fetches();
  t.equal((await tokenRequest(app, cc(await assertion(k2, 'remote')))).status, 200);
  t.ok(jwks.fetches() > before, 'no-store: fetched again');
  t.equal((await tokenRequest(app, cc(await assertion(k1, 'remote')))).status, 401, 'the retired key no longer works');
});

