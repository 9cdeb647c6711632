// A transaction's identifier criteria of one type are looked up in one search; each entry must
// still get the answer its own criteria would get alone: no match, one match, several (412),
// and a value under another system is no match.
import t from 'tap';
import { testApp, body, load } from '../helpers/app.js';
import type { FastifyInstance } from 'fastify';

const obs = (system: string, value: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Observation', status: 'final', code: { text: 'glucose' }, identifier: [{ system, value }], ...extra,
});
const put = (system: string, value: string, extra: Record<string, unknown> = {}) => ({
  resource: obs(system, value, extra), request: { method: 'PUT', url: `Observation?identifier=${encodeURIComponent(`${system}|${value}`)}` },
});

async function transaction(app: FastifyInstance, entry: unknown[]): Promise<{ status: number; json: Record<string, any> }> {
  const res = await app.inject({ method: 'POST', url: '/fhir', payload: { resourceType: 'Bundle', type: 'transaction', entry }, headers: { 'content-type': 'application/fhir+json', prefer: 'return=representation' } });
  return { status: res.statusCode, json: body(res) };
}

async function search(app: FastifyInstance, query: string): Promise<Record<string, any>[]> {
  return (body(await app.inject({ url: `/fhir/Observation?${query}` })).entry ?? []).map((e: { resource: Record<string, any> }) => e.resource);
}

t.test('conditional updates by identifier in one transaction: each updates its own match or creates', async (t) => {
  const app = await testApp(t);
  await load(app, [
    { ...obs('http://lab', 'A'), id: 'a', valueString: 'old' } as never,
    { ...obs('http://other', 'B'), id: 'b-other' } as never,
    { ...obs('http://lab', 'C,D'), id: 'cd' } as never,
  ]);
  const { status, json } = await transaction(app, [
    put('http://lab', 'A', { valueString: 'new' }),
    put('http://lab', 'B', { valueString: 'b' }),
    put('http://lab', 'E', { valueString: 'e' }),
    // An escaped comma (R4 search.html#escaping) is looked up alone, beside the others.
    { resource: obs('http://lab', 'C,D', { valueString: 'escaped' }), request: { method: 'PUT', url: `Observation?identifier=${encodeURIComponent('http://lab|C\\,D')}` } },
  ]);
  t.equal(status, 200, JSON.stringify(json).slice(0, 300));
  t.same(json.entry.map((e: any) => e.response.status), ['200 OK', '201 Created', '201 Created', '200 OK']);
  t.equal(json.entry[0].resource.id, 'a');
  t.equal(json.entry[3].resource.id, 'cd');
  t.same((await search(app, 'identifier=http://lab|A')).map((o) => [o.id, o.valueString, o.meta.versionId]), [['a', 'new', '2']]);
  const b = await search(app, 'identifier=http://lab|B');
  t.equal(b.length, 1);
  t.not(b[0]?.id, 'b-other', 'the same value under another system is not a match');
  t.same((await search(app, 'identifier=http://other|B')).map((o) => [o.id, o.meta.versionId]), [['b-other', '1']]);
  t.equal((await search(app, 'identifier=http://lab|E')).length, 1);
});

t.test('one identifier criterion matching two resources fails the transaction with 412, nothing written', async (t) => {
  const app = await testApp(t);
  await load(app, [{ ...obs('http://lab', 'X'), id: 'x1' } as never, { ...obs('http://lab', 'X'), id: 'x2' } as never]);
  const { status, json } = await transaction(app, [
    put('http://lab', 'Y', { valueString: 'y' }),
    put('http://lab', 'X', { valueString: 'x' }),
    { resource: obs('http://lab', 'Z'), request: { method: 'POST', url: 'Observation', ifNoneExist: 'identifier=http://lab|Z' } },
  ]);
  t.equal(status, 412);
  t.match(JSON.stringify(json), /entry 1/);
  t.same(await search(app, 'identifier=http://lab|Y'), []);
  t.same(await search(app, 'identifier=http://lab|Z'), []);
});

t.test('conditional creates by identifier: an existing match is answered, the others are created once', async (t) => {
  const app = await testApp(t);
  await load(app, [{ ...obs('http://lab', 'P'), id: 'p' } as never]);
  const create = (value: string) => ({ resource: obs('http://lab', value), request: { method: 'POST', url: 'Observation', ifNoneExist: `identifier=http://lab|${value}` } });
  const { status, json } = await transaction(app, [create('P'), create('Q'), create('R')]);
  t.equal(status, 200);
  t.same(json.entry.map((e: any) => e.response.status), ['200 OK', '201 Created', '201 Created']);
  t.equal(json.entry[0].resource.id, 'p');
  t.equal((await search(app, 'identifier=http://lab|P,http://lab|Q,http://lab|R')).length, 3);
});
