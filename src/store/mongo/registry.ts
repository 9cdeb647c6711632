// The auth registry (../registry.ts) on MongoDB, through the same database port as the clinical
// adapter (db.ts): every record lives in the database, so any number of Flint instances share
// clients, grants, tokens, codes, replay protection, signing keys and the audit log, and nothing
// is written to local disk. Each single-use step is one conditional update of one document
// (atomic on the server), so two instances never both redeem one code or accept one jti.
import type {
  AuditEntry, AuthRegistry, ClientRecord, CodeRecord, GrantRecord, LaunchRecord, ManageSessionRecord, PendingRecord, SigningKeyRecord, StoredAuditEntry, TokenRecord, UserRecord,
} from '../registry.js';
import { DuplicateKeyError, type Doc, type MongoDb } from './db.js';
import {
  AUTH_CLIENTS, AUTH_CODES, AUTH_GRANTS, AUTH_INDEXES, AUTH_JTI, AUTH_KEYS, AUTH_LAUNCHES, AUTH_MANAGE_SESSIONS, AUTH_PENDING, AUTH_TOKENS, AUTH_USERS,
  type CodeDoc, type GrantDoc, type JtiDoc, type KeyDoc, type ManageSessionDoc, type PendingDoc, type TokenDoc,
} from './layout.js';
import { MongoAuditLog } from './audit-log.js';

const json = <T>(d: Doc | undefined): T | undefined => (d && typeof d.j === 'string' ? JSON.parse(d.j) as T : undefined);

export interface MongoRegistryOptions {
  db: MongoDb;
  /** Close `db` with the registry (the CLI's own connection); false when the clinical store owns it. */
  ownsDb?: boolean;
}

export class MongoRegistry implements AuthRegistry {
  private readonly auditLogOf: MongoAuditLog;

  private constructor(private readonly db: MongoDb, private readonly ownsDb: boolean) {
    this.auditLogOf = new MongoAuditLog(db);
  }

  static async open(opts: MongoRegistryOptions): Promise<MongoRegistry> {
    await opts.db.ensureIndexes(AUTH_INDEXES);
    return new MongoRegistry(opts.db, opts.ownsDb ?? false);
  }

  async close(): Promise<void> {
    await this.auditLogOf.flush();
    if (this.ownsDb) await this.db.close();
  }

  private async one(coll: Parameters<MongoDb['find']>[0], id: string): Promise<Doc | undefined> {
    const [d] = await this.db.find(coll, { _id: id }, { limit: 1 });
    return d;
  }

  // ---- clients and users -----------------------------------------------------------------

  async putClient(c: ClientRecord): Promise<void> {
    await this.db.replaceOne(AUTH_CLIENTS, { _id: c.clientId }, { _id: c.clientId, j: JSON.stringify(c) }, true);
  }

  async client(clientId: string): Promise<ClientRecord | undefined> {
    return json<ClientRecord>(await this.one(AUTH_CLIENTS, clientId));
  }

  async clients(): Promise<ClientRecord[]> {
    return (await this.db.find(AUTH_CLIENTS, {}, { sort: { _id: 1 } })).map((d) => json<ClientRecord>(d) as ClientRecord);
  }

  async deleteClient(clientId: string): Promise<boolean> {
    if ((await this.db.count(AUTH_CLIENTS, { _id: clientId }, 1)) === 0) return false;
    await this.db.deleteOne(AUTH_CLIENTS, { _id: clientId });
    return true;
  }

  async putUser(u: UserRecord): Promise<void> {
    await this.db.replaceOne(AUTH_USERS, { _id: u.username }, { _id: u.username, j: JSON.stringify(u) }, true);
  }

  async user(username: string): Promise<UserRecord | undefined> {
    return json<UserRecord>(await this.one(AUTH_USERS, username));
  }

  async users(): Promise<UserRecord[]> {
    return (await this.db.find(AUTH_USERS, {}, { sort: { _id: 1 } })).map((d) => json<UserRecord>(d) as UserRecord);
  }

  // ---- grants, tokens, codes, launches ---------------------------------------------------

  async putGrant(g: GrantRecord): Promise<void> {
    const doc: GrantDoc = { _id: g.grantId, u: g.username ?? null, rv: g.revoked, j: JSON.stringify(g) };
    await this.db.replaceOne(AUTH_GRANTS, { _id: g.grantId }, { ...doc }, true);
  }

