// scripts/migrate.ts: every version of every resource from an SQLite store into a MongoDB store
// (the in-process emulation), oldest first, exactly as stored (versionId, lastUpdated, JSON,
// deletions); resumable and idempotent; refusing a target that already holds other versions.
// Then the auth registry (scripts/migrate-registry.ts).
import t from 'tap';
import type { Resource } from 'fhir/r4.js';
import { loadDefinitions } from '../src/definitions/registry.js';
import { SearchParams } from '../src/search/params.js';
import { Indexer } from '../src/search/extract.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { MongoStore } from '../src/store/mongo/store.js';
import type { Store, VersionRecord } from '../src/store/port.js';
import { migrate, type MigrateProgress } from '../scripts/migrate.js';
import { migrateRegistry } from '../scripts/migrate-registry.js';
import { SqliteRegistry } from '../src/store/sqlite/registry.js';
import { MongoRegistry } from '../src/store/mongo/registry.js';
import type { AuthRegistry } from '../src/store/registry.js';
import { clinic } from './helpers/app.js';
import { MingoDb } from './helpers/mingo-db.js';

const BASE = 'http://flint.test/fhir';
const defs = loadDefinitions();
const params = new SearchParams(defs);
const indexer = new Indexer(defs, BASE, params);

/** Source data: the clinic fixtures, then updates, deletions and a re-creation. */
async function source(): Promise<Store> {
  const s = SqliteStore.open({ filename: ':memory:', indexer });
  for (const r of clinic()) await s.update(r as Resource & { id: string });
  await s.update({ resourceType: 'Patient', id: 'pat-alice', active: false, name: [{ family: 'Walker' }] } as Resource & { id: string }, { method: 'PATCH' });
  await s.delete('Patient', 'pat-bob');
  await s.update({ resourceType: 'Patient', id: 'pat-bob', name: [{ family: 'Back' }] } as Resource & { id: string });
  await s.create({ resourceType: 'Basic', id: 'gone', code: { text: 'x' } } as Resource, { method: 'POST' });
  await s.delete('Basic', 'gone');
  return s;
}

/** A version as the API serves it: everything but its position in the change order (each store numbers its own). */
function essence(r: VersionRecord): string {
  return JSON.stringify([r.type, r.id, r.versionId, r.lastUpdated, r.deleted, r.method, r.json ?? null]);
}

async function everything(s: Store): Promise<VersionRecord[]> {
  const out: VersionRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await s.history({ count: 50, ...(cursor ? { cursor } : {}) });
    out.push(...page.records);
    cursor = page.next;
  } while (cursor);
  return out;
}

/** Every resource's own history and current version, resource by resource. */
async function byResource(s: Store, all: VersionRecord[]): Promise<Map<string, { current: string; history: string[] }>> {
  const out = new Map<string, { current: string; history: string[] }>();
  for (const key of new Set(all.map((r) => `${r.type}/${r.id}`))) {
    const [type = '', id = ''] = key.split('/');
    const cur = await s.read(type, id);
    const history = (await s.history({ type, id, count: 100 })).records.map(essence);
    out.set(key, { current: cur.status === 'missing' ? 'missing' : `${cur.status}:${essence(cur.record)}`, history });
  }
  return out;
}

