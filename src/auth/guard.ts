// The resource server's gate: every FHIR request (but /metadata) needs a valid bearer token,
// which becomes the request's AccessPolicy. 401 (with WWW-Authenticate, RFC 6750 §3.1) when
// the token is missing or not good; the policy's 403s come later, from the engine.
import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { FhirError } from '../fhir/errors.js';
import type { AuthService } from './service.js';
import { policyFromScopes } from './policy.js';
import type { AccessPolicy } from '../fhir/access.js';
import { sameBase } from './server/authorize.js';

/** Who made a request, for the audit log. */
export interface CallerIdentity {
  clientId?: string;
  user?: string;
  patient?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: CallerIdentity | undefined;
  }
}


const visibleAscii = (c: number): boolean => c > 0x20 && c < 0x7f;

function bearer(req: FastifyRequest, realm: string): string {
  const h = req.headers.authorization;
  // The common spelling without a regular expression: this runs on every request.
  if (h?.startsWith('Bearer ') && visibleAscii(h.charCodeAt(7)) && visibleAscii(h.charCodeAt(h.length - 1))) return h.slice(7);
  if (!h || !/^bearer\s+/i.test(h)) {
    // No token at all: no error attribute (RFC 6750 §3.1).
    throw new FhirError(401, 'An access token is required (Authorization: Bearer …)', 'login', { 'www-authenticate': `Bearer realm="${realm}"` });
  }
  return h.replace(/^bearer\s+/i, '').trim();
}

const invalid = (realm: string, why: string): FhirError =>
  new FhirError(401, `The access token is not valid: ${why}`, 'login', { 'www-authenticate': `Bearer realm="${realm}", error="invalid_token", error_description="${why}"` });

/** The routes open without a token: the CapabilityStatement (SMART discovery starts there). */
function publicCheck(mountPath: string): (req: FastifyRequest) => boolean {
  const open = new Set([`${mountPath}/metadata`]);
  return (req) => req.method === 'OPTIONS' || open.has(req.routeOptions.url ?? '');
}

/** A token already resolved to its policy, good until `until` unless the auth store changes. */
interface Resolved {
  access: AccessPolicy;
  caller: CallerIdentity;
  until: number;
  revision: number;
}

/**
 * How long a resolved token is trusted without looking again. Revocations in this process clear
 * the cache at once (the store's revision); a change made elsewhere (another Flint instance on
 * the same MongoDB, the CLI removing a client) is seen within this time: one second at most
 * (issue 18, README "Several instances"). Only live tokens are cached, never refusals.
 */
const RESOLVED_TTL_MS = 1000;
const RESOLVED_MAX = 10_000;

/** Tokens issued by Flint's own authorization server; `mountPath` is the FHIR API's (config). */
export function smartGuard(auth: AuthService, mountPath: string): onRequestHookHandler {
  const isPublic = publicCheck(mountPath);
  const realm = auth.settings.fhirBase;
  const resolved = new Map<string, Resolved>();
  const cached = (token: string, now: number): Resolved | undefined => {
    const hit = resolved.get(token);
    return hit && hit.until > now && hit.revision === auth.store.revision ? hit : undefined;
  };
  const resolve = async (token: string, now: number): Promise<Resolved> => {
    // Read before the lookup: a revocation in this process while it runs leaves the entry stale-marked.
    const revision = auth.store.revision;
    const found = await auth.tokens.resolveAccess(token, now);
    if ('error' in found) throw invalid(realm, found.error);
    if (!sameBase(found.grant.aud, auth.settings.fhirBase)) throw invalid(realm, 'the token is for another server');
    const g = found.grant;
    const entry: Resolved = {
      access: { ...policyFromScopes({ scope: g.scope, ...(g.patient ? { patient: g.patient } : {}), ...(g.fhirUser ? { fhirUser: g.fhirUser } : {}) }), clientId: g.clientId },
      caller: { clientId: g.clientId, ...(g.username ? { user: g.username } : {}), ...(g.patient ? { patient: g.patient } : {}) },
      until: Math.min(found.expiresAt, now + RESOLVED_TTL_MS),
      revision,
    };
    if (resolved.size >= RESOLVED_MAX) resolved.clear();
    resolved.set(token, entry);
    return entry;
  };
  // Callback style: a cached token (the common case) costs no promise.
  return (req, _reply, done) => {
    if (isPublic(req)) return done();
    let token: string;
    try {
      token = bearer(req, realm);
    } catch (err) {
      return done(err as Error);
    }
    const now = Date.now();
    const accept = (r: Resolved): void => {
      req.access = r.access;
      req.caller = r.caller;
      done();
    };
    const hit = cached(token, now);
    if (hit) return accept(hit);
    resolve(token, now).then(accept, (err: unknown) => done(err as Error));
  };
}

export interface ExternalIdp {
  issuer: string;
  jwksUrl: string;
  audience: string;
  fhirBase: string;
  /** The FHIR API's mount path (config.mountPath). */
  mountPath: string;
}

/** JWT access tokens from an external identity provider (Keycloak, …): issuer, JWKS, audience. */
export function externalGuard(idp: ExternalIdp): onRequestHookHandler {
  const jwks = createRemoteJWKSet(new URL(idp.jwksUrl), { cacheMaxAge: 300_000, cooldownDuration: 30_000, timeoutDuration: 5000 });
  const realm = idp.fhirBase;
  const isPublic = publicCheck(idp.mountPath);
  return async (req) => {
    if (isPublic(req)) return;
    const token = bearer(req, realm);
    let payload;
    try {
      ({ payload } = await jwtVerify(token, jwks, { issuer: idp.issuer, audience: idp.audience, clockTolerance: 60 }));
    } catch (err) {
      throw invalid(realm, (err as Error).message.replace(/"/g, "'"));
    }
    const scope = typeof payload.scope === 'string' ? payload.scope : Array.isArray(payload.scp) ? payload.scp.join(' ') : '';
    const patient = typeof payload.patient === 'string' ? payload.patient : undefined;
    let fhirUser = typeof payload.fhirUser === 'string' ? payload.fhirUser : undefined;
    if (fhirUser?.startsWith(`${idp.fhirBase}/`)) fhirUser = fhirUser.slice(idp.fhirBase.length + 1);
    const clientId = typeof payload.azp === 'string' ? payload.azp : typeof payload.client_id === 'string' ? payload.client_id : undefined;
    req.access = { ...policyFromScopes({ scope, ...(patient ? { patient } : {}), ...(fhirUser ? { fhirUser } : {}) }), ...(clientId ? { clientId } : {}) };
    req.caller = { ...(clientId ? { clientId } : {}), ...(payload.sub ? { user: payload.sub } : {}), ...(patient ? { patient } : {}) };
  };
}