  private static grantOf(d: Doc): GrantRecord {
    return { ...(JSON.parse(d.j as string) as GrantRecord), revoked: d.rv === true };
  }

  async grant(grantId: string): Promise<GrantRecord | undefined> {
    const d = await this.one(AUTH_GRANTS, grantId);
    return d ? MongoRegistry.grantOf(d) : undefined;
  }

  async grantsOfUser(username: string): Promise<GrantRecord[]> {
    return (await this.db.find(AUTH_GRANTS, { u: username, rv: false }, { sort: { _id: 1 } })).map(MongoRegistry.grantOf);
  }

  async revokeGrant(grantId: string): Promise<void> {
    // The grant first: every token lookup checks its grant, so access ends with this one write
    // even if the process dies before the tokens are marked.
    await this.db.setFields(AUTH_GRANTS, { _id: grantId }, { rv: true });
    await this.db.setFieldsMany(AUTH_TOKENS, { g: grantId }, { rv: true });
  }

  async grantsAfter(after: string, limit: number): Promise<GrantRecord[]> {
    return (await this.db.find(AUTH_GRANTS, { _id: { $gt: after } }, { sort: { _id: 1 }, limit })).map(MongoRegistry.grantOf);
  }

  async tokensOfGrant(grantId: string): Promise<TokenRecord[]> {
    return (await this.db.find(AUTH_TOKENS, { g: grantId }, { sort: { _id: 1 } }) as unknown as TokenDoc[]).map(MongoRegistry.tokenOf);
  }

  private static tokenOf(d: TokenDoc): TokenRecord {
    return { hash: d._id, grantId: d.g, kind: d.k, issuedAt: d.ia, expiresAt: d.ea, revoked: d.rv, ...(d.ua !== null ? { usedAt: d.ua } : {}) };
  }

  async putToken(t: TokenRecord): Promise<void> {
    const doc: TokenDoc = { _id: t.hash, g: t.grantId, k: t.kind, ia: t.issuedAt, ea: t.expiresAt, ua: t.usedAt ?? null, rv: t.revoked, exp: new Date(t.expiresAt) };
    await this.db.insertOne(AUTH_TOKENS, { ...doc });
  }

  async token(hash: string): Promise<TokenRecord | undefined> {
    const d = await this.one(AUTH_TOKENS, hash) as TokenDoc | undefined;
    return d ? MongoRegistry.tokenOf(d) : undefined;
  }

  async revokeToken(hash: string): Promise<void> {
    await this.db.setFields(AUTH_TOKENS, { _id: hash }, { rv: true });
  }

  async useRefresh(hash: string, now: number): Promise<boolean> {
    return this.db.setFields(AUTH_TOKENS, { _id: hash, ua: null }, { ua: now });
  }

  async putCode(c: CodeRecord): Promise<void> {
    const doc: CodeDoc = { _id: c.hash, j: JSON.stringify(c), ea: c.expiresAt, ua: null, exp: new Date(c.expiresAt) };
    await this.db.insertOne(AUTH_CODES, { ...doc });
  }

  async redeemCode(hash: string, now: number): Promise<{ code?: CodeRecord; reused: boolean }> {
    // The conditional update is the redemption: of two instances racing, one matches.
    const won = await this.db.setFields(AUTH_CODES, { _id: hash, ua: null }, { ua: now });
    const code = json<CodeRecord>(await this.one(AUTH_CODES, hash));
    if (!code) return { reused: false };
    return { code, reused: !won };
  }

  async putLaunch(l: LaunchRecord): Promise<void> {
    await this.db.insertOne(AUTH_LAUNCHES, { _id: l.launch, j: JSON.stringify(l), ea: l.expiresAt, exp: new Date(l.expiresAt) });
  }

  async launch(launch: string): Promise<LaunchRecord | undefined> {
    return json<LaunchRecord>(await this.one(AUTH_LAUNCHES, launch));
  }

  // ---- authorizations in progress and management sessions --------------------------------

