// The authorization server's persistence, as a port with an SQLite and a MongoDB adapter
// (ARCHITECTURE.md, "Shared state"): registered clients, users, authorization codes, grants and
// their tokens (only hashes are stored), EHR launch handles, replay protection for client
// assertions, signing keys, and the append-only audit log. On MongoDB all of it lives in the
// database, so any number of Flint instances share it and nothing is kept on local disk.
// Both adapters pass one conformance suite (test/store/registry-suite.ts).
//
// Times are epoch milliseconds from the caller's clock; every "single use" operation is atomic
// across instances (a conditional update of one row or document).

export type ClientType = 'public' | 'symmetric' | 'asymmetric';

export interface ClientRecord {
  clientId: string;
  name: string;
  type: ClientType;
  /** scrypt hash of the secret (symmetric clients). */
  secretHash?: string;
  jwks?: { keys: Record<string, unknown>[] };
  jwksUri?: string;
  redirectUris: string[];
  launchUris: string[];
  allowedOrigins: string[];
  /** Scopes the client may be granted at most (the pre-authorised set for backend services). */
  scopes: string[];
  grantTypes: string[];
  /** May request `__admin` (client registration, $reindex, audit). */
  admin: boolean;
  /** May introspect any token (resource servers, auditors). */
  introspect: boolean;
}

export interface UserRecord {
  username: string;
  passwordHash: string;
  /** `Patient/…`, `Practitioner/…`, `RelatedPerson/…` or `Person/…`. */
  fhirUser: string;
  name: string;
}

export interface GrantRecord {
  grantId: string;
  clientId: string;
  username?: string;
  fhirUser?: string;
  patient?: string;
  encounter?: string;
  scope: string;
  /** The FHIR base the grant is for (authorize `aud`). */
  aud: string;
  /** Extra launch context for the token response and introspection (JSON). */
  context: Record<string, unknown>;
  createdAt: number;
  revoked: boolean;
}

export interface TokenRecord {
  hash: string;
  grantId: string;
  kind: 'access' | 'refresh';
  expiresAt: number;
  issuedAt: number;
  revoked: boolean;
  /** Refresh tokens: set when used (rotation); a second use revokes the grant. */
  usedAt?: number;
}

export interface CodeRecord {
  hash: string;
  grantId: string;
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  nonce?: string;
  expiresAt: number;
  usedAt?: number;
}

export interface LaunchRecord {
  launch: string;
  clientId: string;
  patient?: string;
  encounter?: string;
  username?: string;
  context: Record<string, unknown>;
  expiresAt: number;
}

/**
 * A SMART authorization between /authorize and the redirect with a code (login, patient picker,
 * consent pages), kept in the store so that each page may be served by another instance.
 */
export interface PendingRecord {
  /** The random id the pages carry in their forms. */
  tx: string;
  clientId: string;
  redirectUri: string;
  state: string;
  codeChallenge: string;
  nonce?: string;
  /** The requested scope string, as sent (parsed again by the caller). */
  scope: string;
  /** From an EHR launch handle. */
  launch?: { patient?: string; encounter?: string; context: Record<string, unknown>; username?: string };
  username?: string;
  patient?: string;
  expiresAt: number;
}

/** A signed-in session of the app-management page, keyed by the random id in its forms. */
export interface ManageSessionRecord {
  session: string;
  username: string;
  expiresAt: number;
}

export interface SigningKeyRecord {
  kid: string;
  createdAt: number;
  privateJwk: Record<string, unknown>;
  retiredAt?: number;
}

export interface AuditEntry {
  time: string;
  requestId: string;
  clientId?: string;
  user?: string;
  patient?: string;
  action: string;
  target?: string;
  query?: string;
  status: number;
}

export type StoredAuditEntry = AuditEntry & { seq: number };

export interface AuthRegistry {
  putClient(c: ClientRecord): Promise<void>;
  client(clientId: string): Promise<ClientRecord | undefined>;
  /** Every client, by id. */
  clients(): Promise<ClientRecord[]>;
  /** False when there was none. */
  deleteClient(clientId: string): Promise<boolean>;

