// The authorization server's parts, assembled once: persistence, signing keys, token issuing,
// client authentication, and the short-lived state of authorizations in progress.
import { AuthStore } from './store.js';
import type { AuthRegistry, PendingRecord } from '../store/registry.js';
import { KeyRing } from './keys.js';
import { TokenService } from './tokens.js';
import { ClientAuthenticator, type JwksFetcher } from './client-auth.js';
import { parseScopes, type Scopes } from './scopes.js';
import type { Config } from '../config.js';

export interface AuthSettings {
  /** The FHIR base URL (audience of tokens, OpenID issuer). */
  fhirBase: string;
  /** Where the authorization server's endpoints live (`https://host/auth`). */
  authBase: string;
  accessTtlS: number;
  backendTtlS: number;
  refreshTtlS: number;
  codeTtlS: number;
  keyRotationDays: number;
  /** How many authorizations in progress one client may have at once (a bound on what anyone can make the store keep). */
  pendingPerClient: number;
  /** Test-only shortcuts (`__test_user`, `__test_grant`): never in production. */
  testHooks: boolean;
}

/** The authorization server's settings for a Flint configuration (the server and the CLI share them). */
export function authSettings(config: Config): AuthSettings {
  return {
    fhirBase: config.baseUrl,
    authBase: `${new URL(config.baseUrl).origin}/auth`,
    accessTtlS: config.auth.accessTtlS,
    backendTtlS: Math.min(300, config.auth.accessTtlS),
    refreshTtlS: 180 * 86_400,
    codeTtlS: 60,
    keyRotationDays: config.auth.keyRotationDays,
    pendingPerClient: PENDING_PER_CLIENT,
    testHooks: config.auth.testHooks,
  };
}

/**
 * Authorizations in progress per client: each lives 10 minutes, so this allows a client about
 * 16 sign-ins a second before new ones are refused with temporarily_unavailable.
 */
const PENDING_PER_CLIENT = 10_000;
const PENDING_TTL_MS = 10 * 60_000;
const MANAGE_SESSION_TTL_MS = 10 * 60_000;

/** An authorization request between /authorize and the redirect with a code, its scope parsed. */
export type PendingAuthorization = PendingRecord & { scopes: Scopes };

/** The ids of sign-ins and sessions are randomToken(16) (base64url); nothing else is looked up. */
const isRandomId = (v: unknown): v is string => typeof v === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(v);

const withScopes = (r: PendingRecord | undefined): PendingAuthorization | undefined => (r ? { ...r, scopes: parseScopes(r.scope) } : undefined);
const recordOf = ({ scopes: _parsed, ...r }: PendingAuthorization): PendingRecord => r;

export class AuthService {
  readonly store: AuthStore;
  readonly keys: KeyRing;
  readonly tokens: TokenService;
  readonly clientAuth: ClientAuthenticator;
  /** @param registry where the auth data lives (src/store/open.ts openRegistry); closed with the service. */
  constructor(readonly settings: AuthSettings, private readonly registry: AuthRegistry, fetcher?: JwksFetcher) {
    this.store = new AuthStore(registry);
    this.keys = new KeyRing(this.store, settings.keyRotationDays * 86_400_000);
    this.tokens = new TokenService(this.store, this.keys, {
      fhirBase: settings.fhirBase, accessTtlS: settings.accessTtlS, backendTtlS: settings.backendTtlS,
      refreshTtlS: settings.refreshTtlS, idTokenTtlS: 600,
    });
    this.clientAuth = new ClientAuthenticator(this.store, `${settings.authBase}/token`, fetcher);
  }

  get tokenUrl(): string {
    return `${this.settings.authBase}/token`;
  }

  // The state of a sign-in and of a management session lives in the registry, not here, so the
  // pages of one flow may be served by different instances (issue 18: no sticky sessions).

  /** Starts an authorization; undefined when its client has too many in progress. */
  async startPending(p: Omit<PendingRecord, 'tx' | 'expiresAt'>, tx: string): Promise<PendingAuthorization | undefined> {
    const now = Date.now();
    const record: PendingRecord = { ...p, tx, expiresAt: now + PENDING_TTL_MS };
    return (await this.registry.putPending(record, this.settings.pendingPerClient, now)) ? withScopes(record) : undefined;
  }

  /** `tx` as posted: anything that is not one of our ids (a list, a long string) finds nothing. */
  async pendingOf(tx: unknown): Promise<PendingAuthorization | undefined> {
    return isRandomId(tx) ? withScopes(await this.registry.pending(tx, Date.now())) : undefined;
  }

  /** Saves what a page added (user, patient); false when the authorization lapsed or was finished meanwhile. */
  updatePending(p: PendingAuthorization): Promise<boolean> {
    return this.registry.updatePending(recordOf(p), Date.now());
  }

  /** Ends an authorization once: true for exactly one caller across instances. */
  async finish(tx: string): Promise<boolean> {
    return (await this.registry.takePending(tx, Date.now())) !== undefined;
  }

  /** Opens a management-page session for a signed-in user; its id. */
  async openManageSession(username: string, session: string): Promise<string> {
    const now = Date.now();
    await this.registry.putManageSession({ session, username, expiresAt: now + MANAGE_SESSION_TTL_MS }, now);
    return session;
  }

  async manageSessionOf(session: unknown): Promise<string | undefined> {
    return isRandomId(session) ? (await this.registry.manageSession(session, Date.now()))?.username : undefined;
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
