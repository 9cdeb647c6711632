// Subscriptions made by a patient app (issue 15 item 3): a token confined to a patient's
// compartment may create, read, update and delete its own Subscriptions only — the server records
// the owner (patient and client) with each one and confines the store query to it — and what
// such a Subscription hears is confined to that patient, whatever its criteria try. Both adapters.
import t from 'tap';
import type { Test } from 'tap';
import type { FastifyInstance } from 'fastify';
import { authApp, seedClinic, userToken, withToken } from '../helpers/auth.js';
import { body } from '../helpers/app.js';
import { MingoDb } from '../helpers/mingo-db.js';
import { MongoStore } from '../../src/store/mongo/store.js';
import { MongoRegistry } from '../../src/store/mongo/registry.js';
import type { BuildOptions } from '../../src/app.js';

const FHIR = 'application/fhir+json';
const OWNER = 'http://flint.health/fhir/CodeSystem/subscription-owner';
const ENV = { SUBSCRIPTION_ALLOW_INSECURE: '1', RATE_LIMIT: '0' };

const adapters: [string, () => BuildOptions][] = [
  ['SQLite', () => ({})],
  ['MongoDB (mingo emulation)', () => {
    const db = new MingoDb('replicaset');
    return { store: (indexer) => MongoStore.open({ db, indexer }), registry: () => MongoRegistry.open({ db }) };
  }],
];

const send = (app: FastifyInstance, method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: unknown) => app.inject({
  method, url,
  ...(payload !== undefined ? { payload: JSON.stringify(payload), headers: { 'content-type': method === 'PATCH' ? 'application/json-patch+json' : FHIR } } : {}),
});

const subscription = (criteria: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Subscription', status: 'requested', reason: 'test', criteria, channel: { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/hook' }, ...extra,
});