  putUser(u: UserRecord): Promise<void>;
  user(username: string): Promise<UserRecord | undefined>;
  users(): Promise<UserRecord[]>;

  /** Creates or replaces a grant. */
  putGrant(g: GrantRecord): Promise<void>;
  grant(grantId: string): Promise<GrantRecord | undefined>;
  /** The user's live (not revoked) grants, by id. */
  grantsOfUser(username: string): Promise<GrantRecord[]>;
  /** Revokes a grant and every token issued under it. */
  revokeGrant(grantId: string): Promise<void>;
  /** Every grant (revoked too) with an id after `after`, by id, at most `limit`: for copying a registry. */
  grantsAfter(after: string, limit: number): Promise<GrantRecord[]>;
  /** Every token issued under a grant, by hash: for copying a registry. */
  tokensOfGrant(grantId: string): Promise<TokenRecord[]>;

  /** Stores a new token; its hash must be new. */
  putToken(t: TokenRecord): Promise<void>;
  token(hash: string): Promise<TokenRecord | undefined>;
  revokeToken(hash: string): Promise<void>;
  /** Marks a refresh token used; false when it already was (a reuse) or does not exist. */
  useRefresh(hash: string, now: number): Promise<boolean>;

  putCode(c: CodeRecord): Promise<void>;
  /** Redeems a code once, atomically: every later call for the same code gets `{ reused: true }`. */
  redeemCode(hash: string, now: number): Promise<{ code?: CodeRecord; reused: boolean }>;

  putLaunch(l: LaunchRecord): Promise<void>;
  launch(launch: string): Promise<LaunchRecord | undefined>;

  /**
   * Stores a new pending authorization unless its client already has `maxPerClient` live ones
   * (false then): anyone can start an authorization, so the store must not grow without bound.
   * Lapsed entries are never returned, and are removed (SQLite: on the next put; MongoDB: TTL).
   */
  putPending(p: PendingRecord, maxPerClient: number, now: number): Promise<boolean>;
  /** A live pending authorization; undefined when unknown, lapsed or taken. */
  pending(tx: string, now: number): Promise<PendingRecord | undefined>;
  /** Saves changes to a live pending authorization; false when it lapsed or was taken meanwhile. */
  updatePending(p: PendingRecord, now: number): Promise<boolean>;
  /** Removes and returns a live pending authorization, atomically: of two concurrent calls one gets it. */
  takePending(tx: string, now: number): Promise<PendingRecord | undefined>;

  putManageSession(s: ManageSessionRecord, now: number): Promise<void>;
  /** A live session; undefined when unknown or lapsed. */
  manageSession(session: string, now: number): Promise<ManageSessionRecord | undefined>;

  /**
   * Records a client assertion's jti until `expiresAt`; false when (iss, jti) was recorded before
   * and has not expired (a replay). Atomic: of two concurrent calls one gets true.
   */
  rememberJti(iss: string, jti: string, expiresAt: number, now: number): Promise<boolean>;

  /** Newest first. */
  signingKeys(): Promise<SigningKeyRecord[]>;
  putSigningKey(kid: string, createdAt: number, privateJwk: Record<string, unknown>): Promise<void>;
  /** Sets retiredAt unless already retired. */
  retireSigningKey(kid: string, at: number): Promise<void>;
  deleteSigningKey(kid: string): Promise<void>;

  /**
   * Queues an audit entry: stored in batches off the request path. Append-only: there is no
   * way to change or remove an entry through this port.
   */
  audit(e: AuditEntry): void;
  /** Resolves once every entry queued so far is stored. */
  flushAudit(): Promise<void>;
  /** Entries with seq > after, in seq order (flushes this instance's queue first). */
  auditLog(opts: { after?: number; limit: number }): Promise<StoredAuditEntry[]>;

  /** Stores every queued audit entry, then lets go of what the adapter holds. */
  close(): Promise<void>;
}
