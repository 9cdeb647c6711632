// The auth registry's part of `npm run migrate` (scripts/migrate.ts): clients, users, signing
// keys (retired ones too), grants with their tokens, and the audit log, copied as they are, so
// that apps stay registered, signed-in apps keep their refresh tokens, tokens signed before the
// copy still verify, and the audit trail carries on. Short-lived records are not copied
// (authorization codes, launch handles, sign-ins in progress, manage sessions, assertion jti
// entries): a sign-in under way during the copy starts again.
//
// Re-running it copies what is missing and skips what is there unchanged; a record the target
// holds with other content stops the copy, naming it (the target was not empty).
import type { AuthRegistry, StoredAuditEntry } from '../src/store/registry.js';

export interface RegistryCopy {
  clients: number;
  users: number;
  keys: number;
  grants: number;
  tokens: number;
  audit: number;
  /** Records found already in the target, unchanged (a resumed or repeated run). */
  skipped: number;
}

const PAGE = 500;

/** JSON with object keys sorted: the same record read from either adapter compares equal. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x)
    ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : x));
}

/**
 * Copies `what` unless the target holds it already: true when it was copied, false when an
 * equal record was there; throws when the target holds a different one.
 */
async function copyOne<T>(what: string, record: T, there: T | undefined, put: () => Promise<void>): Promise<boolean> {
  if (there === undefined) {
    await put();
    return true;
  }
  if (canonical(there) !== canonical(record)) throw new Error(`${what} differs in the target: the target was not empty`);
  return false;
}

/** An audit entry without its position (each log numbers its own entries). */
function entryOf(e: StoredAuditEntry): string {
  const { seq: _seq, ...rest } = e;
  void _seq;
  return canonical(rest);
}

export async function migrateRegistry(source: AuthRegistry, target: AuthRegistry): Promise<RegistryCopy> {
  const out: RegistryCopy = { clients: 0, users: 0, keys: 0, grants: 0, tokens: 0, audit: 0, skipped: 0 };
  const count = (copied: boolean, key: Exclude<keyof RegistryCopy, 'skipped'>): void => {
    if (copied) out[key]++;
    else out.skipped++;
  };
  for (const c of await source.clients()) count(await copyOne(`client ${c.clientId}`, c, await target.client(c.clientId), () => target.putClient(c)), 'clients');
  for (const u of await source.users()) count(await copyOne(`user ${u.username}`, u, await target.user(u.username), () => target.putUser(u)), 'users');
  const keysThere = new Map((await target.signingKeys()).map((k) => [k.kid, k]));
  // Oldest first, as they were made.
  for (const k of (await source.signingKeys()).reverse()) {
    count(await copyOne(`signing key ${k.kid}`, k, keysThere.get(k.kid), async () => {
      await target.putSigningKey(k.kid, k.createdAt, k.privateJwk);
      if (k.retiredAt !== undefined) await target.retireSigningKey(k.kid, k.retiredAt);
    }), 'keys');
  }
  for (let after = '';;) {
    const grants = await source.grantsAfter(after, PAGE);
    for (const g of grants) {
      // Tokens first: a grant in the target means its tokens are there (a resumed run).
      for (const tk of await source.tokensOfGrant(g.grantId)) {
        count(await copyOne(`token of grant ${g.grantId}`, tk, await target.token(tk.hash), () => target.putToken(tk)), 'tokens');
      }
      count(await copyOne(`grant ${g.grantId}`, g, await target.grant(g.grantId), () => target.putGrant(g)), 'grants');
    }
    const last = grants.at(-1);
    if (!last || grants.length < PAGE) break;
    after = last.grantId;
  }
  await copyAudit(source, target, out);
  return out;
}

/**
 * The audit log, in its order, each entry with its own time. What the target holds already must
 * be the start of the source's log (a resumed run); the rest is appended.
 */
async function copyAudit(source: AuthRegistry, target: AuthRegistry, out: RegistryCopy): Promise<void> {
  let from = 0;
  let to = 0;
  for (;;) {
    const page = await source.auditLog({ after: from, limit: PAGE });
    if (page.length === 0) break;
    const there = await target.auditLog({ after: to, limit: page.length });
    for (const [n, e] of page.entries()) {
      const t = there[n];
      if (t) {
        if (entryOf(t) !== entryOf(e)) throw new Error(`audit entry ${e.seq} differs in the target: the target was not empty`);
        out.skipped++;
        to = t.seq;
      } else {
        const { seq: _seq, ...entry } = e;
        void _seq;
        target.audit(entry);
        out.audit++;
      }
    }
    from = page.at(-1)?.seq ?? from;
    // Stored before the next page is compared with the target.
    await target.flushAudit();
    const tail = await target.auditLog({ after: to, limit: PAGE * 2 });
    to = tail.at(-1)?.seq ?? to;
  }
}
