// The store conformance suite: every adapter runs exactly these tests (test/store/*.test.ts).
import type { Resource } from 'fhir/r4.js';
import type { Test } from 'tap';
import { StoreError, type Store } from '../../src/store/port.js';

export interface AdapterUnderTest {
  name: string;
  /** A fresh, empty store. */
  open(): Promise<Store>;
  /** Closes and reopens the same database (for durability checks), when the adapter persists. */
  reopen?(store: Store): Promise<Store>;
}

type Tap = typeof import('tap').default;

const patient = (family: string, id?: string): Resource =>
  ({ resourceType: 'Patient', ...(id ? { id } : {}), name: [{ family }] }) as Resource;

/** A stored resource with an id, as written back in updates. */
type Writable = Resource & { id: string };

// Tests poke at arbitrary elements of stored JSON, hence `any` here (never in src/).
function parsed(json: string | undefined): any {
  if (json === undefined) throw new Error('no json');
  return JSON.parse(json);
}

async function rejectsWith(t: Test, p: Promise<unknown>, code: StoreError['code']): Promise<void> {
  try {
    await p;
    t.ok(false, `expected StoreError ${code}`);
  } catch (err) {
    t.ok(err instanceof StoreError && err.code === code, `StoreError ${code} (got ${String(err)})`);
  }
}