const obs = (patient: string) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${patient}` } });

/** The resource without its meta (tags included), as a client that drops them sends it. */
function untagged(r: Record<string, unknown>): Record<string, unknown> {
  const { meta: _meta, ...rest } = r;
  void _meta;
  return rest;
}

/** events-since-subscription-start: what the subscription recorded, in the writes' own transactions. */
async function events(app: FastifyInstance, id: string): Promise<number> {
  const res = await app.inject({ url: `/fhir/Subscription/${id}/$status` });
  if (res.statusCode !== 200) throw new Error(`$status ${res.statusCode} ${res.body.slice(0, 200)}`);
  const params = body(res).entry[0].resource.parameter as { name: string; valueString?: string }[];
  return Number(params.find((p) => p.name === 'events-since-subscription-start')?.valueString);
}

async function created(t: Test, app: FastifyInstance, sub: unknown): Promise<string> {
  const res = await send(app, 'POST', '/fhir/Subscription', sub);
  if (res.statusCode !== 201) t.fail(res.body.slice(0, 300));
  return body(res).id as string;
}

for (const [label, opts] of adapters) {
  t.test(`${label}: patient apps own their Subscriptions`, { timeout: 240_000 }, async (t) => {
    const app = await authApp(t, ENV, opts());
    await seedClinic(app);
    const dr = withToken(app, await userToken(app, 'desk', 'dr-smith', 'user/*.cruds'));
    const alice = withToken(app, await userToken(app, 'portal', 'dr-smith', 'launch/patient patient/*.cruds', 'pat-alice'));
    // Bob's app asks for Subscription alone, through the type's own scope.
    const bob = withToken(app, await userToken(app, 'bobapp', 'dr-smith', 'launch/patient patient/Subscription.cruds patient/Observation.rs', 'pat-bob'));
    // The same client launched for another patient is another owner.
    const aliceOther = withToken(app, await userToken(app, 'other-app', 'dr-smith', 'launch/patient patient/*.cruds', 'pat-alice'));

    // A claim of someone else's ownership in the body is replaced by the server's own record.
    const forged = { meta: { tag: [{ system: OWNER, code: 'Patient/pat-bob bobapp' }, { system: 'http://example.org/t', code: 'keep' }] } };
    const mine = await created(t, alice, subscription('Observation?status=final', forged));
    const stored = body(await alice.inject({ url: `/fhir/Subscription/${mine}` }));
    t.same(stored.meta.tag, [{ system: 'http://example.org/t', code: 'keep' }, { system: OWNER, code: 'Patient/pat-alice portal' }], 'the owner is the creating token\'s patient and client');
    const bobs = await created(t, bob, subscription('Observation?status=final'));
    const drs = await created(t, dr, subscription('Observation?status=final', { meta: { tag: [{ system: OWNER, code: 'Patient/pat-alice portal' }] } }));
    t.notOk(body(await dr.inject({ url: `/fhir/Subscription/${drs}` })).meta.tag, 'a user token cannot give a Subscription to a patient app');

    t.test('each app reaches its own Subscriptions only, in reads, searches and writes', async (t) => {
      t.equal((await alice.inject({ url: `/fhir/Subscription/${bobs}` })).statusCode, 404, "bob's is unknown to alice's app");
      t.equal((await alice.inject({ url: `/fhir/Subscription/${drs}` })).statusCode, 404, "the doctor's too");
      t.equal((await alice.inject({ url: `/fhir/Subscription/${bobs}/$status` })).statusCode, 404);
      t.equal((await alice.inject({ url: `/fhir/Subscription/${bobs}/_history` })).statusCode, 404);
      t.equal((await aliceOther.inject({ url: `/fhir/Subscription/${mine}` })).statusCode, 404, 'another app for the same patient does not own it');
      const bobsBody = body(await bob.inject({ url: `/fhir/Subscription/${bobs}` }));
      t.equal((await send(alice, 'PUT', `/fhir/Subscription/${bobs}`, { ...bobsBody, status: 'off' })).statusCode, 403, 'no update');
      t.equal((await send(alice, 'PATCH', `/fhir/Subscription/${bobs}`, [{ op: 'replace', path: '/status', value: 'off' }])).statusCode, 403, 'no patch');
      t.equal((await send(alice, 'DELETE', `/fhir/Subscription/${bobs}`)).statusCode, 403, 'no delete');
      t.equal((await bob.inject({ url: `/fhir/Subscription/${bobs}` })).statusCode, 200, "bob's is still there");
      const search = (who: FastifyInstance, q = '') => who.inject({ url: `/fhir/Subscription${q}` }).then((r) => ((body(r).entry ?? []) as { resource: { id: string } }[]).map((e) => e.resource.id).sort());
      t.same(await search(alice), [mine], 'a search finds its own');
      t.same(await search(alice, `?_id=${bobs},${drs},${mine}`), [mine], 'naming the others finds nothing more');
      t.same(await search(bob, '?status=requested,active'), [bobs]);
      t.same(await search(dr), [mine, bobs, drs].sort(), 'a user token is not confined');
      const hist = body(await alice.inject({ url: '/fhir/Subscription/_history' }));
      t.ok((hist.entry as { resource?: { id: string } }[]).every((e) => e.resource?.id === mine), 'type history: its own only');
      // Its own: update (the owner cannot be shed), then delete.
      const own = body(await alice.inject({ url: `/fhir/Subscription/${mine}` }));
      const upd = await send(alice, 'PUT', `/fhir/Subscription/${mine}`, { ...untagged(own), reason: 'changed' });
      t.equal(upd.statusCode, 200, upd.body.slice(0, 300));
      t.same(body(upd).meta.tag, [{ system: OWNER, code: 'Patient/pat-alice portal' }]);
      const extra = await created(t, alice, subscription('Observation?'));
      t.equal((await send(alice, 'PATCH', `/fhir/Subscription/${extra}`, [{ op: 'remove', path: '/meta/tag' }])).statusCode, 200);
      t.equal((await alice.inject({ url: `/fhir/Subscription/${extra}` })).statusCode, 200, 'a patch removing the tag does not lose it');
      t.equal((await send(alice, 'DELETE', `/fhir/Subscription/${extra}`)).statusCode, 200);
      t.equal((await alice.inject({ url: `/fhir/Subscription/${extra}` })).statusCode, 410);
      // Other types outside the compartment stay read-only for it.
      t.equal((await send(alice, 'POST', '/fhir/Practitioner', { resourceType: 'Practitioner', name: [{ family: 'X' }] })).statusCode, 403);
      t.equal((await send(bob, 'POST', '/fhir/Organization', { resourceType: 'Organization', name: 'X' })).statusCode, 403);
    });

    t.test("notifications: alice's app hears of alice's Observations, not bob's, whatever its criteria", async (t) => {
      const escapes = [
        'Observation?subject=Patient/pat-bob',
        'Observation?patient=pat-bob,pat-alice&status=final',
        'Observation?subject:Patient.family=Martinez',
        'Patient?_has:Observation:patient:status=final',
        'Patient?_id=pat-bob',
      ];
      const ids: string[] = [];
      for (const c of escapes) ids.push(await created(t, alice, subscription(c)));
      const before = await events(dr, mine);
      const drBefore = await events(dr, drs);
      t.equal((await send(dr, 'POST', '/fhir/Observation', obs('pat-bob'))).statusCode, 201);
      const bobPatient = body(await dr.inject({ url: '/fhir/Patient/pat-bob' }));
      t.equal((await send(dr, 'PUT', '/fhir/Patient/pat-bob', { ...bobPatient, active: true })).statusCode, 200);
      t.equal(await events(dr, mine), before, "bob's Observation is not heard");
      t.equal(await events(dr, bobs), 1, "bob's app hears it");
      for (const [i, id] of ids.entries()) t.equal(await events(dr, id), 0, `no escape through ${escapes[i] ?? ''}`);
      t.equal((await send(dr, 'POST', '/fhir/Observation', obs('pat-alice'))).statusCode, 201);
      t.equal(await events(dr, mine), before + 1, "alice's Observation is heard");
      t.equal(await events(dr, ids[1] ?? ''), 1, 'a criteria naming both patients hears alice only');
      t.equal(await events(dr, drs), drBefore + 2, "the doctor's subscription hears both");
      t.equal(await events(dr, bobs), 1, "bob's app does not hear alice's");
      // An edit by a wider token keeps the owner and the owner's confinement.
      const own = body(await dr.inject({ url: `/fhir/Subscription/${mine}` }));
      t.equal((await send(dr, 'PUT', `/fhir/Subscription/${mine}`, { ...untagged(own), reason: 'edited by the doctor' })).statusCode, 200);
      t.equal((await alice.inject({ url: `/fhir/Subscription/${mine}` })).statusCode, 200, 'still alice\'s app\'s');
      const n = await events(dr, mine);
      t.equal((await send(dr, 'POST', '/fhir/Observation', obs('pat-bob'))).statusCode, 201);
      t.equal(await events(dr, mine), n, 'still deaf to bob after the doctor\'s edit');
    });
  });
}
