// The SQLite store's read cache is bounded by bytes (READ_CACHE_BYTES), not by entries.
import t from 'tap';
import { ReadCache } from '../../src/store/sqlite/read-cache.js';
import type { VersionRecord } from '../../src/store/port.js';

const rec = (id: string, json: string): VersionRecord => ({
  type: 'Patient', id, versionId: '1', lastUpdated: '2024-01-01T00:00:00.000Z', deleted: false, method: 'PUT', seq: 1, json,
});

t.test('the oldest entries go when the bytes held pass the budget, whatever their number', async (t) => {
  const cache = new ReadCache(64 * 1024);
  for (let i = 0; i < 1000; i++) cache.set(`Patient/${i}`, rec(String(i), `{"resourceType":"Patient","id":"${i}","x":"${'a'.repeat(1000)}"}`));
  t.ok(cache.bytes <= 64 * 1024, `holds ${cache.bytes} bytes`);
  t.ok(cache.size > 40 && cache.size < 64, `about budget / entry size entries (${cache.size})`);
  t.equal(cache.get('Patient/0'), undefined, 'oldest gone');
  t.equal(cache.get('Patient/999')?.id, '999', 'newest kept');
});

t.test('replacing and deleting an entry gives its bytes back', async (t) => {
  const cache = new ReadCache(1024 * 1024);
  cache.set('Patient/a', rec('a', 'x'.repeat(5000)));
  const one = cache.bytes;
  cache.set('Patient/a', rec('a', 'x'.repeat(5000)));
  t.equal(cache.bytes, one, 'a replaced entry is charged once');
  cache.delete('Patient/a');
  t.equal(cache.bytes, 0);
  t.equal(cache.size, 0);
});

t.test('a version larger than an eighth of the budget is not cached (it would flush the rest)', async (t) => {
  const cache = new ReadCache(80_000);
  cache.set('Patient/small', rec('small', 'x'.repeat(100)));
  cache.set('Patient/huge', rec('huge', 'x'.repeat(20_000)));
  t.equal(cache.get('Patient/huge'), undefined);
  t.equal(cache.get('Patient/small')?.id, 'small');
});

t.test('text beyond Latin-1 is charged two bytes a character; 0 turns the cache off', async (t) => {
  const latin = new ReadCache(1024 * 1024);
  latin.set('Patient/l', rec('l', 'é'.repeat(1000)));
  const wide = new ReadCache(1024 * 1024);
  wide.set('Patient/w', rec('w', '漢'.repeat(1000)));
  t.equal(wide.bytes - latin.bytes, 1000);
  const off = new ReadCache(0);
  off.set('Patient/x', rec('x', '{}'));
  t.equal(off.get('Patient/x'), undefined);
  t.equal(off.bytes, 0);
});
