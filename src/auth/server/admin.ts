// Administration (clients, users, the audit log), EHR launch handles, and the page where a user
// sees and revokes the applications that have access. The admin API takes a bearer token
// granted `__admin` (a backend client registered with admin rights, see scripts/auth.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthService } from '../service.js';
import type { ClientRecord, ClientType } from '../store.js';
import { hashSecret, randomToken, verifySecret } from '../secrets.js';
import { parseScopes } from '../scopes.js';
import { ADMIN_SCOPE } from '../policy.js';
import { managePage } from './pages.js';
import type { TokenResponse } from '../tokens.js';
import { parseReference } from '../../fhir-basics/references.js';

/** SMART fhirUser: the user's own resource (smart-app-launch scopes-and-launch-context.html). */
const FHIR_USER_TYPES = new Set(['Patient', 'Practitioner', 'RelatedPerson', 'Person']);

function problem(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).type('application/json').header('cache-control', 'no-store').send(JSON.stringify({ error: message }));
}

/** The client and user of the request's bearer token, if it is an admin's. */
async function adminOf(auth: AuthService, req: FastifyRequest): Promise<{ clientId: string; user?: string } | undefined> {
  const h = req.headers.authorization ?? '';
  if (!h.toLowerCase().startsWith('bearer ')) return undefined;
  const found = await auth.tokens.resolveAccess(h.slice(7).trim());
  if (!('grant' in found) || !parseScopes(found.grant.scope).unknown.includes(ADMIN_SCOPE)) return undefined;
  return { clientId: found.grant.clientId, ...(found.grant.username ? { user: found.grant.username } : {}) };
}

export interface ClientInput {
  client_id?: string;
  name?: string;
  type?: ClientType;
  secret?: string;
  jwks?: { keys: Record<string, unknown>[] };
  jwks_uri?: string;
  redirect_uris?: string[];
  launch_uris?: string[];
  allowed_origins?: string[];
  scopes?: string[];
  grant_types?: string[];
  admin?: boolean;
  introspect?: boolean;
}

const DEFAULT_APP_SCOPES = ['openid', 'fhirUser', 'profile', 'launch', 'launch/patient', 'launch/encounter', 'offline_access', 'patient/*.cruds', 'user/*.cruds'];

/** Validates and stores a client; returns it and, for a symmetric client, its secret (shown once). */
export async function registerClient(auth: AuthService, input: ClientInput): Promise<{ client: ClientRecord; secret?: string }> {
  const type = input.type ?? 'public';
  if (!['public', 'symmetric', 'asymmetric'].includes(type)) throw new Error('type must be public, symmetric or asymmetric');
  const uris = (list: string[] | undefined, what: string): string[] => {
    for (const u of list ?? []) {
      let url: URL;
      try {
        url = new URL(u);
      } catch {
        throw new Error(`${what}: ${u} is not an absolute URL`);
      }
      if (url.hash) throw new Error(`${what}: ${u} has a fragment`);
    }
    return list ?? [];
  };
  const redirectUris = uris(input.redirect_uris, 'redirect_uris');
  if (type === 'asymmetric' && !input.jwks && !input.jwks_uri) throw new Error('an asymmetric client needs jwks or jwks_uri');
  const secret = type === 'symmetric' ? input.secret ?? randomToken(24) : undefined;
  const grantTypes = input.grant_types ?? (type === 'asymmetric' && redirectUris.length === 0 ? ['client_credentials'] : ['authorization_code', 'refresh_token']);
  const client: ClientRecord = {
    clientId: input.client_id ?? randomToken(12),
    name: input.name ?? input.client_id ?? 'Unnamed application',
    type,
    redirectUris,
    launchUris: uris(input.launch_uris, 'launch_uris'),
    // Origins allowed by CORS: the given ones, and those of the redirect URIs.
    allowedOrigins: [...new Set([...(input.allowed_origins ?? []), ...redirectUris.map((u) => new URL(u).origin)])],
    scopes: input.scopes ?? (grantTypes.includes('client_credentials') ? ['system/*.rs'] : DEFAULT_APP_SCOPES),
    grantTypes,
    admin: input.admin === true,
    introspect: input.introspect === true,
    ...(secret ? { secretHash: await hashSecret(secret) } : {}),
    ...(input.jwks ? { jwks: input.jwks } : {}),
    ...(input.jwks_uri ? { jwksUri: input.jwks_uri } : {}),
  };
  await auth.store.putClient(client);
  return { client, ...(secret ? { secret } : {}) };
}

