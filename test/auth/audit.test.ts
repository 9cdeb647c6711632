// The audit log: every request on every route, refusals included (/fhir, /admin, /auth), stored
// off the request path without loss on a clean stop; token lookups cached for a second at most.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';
import { AuthService, authSettings } from '../../src/auth/service.js';
import { openRegistry } from '../../src/store/open-registry.js';
import { issueOperatorToken } from '../../src/auth/server/admin.js';

const dir = mkdtempSync(join(tmpdir(), 'flint-audit-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const env = { DATABASE_URL: `sqlite:${join(dir, 'flint.db')}`, LOG_LEVEL: 'silent', BASE_URL: 'http://flint.test/fhir', AUTH: 'smart' };

t.test('denied requests on /fhir, /admin and /auth are all in the audit log, and a clean stop loses no entry', async (t) => {
  const app = await buildApp(loadConfig(env));
  const fhir = await app.inject({ url: '/fhir/Patient' });
  t.equal(fhir.statusCode, 401);
  const admin = await app.inject({ url: '/admin/clients' });
  t.equal(admin.statusCode, 401);
  const adminBadToken = await app.inject({ method: 'DELETE', url: '/admin/clients/x', headers: { authorization: 'Bearer not-a-token' } });
  t.equal(adminBadToken.statusCode, 401);
  const launch = await app.inject({ method: 'POST', url: '/auth/launch', payload: {} });
  t.equal(launch.statusCode, 401);
  const introspect = await app.inject({ method: 'POST', url: '/auth/introspect', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'token=x' });
  t.equal(introspect.statusCode, 401);
  const ids = [fhir, admin, adminBadToken, launch, introspect].map((r) => String(r.headers['x-request-id']));
  // Many entries at once, then an immediate stop: all of them must be stored.
  for (let i = 0; i < 300; i++) await app.inject({ url: `/fhir/Observation?code=${i}` });
  await app.close();

  const auth = new AuthService(authSettings(loadConfig(env)), await openRegistry(loadConfig(env).database, loadConfig(env).auth.db));
  t.teardown(() => auth.close());
  const log = await auth.store.auditLog({ limit: 1000 });
  for (const [i, id] of ids.entries()) {
    const e = log.find((x) => x.requestId === id);
    t.ok(e, `refusal ${i + 1} is audited`);
    t.equal(e?.status, 401);
  }
  t.match(log.find((x) => x.requestId === ids[1])?.action, 'GET /admin/clients');
  t.match(log.find((x) => x.requestId === ids[3])?.action, 'POST /auth/launch');
  t.equal(log.filter((x) => x.action.startsWith('GET /fhir/:type') && x.query?.startsWith('code=')).length, 300, 'no entry lost on close');
});

t.test('an admin request is audited with the admin client', async (t) => {
  const app = await buildApp(loadConfig(env));
  t.teardown(() => app.close());
  const token = (await issueOperatorToken(app.authService, ['system/*.rs'], true)).access_token;
  const res = await app.inject({ url: '/admin/clients', headers: { authorization: `Bearer ${token}` } });
  t.equal(res.statusCode, 200);
  const log = await app.authService.store.auditLog({ limit: 1000 });
  const e = log.find((x) => x.requestId === res.headers['x-request-id']);
  t.equal(e?.clientId, 'flint-cli');
  t.equal(e?.status, 200);
});

t.test('a token revoked by another process stops working within a second', async (t) => {
  const app = await buildApp(loadConfig(env));
  t.teardown(() => app.close());
  const token = (await issueOperatorToken(app.authService, ['system/*.rs'])).access_token;
  const ok = await app.inject({ url: '/fhir/Patient', headers: { authorization: `Bearer ${token}` } });
  t.equal(ok.statusCode, 200, 'the token works (and is now cached)');
  // Another process (the command line) revokes the grant through its own connection.
  const other = new AuthService(authSettings(loadConfig(env)), await openRegistry(loadConfig(env).database, loadConfig(env).auth.db));
  const found = await other.tokens.resolveAccess(token);
  if (!('grant' in found)) throw new Error('token not found');
  await other.store.revokeGrant(found.grant.grantId);
  await other.close();
  await new Promise((r) => setTimeout(r, 1050));
  const after = await app.inject({ url: '/fhir/Patient', headers: { authorization: `Bearer ${token}` } });
  t.equal(after.statusCode, 401, 'refused once the cache entry lapsed');
});