export function storeSuite(tap: Tap, adapter: AdapterUnderTest): void {
  const withStore = (name: string, fn: (t: Test, s: Store) => Promise<void>): void => {
    tap.test(`${adapter.name}: ${name}`, async (t) => {
      const s = await adapter.open();
      try {
        await fn(t, s);
      } finally {
        await s.close();
      }
    });
  };

  withStore('create assigns id, version 1 and lastUpdated, and stamps them into the JSON', async (t, s) => {
    const r = await s.create(patient('Doe'));
    t.match(r.id, /^[A-Za-z0-9\-.]{1,64}$/);
    t.equal(r.versionId, '1');
    t.equal(r.deleted, false);
    t.match(r.lastUpdated, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const json = parsed(r.json);
    t.equal(json.id, r.id);
    t.same(json.meta, { versionId: '1', lastUpdated: r.lastUpdated });
    t.equal(Object.keys(json)[0], 'resourceType', 'resourceType comes first');
  });

  withStore('server-managed meta replaces the client\'s, other meta is kept', async (t, s) => {
    const r = await s.create({ resourceType: 'Patient', meta: { versionId: '99', lastUpdated: '2000-01-01T00:00:00Z', tag: [{ code: 'x' }] } } as Resource);
    const meta = parsed(r.json).meta;
    t.equal(meta.versionId, '1');
    t.not(meta.lastUpdated, '2000-01-01T00:00:00Z');
    t.same(meta.tag, [{ code: 'x' }]);
  });

  withStore('create with an id that exists is a conflict', async (t, s) => {
    await s.create(patient('A', 'p1'));
    await rejectsWith(t, s.create(patient('B', 'p1')), 'version-conflict');
    const cur = await s.read('Patient', 'p1');
    t.equal(cur.status === 'found' && parsed(cur.record.json).name[0].family, 'A', 'unchanged');
  });

  withStore('read answers found, deleted or missing', async (t, s) => {
    const r = await s.create(patient('Doe'));
    t.equal((await s.read('Patient', r.id)).status, 'found');
    t.equal((await s.read('Patient', 'nope')).status, 'missing');
    t.equal((await s.read('Observation', r.id)).status, 'missing', 'ids are per type');
    await s.delete('Patient', r.id);
    const gone = await s.read('Patient', r.id);
    t.equal(gone.status, 'deleted');
  });

  withStore('update adds a version; every version stays readable', async (t, s) => {
    const v1 = await s.create(patient('One'));
    const v2 = await s.update({ ...parsed(v1.json), name: [{ family: 'Two' }] });
    t.equal(v2.created, false);
    t.equal(v2.record.versionId, '2');
    t.ok(v2.record.seq > v1.seq, 'change sequence increases');
    t.ok(v2.record.lastUpdated >= v1.lastUpdated, 'lastUpdated never goes back');
    t.equal(parsed((await s.vread('Patient', v1.id, '1'))?.json).name[0].family, 'One');
    t.equal(parsed((await s.vread('Patient', v1.id, '2'))?.json).name[0].family, 'Two');
    t.equal(await s.vread('Patient', v1.id, '3'), undefined);
    t.equal(await s.vread('Patient', v1.id, 'x'), undefined, 'a malformed version is simply not found');
  });

  withStore('update of an unknown id creates it (update-as-create)', async (t, s) => {
    const r = await s.update(patient('New', 'client-chosen') as Writable);
    t.equal(r.created, true);
    t.equal(r.record.versionId, '1');
    t.equal(r.record.id, 'client-chosen');
  });

  withStore('ifMatch: the expected version wins, any other is a conflict that changes nothing', async (t, s) => {
    const v1 = await s.create(patient('A'));
    const body = { ...parsed(v1.json), name: [{ family: 'B' }] } as Resource & { id: string };
    await rejectsWith(t, s.update(body, { ifMatch: '7' }), 'version-conflict');
    t.equal((await s.read('Patient', v1.id)).status === 'found' && (await s.history({ type: 'Patient', id: v1.id, count: 10 })).records.length, 1);
    const ok = await s.update(body, { ifMatch: '1' });
    t.equal(ok.record.versionId, '2');
    await rejectsWith(t, s.update({ ...body, id: 'absent' }, { ifMatch: '1' }), 'version-conflict');
    t.equal((await s.read('Patient', 'absent')).status, 'missing');
  });

  withStore('delete keeps history, is idempotent, and a later update resurrects with the next version', async (t, s) => {
    const v1 = await s.create(patient('A'));
    const d = await s.delete('Patient', v1.id);
    t.equal(d.status, 'deleted');
    t.equal(d.record?.versionId, '2');
    t.equal(d.record?.deleted, true);
    t.equal(d.record?.json, undefined);
    const again = await s.delete('Patient', v1.id);
    t.equal(again.status, 'already-deleted');
    t.equal((await s.delete('Patient', 'never')).status, 'missing');
    const vDel = await s.vread('Patient', v1.id, '2');
    t.equal(vDel?.deleted, true);
    const back = await s.update({ ...parsed(v1.json) });
    t.equal(back.created, true);
    t.equal(back.record.versionId, '3');
    await rejectsWith(t, s.delete('Patient', v1.id, { ifMatch: '1' }), 'version-conflict');
    t.equal((await s.read('Patient', v1.id)).status, 'found');
  });

  withStore('restore writes a version recorded elsewhere as it is; a gap or a disagreeing record changes nothing', async (t, s) => {
    const at = (ms: number): string => new Date(Date.UTC(2020, 0, 1) + ms).toISOString();
    const json = (v: number, lu: string): string => JSON.stringify({ resourceType: 'Patient', id: 'm', meta: { versionId: String(v), lastUpdated: lu }, name: [{ family: `V${v}` }] });
    const rec = (v: number, lu: string, deleted = false) => ({
      type: 'Patient', id: 'm', versionId: String(v), lastUpdated: lu, deleted, method: (deleted ? 'DELETE' : v === 1 ? 'POST' : 'PUT') as 'POST' | 'PUT' | 'DELETE', seq: 0,
      ...(deleted ? {} : { json: json(v, lu) }),
    });
    await rejectsWith(t, s.restore(rec(2, at(0))), 'version-conflict');
    t.equal((await s.read('Patient', 'm')).status, 'missing', 'a gap is refused');
    const one = await s.restore(rec(1, at(0)));
    t.equal(one.lastUpdated, at(0));
    t.equal(one.json, json(1, at(0)), 'the JSON byte for byte');
    await s.restore(rec(2, at(0)));
    await s.restore(rec(3, at(5), true));
    await rejectsWith(t, s.restore(rec(3, at(6))), 'version-conflict');
    await rejectsWith(t, s.restore({ ...rec(4, at(7)), json: json(4, at(8)) }), 'unprocessable');
    await rejectsWith(t, s.restore({ ...rec(4, at(7)), lastUpdated: 'yesterday' }), 'unprocessable');
    t.equal((await s.read('Patient', 'm')).status, 'deleted');
    const hist = await s.history({ type: 'Patient', id: 'm', count: 10 });
    t.same(hist.records.map((r) => [r.versionId, r.lastUpdated, r.deleted, r.method]), [['3', at(5), true, 'DELETE'], ['2', at(0), false, 'PUT'], ['1', at(0), false, 'POST']]);
    t.same((await s.history({ since: at(1), count: 10 })).records.map((r) => r.versionId), ['3'], '_since on the restored instants');
    // Later writes carry on after the restored versions (test/migrate.test.ts: indexed like any write).
    await s.restore({ ...rec(4, at(9)), method: 'PUT' });
    const next = await s.update({ ...patient('Now', 'm') } as Writable);
    t.equal(next.record.versionId, '5');
    t.ok(next.record.lastUpdated > at(9));
    t.same((await s.history({ count: 10 })).records.map((r) => r.versionId), ['5', '4', '3', '2', '1'], 'in the change order');
  });

  withStore('history: instance, type and system, newest first, with _since and total', async (t, s) => {
    const a = await s.create(patient('A'));
    const o = await s.create({ resourceType: 'Observation', status: 'final', code: { text: 'x' } } as Resource);
    await s.update({ ...parsed(a.json), active: true });
    await s.delete('Patient', a.id);
    const inst = await s.history({ type: 'Patient', id: a.id, count: 10 });
    t.same(inst.records.map((r) => r.versionId), ['3', '2', '1']);
    t.equal(inst.total, 3);
    t.same(inst.records.map((r) => r.method), ['DELETE', 'PUT', 'POST']);
    const type = await s.history({ type: 'Patient', count: 10 });
    t.equal(type.records.length, 3);
    const sys = await s.history({ count: 10 });
    t.equal(sys.records.length, 4);
    t.equal(sys.records[2]?.id, o.id);
    const seqs = sys.records.map((r) => r.seq);
    t.same([...seqs].sort((x, y) => y - x), seqs, 'ordered by change sequence, newest first');
    const later = await s.history({ since: sys.records[1]?.lastUpdated ?? '', count: 10 });
    t.ok(later.records.length >= 2 && later.records.every((r) => r.lastUpdated >= (sys.records[1]?.lastUpdated ?? '')));
    const future = await s.history({ since: '2999-01-01T00:00:00.000Z', count: 10 });
    t.equal(future.records.length, 0);
  });

  withStore('history pages with cursors: every version once, none skipped', async (t, s) => {
    for (let i = 0; i < 23; i++) await s.create(patient(`P${i}`));
    const seen: number[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await s.history({ type: 'Patient', count: 5, ...(cursor ? { cursor } : {}) });
      seen.push(...page.records.map((r) => r.seq));
      cursor = page.next;
      pages++;
    } while (cursor && pages < 10);
    t.equal(pages, 5);
    t.equal(seen.length, 23);
    t.equal(new Set(seen).size, 23);
    await rejectsWith(t, s.history({ count: 5, cursor: 'garbage!' }), 'invalid-cursor');
  });

  withStore('a transaction commits all its writes together', async (t, s) => {
    const ids = await s.transaction(async (tx) => {
      const a = await tx.create(patient('A'));
      const b = await tx.create(patient('B'));
      const seen = await tx.read('Patient', a.id);
      t.equal(seen.status, 'found', 'a transaction reads its own writes');
      return [a.id, b.id];
    });
    for (const id of ids) t.equal((await s.read('Patient', id)).status, 'found');
  });

  withStore('a failed transaction leaves no trace: no resource, no version, no history', async (t, s) => {
    const before = await s.create(patient('Keep'));
    let createdId = '';
    await t.rejects(s.transaction(async (tx) => {
      createdId = (await tx.create(patient('Gone'))).id;
      await tx.update({ ...parsed(before.json), active: false });
      await tx.delete('Patient', before.id);
      throw new Error('boom');
    }), /boom/);
    t.equal((await s.read('Patient', createdId)).status, 'missing');
    const cur = await s.read('Patient', before.id);
    t.equal(cur.status, 'found');
    t.equal(cur.status === 'found' && cur.record.versionId, '1');
    t.equal((await s.history({ count: 100 })).records.length, 1);
  });

  withStore('concurrent transactions are serialised: no lost update', async (t, s) => {
    await s.create({ resourceType: 'Basic', id: 'counter', code: { text: '0' } } as Resource);
    const bump = () => s.transaction(async (tx) => {
      const cur = await tx.read('Basic', 'counter');
      if (cur.status !== 'found') throw new Error('missing');
      const body = parsed(cur.record.json);
      await new Promise((r) => setTimeout(r, 2));
      await tx.update({ ...body, code: { text: String(Number(body.code.text) + 1) } });
    });
    await Promise.all(Array.from({ length: 10 }, bump));
    const cur = await s.read('Basic', 'counter');
    t.equal(cur.status === 'found' && parsed(cur.record.json).code.text, '10');
  });

  withStore('concurrent writes: one failing write does not fail the others', async (t, s) => {
    await s.create(patient('Taken', 'taken'));
    const writes = Array.from({ length: 10 }, (_, i) => (i === 4 ? s.create(patient('Dup', 'taken')) : s.create(patient(`W${i}`))));
    const results = await Promise.allSettled(writes);
    t.equal(results.filter((r) => r.status === 'fulfilled').length, 9);
    t.equal(results[4]?.status, 'rejected');
    t.equal((await s.history({ type: 'Patient', count: 100 })).records.length, 10, 'nine new versions and the original');
    const taken = await s.read('Patient', 'taken');
    t.equal(taken.status === 'found' && taken.record.versionId, '1');
  });

  withStore('concurrent If-Match updates of one version: exactly one wins', async (t, s) => {
    const v1 = await s.create(patient('A'));
    const body = parsed(v1.json);
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => s.update(body, { ifMatch: '1' })));
    t.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    t.equal(results.filter((r) => r.status === 'rejected').length, 7);
  });

  withStore('writes outside a transaction wait for it instead of joining it', async (t, s) => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const tx = s.transaction(async (x) => {
      await x.create(patient('InTx', 'in-tx'));
      await gate;
      throw new Error('rollback');
    });
    const outside = s.create(patient('Outside', 'outside'));
    await new Promise((r) => setTimeout(r, 5));
    release();
    await t.rejects(tx);
    await outside;
    t.equal((await s.read('Patient', 'outside')).status, 'found', 'the outside write committed');
    t.equal((await s.read('Patient', 'in-tx')).status, 'missing', 'the rolled-back write did not');
  });

  withStore('reads see every committed write at once, and never a rolled-back one', async (t, s) => {
    const v1 = await s.create(patient('A'));
    t.equal((await s.read('Patient', v1.id)).status, 'found');
    const v2 = await s.update({ ...parsed(v1.json), active: true });
    const r2 = await s.read('Patient', v1.id);
    t.equal(r2.status === 'found' && r2.record.versionId, v2.record.versionId);
    await t.rejects(s.transaction(async (tx) => {
      await tx.update({ ...parsed(v1.json), active: false });
      const inside = await tx.read('Patient', v1.id);
      t.equal(inside.status === 'found' && inside.record.versionId, '3', 'the transaction sees its write');
      throw new Error('rollback');
    }));
    const after = await s.read('Patient', v1.id);
    t.equal(after.status === 'found' && after.record.versionId, '2', 'the rollback is not visible');
    await s.transaction(async (tx) => {
      await tx.delete('Patient', v1.id);
    });
    t.equal((await s.read('Patient', v1.id)).status, 'deleted', 'the committed delete is visible at once');
  });

  if (adapter.reopen) {
    const reopen = adapter.reopen;
    tap.test(`${adapter.name}: acknowledged writes survive close and reopen`, async (t) => {
      let s = await adapter.open();
      const r = await s.create(patient('Durable'));
      await s.delete('Patient', r.id);
      await s.update(patient('Durable2', 'x1') as Writable);
      s = await reopen(s);
      t.equal((await s.read('Patient', r.id)).status, 'deleted');
      t.equal((await s.read('Patient', 'x1')).status, 'found');
      const next = await s.create(patient('After'));
      const hist = await s.history({ count: 10 });
      t.equal(hist.records[0]?.id, next.id);
      t.ok((hist.records[0]?.seq ?? 0) > (hist.records[1]?.seq ?? 0), 'the sequence continues after reopen');
      await s.close();
    });
  }
}