  async putPending(p: PendingRecord, maxPerClient: number, now: number): Promise<boolean> {
    // Count only live entries (the TTL monitor lags up to a minute). Two instances racing near
    // the cap may both insert: the bound is the cap plus the instances' concurrency, still finite.
    if ((await this.db.count(AUTH_PENDING, { c: p.clientId, ea: { $gt: now } }, maxPerClient)) >= maxPerClient) return false;
    const doc: PendingDoc = { _id: p.tx, c: p.clientId, j: JSON.stringify(p), ea: p.expiresAt, exp: new Date(p.expiresAt) };
    await this.db.insertOne(AUTH_PENDING, { ...doc });
    return true;
  }

  async pending(tx: string, now: number): Promise<PendingRecord | undefined> {
    const [d] = await this.db.find(AUTH_PENDING, { _id: tx, ea: { $gt: now } }, { limit: 1 });
    return json<PendingRecord>(d);
  }

  async updatePending(p: PendingRecord, now: number): Promise<boolean> {
    return this.db.setFields(AUTH_PENDING, { _id: p.tx, c: p.clientId, ea: { $gt: now } }, { j: JSON.stringify(p) });
  }

  async takePending(tx: string, now: number): Promise<PendingRecord | undefined> {
    const found = await this.pending(tx, now);
    // The delete is the taking: of two instances racing, one removes the document.
    if (!found || (await this.db.deleteMany(AUTH_PENDING, { _id: tx })) !== 1) return undefined;
    return found;
  }

  async putManageSession(s: ManageSessionRecord): Promise<void> {
    const doc: ManageSessionDoc = { _id: s.session, u: s.username, ea: s.expiresAt, exp: new Date(s.expiresAt) };
    await this.db.insertOne(AUTH_MANAGE_SESSIONS, { ...doc });
  }

  async manageSession(session: string, now: number): Promise<ManageSessionRecord | undefined> {
    const [d] = await this.db.find(AUTH_MANAGE_SESSIONS, { _id: session, ea: { $gt: now } }, { limit: 1 }) as unknown as ManageSessionDoc[];
    return d ? { session, username: d.u, expiresAt: d.ea } : undefined;
  }

  async rememberJti(iss: string, jti: string, expiresAt: number, now: number): Promise<boolean> {
    const doc: JtiDoc = { _id: JSON.stringify([iss, jti]), ea: expiresAt, exp: new Date(expiresAt) };
    try {
      await this.db.insertOne(AUTH_JTI, { ...doc });
      return true;
    } catch (err) {
      if (!(err instanceof DuplicateKeyError)) throw err;
    }
    // Seen before: a replay, unless that entry lapsed and the TTL monitor has not removed it yet
    // (then this use takes it over, atomically, as SQLite's delete-then-insert does).
    return this.db.setFields(AUTH_JTI, { _id: doc._id, ea: { $lt: now } }, { ea: expiresAt, exp: doc.exp });
  }

  // ---- signing keys -----------------------------------------------------------------------

  async signingKeys(): Promise<SigningKeyRecord[]> {
    return (await this.db.find(AUTH_KEYS, {}, { sort: { ca: -1 } }) as unknown as KeyDoc[]).map((d) => ({
      kid: d._id, createdAt: d.ca, privateJwk: JSON.parse(d.j) as Record<string, unknown>, ...(d.ra !== null ? { retiredAt: d.ra } : {}),
    }));
  }

  async putSigningKey(kid: string, createdAt: number, privateJwk: Record<string, unknown>): Promise<void> {
    const doc: KeyDoc = { _id: kid, ca: createdAt, ra: null, j: JSON.stringify(privateJwk) };
    await this.db.insertOne(AUTH_KEYS, { ...doc });
  }

  async retireSigningKey(kid: string, at: number): Promise<void> {
    await this.db.setFields(AUTH_KEYS, { _id: kid, ra: null }, { ra: at });
  }

  async deleteSigningKey(kid: string): Promise<void> {
    await this.db.deleteOne(AUTH_KEYS, { _id: kid });
  }

  // ---- audit (append-only: audit-log.ts inserts and finds, nothing else) -------------------

  audit(e: AuditEntry): void {
    this.auditLogOf.write(e);
  }

  flushAudit(): Promise<void> {
    return this.auditLogOf.flush();
  }

  auditLog(opts: { after?: number; limit: number }): Promise<StoredAuditEntry[]> {
    return this.auditLogOf.read(opts);
  }
}
