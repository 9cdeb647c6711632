// `npm run auth`: the command line that registers clients and users and issues operator tokens,
// on the same database the server reads.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';

const dir = mkdtempSync(join(tmpdir(), 'flint-auth-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const env = { PATH: process.env.PATH ?? '', DATABASE_URL: `sqlite:${join(dir, 'flint.db')}`, LOG_LEVEL: 'silent' };

function cli(args: string[], extra: Record<string, string> = {}, input?: string) {
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/auth.ts', ...args], { env: { ...env, ...extra }, encoding: 'utf8', timeout: 60_000, ...(input !== undefined ? { input } : {}) });
  return { status: res.status, out: res.status === 0 ? JSON.parse(res.stdout) as Record<string, unknown> & unknown[] : undefined, stderr: res.stderr };
}

t.test('a client registered on the command line is in the registry the server reads, without its secret', async (t) => {
  const added = cli(['client', 'add', '--id', 'billing-app', '--type', 'symmetric', '--redirect', 'https://billing.example/cb', '--scope', 'user/Claim.rs user/Invoice.rs', '--scope', 'openid']);
  t.equal(added.status, 0, added.stderr);
  t.equal(added.out?.client_id, 'billing-app');
  t.type(added.out?.client_secret, 'string', 'a symmetric client gets its secret once');
  t.same(added.out?.scopes, ['user/Claim.rs', 'user/Invoice.rs', 'openid'], 'space-separated and repeated --scope both count');
  const listed = cli(['client', 'list']);
  t.equal(listed.status, 0);
  const row = (listed.out as unknown as Record<string, unknown>[]).find((c) => c.clientId === 'billing-app');
  t.ok(row);
  t.notOk(row && 'secretHash' in row, 'the list never shows the secret hash');
  t.notMatch(JSON.stringify(listed.out), String(added.out?.client_secret));
  const app = await buildApp(loadConfig(env));
  t.teardown(() => app.close());
  t.equal((await app.authService.store.client('billing-app'))?.redirectUris[0], 'https://billing.example/cb');
});

t.test('bad input is refused with a message and a non-zero exit, and nothing is written', async (t) => {
  const bad = cli(['client', 'add', '--id', 'x', '--redirect', 'not a url']);
  t.equal(bad.status, 1);
  t.match(bad.stderr, /not an absolute URL/);
  t.equal(cli(['client', 'add', '--nope']).status, 2);
  t.equal(cli(['frobnicate']).status, 2);
  const list = cli(['client', 'list']).out as unknown as { clientId: string }[];
  t.notOk(list.some((c) => c.clientId === 'x'));
  t.equal(cli(['token', '--scope', 'patient/*.rs']).status, 2, 'operator tokens are system-level only');
});

t.test('a user added with a password on stdin can sign in; the password is stored hashed', async (t) => {
  const added = cli(['user', 'add', '--username', 'dr-jones', '--fhir-user', 'Practitioner/prac-jones', '--name', 'Dr Jones'], {}, 'a long enough password\n');
  t.equal(added.status, 0, added.stderr);
  const users = cli(['user', 'list']).out as unknown as Record<string, unknown>[];
  const u = users.find((x) => x.username === 'dr-jones');
  t.equal(u?.fhirUser, 'Practitioner/prac-jones');
  t.notOk(u && 'passwordHash' in u);
  t.equal(cli(['user', 'add', '--username', 'short', '--fhir-user', 'Patient/p'], { FLINT_PASSWORD: 'short' }).status, 1, 'a short password is refused');
  const app = await buildApp(loadConfig(env));
  t.teardown(() => app.close());
  const stored = await app.authService.store.user('dr-jones');
  t.match(stored?.passwordHash, /^scrypt\$/);
  t.notMatch(stored?.passwordHash ?? '', /a long enough password/);
});

t.test('an operator token from the command line opens the FHIR API within its scopes, and is audited', async (t) => {
  const read = cli(['token', '--scope', 'system/*.rs']);
  t.equal(read.status, 0, read.stderr);
  const token = String(read.out?.access_token);
  const app = await buildApp(loadConfig(env));
  t.teardown(() => app.close());
  const ok = await app.inject({ method: 'GET', url: '/fhir/Patient', headers: { authorization: `Bearer ${token}` } });
  t.equal(ok.statusCode, 200);
  const write = await app.inject({ method: 'POST', url: '/fhir/Patient', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' }, payload: { resourceType: 'Patient' } });
  t.equal(write.statusCode, 403, 'a read-only token cannot create');
  const none = await app.inject({ method: 'GET', url: '/fhir/Patient' });
  t.equal(none.statusCode, 401);
  const log = await app.authService.store.auditLog({ limit: 100 });
  t.ok(log.some((e) => e.action === 'token-operator' && e.clientId === 'flint-cli'), 'the issue of the token is in the audit log');
});
