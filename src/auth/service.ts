// The authorization server's parts, assembled once: persistence, signing keys, token issuing,
// client authentication, and the short-lived state of authorizations in progress.
import { AuthStore } from './store.js';
import type { AuthRegistry } from '../store/registry.js';
import { KeyRing } from './keys.js';
import { TokenService } from './tokens.js';
import { ClientAuthenticator, type JwksFetcher } from './client-auth.js';
import type { Scopes } from './scopes.js';
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
    testHooks: config.auth.testHooks,
  };
}

/** An authorization request between /authorize and the redirect with a code. */
export interface PendingAuthorization {
  tx: string;
  clientId: string;
  redirectUri: string;
  state: string;
  codeChallenge: string;
  nonce?: string;
  scopes: Scopes;
  /** From an EHR launch handle. */
  launch?: { patient?: string; encounter?: string; context: Record<string, unknown>; username?: string };
  username?: string;
  patient?: string;
  expiresAt: number;
}

export class AuthService {
  readonly store: AuthStore;
  readonly keys: KeyRing;
  readonly tokens: TokenService;
  readonly clientAuth: ClientAuthenticator;
  private readonly pending = new Map<string, PendingAuthorization>();
  /** Signed-in sessions of the app-management page (one-time ids in its forms). */
  readonly manageSessions = new Map<string, { username: string; expiresAt: number }>();

  /** @param registry where the auth data lives (src/store/open.ts openRegistry); closed with the service. */
  constructor(readonly settings: AuthSettings, registry: AuthRegistry, fetcher?: JwksFetcher) {
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

  savePending(p: PendingAuthorization): void {
    const now = Date.now();
    for (const [k, v] of this.pending) if (v.expiresAt < now) this.pending.delete(k);
    this.pending.set(p.tx, p);
  }

  pendingOf(tx: string | undefined): PendingAuthorization | undefined {
    const p = tx ? this.pending.get(tx) : undefined;
    return p && p.expiresAt > Date.now() ? p : undefined;
  }

  finish(tx: string): void {
    this.pending.delete(tx);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
