// The authorization endpoint (GET and POST) and the pages behind it: sign-in, patient picker,
// consent. Checks in the order RFC 6749 §4.1.2.1 gives: an unknown client or redirect URI is
// an error page (never a redirect); every other problem is a redirect with error and state.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AuthService, PendingAuthorization } from '../service.js';
import type { ClientRecord } from '../store.js';
import { hashToken } from '../store.js';
import { randomToken, verifySecret } from '../secrets.js';
import { formatScopes, intersect, parseClinical, parseScopes, type Scopes } from '../scopes.js';
import { consentPage, errorPage, loginPage, pickerPage, type ConsentChoice } from './pages.js';
import { isId } from '../../fhir-basics/ids.js';

type Params = Record<string, string | undefined>;

export interface PatientLookup {
  (query: string): Promise<{ id: string; name: string; birthDate?: string }[]>;
}

const CATEGORY_SCOPES: Record<string, { system: string; codes: string[] }> = {
  Observation: { system: 'http://terminology.hl7.org/CodeSystem/observation-category', codes: ['laboratory', 'vital-signs', 'social-history', 'survey', 'exam', 'imaging', 'procedure', 'therapy', 'activity'] },
  Condition: { system: 'http://terminology.hl7.org/CodeSystem/condition-category', codes: ['encounter-diagnosis', 'problem-list-item'] },
};

/** `https://Host/fhir/` and `https://host/fhir` are one audience. */
export function sameBase(a: string, b: string): boolean {
  const norm = (u: string): string => {
    try {
      const x = new URL(u.replace(/\/+$/, ''));
      return `${x.protocol}//${x.host.toLowerCase()}${x.pathname.replace(/\/+$/, '')}`;
    } catch {
      return u;
    }
  };
  return norm(a) === norm(b);
}

function redirectWith(reply: FastifyReply, redirectUri: string, params: Record<string, string | undefined>): FastifyReply {
  const url = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return reply.code(302).header('location', url.toString()).header('cache-control', 'no-store').send();
}

/**
 * An HTML page of the sign-in flow. CSP form-action also governs where a form's POST may be
 * redirected (Chromium enforces it on the redirect), so the pages of a pending authorization
 * also allow the client's registered redirect origin — and nothing else.
 */
function html(reply: FastifyReply, status: number, body: string, redirectUri?: string): FastifyReply {
  const formAction = redirectUri ? `'self' ${new URL(redirectUri).origin}` : "'self'";
  return reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store')
    .header('content-security-policy', `default-src 'none'; style-src 'unsafe-inline'; form-action ${formAction}; frame-ancestors 'none'`).send(body);
}

/** Granted scopes: what was asked, what the client may have, what the user ticked. */
function grantable(requested: Scopes, client: ClientRecord): Scopes {
  const allowed = client.scopes.map(parseClinical).filter((c) => c !== undefined);
  const allowedNames = new Set(client.scopes);
  return {
    ...requested,
    clinical: intersect(requested.clinical, allowed),
    openid: requested.openid && allowedNames.has('openid'),
    fhirUser: requested.fhirUser && allowedNames.has('fhirUser'),
    profile: requested.profile && allowedNames.has('profile'),
    offline: requested.offline && allowedNames.has('offline_access'),
    launch: requested.launch,
    launchPatient: requested.launchPatient,
    launchEncounter: requested.launchEncounter,
    unknown: [],
  };
}

/** The most characters of scope, state and nonce kept for one authorization in progress. */
const MAX_KEPT_CHARS = 8192;

