// Client authentication at the token, introspection and revocation endpoints: public clients
// (client_id), symmetric (HTTP Basic or client_secret_post), and asymmetric (private_key_jwt,
// RFC 7523 as profiled by SMART: RS384/ES384, kid required, jku only if registered, exp at most
// five minutes ahead, jti never replayed; the client's JWKS URL honours Cache-Control).
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import type { AuthStore, ClientRecord } from './store.js';
import { verifySecret } from './secrets.js';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const ALGORITHMS = ['RS384', 'ES384', 'RS256', 'ES256', 'PS384'];
const SKEW_S = 60;

export class OAuthError extends Error {
  constructor(readonly error: string, readonly description: string, readonly status = 400, readonly headers: Record<string, string> = {}) {
    super(description);
    this.name = 'OAuthError';
  }
}

const invalidClient = (why: string, basic = false): OAuthError =>
  new OAuthError('invalid_client', why, 401, basic ? { 'www-authenticate': 'Basic realm="flint"' } : {});

export interface AuthenticatedClient {
  client: ClientRecord;
  method: 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
}

interface CachedJwks {
  jwks: JSONWebKeySet;
  until: number;
}

export type JwksFetcher = (url: string) => Promise<{ jwks: JSONWebKeySet; maxAgeMs: number }>;

/** GET a client's JWKS with Accept: application/json; its Cache-Control decides how long it is kept. */
export const fetchJwks: JwksFetcher = async (url) => {
  const res = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(5000), redirect: 'error' });
  if (!res.ok) throw new Error(`JWKS ${url} answered ${res.status}`);
  const text = await res.text();
  if (text.length > 256 * 1024) throw new Error('JWKS too large');
  const cc = res.headers.get('cache-control') ?? '';
  const maxAge = /no-store|no-cache/.test(cc) ? 0 : Number(/max-age=(\d+)/.exec(cc)?.[1] ?? 0);
  return { jwks: JSON.parse(text) as JSONWebKeySet, maxAgeMs: Math.min(maxAge, 3600) * 1000 };
};

export class ClientAuthenticator {
  private readonly jwksCache = new Map<string, CachedJwks>();

  constructor(private readonly store: AuthStore, private readonly tokenUrl: string, private readonly fetcher: JwksFetcher = fetchJwks) {}

  /**
   * Authenticates the caller of a token-style endpoint. Returns undefined when the request
   * names no client at all (a public client refreshing without client_id, as client-js does).
   */
  async authenticate(authorization: string | undefined, body: Record<string, string | undefined>): Promise<AuthenticatedClient | undefined> {
    if (body.client_assertion_type !== undefined || body.client_assertion !== undefined) {
      if (body.client_assertion_type !== JWT_BEARER) throw invalidClient('client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      if (!body.client_assertion) throw invalidClient('client_assertion is missing');
      const client = await this.verifyAssertion(body.client_assertion, body.client_id);
      return { client, method: 'private_key_jwt' };
    }
    if (authorization?.toLowerCase().startsWith('basic ')) {
      const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) throw invalidClient('malformed Basic credentials', true);
      const rawId = decoded.slice(0, colon);
      const rawSecret = decoded.slice(colon + 1);
      // RFC 6749 §2.3.1 form-encodes both parts; client-js and Inferno send them raw. Accept both.
      for (const [id, secret] of [[rawId, rawSecret], [safeDecode(rawId), safeDecode(rawSecret)]] as const) {
        const client = await this.store.client(id);
        if (client?.type === 'symmetric' && await verifySecret(secret, client.secretHash)) {
          if (body.client_id !== undefined && body.client_id !== client.clientId) throw invalidClient('client_id does not match the credentials', true);
          return { client, method: 'client_secret_basic' };
        }
      }
      throw invalidClient('unknown client or wrong secret', true);
    }
    if (body.client_secret !== undefined) {
      const client = await this.store.client(body.client_id ?? '');
      if (client?.type === 'symmetric' && await verifySecret(body.client_secret, client.secretHash)) return { client, method: 'client_secret_post' };
      throw invalidClient('unknown client or wrong secret');
    }
    if (body.client_id !== undefined) {
      const client = await this.store.client(body.client_id);
      if (!client) throw invalidClient('unknown client');
      // A confidential client must prove who it is.
      if (client.type !== 'public') throw invalidClient(`client ${client.clientId} must authenticate`);
      return { client, method: 'none' };
    }
    return undefined;
  }

