// The authorization server's view of its persistence: the registry port (src/store/registry.ts,
// SQLite or MongoDB as configured) plus what this process alone needs on top of it, a revision
// that every change which can take access away bumps, so that this process's caches of
// resolved tokens and allowed origins forget at once. Other instances see such a change through
// the database within their cache bound (one second, src/auth/guard.ts).
import { createHash } from 'node:crypto';
import type {
  AuditEntry, AuthRegistry, ClientRecord, CodeRecord, GrantRecord, LaunchRecord, SigningKeyRecord, StoredAuditEntry, TokenRecord, UserRecord,
} from '../store/registry.js';

export type {
  AuditEntry, ClientRecord, ClientType, CodeRecord, GrantRecord, LaunchRecord, TokenRecord, UserRecord,
} from '../store/registry.js';

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('base64url');

/** How long the set of registered CORS origins is reused (the same bound as resolved tokens). */
const ORIGINS_TTL_MS = 1000;

export class AuthStore {
  /**
   * Bumped by every change that can take access away (revocations, grant and client changes),
   * so that caches of resolved tokens in this process know when to forget.
   */
  revision = 0;
  private origins: { set: Set<string>; until: number; revision: number } | undefined;

  constructor(private readonly registry: AuthRegistry) {}

  close(): Promise<void> {
    return this.registry.close();
  }

  putClient(c: ClientRecord): Promise<void> {
    this.revision++;
    return this.registry.putClient(c);
  }

  client(clientId: string): Promise<ClientRecord | undefined> {
    return this.registry.client(clientId);
  }

  clients(): Promise<ClientRecord[]> {
    return this.registry.clients();
  }

  async deleteClient(clientId: string): Promise<boolean> {
    this.revision++;
    return this.registry.deleteClient(clientId);
  }

  /** Whether a registered client lists `origin` (CORS); read at most once a second. */
  async originAllowed(origin: string, now = Date.now()): Promise<boolean> {
    if (!this.origins || this.origins.until <= now || this.origins.revision !== this.revision) {
      const revision = this.revision;
      const set = new Set((await this.registry.clients()).flatMap((c) => c.allowedOrigins));
      this.origins = { set, until: now + ORIGINS_TTL_MS, revision };
    }
    return this.origins.set.has(origin);
  }

  putUser(u: UserRecord): Promise<void> {
    return this.registry.putUser(u);
  }

  user(username: string): Promise<UserRecord | undefined> {
    return this.registry.user(username);
  }

  users(): Promise<UserRecord[]> {
    return this.registry.users();
  }

  putGrant(g: GrantRecord): Promise<void> {
    this.revision++;
    return this.registry.putGrant(g);
  }

  grant(grantId: string): Promise<GrantRecord | undefined> {
    return this.registry.grant(grantId);
  }

  grantsOfUser(username: string): Promise<GrantRecord[]> {
    return this.registry.grantsOfUser(username);
  }

  /** Revokes a grant and every token issued under it. */
  async revokeGrant(grantId: string): Promise<void> {
    await this.registry.revokeGrant(grantId);
    // After the write too: a token resolved while it was under way is not cached as live.
    this.revision++;
  }

  putToken(t: TokenRecord): Promise<void> {
    return this.registry.putToken(t);
  }

  token(hash: string): Promise<TokenRecord | undefined> {
    return this.registry.token(hash);
  }

  async revokeToken(hash: string): Promise<void> {
    await this.registry.revokeToken(hash);
    this.revision++;
  }

  /** Marks a refresh token used; false when it already was (reuse). */
  useRefresh(hash: string, now: number): Promise<boolean> {
    return this.registry.useRefresh(hash, now);
  }

  putCode(c: CodeRecord): Promise<void> {
    return this.registry.putCode(c);
  }

  /** Redeems a code once: the second call for the same code (on any instance) gets `{ reused: true }`. */
  redeemCode(hash: string, now: number): Promise<{ code?: CodeRecord; reused: boolean }> {
    return this.registry.redeemCode(hash, now);
  }

  putLaunch(l: LaunchRecord): Promise<void> {
    return this.registry.putLaunch(l);
  }

  launch(launch: string): Promise<LaunchRecord | undefined> {
    return this.registry.launch(launch);
  }

  /** Records a client assertion's jti; false when (iss, jti) was seen before (a replay). */
  rememberJti(iss: string, jti: string, expiresAt: number, now: number): Promise<boolean> {
    return this.registry.rememberJti(iss, jti, expiresAt, now);
  }

  signingKeys(): Promise<SigningKeyRecord[]> {
    return this.registry.signingKeys();
  }

  putSigningKey(kid: string, createdAt: number, privateJwk: Record<string, unknown>): Promise<void> {
    return this.registry.putSigningKey(kid, createdAt, privateJwk);
  }

  retireSigningKey(kid: string, at: number): Promise<void> {
    return this.registry.retireSigningKey(kid, at);
  }

  deleteSigningKey(kid: string): Promise<void> {
    return this.registry.deleteSigningKey(kid);
  }

  /** Queues an audit entry; stored in batches off the request path. */
  audit(e: AuditEntry): void {
    this.registry.audit(e);
  }

  /** Resolves once every entry queued so far is stored. */
  flushAudit(): Promise<void> {
    return this.registry.flushAudit();
  }

  auditLog(opts: { after?: number; limit: number }): Promise<StoredAuditEntry[]> {
    return this.registry.auditLog(opts);
  }
}
