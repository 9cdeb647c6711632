// The IR → MongoDB compiler on its own: exact filters for the shapes that are easy to get wrong,
// and the refusal of chains and _has whose inner search is too broad.
import t from 'tap';
import { Compiler, FALSE, MAX_INNER, rangeCompare, type InnerSearch } from '../../src/store/mongo/compile.js';
import { StoreError } from '../../src/store/port.js';

const registered = new Set(['Observation\u0000subject', 'Observation\u0000code', 'Patient\u0000name']);
const none: InnerSearch = { ids: async () => [], references: async () => [] };

t.test('one field for both ends (lastUpdated): the bounds share one operator object', async (t) => {
  t.same(rangeCompare('eq', 'lu', 'lu', 'a', 'b'), { lu: { $gte: 'a', $lte: 'b' } });
  t.same(rangeCompare('ne', 'lu', 'lu', 'a', 'b'), { $nor: [{ lu: { $gte: 'a', $lte: 'b' } }] });
  t.same(rangeCompare('eq', 'lo', 'hi', 1, 2), { lo: { $gte: 1 }, hi: { $lte: 2 } });
  t.same(rangeCompare('ge', 'lo', 'hi', 1, 2), { $or: [{ hi: { $gt: 2 } }, { lo: { $gte: 1 }, hi: { $lte: 2 } }] });
});

t.test('a token condition is one $elemMatch on the token array, parameter first', async (t) => {
  const c = new Compiler(registered, none, undefined);
  t.same(await c.expr({ cond: { kind: 'token', param: 'code', system: 'http://loinc.org', code: '1-8' } }, ['Observation']),
    { 'x.tk': { $elemMatch: { p: 'code', c: '1-8', s: 'http://loinc.org' } } });
  t.same(await c.expr({ cond: { kind: 'token', param: 'nope', code: 'x' } }, ['Observation']), FALSE, 'a parameter no searched type has matches nothing');
  t.same(await c.expr({ cond: { kind: 'missing', param: 'nope', table: 'token', missing: true } }, ['Observation']), {}, ':missing=true of an unknown parameter matches all');
});

t.test('a chain or _has whose inner search matches too much is refused, not run', async (t) => {
  const many: InnerSearch = {
    ids: async (_type, _filter, limit) => Array.from({ length: limit }, (_, i) => `p${i}`),
    references: async (_type, _filter, _param, limit) => Array.from({ length: limit }, (_, i) => ({ t: 'Patient', i: `p${i}` })),
  };
  const c = new Compiler(registered, many, undefined);
  const chain = c.expr({ cond: { kind: 'chain', param: 'subject', targetTypes: ['Patient'], where: { cond: { kind: 'string', param: 'name', match: 'starts', value: 'a' } } } }, ['Observation']);
  const err = await chain.then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof StoreError && err.code === 'too-costly' && err.message.includes(String(MAX_INNER)), 'chain refused');
  const has = c.expr({ cond: { kind: 'has', sourceType: 'Observation', param: 'subject', where: { and: [] } } }, ['Patient']);
  const err2 = await has.then(() => undefined, (e: unknown) => e);
  t.ok(err2 instanceof StoreError && err2.code === 'too-costly', '_has refused');
  const few: InnerSearch = { ids: async () => ['p1', 'p2'], references: async () => [{ t: 'Patient', i: 'p1' }, { t: 'Group', i: 'g1' }] };
  const ok = new Compiler(registered, few, undefined);
  t.same(await ok.expr({ cond: { kind: 'chain', param: 'subject', targetTypes: ['Patient'], where: { and: [] } } }, ['Observation']),
    // The stored targets found, or a contained Patient the subject refers to (R4 search.html#contained).
    { $or: [
      { 'x.rf': { $elemMatch: { p: 'subject', $or: [{ t: 'Patient', i: { $in: ['p1', 'p2'] } }] } } },
      { 'x.cx': { $elemMatch: { t: 'Patient', r: 'subject' } } },
    ] });
  t.same(await ok.expr({ cond: { kind: 'has', sourceType: 'Observation', param: 'subject', where: { and: [] } } }, ['Patient']),
    { t: 'Patient', i: { $in: ['p1'] } }, 'only references to the searched types');
});
