// Tokens: opaque access and refresh tokens backed by grants (so revocation is immediate and
// introspection is a lookup; only hashes are stored), and RS256 id_tokens (OpenID Connect).
import { SignJWT } from 'jose';
import type { AuthStore, GrantRecord } from './store.js';
import { hashToken } from './store.js';
import type { KeyRing } from './keys.js';
import { randomToken } from './secrets.js';
import { parseScopes } from './scopes.js';

export interface TokenSettings {
  /** The FHIR base: the audience of tokens and the OpenID issuer. */
  fhirBase: string;
  accessTtlS: number;
  backendTtlS: number;
  refreshTtlS: number;
  idTokenTtlS: number;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
  patient?: string;
  encounter?: string;
  [k: string]: unknown;
}

export class TokenService {
  constructor(private readonly store: AuthStore, private readonly keys: KeyRing, readonly settings: TokenSettings) {}

  /** Issues an access token (and, when asked, a refresh token and an id_token) under `grant`. */
  async issue(grant: GrantRecord, opts: { backend?: boolean; refresh?: boolean; nonce?: string; now?: number } = {}): Promise<TokenResponse> {
    const now = opts.now ?? Date.now();
    const ttl = opts.backend ? this.settings.backendTtlS : this.settings.accessTtlS;
    const access = randomToken();
    await this.store.putToken({ hash: hashToken(access), grantId: grant.grantId, kind: 'access', issuedAt: now, expiresAt: now + ttl * 1000, revoked: false });
    const scopes = parseScopes(grant.scope);
    const response: TokenResponse = { access_token: access, token_type: 'Bearer', expires_in: ttl, scope: grant.scope };
    if (grant.patient) response.patient = grant.patient;
    if (grant.encounter) response.encounter = grant.encounter;
    Object.assign(response, grant.context);
    if (opts.refresh && scopes.offline) {
      const refresh = randomToken();
      await this.store.putToken({ hash: hashToken(refresh), grantId: grant.grantId, kind: 'refresh', issuedAt: now, expiresAt: now + this.settings.refreshTtlS * 1000, revoked: false });
      response.refresh_token = refresh;
    }
    if (scopes.openid && grant.username) response.id_token = await this.idToken(grant, opts.nonce, now);
    return response;
  }

  private async idToken(grant: GrantRecord, nonce: string | undefined, now: number): Promise<string> {
    const key = await this.keys.signing(now);
    const scopes = parseScopes(grant.scope);
    const claims: Record<string, unknown> = {};
    if ((scopes.fhirUser || scopes.profile) && grant.fhirUser) {
      claims.fhirUser = `${this.settings.fhirBase}/${grant.fhirUser}`;
      if (scopes.profile) claims.profile = claims.fhirUser;
    }
    if (nonce) claims.nonce = nonce;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
      .setIssuer(this.settings.fhirBase)
      .setSubject(grant.username ?? grant.clientId)
      .setAudience(grant.clientId)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(now / 1000) + this.settings.idTokenTtlS)
      .sign(key.key);
  }

  /** The live grant behind an access token, or why there is none. */
  async resolveAccess(token: string, now = Date.now()): Promise<{ grant: GrantRecord; expiresAt: number; issuedAt: number } | { error: string }> {
    const t = await this.store.token(hashToken(token));
    if (!t || t.kind !== 'access') return { error: 'unknown token' };
    if (t.revoked) return { error: 'the token was revoked' };
    if (t.expiresAt <= now) return { error: 'the token expired' };
    const grant = await this.store.grant(t.grantId);
    if (!grant || grant.revoked) return { error: 'the authorization was revoked' };
    return { grant, expiresAt: t.expiresAt, issuedAt: t.issuedAt };
  }

  /** RFC 7662 introspection of an access token: every launch-context value of the token response. */
  async introspect(token: string): Promise<Record<string, unknown>> {
    const found = await this.resolveAccess(token);
    if ('error' in found) return { active: false };
    const g = found.grant;
    return {
      active: true,
      client_id: g.clientId,
      scope: g.scope,
      exp: Math.floor(found.expiresAt / 1000),
      iat: Math.floor(found.issuedAt / 1000),
      token_type: 'Bearer',
      aud: g.aud,
      iss: this.settings.fhirBase,
      ...(g.username ? { sub: g.username } : {}),
      ...(g.fhirUser ? { fhirUser: `${this.settings.fhirBase}/${g.fhirUser}` } : {}),
      ...(g.patient ? { patient: g.patient } : {}),
      ...(g.encounter ? { encounter: g.encounter } : {}),
      ...g.context,
    };
  }
}