t.test('SQLite → MongoDB: the same versions with their own lastUpdated, in the same history order, searchable, with progress', async (t) => {
  const from = await source();
  const to = await MongoStore.open({ db: new MingoDb('replicaset'), indexer });
  t.teardown(async () => { await from.close(); await to.close(); });
  const progress: MigrateProgress[] = [];
  const result = await migrate(from, to, (p) => progress.push(p), 7);
  const a = await everything(from);
  t.equal(result.copied, a.length);
  t.ok(a.length > 30, `${a.length} versions`);
  t.ok(progress.filter((p) => p.phase === 'scan').length >= 5, 'the source read in pages of 7');
  const b = await everything(to);
  t.same(b.map(essence), a.map(essence), 'every version byte for byte (versionId, lastUpdated, JSON, deletions), same order');
  t.same(await byResource(to, a), await byResource(from, a), 'resource by resource: current version (the ETag) and history');
  t.same((await to.history({ type: 'Patient', id: 'pat-bob', count: 10 })).records.map((r) => `${r.versionId}:${r.deleted}`), ['3:false', '2:true', '1:false']);
  // _since on the original instants: every cut-off gives the same versions on both.
  const instants = [...new Set(a.map((r) => r.lastUpdated))].sort();
  for (const since of [instants[0], instants[Math.floor(instants.length / 2)], instants.at(-1)]) {
    const q = { since: since ?? '', count: 1000 };
    t.same((await to.history(q)).records.map(essence), (await from.history(q)).records.map(essence), `_since=${since ?? ''}`);
  }
  // Copied resources are indexed: the target's reference index finds what points at a patient.
  const refs = async (s: Store): Promise<string[]> => (await s.referencesTo('Patient', 'pat-alice', 1000)).map((r) => `${r.type}/${r.id}`).sort();
  t.ok((await refs(to)).length > 3);
  t.same(await refs(to), await refs(from));
  t.equal(progress.at(-1)?.phase, 'copy');
  t.equal(progress.at(-1)?.done, a.length);
  t.ok(progress.some((p) => p.phase === 'scan'));
  // Writes on the target carry on from the copied versions.
  const next = await to.update({ resourceType: 'Patient', id: 'pat-alice', active: true } as Resource & { id: string });
  const had = await from.read('Patient', 'pat-alice');
  t.equal(next.record.versionId, String(Number(had.status === 'found' ? had.record.versionId : NaN) + 1));
  t.ok(next.record.lastUpdated >= (instants.at(-1) ?? ''), 'a later write is later');
  t.equal((await to.history({ count: 1 })).records[0]?.id, 'pat-alice', 'and newest in the history');
});

t.test('run twice: the second run copies nothing and changes nothing', async (t) => {
  const from = await source();
  const to = await MongoStore.open({ db: new MingoDb('replicaset'), indexer });
  t.teardown(async () => { await from.close(); await to.close(); });
  const first = await migrate(from, to);
  const before = (await everything(to)).map(essence);
  const second = await migrate(from, to);
  t.same(second, { copied: 0, skipped: first.copied });
  t.same((await everything(to)).map(essence), before);
});

t.test('an interrupted copy resumes: a second run skips what is there and copies the rest', async (t) => {
  const from = await source();
  const db = new MingoDb('replicaset');
  const to = await MongoStore.open({ db, indexer });
  t.teardown(async () => { await from.close(); await to.close(); });
  // Interrupt the first run after 10 versions.
  let writes = 0;
  const stopping: Store = Object.create(to) as Store;
  stopping.restore = async (...args) => {
    if (++writes > 10) throw new Error('interrupted');
    return to.restore(...args);
  };
  await t.rejects(migrate(from, stopping), /interrupted/);
  const again = await migrate(from, to);
  t.equal(again.skipped, 10);
  t.same((await everything(to)).map(essence), (await everything(from)).map(essence), 'every version as in the source, lastUpdated too');
  const third = await migrate(from, to);
  t.equal(third.copied, 0, 'a finished copy run again changes nothing');
});

t.test('a target that already holds other versions of a resource is refused, naming it', async (t) => {
  const from = await source();
  const to = await MongoStore.open({ db: new MingoDb('replicaset'), indexer });
  t.teardown(async () => { await from.close(); await to.close(); });
  await to.update({ resourceType: 'Patient', id: 'pat-alice', active: true } as Resource & { id: string });
  await to.update({ resourceType: 'Patient', id: 'pat-alice', active: true } as Resource & { id: string });
  await to.update({ resourceType: 'Patient', id: 'pat-alice', active: true } as Resource & { id: string });
  await t.rejects(migrate(from, to), /Patient\/pat-alice.*the target was not empty/);
});

t.test('a target holding the same version with another lastUpdated is refused, naming it', async (t) => {
  const from = await source();
  const to = await MongoStore.open({ db: new MingoDb('replicaset'), indexer });
  t.teardown(async () => { await from.close(); await to.close(); });
  const first = (await everything(from)).at(-1);
  if (!first) throw new Error('no versions');
  // Written by a plain create: same content, but a lastUpdated of its own.
  await to.create(JSON.parse(first.json ?? '{}') as Resource);
  await t.rejects(migrate(from, to), new RegExp(`${first.type}/${first.id}/_history/1 differs in the target`));
});

// ---- the auth registry ------------------------------------------------------------------