export async function registerUser(auth: AuthService, input: { username: string; password: string; fhirUser: string; name?: string }): Promise<void> {
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(input.username)) throw new Error('username: 1-64 of letters, digits and ._@-');
  if (input.password.length < 8) throw new Error('password: at least 8 characters');
  const user = parseReference(input.fhirUser);
  if (!user || user.base !== undefined || user.version !== undefined || !FHIR_USER_TYPES.has(user.type)) throw new Error('fhirUser must be Patient/id, Practitioner/id, RelatedPerson/id or Person/id');
  await auth.store.putUser({ username: input.username, passwordHash: await hashSecret(input.password), fhirUser: input.fhirUser, name: input.name ?? input.username });
}

/** The client that holds operator tokens: no redirect URIs and no grant types, so no flow can use it. */
export const OPERATOR_CLIENT = 'flint-cli';

/**
 * An access token for an operator (the command line, benchmarks): system scopes, and `__admin`
 * when asked. Whoever can call this can read the auth database anyway; the issue is audited.
 */
export async function issueOperatorToken(auth: AuthService, scopes: string[], admin = false): Promise<TokenResponse> {
  if (!scopes.every((s) => s.startsWith('system/'))) throw new Error('operator tokens carry system/ scopes only');
  if (!await auth.store.client(OPERATOR_CLIENT)) {
    await registerClient(auth, { client_id: OPERATOR_CLIENT, name: 'Flint command line', type: 'public', grant_types: [], scopes: ['system/*.cruds'] });
  }
  const scope = [...scopes, ...(admin ? [ADMIN_SCOPE] : [])].join(' ');
  const grant = { grantId: randomToken(16), clientId: OPERATOR_CLIENT, scope, aud: auth.settings.fhirBase, context: {}, createdAt: Date.now(), revoked: false };
  await auth.store.putGrant(grant);
  const token = await auth.tokens.issue(grant);
  auth.store.audit({ time: new Date().toISOString(), requestId: 'operator', clientId: OPERATOR_CLIENT, action: 'token-operator', query: scope, status: 200 });
  return token;
}

const publicClient = (c: ClientRecord): Record<string, unknown> => {
  const { secretHash: _s, ...rest } = c;
  void _s;
  return rest;
};

export function adminRoutes(app: FastifyInstance, auth: AuthService): void {
  app.addHook('onRequest', async (req, reply) => {
    const admin = await adminOf(auth, req);
    // Who did it, for the audit entry of this request (src/http/audit.ts); refusals are audited too.
    req.caller = admin;
    if (!admin) {
      return reply.code(401).header('www-authenticate', 'Bearer realm="flint-admin"').type('application/json').send(JSON.stringify({ error: 'an admin token (scope __admin) is required' }));
    }
    return undefined;
  });
  app.get('/clients', async (_req, reply) => reply.type('application/json').send(JSON.stringify((await auth.store.clients()).map(publicClient))));
  app.post<{ Body: ClientInput }>('/clients', async (req, reply) => {
    try {
      const { client, secret } = await registerClient(auth, req.body ?? {});
      return reply.code(201).type('application/json').header('cache-control', 'no-store').send(JSON.stringify({ ...publicClient(client), ...(secret ? { client_secret: secret } : {}) }));
    } catch (err) {
      return problem(reply, 400, (err as Error).message);
    }
  });
  app.delete<{ Params: { id: string } }>('/clients/:id', async (req, reply) => (await auth.store.deleteClient(req.params.id) ? reply.code(204).send() : problem(reply, 404, 'no such client')));
  app.post<{ Body: { username: string; password: string; fhirUser: string; name?: string } }>('/users', async (req, reply) => {
    try {
      await registerUser(auth, req.body);
      return reply.code(201).send();
    } catch (err) {
      return problem(reply, 400, (err as Error).message);
    }
  });
  app.get<{ Querystring: { after?: string; limit?: string } }>('/audit', async (req, reply) => {
    const entries = await auth.store.auditLog({ after: Number(req.query.after ?? 0) || 0, limit: Math.min(Number(req.query.limit ?? 100) || 100, 1000) });
    return reply.type('application/json').send(JSON.stringify(entries));
  });
}

