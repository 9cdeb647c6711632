// Flint with its SMART authorization server on, test clients and users, and the OAuth dance.
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildApp, type BuildOptions } from '../../src/app.js';
import { registerClient, registerUser, type ClientInput } from '../../src/auth/server/admin.js';
import { load, clinic, storeUnderTest } from './app.js';

export const BASE = 'http://flint.test/fhir';
export const AUTH = 'http://flint.test/auth';
export const REDIRECT = 'http://app.example/callback';

export async function authApp(t: { teardown(fn: () => unknown): void }, env: Record<string, string> = {}, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const app = await buildApp(loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', BASE_URL: BASE, AUTH: 'smart', AUTH_TEST_HOOKS: '1', ...env }), { ...storeUnderTest(), ...opts });
  t.teardown(() => app.close());
  return app;
}

/** The clinic fixtures, loaded with a system token, plus the users of the tests. */
export async function seedClinic(app: FastifyInstance): Promise<void> {
  const { client } = await registerClient(app.authService, { client_id: 'loader', type: 'public', scopes: [], redirect_uris: [] });
  void client;
  // Load straight through an admin-free path: a user/ token of a practitioner with full rights.
  await addUser(app, 'dr-smith', 'Practitioner/pr-smith');
  const token = await userToken(app, 'loader-app', 'dr-smith', 'user/*.cruds');
  await load(withToken(app, token), clinic());
  await addUser(app, 'alice', 'Patient/pat-alice');
  await addUser(app, 'bob', 'Patient/pat-bob');
}

export async function addClient(app: FastifyInstance, input: ClientInput): Promise<{ clientId: string; secret?: string }> {
  const { client, secret } = await registerClient(app.authService, input);
  return { clientId: client.clientId, ...(secret ? { secret } : {}) };
}

export async function addUser(app: FastifyInstance, username: string, fhirUser: string): Promise<void> {
  await registerUser(app.authService, { username, password: 'correct horse battery', fhirUser });
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(48).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface AuthorizeOptions {
  clientId: string;
  scope: string;
  user?: string;
  patient?: string;
  grant?: string;
  launch?: string;
  redirect?: string;
  state?: string;
  extra?: Record<string, string>;
}

/** GET /auth/authorize through the test hooks; the Location it redirects to. */
export async function authorize(app: FastifyInstance, o: AuthorizeOptions, challenge: string): Promise<URL> {
  const q = new URLSearchParams({
    response_type: 'code', client_id: o.clientId, redirect_uri: o.redirect ?? REDIRECT, scope: o.scope, state: o.state ?? 'st-123',
    aud: app.authService.settings.fhirBase, code_challenge: challenge, code_challenge_method: 'S256',
    ...(o.user ? { __test_user: o.user } : {}), ...(o.patient ? { __test_patient: o.patient } : {}),
    ...(o.grant !== undefined ? { __test_grant: o.grant } : {}), ...(o.launch ? { launch: o.launch } : {}), ...(o.extra ?? {}),
  });
  const res = await app.inject(`/auth/authorize?${q}`);
  if (res.statusCode !== 302) throw new Error(`authorize: ${res.statusCode} ${res.body.slice(0, 300)}`);
  return new URL(String(res.headers.location));
}

export async function tokenRequest(app: FastifyInstance, form: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await app.inject({ method: 'POST', url: '/auth/token', payload: new URLSearchParams(form).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
  return { status: res.statusCode, headers: res.headers, body: JSON.parse(res.body || '{}') as Record<string, any> };
}

/** A full authorization-code flow for a public client; the token response. */
export async function codeFlow(app: FastifyInstance, o: AuthorizeOptions): Promise<Record<string, any>> {
  const { verifier, challenge } = pkce();
  const loc = await authorize(app, o, challenge);
  const code = loc.searchParams.get('code');
  if (!code) throw new Error(`no code: ${loc}`);
  const r = await tokenRequest(app, { grant_type: 'authorization_code', code, redirect_uri: o.redirect ?? REDIRECT, code_verifier: verifier, client_id: o.clientId });
  if (r.status !== 200) throw new Error(`token: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** An access token for `user` through a public client created on the fly. */
export async function userToken(app: FastifyInstance, clientId: string, user: string, scope: string, patient?: string): Promise<string> {
  if (!await app.authService.store.client(clientId)) {
    await addClient(app, { client_id: clientId, type: 'public', redirect_uris: [REDIRECT], scopes: ['openid', 'fhirUser', 'launch/patient', 'offline_access', 'patient/*.cruds', 'user/*.cruds'] });
  }
  const body = await codeFlow(app, { clientId, scope, user, ...(patient ? { patient } : {}) });
  return body.access_token as string;
}

/** The same app, with every inject carrying `Authorization: Bearer token`. */
export function withToken(app: FastifyInstance, token: string): FastifyInstance {
  return new Proxy(app, {
    get(target, prop, receiver) {
      if (prop !== 'inject') return Reflect.get(target, prop, receiver);
      return (opts: string | Record<string, any>) => {
        const o = typeof opts === 'string' ? { url: opts } : opts;
        return target.inject({ ...o, headers: { ...(o.headers ?? {}), authorization: `Bearer ${token}` } } as never);
      };
    },
  });
}

/** Flint with its authorization server on a real socket (for fhirclient and the browser). */
export async function listenFlint(t: { teardown(fn: () => unknown): void }, env: Record<string, string> = {}): Promise<{ app: FastifyInstance; base: string; origin: string }> {
  const { createServer } = await import('node:net');
  const port = await new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const p = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(p));
    });
  });
  const origin = `http://localhost:${port}`;
  const app = await buildApp(loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', BASE_URL: `${origin}/fhir`, AUTH: 'smart', AUTH_TEST_HOOKS: '1', PORT: String(port), ...env }));
  await app.listen({ port, host: '127.0.0.1' });
  t.teardown(() => app.close());
  return { app, base: `${origin}/fhir`, origin };
}
