// The auth registry (../registry.ts) on SQLite: a small database of its own next to the FHIR
// data (AUTH_DB), written synchronously through prepared statements (each call is one short
// statement or transaction); the audit log is appended in batches by a worker thread
// (audit-writer.ts).
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type {
  AuditEntry, AuthRegistry, ClientRecord, CodeRecord, GrantRecord, LaunchRecord, ManageSessionRecord, PendingRecord, SigningKeyRecord, StoredAuditEntry, TokenRecord, UserRecord,
} from '../registry.js';
import { SqliteAuditWriter } from './audit-writer.js';
import { auditAppender } from './audit-sqlite.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS client (client_id TEXT PRIMARY KEY, json TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS user (username TEXT PRIMARY KEY, json TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS grant_ (grant_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, username TEXT, revoked INTEGER NOT NULL DEFAULT 0, json TEXT NOT NULL) STRICT;
CREATE INDEX IF NOT EXISTS grant_user ON grant_ (username);
CREATE TABLE IF NOT EXISTS token (hash TEXT PRIMARY KEY, grant_id TEXT NOT NULL, kind TEXT NOT NULL, issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0, used_at INTEGER) STRICT;
CREATE INDEX IF NOT EXISTS token_grant ON token (grant_id);
CREATE TABLE IF NOT EXISTS code (hash TEXT PRIMARY KEY, json TEXT NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER) STRICT;
CREATE TABLE IF NOT EXISTS launch (launch TEXT PRIMARY KEY, json TEXT NOT NULL, expires_at INTEGER NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS pending (tx TEXT PRIMARY KEY, client_id TEXT NOT NULL, json TEXT NOT NULL, expires_at INTEGER NOT NULL) STRICT;
CREATE INDEX IF NOT EXISTS pending_client ON pending (client_id, expires_at);
CREATE INDEX IF NOT EXISTS pending_expiry ON pending (expires_at);
CREATE TABLE IF NOT EXISTS manage_session (session TEXT PRIMARY KEY, username TEXT NOT NULL, expires_at INTEGER NOT NULL) STRICT;
CREATE INDEX IF NOT EXISTS manage_session_expiry ON manage_session (expires_at);
CREATE TABLE IF NOT EXISTS jti (iss TEXT NOT NULL, jti TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (iss, jti)) STRICT;
CREATE TABLE IF NOT EXISTS signing_key (kid TEXT PRIMARY KEY, created_at INTEGER NOT NULL, private_jwk TEXT NOT NULL, retired_at INTEGER) STRICT;
-- Append-only: rows are inserted, never updated or deleted (no statement here does either).
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, request_id TEXT NOT NULL,
  client_id TEXT, user TEXT, patient TEXT, action TEXT NOT NULL, target TEXT, query TEXT, status INTEGER NOT NULL) STRICT;
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
`;

const TOKEN_COLUMNS = 'hash, grant_id, kind, issued_at, expires_at, revoked, used_at';
type TokenRow = { hash: string; grant_id: string; kind: 'access' | 'refresh'; issued_at: number; expires_at: number; revoked: number; used_at: number | null };

function tokenOf(row: TokenRow): TokenRecord {
  return {
    hash: row.hash, grantId: row.grant_id, kind: row.kind, issuedAt: row.issued_at, expiresAt: row.expires_at, revoked: row.revoked === 1,
    ...(row.used_at !== null ? { usedAt: row.used_at } : {}),
  };
}

export class SqliteRegistry implements AuthRegistry {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly auditWriter: SqliteAuditWriter;

  constructor(filename: string) {
    if (filename !== ':memory:') mkdirSync(dirname(filename), { recursive: true });
    this.db = new Database(filename);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(SCHEMA);
    this.auditWriter = new SqliteAuditWriter(filename, auditAppender(this.db));
  }

  /** Statements are prepared once (preparing costs more than running these lookups). */
  private stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  /** Closes the database once every queued audit entry is stored. */
  async close(): Promise<void> {
    await this.auditWriter.close();
    this.db.close();
  }

  // ---- clients and users -----------------------------------------------------------------

  async putClient(c: ClientRecord): Promise<void> {
    this.stmt('INSERT INTO client (client_id, json) VALUES (?, ?) ON CONFLICT (client_id) DO UPDATE SET json = excluded.json').run(c.clientId, JSON.stringify(c));
  }

  async client(clientId: string): Promise<ClientRecord | undefined> {
    const row = this.stmt('SELECT json FROM client WHERE client_id = ?').get(clientId) as { json: string } | undefined;
    return row ? JSON.parse(row.json) as ClientRecord : undefined;
  }

  async clients(): Promise<ClientRecord[]> {
    return (this.stmt('SELECT json FROM client ORDER BY client_id').all() as { json: string }[]).map((r) => JSON.parse(r.json) as ClientRecord);
  }

  async deleteClient(clientId: string): Promise<boolean> {
    return this.stmt('DELETE FROM client WHERE client_id = ?').run(clientId).changes > 0;
  }

  async putUser(u: UserRecord): Promise<void> {
    this.stmt('INSERT INTO user (username, json) VALUES (?, ?) ON CONFLICT (username) DO UPDATE SET json = excluded.json').run(u.username, JSON.stringify(u));
  }

  async user(username: string): Promise<UserRecord | undefined> {
    const row = this.stmt('SELECT json FROM user WHERE username = ?').get(username) as { json: string } | undefined;
    return row ? JSON.parse(row.json) as UserRecord : undefined;
  }

  async users(): Promise<UserRecord[]> {
    return (this.stmt('SELECT json FROM user ORDER BY username').all() as { json: string }[]).map((r) => JSON.parse(r.json) as UserRecord);
  }

  // ---- grants, tokens, codes, launches ---------------------------------------------------

  async putGrant(g: GrantRecord): Promise<void> {
    this.stmt('INSERT INTO grant_ (grant_id, client_id, username, revoked, json) VALUES (?, ?, ?, ?, ?) ON CONFLICT (grant_id) DO UPDATE SET revoked = excluded.revoked, json = excluded.json')
      .run(g.grantId, g.clientId, g.username ?? null, g.revoked ? 1 : 0, JSON.stringify(g));
  }

  async grant(grantId: string): Promise<GrantRecord | undefined> {
    const row = this.stmt('SELECT json, revoked FROM grant_ WHERE grant_id = ?').get(grantId) as { json: string; revoked: number } | undefined;
    return row ? { ...(JSON.parse(row.json) as GrantRecord), revoked: row.revoked === 1 } : undefined;
  }

  async grantsOfUser(username: string): Promise<GrantRecord[]> {
    return (this.stmt('SELECT json, revoked FROM grant_ WHERE username = ? AND revoked = 0 ORDER BY grant_id').all(username) as { json: string; revoked: number }[])
      .map((r) => ({ ...(JSON.parse(r.json) as GrantRecord), revoked: false }));
  }

  /** Revokes a grant and every token issued under it. */
  async revokeGrant(grantId: string): Promise<void> {
    this.db.transaction(() => {
      this.stmt('UPDATE grant_ SET revoked = 1 WHERE grant_id = ?').run(grantId);
      this.stmt('UPDATE token SET revoked = 1 WHERE grant_id = ?').run(grantId);
    })();
  }

  async putToken(t: TokenRecord): Promise<void> {
    this.stmt('INSERT INTO token (hash, grant_id, kind, issued_at, expires_at, revoked, used_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(t.hash, t.grantId, t.kind, t.issuedAt, t.expiresAt, t.revoked ? 1 : 0, t.usedAt ?? null);
  }

  async token(hash: string): Promise<TokenRecord | undefined> {
    const row = this.stmt(`SELECT ${TOKEN_COLUMNS} FROM token WHERE hash = ?`).get(hash) as TokenRow | undefined;
    return row ? tokenOf(row) : undefined;
  }

  async grantsAfter(after: string, limit: number): Promise<GrantRecord[]> {
    return (this.stmt('SELECT json, revoked FROM grant_ WHERE grant_id > ? ORDER BY grant_id LIMIT ?').all(after, limit) as { json: string; revoked: number }[])
      .map((r) => ({ ...(JSON.parse(r.json) as GrantRecord), revoked: r.revoked === 1 }));
  }

  async tokensOfGrant(grantId: string): Promise<TokenRecord[]> {
    return (this.stmt(`SELECT ${TOKEN_COLUMNS} FROM token WHERE grant_id = ? ORDER BY hash`).all(grantId) as TokenRow[]).map(tokenOf);
  }

  async revokeToken(hash: string): Promise<void> {
    this.stmt('UPDATE token SET revoked = 1 WHERE hash = ?').run(hash);
  }

  /** Marks a refresh token used; false when it already was (reuse). */
  async useRefresh(hash: string, now: number): Promise<boolean> {
    return this.stmt('UPDATE token SET used_at = ? WHERE hash = ? AND used_at IS NULL').run(now, hash).changes === 1;
  }

  async putCode(c: CodeRecord): Promise<void> {
    this.stmt('INSERT INTO code (hash, json, expires_at) VALUES (?, ?, ?)').run(c.hash, JSON.stringify(c), c.expiresAt);
  }

  /** Redeems a code once: the second call for the same code gets `{ reused: true }`. */
  async redeemCode(hash: string, now: number): Promise<{ code?: CodeRecord; reused: boolean }> {
    return this.db.transaction(() => {
      const row = this.stmt('SELECT json, used_at FROM code WHERE hash = ?').get(hash) as { json: string; used_at: number | null } | undefined;
      if (!row) return { reused: false };
      const code = JSON.parse(row.json) as CodeRecord;
      if (row.used_at !== null) return { code, reused: true };
      this.stmt('UPDATE code SET used_at = ? WHERE hash = ?').run(now, hash);
      return { code, reused: false };
    })();
  }

  async putLaunch(l: LaunchRecord): Promise<void> {
    this.stmt('INSERT INTO launch (launch, json, expires_at) VALUES (?, ?, ?)').run(l.launch, JSON.stringify(l), l.expiresAt);
  }

  async launch(launch: string): Promise<LaunchRecord | undefined> {
    const row = this.stmt('SELECT json FROM launch WHERE launch = ?').get(launch) as { json: string } | undefined;
    return row ? JSON.parse(row.json) as LaunchRecord : undefined;
  }

  // ---- authorizations in progress and management sessions --------------------------------

  async putPending(p: PendingRecord, maxPerClient: number, now: number): Promise<boolean> {
    return this.db.transaction(() => {
      this.stmt('DELETE FROM pending WHERE expires_at <= ?').run(now);
      const { n } = this.stmt('SELECT count(*) AS n FROM pending WHERE client_id = ?').get(p.clientId) as { n: number };
      if (n >= maxPerClient) return false;
      this.stmt('INSERT INTO pending (tx, client_id, json, expires_at) VALUES (?, ?, ?, ?)').run(p.tx, p.clientId, JSON.stringify(p), p.expiresAt);
      return true;
    })();
  }

  async pending(tx: string, now: number): Promise<PendingRecord | undefined> {
    const row = this.stmt('SELECT json FROM pending WHERE tx = ? AND expires_at > ?').get(tx, now) as { json: string } | undefined;
    return row ? JSON.parse(row.json) as PendingRecord : undefined;
  }

  async updatePending(p: PendingRecord, now: number): Promise<boolean> {
    // The expiry is the one set at the start: signing in does not extend it.
    return this.stmt('UPDATE pending SET json = ? WHERE tx = ? AND client_id = ? AND expires_at > ?').run(JSON.stringify(p), p.tx, p.clientId, now).changes === 1;
  }

  async takePending(tx: string, now: number): Promise<PendingRecord | undefined> {
    return this.db.transaction(() => {
      const found = this.stmt('SELECT json, expires_at FROM pending WHERE tx = ?').get(tx) as { json: string; expires_at: number } | undefined;
      if (!found) return undefined;
      this.stmt('DELETE FROM pending WHERE tx = ?').run(tx);
      return found.expires_at > now ? JSON.parse(found.json) as PendingRecord : undefined;
    })();
  }

  async putManageSession(s: ManageSessionRecord, now: number): Promise<void> {
    this.stmt('DELETE FROM manage_session WHERE expires_at <= ?').run(now);
    this.stmt('INSERT INTO manage_session (session, username, expires_at) VALUES (?, ?, ?)').run(s.session, s.username, s.expiresAt);
  }

  async manageSession(session: string, now: number): Promise<ManageSessionRecord | undefined> {
    const row = this.stmt('SELECT username, expires_at FROM manage_session WHERE session = ? AND expires_at > ?').get(session, now) as { username: string; expires_at: number } | undefined;
    return row ? { session, username: row.username, expiresAt: row.expires_at } : undefined;
  }

  /** Records a client assertion's jti; false when (iss, jti) was seen before (a replay). */
  async rememberJti(iss: string, jti: string, expiresAt: number, now: number): Promise<boolean> {
    this.stmt('DELETE FROM jti WHERE expires_at < ?').run(now);
    return this.stmt('INSERT OR IGNORE INTO jti (iss, jti, expires_at) VALUES (?, ?, ?)').run(iss, jti, expiresAt).changes === 1;
  }

  // ---- signing keys -----------------------------------------------------------------------

  async signingKeys(): Promise<SigningKeyRecord[]> {
    return (this.stmt('SELECT kid, created_at, private_jwk, retired_at FROM signing_key ORDER BY created_at DESC').all() as
      { kid: string; created_at: number; private_jwk: string; retired_at: number | null }[])
      .map((r) => ({ kid: r.kid, createdAt: r.created_at, privateJwk: JSON.parse(r.private_jwk) as Record<string, unknown>, ...(r.retired_at !== null ? { retiredAt: r.retired_at } : {}) }));
  }

  async putSigningKey(kid: string, createdAt: number, privateJwk: Record<string, unknown>): Promise<void> {
    this.stmt('INSERT INTO signing_key (kid, created_at, private_jwk) VALUES (?, ?, ?)').run(kid, createdAt, JSON.stringify(privateJwk));
  }

  async retireSigningKey(kid: string, at: number): Promise<void> {
    this.stmt('UPDATE signing_key SET retired_at = ? WHERE kid = ? AND retired_at IS NULL').run(at, kid);
  }

  async deleteSigningKey(kid: string): Promise<void> {
    this.stmt('DELETE FROM signing_key WHERE kid = ?').run(kid);
  }

  // ---- audit ------------------------------------------------------------------------------

  /** Queues an audit entry; stored in batches off the request path (src/auth/audit-writer.ts). */
  audit(e: AuditEntry): void {
    this.auditWriter.write(e);
  }

  /** Resolves once every entry queued so far is stored. */
  flushAudit(): Promise<void> {
    return this.auditWriter.flush();
  }

  async auditLog(opts: { after?: number; limit: number }): Promise<StoredAuditEntry[]> {
    await this.flushAudit();
    return (this.stmt('SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?').all(opts.after ?? 0, opts.limit) as Record<string, unknown>[]).map((r) => ({
      seq: r.seq as number, time: r.time as string, requestId: r.request_id as string, action: r.action as string, status: r.status as number,
      ...(r.client_id ? { clientId: r.client_id as string } : {}), ...(r.user ? { user: r.user as string } : {}),
      ...(r.patient ? { patient: r.patient as string } : {}), ...(r.target ? { target: r.target as string } : {}), ...(r.query ? { query: r.query as string } : {}),
    }));
  }
}