  private async verifyAssertion(jwt: string, clientIdParam: string | undefined): Promise<ClientRecord> {
    let header;
    try {
      header = decodeProtectedHeader(jwt);
    } catch {
      throw invalidClient('client_assertion is not a JWS');
    }
    if (!header.alg || !ALGORITHMS.includes(header.alg)) throw invalidClient(`client_assertion alg ${String(header.alg)} is not accepted`);
    if (!header.kid) throw invalidClient('client_assertion header has no kid');
    if (header.typ !== undefined && header.typ.toUpperCase() !== 'JWT') throw invalidClient('client_assertion typ must be JWT');
    // iss names the client; read it before verification to find the client's keys.
    const [, payloadPart] = jwt.split('.');
    let iss: string | undefined;
    try {
      iss = (JSON.parse(Buffer.from(payloadPart ?? '', 'base64url').toString('utf8')) as { iss?: string }).iss;
    } catch {
      throw invalidClient('client_assertion payload is not JSON');
    }
    const client = iss ? await this.store.client(iss) : undefined;
    if (!client || client.type !== 'asymmetric') throw invalidClient('client_assertion iss is not a registered asymmetric client');
    if (clientIdParam !== undefined && clientIdParam !== client.clientId) throw invalidClient('client_id does not match the assertion iss');
    if (header.jku !== undefined && header.jku !== client.jwksUri) throw invalidClient('jku is not the registered JWKS URL');
    const jwks = await this.clientKeys(client, false);
    let payload;
    try {
      payload = await this.verify(jwt, jwks, client);
    } catch (err) {
      // A kid we do not know may be a rotated key: refetch once (a cache that says max-age=0 is refetched anyway).
      if (client.jwksUri && /no applicable key|no matching key|JWKSNoMatchingKey/i.test(String((err as Error).message ?? err))) {
        payload = await this.verify(jwt, await this.clientKeys(client, true), client);
      } else {
        throw err instanceof OAuthError ? err : invalidClient(`client_assertion is not valid: ${(err as Error).message}`);
      }
    }
    const now = Math.floor(Date.now() / 1000);
    if (typeof payload.exp !== 'number' || payload.exp - now > 300 + SKEW_S) throw invalidClient('client_assertion exp must be at most five minutes ahead');
    if (typeof payload.jti !== 'string' || payload.jti === '') throw invalidClient('client_assertion has no jti');
    // Remembered (in ms, the registry's unit) until the assertion could no longer be accepted anyway.
    if (!await this.store.rememberJti(client.clientId, payload.jti, (payload.exp + SKEW_S) * 1000, Date.now())) throw invalidClient('client_assertion jti was already used');
    return client;
  }

  private async verify(jwt: string, jwks: JSONWebKeySet, client: ClientRecord) {
    try {
      const { payload } = await jwtVerify(jwt, createLocalJWKSet(jwks), {
        algorithms: ALGORITHMS,
        issuer: client.clientId,
        subject: client.clientId,
        audience: [this.tokenUrl, `${this.tokenUrl}/`],
        clockTolerance: SKEW_S,
        requiredClaims: ['exp', 'jti', 'iss', 'sub', 'aud'],
      });
      return payload;
    } catch (err) {
      throw invalidClient(`client_assertion is not valid: ${(err as Error).message}`);
    }
  }

  private async clientKeys(client: ClientRecord, refresh: boolean): Promise<JSONWebKeySet> {
    if (client.jwks) return client.jwks as JSONWebKeySet;
    if (!client.jwksUri) throw invalidClient('the client has no registered keys');
    const cached = this.jwksCache.get(client.jwksUri);
    if (cached && !refresh && cached.until > Date.now()) return cached.jwks;
    try {
      const { jwks, maxAgeMs } = await this.fetcher(client.jwksUri);
      this.jwksCache.set(client.jwksUri, { jwks, until: Date.now() + maxAgeMs });
      return jwks;
    } catch (err) {
      throw invalidClient(`the client's JWKS could not be fetched: ${(err as Error).message}`);
    }
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