export function authorizeRoutes(app: FastifyInstance, auth: AuthService, lookupPatients: PatientLookup): void {
  const base = auth.settings.authBase;

  const start = async (p: Params, reply: FastifyReply): Promise<FastifyReply> => {
    const client = p.client_id ? await auth.store.client(p.client_id) : undefined;
    if (!client) return html(reply, 400, errorPage('Unknown client_id.'));
    if (!p.redirect_uri || !client.redirectUris.includes(p.redirect_uri)) return html(reply, 400, errorPage('redirect_uri is not registered for this client.'));
    const fail = (error: string, description: string): FastifyReply => redirectWith(reply, p.redirect_uri ?? '', { error, error_description: description, state: p.state });
    if (p.response_type !== 'code') return fail('unsupported_response_type', 'response_type must be code');
    if (!p.state) return fail('invalid_request', 'state is required');
    if (!p.aud || !sameBase(p.aud, auth.settings.fhirBase)) return fail('invalid_request', `aud must be this FHIR server (${auth.settings.fhirBase})`);
    if (!p.code_challenge || !/^[A-Za-z0-9\-._~]{43,128}$/.test(p.code_challenge)) return fail('invalid_request', 'code_challenge (PKCE) is required');
    if (p.code_challenge_method !== 'S256') return fail('invalid_request', 'code_challenge_method must be S256');
    if (!p.scope) return fail('invalid_scope', 'scope is required');
    let launch: PendingAuthorization['launch'];
    if (p.launch !== undefined) {
      const l = await auth.store.launch(p.launch);
      if (!l || l.clientId !== client.clientId || l.expiresAt < Date.now()) return fail('invalid_request', 'launch is unknown, expired or for another application');
      launch = { context: l.context, ...(l.patient ? { patient: l.patient } : {}), ...(l.encounter ? { encounter: l.encounter } : {}), ...(l.username ? { username: l.username } : {}) };
    }
    // What is kept until the consent (scope, state, nonce) is bounded: anyone may start a sign-in.
    if (p.scope.length + p.state.length + (p.nonce?.length ?? 0) > MAX_KEPT_CHARS) return fail('invalid_request', `scope, state and nonce together must stay under ${MAX_KEPT_CHARS} characters`);
    const pending = await auth.startPending({
      clientId: client.clientId, redirectUri: p.redirect_uri, state: p.state, codeChallenge: p.code_challenge, scope: p.scope,
      ...(p.nonce ? { nonce: p.nonce } : {}), ...(launch ? { launch } : {}),
    }, randomToken(16));
    if (!pending) return fail('temporarily_unavailable', 'too many sign-ins to this application are in progress; try again in a few minutes');
    // Test-only: sign in and consent without pages (AUTH_TEST_HOOKS=1, never in production).
    if (auth.settings.testHooks && p.__test_user) {
      const user = await auth.store.user(p.__test_user);
      if (!user) return fail('access_denied', 'unknown test user');
      pending.username = user.username;
      if (p.__test_deny) return deny(pending, reply);
      const patient = p.__test_patient ?? pending.launch?.patient ?? (user.fhirUser.startsWith('Patient/') ? user.fhirUser.slice(8) : undefined);
      if (patient) pending.patient = patient;
      const chosen = p.__test_grant !== undefined ? parseScopes(p.__test_grant) : undefined;
      return complete(pending, client, chosen, reply);
    }
    return html(reply, 200, loginPage({ tx: pending.tx, clientName: client.name, action: `${base}/login` }), pending.redirectUri);
  };

  const expired = (reply: FastifyReply): FastifyReply => html(reply, 400, errorPage('This sign-in has expired; start again from the application.'));
  const denied = (p: PendingAuthorization, reply: FastifyReply): FastifyReply =>
    redirectWith(reply, p.redirectUri, { error: 'access_denied', error_description: 'The user denied the request', state: p.state });
  /** Ends the authorization (once, across instances) with access_denied. */
  const deny = async (p: PendingAuthorization, reply: FastifyReply): Promise<FastifyReply> => ((await auth.finish(p.tx)) ? denied(p, reply) : expired(reply));

  /** Issues the code for what the user chose (undefined: everything grantable) and redirects. */
  const complete = async (p: PendingAuthorization, client: ClientRecord, chosen: Scopes | undefined, reply: FastifyReply): Promise<FastifyReply> => {
    // Taken first: of two consent posts (to any instances) only one issues a code.
    if (!(await auth.finish(p.tx))) return expired(reply);
    const user = p.username ? await auth.store.user(p.username) : undefined;
    if (!user) return denied(p, reply);
    let granted = grantable(p.scopes, client);
    if (chosen) {
      granted = {
        ...granted,
        clinical: granted.clinical.filter((c) => chosen.clinical.some((x) => x.raw === c.raw))
          .concat(chosen.clinical.filter((x) => x.query !== undefined && !granted.clinical.some((c) => c.raw === x.raw)
            && granted.clinical.some((c) => c.level === x.level && c.type === x.type && c.query === undefined))),
        offline: granted.offline && chosen.offline,
      };
    }
    const patientScopes = granted.clinical.some((c) => c.level === 'patient');
    const patient = p.launch?.patient ?? p.patient;
    if (patientScopes && !patient) {
      return redirectWith(reply, p.redirectUri, { error: 'invalid_request', error_description: 'patient/ scopes need a patient in context', state: p.state });
    }
    const grantId = randomToken(16);
    const context: Record<string, unknown> = { ...(p.launch?.context ?? {}) };
    await auth.store.putGrant({
      grantId, clientId: client.clientId, username: user.username, fhirUser: user.fhirUser, scope: formatScopes(granted),
      aud: auth.settings.fhirBase, context, createdAt: Date.now(), revoked: false,
      ...(patient && (patientScopes || granted.launchPatient || p.launch) ? { patient } : {}),
      ...(p.launch?.encounter ? { encounter: p.launch.encounter } : {}),
    });
    const code = randomToken();
    await auth.store.putCode({
      hash: hashToken(code), grantId, clientId: client.clientId, redirectUri: p.redirectUri, codeChallenge: p.codeChallenge,
      expiresAt: Date.now() + auth.settings.codeTtlS * 1000, ...(p.nonce ? { nonce: p.nonce } : {}),
    });
    return redirectWith(reply, p.redirectUri, { code, state: p.state });
  };

  const consent = (p: PendingAuthorization, client: ClientRecord, reply: FastifyReply): FastifyReply => {
    const granted = grantable(p.scopes, client);
    const choices: ConsentChoice[] = granted.clinical.map((c) => {
      const cats = c.query === undefined && c.type !== '*' ? CATEGORY_SCOPES[c.type] : undefined;
      return {
        scope: c.raw,
        label: `${c.raw}`,
        ...(cats ? { alternatives: cats.codes.map((code) => ({ scope: `${c.raw}?category=${cats.system}|${code}`, label: `${c.type} of category ${code}` })) } : {}),
      };
    });
    return html(reply, 200, consentPage({
      tx: p.tx, clientName: client.name, user: p.username ?? '', ...(p.patient ?? p.launch?.patient ? { patient: p.patient ?? p.launch?.patient ?? '' } : {}),
      choices, offline: granted.offline, action: `${base}/consent`,
    }), p.redirectUri);
  };

  app.get<{ Querystring: Params }>('/authorize', async (req, reply) => start(req.query, reply));
  app.post<{ Body: Params }>('/authorize', async (req, reply) => start(req.body ?? {}, reply));

  app.post<{ Body: Params }>('/login', async (req, reply) => {
    const p = await auth.pendingOf(req.body?.tx);
    if (!p) return expired(reply);
    const client = await auth.store.client(p.clientId);
    if (!client) return html(reply, 400, errorPage('Unknown client.'));
    const user = await auth.store.user(req.body?.username ?? '');
    if (!user || !(await verifySecret(req.body?.password ?? '', user?.passwordHash))) {
      return html(reply, 401, loginPage({ tx: p.tx, clientName: client.name, error: 'Wrong username or password.', action: `${base}/login` }), p.redirectUri);
    }
    if (p.launch?.username && p.launch.username !== user.username) return deny(p, reply);
    p.username = user.username;
    const needsPatient = !p.launch?.patient && (p.scopes.launchPatient || p.scopes.clinical.some((c) => c.level === 'patient'));
    const pick = needsPatient && !user.fhirUser.startsWith('Patient/');
    if (needsPatient) {
      // A patient chosen in an earlier sign-in on this tx is not carried over to another user.
      if (pick) delete p.patient;
      else p.patient = user.fhirUser.slice('Patient/'.length);
    }
    // Saved back: the next page may be posted to another instance.
    if (!(await auth.updatePending(p))) return expired(reply);
    if (pick) {
      const patients = await lookupPatients('');
      return html(reply, 200, pickerPage({ tx: p.tx, patients, query: '', action: `${base}/picker`, searchAction: `${base}/picker` }), p.redirectUri);
    }
    return consent(p, client, reply);
  });

  app.get<{ Querystring: Params }>('/picker', async (req, reply) => {
    const p = await auth.pendingOf(req.query.tx);
    if (!p?.username) return expired(reply);
    const patients = await lookupPatients(req.query.q ?? '');
    return html(reply, 200, pickerPage({ tx: p.tx, patients, query: req.query.q ?? '', action: `${base}/picker`, searchAction: `${base}/picker` }), p.redirectUri);
  });

  app.post<{ Body: Params }>('/picker', async (req, reply) => {
    const p = await auth.pendingOf(req.body?.tx);
    const client = p ? await auth.store.client(p.clientId) : undefined;
    if (!p?.username || !client) return expired(reply);
    if (!req.body?.patient || !isId(req.body.patient)) return html(reply, 400, errorPage('Choose a patient.'));
    p.patient = req.body.patient;
    if (!(await auth.updatePending(p))) return expired(reply);
    return consent(p, client, reply);
  });

  app.post<{ Body: Record<string, string | string[] | undefined> }>('/consent', async (req, reply) => {
    const body = req.body ?? {};
    const p = await auth.pendingOf(body.tx);
    const client = p ? await auth.store.client(p.clientId) : undefined;
    if (!p?.username || !client) return expired(reply);
    if (body.decision !== 'allow') return deny(p, reply);
    const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
    const chosen = parseScopes([...list(body.scope), ...list(body.granular), ...(body.offline_access ? ['offline_access'] : [])].join(' '));
    return complete(p, client, chosen, reply);
  });
}

/** PKCE S256: BASE64URL(SHA256(verifier)) = challenge (RFC 7636). */
export function pkceMatches(verifier: string | undefined, challenge: string): boolean {
  if (!verifier || !/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier)) return false;
  return createHash('sha256').update(verifier, 'ascii').digest('base64url') === challenge;
}
