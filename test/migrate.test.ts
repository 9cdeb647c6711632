// scripts/migrate.ts: every version of every resource from an SQLite store into a MongoDB store
// (the in-process emulation), oldest first, through the store port; resumable; refusing a
// target that already holds other versions.
import t from 'tap';
import type { Resource } from 'fhir/r4.js';
import { loadDefinitions } from '../src/definitions/registry.js';
import { SearchParams } from '../src/search/params.js';
import { Indexer } from '../src/search/extract.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { MongoStore } from '../src/store/mongo/store.js';
import type { Store, VersionRecord } from '../src/store/port.js';
import { migrate, type MigrateProgress } from '../scripts/migrate.js';
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

/** A version without what the copy changes (lastUpdated, order value). */
function essence(r: VersionRecord): string {
  const json = r.json ? (JSON.parse(r.json) as { meta?: Record<string, unknown> }) : undefined;
  if (json?.meta) delete json.meta.lastUpdated;
  return JSON.stringify([r.type, r.id, r.versionId, r.deleted, r.method, json ?? null]);
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

t.test('SQLite → MongoDB: the same versions, in the same history order, searchable, with progress', async (t) => {
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
  t.same(b.map(essence), a.map(essence), 'every version, same content, same order');
  t.same((await to.history({ type: 'Patient', id: 'pat-bob', count: 10 })).records.map((r) => `${r.versionId}:${r.deleted}`), ['3:false', '2:true', '1:false']);
  // Copied resources are indexed: the target's reference index finds what points at a patient.
  const refs = async (s: Store): Promise<string[]> => (await s.referencesTo('Patient', 'pat-alice', 1000)).map((r) => `${r.type}/${r.id}`).sort();
  t.ok((await refs(to)).length > 3);
  t.same(await refs(to), await refs(from));
  t.equal(progress.at(-1)?.phase, 'copy');
  t.equal(progress.at(-1)?.done, a.length);
  t.ok(progress.some((p) => p.phase === 'scan'));
});

t.test('an interrupted copy resumes: a second run skips what is there and copies the rest', async (t) => {
  const from = await source();
  const db = new MingoDb('replicaset');
  const to = await MongoStore.open({ db, indexer });
  t.teardown(async () => { await from.close(); await to.close(); });
  // Interrupt the first run after 10 versions.
  let writes = 0;
  const stopping: Store = Object.create(to) as Store;
  stopping.update = async (...args) => {
    if (++writes > 10) throw new Error('interrupted');
    return to.update(...args);
  };
  await t.rejects(migrate(from, stopping), /interrupted/);
  const again = await migrate(from, to);
  t.equal(again.skipped, 10);
  t.same((await everything(to)).map(essence), (await everything(from)).map(essence));
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
  await t.rejects(migrate(from, to), /Patient\/pat-alice: the target is at version|Patient\/pat-alice/);
});