/** EHR launch: the EHR (with an admin token) asks for a launch handle and the app's launch URL. */
export function launchRoutes(app: FastifyInstance, auth: AuthService): void {
  app.post<{ Body: { client_id?: string; patient?: string; encounter?: string; username?: string; need_patient_banner?: boolean } }>('/launch', async (req, reply) => {
    const admin = await adminOf(auth, req);
    req.caller = admin;
    if (!admin) return reply.code(401).header('www-authenticate', 'Bearer').type('application/json').send(JSON.stringify({ error: 'an EHR (admin) token is required' }));
    const b = req.body ?? {};
    const client = b.client_id ? await auth.store.client(b.client_id) : undefined;
    if (!client) return problem(reply, 400, 'unknown client_id');
    const launch = randomToken(16);
    await auth.store.putLaunch({
      launch, clientId: client.clientId, expiresAt: Date.now() + 5 * 60_000,
      context: { need_patient_banner: b.need_patient_banner ?? true, smart_style_url: `${auth.settings.authBase}/style.json` },
      ...(b.patient ? { patient: b.patient } : {}), ...(b.encounter ? { encounter: b.encounter } : {}), ...(b.username ? { username: b.username } : {}),
    });
    const launchUri = client.launchUris[0];
    const url = launchUri ? `${launchUri}${launchUri.includes('?') ? '&' : '?'}iss=${encodeURIComponent(auth.settings.fhirBase)}&launch=${launch}` : undefined;
    return reply.code(201).type('application/json').send(JSON.stringify({ launch, ...(url ? { launch_url: url } : {}) }));
  });
}

/** The management endpoint: a user signs in, sees which applications have access, revokes them. */
export function manageRoutes(app: FastifyInstance, auth: AuthService): void {
  const base = auth.settings.authBase;
  const html = (reply: FastifyReply, status: number, body: string): FastifyReply =>
    reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body);
  const listFor = async (session: string, username: string): Promise<string> => {
    const grants = [];
    for (const g of await auth.store.grantsOfUser(username)) {
      grants.push({ grantId: g.grantId, client: (await auth.store.client(g.clientId))?.name ?? g.clientId, scope: g.scope, created: new Date(g.createdAt).toISOString() });
    }
    return managePage({ session, action: `${base}/manage`, revokeAction: `${base}/manage/revoke`, grants });
  };
  app.get('/manage', async (_req, reply) => html(reply, 200, managePage({ grants: [], action: `${base}/manage`, revokeAction: `${base}/manage/revoke` })));
  app.post<{ Body: { username?: string; password?: string } }>('/manage', async (req, reply) => {
    const user = await auth.store.user(req.body?.username ?? '');
    if (!user || !(await verifySecret(req.body?.password ?? '', user?.passwordHash))) {
      return html(reply, 401, managePage({ grants: [], error: 'Wrong username or password.', action: `${base}/manage`, revokeAction: `${base}/manage/revoke` }));
    }
    const session = await auth.openManageSession(user.username, randomToken(16));
    return html(reply, 200, await listFor(session, user.username));
  });
  app.post<{ Body: { session?: string; grant?: string } }>('/manage/revoke', async (req, reply) => {
    // In the registry: the sign-in may have been served by another instance.
    const username = await auth.manageSessionOf(req.body?.session);
    if (!username) return html(reply, 401, managePage({ grants: [], error: 'Please sign in again.', action: `${base}/manage`, revokeAction: `${base}/manage/revoke` }));
    const grant = await auth.store.grant(req.body?.grant ?? '');
    if (grant && grant.username === username) await auth.store.revokeGrant(grant.grantId);
    return html(reply, 200, await listFor(req.body?.session ?? '', username));
  });
}