const client = (clientId: string) => ({
  clientId, name: clientId, type: 'public' as const, redirectUris: ['https://app.test/cb'], launchUris: [], allowedOrigins: [],
  scopes: ['patient/*.rs'], grantTypes: ['authorization_code'], admin: false, introspect: false,
});

async function authSource(): Promise<AuthRegistry> {
  const r = new SqliteRegistry(':memory:');
  await r.putClient(client('app-b'));
  await r.putClient({ ...client('app-a'), jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }] } });
  await r.putUser({ username: 'amy', passwordHash: 'scrypt$h', fhirUser: 'Practitioner/amy', name: 'Amy' });
  await r.putSigningKey('k1', 1000, { kty: 'EC', d: 'one' });
  await r.putSigningKey('k2', 2000, { kty: 'EC', d: 'two' });
  await r.retireSigningKey('k1', 2500);
  for (let g = 0; g < 3; g++) {
    await r.putGrant({ grantId: `g${g}`, clientId: 'app-a', username: 'amy', scope: 'openid patient/*.rs', aud: BASE, context: { n: g }, createdAt: 10 + g, revoked: false });
    await r.putToken({ hash: `access${g}`, grantId: `g${g}`, kind: 'access', issuedAt: 10, expiresAt: 4_000_000_000_000, revoked: false });
    await r.putToken({ hash: `refresh${g}`, grantId: `g${g}`, kind: 'refresh', issuedAt: 10, expiresAt: 4_000_000_000_000, revoked: false });
  }
  await r.useRefresh('refresh1', 99);
  await r.revokeGrant('g2');
  for (let n = 0; n < 7; n++) r.audit({ time: `2024-05-0${n + 1}T10:00:00.000Z`, requestId: `rq${n}`, clientId: 'app-a', action: 'read', target: `Patient/p${n}`, status: 200 });
  await r.flushAudit();
  return r;
}

async function authDump(r: AuthRegistry): Promise<unknown> {
  const grants = await r.grantsAfter('', 100);
  return {
    clients: await r.clients(), users: await r.users(), keys: await r.signingKeys(), grants,
    tokens: await Promise.all(grants.map((g) => r.tokensOfGrant(g.grantId))),
    audit: (await r.auditLog({ limit: 100 })).map(({ seq: _s, ...e }) => e),
  };
}

t.test('the auth registry: clients, users, signing keys, grants and tokens (revoked and used too), the audit log with its times', async (t) => {
  const from = await authSource();
  const to = await MongoRegistry.open({ db: new MingoDb('replicaset') });
  t.teardown(async () => { await from.close(); await to.close(); });
  const copy = await migrateRegistry(from, to);
  t.same(copy, { clients: 2, users: 1, keys: 2, grants: 3, tokens: 6, audit: 7, skipped: 0 });
  t.same(await authDump(to), await authDump(from));
  t.equal((await to.token('access2'))?.revoked, true, 'a revocation survives the copy');
  // Run again: everything is there, nothing is added (the audit log is not doubled).
  const again = await migrateRegistry(from, to);
  t.same(again, { clients: 0, users: 0, keys: 0, grants: 0, tokens: 0, audit: 0, skipped: 2 + 1 + 2 + 3 + 6 + 7 });
  t.equal((await to.auditLog({ limit: 100 })).length, 7);
  t.equal(await to.useRefresh('refresh1', 200), false, 'a used refresh token stays used');
  t.equal(await to.useRefresh('refresh0', 200), true, 'an unused one still works once');
});

t.test('the auth registry: a resumed copy appends the rest of the audit log; a target with another client is refused', async (t) => {
  const from = await authSource();
  const to = await MongoRegistry.open({ db: new MingoDb('replicaset') });
  t.teardown(async () => { await from.close(); await to.close(); });
  for (const e of (await from.auditLog({ limit: 3 }))) {
    const { seq: _s, ...entry } = e;
    to.audit(entry);
  }
  await to.flushAudit();
  const copy = await migrateRegistry(from, to);
  t.equal(copy.audit, 4);
  t.same(await authDump(to), await authDump(from));

  const other = await MongoRegistry.open({ db: new MingoDb('replicaset') });
  t.teardown(() => other.close());
  await other.putClient({ ...client('app-a'), name: 'someone else' });
  await t.rejects(migrateRegistry(from, other), /client app-a differs in the target/);
});
