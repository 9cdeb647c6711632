// The auth registry conformance suite (src/store/registry.ts): the SQLite and the MongoDB
// adapter run exactly these tests (test/store/registry-*.test.ts). "Two instances" are two
// adapter objects on one database, as two Flint processes would hold.
import type { Test } from 'tap';
import type { AuditEntry, AuthRegistry, ClientRecord, GrantRecord, PendingRecord, TokenRecord } from '../../src/store/registry.js';

export interface RegistryUnderTest {
  name: string;
  /** A fresh, empty registry. */
  open(): Promise<AuthRegistry>;
  /** Another registry object on the same database as `r` (a second instance). */
  second(r: AuthRegistry): Promise<AuthRegistry>;
}

type Tap = typeof import('tap').default;

const client = (id: string, origins: string[] = []): ClientRecord => ({
  clientId: id, name: `App ${id}`, type: 'public', redirectUris: [`https://${id}.example/cb`], launchUris: [], allowedOrigins: origins,
  scopes: ['patient/*.rs'], grantTypes: ['authorization_code'], admin: false, introspect: false,
});

const grant = (id: string, username?: string): GrantRecord => ({
  grantId: id, clientId: 'app', scope: 'patient/*.rs openid', aud: 'http://flint.test/fhir', context: { need_patient_banner: true, 'odd.key$': 1 },
  createdAt: 1000, revoked: false, ...(username ? { username, fhirUser: `Patient/${username}`, patient: username } : {}),
});

const token = (hash: string, grantId: string, kind: TokenRecord['kind'] = 'access', expiresAt = 10_000): TokenRecord =>
  ({ hash, grantId, kind, issuedAt: 1000, expiresAt, revoked: false });

const pendingOf = (tx: string, clientId = 'app', expiresAt = 10_000): PendingRecord => ({
  tx, clientId, redirectUri: 'https://app.example/cb', state: 's$.x', codeChallenge: 'c'.repeat(43), scope: 'launch/patient patient/*.rs',
  launch: { context: { 'odd.key$': 1 }, patient: 'p1' }, expiresAt,
});

const entry = (i: number, extra: Partial<AuditEntry> = {}): AuditEntry =>
  ({ time: new Date(1_700_000_000_000 + i).toISOString(), requestId: `rq-${i}`, action: 'GET /fhir/:type', status: 200, ...extra });

export function registrySuite(tap: Tap, adapter: RegistryUnderTest): void {
  const withRegistry = (name: string, fn: (t: Test, r: AuthRegistry) => Promise<void>): void => {
    tap.test(`${adapter.name}: ${name}`, async (t) => {
      const r = await adapter.open();
      try {
        await fn(t, r);
      } finally {
        await r.close();
      }
    });
  };

  withRegistry('clients: stored, replaced, listed by id, removed once', async (t, r) => {
    t.equal(await r.client('b'), undefined);
    await r.putClient(client('b'));
    await r.putClient(client('a', ['https://a.example']));
    await r.putClient({ ...client('b'), name: 'Renamed', jwks: { keys: [{ kty: 'RSA', $weird: 'x', 'a.b': 1 }] } });
    t.same(await r.client('a'), client('a', ['https://a.example']));
    t.equal((await r.client('b'))?.name, 'Renamed', 'a second put replaces');
    t.same((await r.client('b'))?.jwks, { keys: [{ kty: 'RSA', $weird: 'x', 'a.b': 1 }] }, 'keys with $ and dots survive');
    t.same((await r.clients()).map((c) => c.clientId), ['a', 'b']);
    t.equal(await r.deleteClient('a'), true);
    t.equal(await r.deleteClient('a'), false, 'removing twice: nothing to remove');
    t.same((await r.clients()).map((c) => c.clientId), ['b']);
  });

  withRegistry('users: stored, replaced, listed by name', async (t, r) => {
    await r.putUser({ username: 'zed', passwordHash: 'h1', fhirUser: 'Patient/z', name: 'Zed' });
    await r.putUser({ username: 'amy', passwordHash: 'h2', fhirUser: 'Practitioner/a', name: 'Amy' });
    await r.putUser({ username: 'zed', passwordHash: 'h3', fhirUser: 'Patient/z', name: 'Zed' });
    t.equal((await r.user('zed'))?.passwordHash, 'h3');
    t.equal(await r.user('nobody'), undefined);
    t.same((await r.users()).map((u) => u.username), ['amy', 'zed']);
  });

  withRegistry('every grant and its tokens can be listed (for copying a registry)', async (t, r) => {
    for (const g of ['g3', 'g1', 'g2', 'g4']) await r.putGrant(grant(g, 'pat'));
    await r.revokeGrant('g2');
    await r.putToken(token('tb', 'g1', 'refresh'));
    await r.putToken(token('ta', 'g1'));
    await r.putToken(token('tc', 'g3'));
    await r.useRefresh('tb', 5);
    t.same((await r.grantsAfter('', 2)).map((g) => g.grantId), ['g1', 'g2'], 'by id, at most limit');
    const rest = await r.grantsAfter('g2', 10);
    t.same(rest.map((g) => g.grantId), ['g3', 'g4'], 'after the given id');
    t.same((await r.grantsAfter('', 10)).map((g) => g.revoked), [false, true, false, false], 'revoked grants too');
    t.same(await r.tokensOfGrant('g1'), [await r.token('ta'), await r.token('tb')], 'by hash, as stored');
    t.equal((await r.tokensOfGrant('g1'))[1]?.usedAt, 5);
    t.same(await r.tokensOfGrant('g4'), []);
  });

  withRegistry('grants: a user\'s live grants; revoking a grant revokes its tokens', async (t, r) => {
    await r.putGrant(grant('g2', 'pat'));
    await r.putGrant(grant('g1', 'pat'));
    await r.putGrant(grant('g3', 'other'));
    t.same(await r.grant('g1'), grant('g1', 'pat'), 'context with odd keys survives');
    await r.putToken(token('t1', 'g1'));
    await r.putToken(token('t2', 'g1', 'refresh'));
    await r.putToken(token('t3', 'g2'));
    await r.revokeGrant('g1');
    t.equal((await r.grant('g1'))?.revoked, true);
    t.same((await r.grantsOfUser('pat')).map((g) => g.grantId), ['g2'], 'revoked grants are not listed');
    t.equal((await r.token('t1'))?.revoked, true);
    t.equal((await r.token('t2'))?.revoked, true);
    t.equal((await r.token('t3'))?.revoked, false, 'another grant\'s token is untouched');
    await r.revokeGrant('nope');
    t.equal(await r.grant('nope'), undefined, 'revoking an unknown grant creates nothing');
  });

  withRegistry('tokens: issued, looked up by hash, revoked, a refresh token used once; a hash is never stored twice', async (t, r) => {
    await r.putGrant(grant('g'));
    await r.putToken(token('acc', 'g', 'access', 5000));
    t.same(await r.token('acc'), token('acc', 'g', 'access', 5000));
    t.equal(await r.token('unknown'), undefined);
    await r.revokeToken('acc');
    t.equal((await r.token('acc'))?.revoked, true);
    await r.putToken(token('ref', 'g', 'refresh'));
    const second = await adapter.second(r);
    const uses = await Promise.all([r.useRefresh('ref', 2000), second.useRefresh('ref', 2001)]);
    t.same(uses.filter(Boolean).length, 1, 'of two instances using one refresh token at once, one succeeds');
    t.equal(await r.useRefresh('ref', 3000), false, 'a third use fails');
    t.ok([2000, 2001].includes((await r.token('ref'))?.usedAt ?? 0));
    t.equal(await r.useRefresh('unknown', 1), false);
    await t.rejects(r.putToken(token('acc', 'g')), 'a hash already stored is refused');
    t.equal((await r.token('acc'))?.revoked, true, 'and the stored token is unchanged');
    // A token past its expiry may be gone (MongoDB's TTL) or still there; if there, it says so.
    await r.putToken(token('old', 'g', 'access', 1));
    const old = await r.token('old');
    t.ok(old === undefined || old.expiresAt === 1);
    await second.close();
  });

  withRegistry('codes: redeemed once, across instances, even when both race', async (t, r) => {
    const code = { hash: 'c1', grantId: 'g', clientId: 'app', redirectUri: 'https://app.example/cb', codeChallenge: 'x', nonce: 'n', expiresAt: 5000 };
    await r.putCode(code);
    const second = await adapter.second(r);
    const both = await Promise.all([r.redeemCode('c1', 100), second.redeemCode('c1', 101)]);
    t.equal(both.filter((b) => !b.reused).length, 1, 'exactly one redemption wins');
    for (const b of both) t.same(b.code, code, 'both see the code (the loser to revoke its grant)');
    t.same(await second.redeemCode('c1', 200), { code, reused: true });
    t.same(await r.redeemCode('never-issued', 100), { reused: false });
    await t.rejects(r.putCode(code), 'a code hash is never stored twice');
    await second.close();
  });

  withRegistry('launch handles: stored and read back', async (t, r) => {
    const l = { launch: 'L1', clientId: 'app', patient: 'p1', context: { need_patient_banner: false }, expiresAt: 9000 };
    await r.putLaunch(l);
    t.same(await r.launch('L1'), l);
    t.equal(await r.launch('L2'), undefined);
  });

  withRegistry('replay protection: a jti seen twice is refused, across instances and when racing', async (t, r) => {
    const now = 1_700_000_000_000;
    const second = await adapter.second(r);
    t.equal(await r.rememberJti('app', 'j1', now + 60_000, now), true);
    t.equal(await second.rememberJti('app', 'j1', now + 60_000, now + 1), false, 'the other instance refuses the replay');
    t.equal(await r.rememberJti('app', 'j1', now + 60_000, now + 2), false, 'and so does this one');
    t.equal(await r.rememberJti('other-app', 'j1', now + 60_000, now), true, 'another issuer\'s jti is its own');
    const race = await Promise.all([r.rememberJti('app', 'j2', now + 60_000, now), second.rememberJti('app', 'j2', now + 60_000, now)]);
    t.equal(race.filter(Boolean).length, 1, 'of two instances racing, one accepts');
    t.equal(await second.rememberJti('app', 'j1', now + 200_000, now + 120_000), true, 'once the entry has lapsed the id may be used again');
    t.equal(await r.rememberJti('app', 'j1', now + 200_000, now + 121_000), false, 'and is then remembered anew');
    await second.close();
  });

  withRegistry('pending authorizations: shared across instances, updated, taken once, lapsing', async (t, r) => {
    const second = await adapter.second(r);
    t.equal(await r.putPending(pendingOf('tx1'), 10, 1000), true);
    t.same(await second.pending('tx1', 1000), pendingOf('tx1'), 'the other instance reads it, fields with $ and dots intact');
    t.equal(await second.updatePending({ ...pendingOf('tx1'), username: 'alice', patient: 'p9' }, 2000), true);
    t.equal((await r.pending('tx1', 2000))?.patient, 'p9', 'an update through one instance is read by the other');
    t.equal(await r.pending('tx1', 10_000), undefined, 'lapsed at its expiry');
    t.equal(await r.updatePending(pendingOf('tx1'), 10_000), false, 'a lapsed one is not updated');
    const taken = await Promise.all([r.takePending('tx1', 3000), second.takePending('tx1', 3000)]);
    t.equal(taken.filter((x) => x !== undefined).length, 1, 'of two instances racing, one takes it');
    t.equal(taken.find((x) => x !== undefined)?.username, 'alice');
    t.equal(await r.pending('tx1', 3000), undefined, 'gone once taken');
    t.equal(await r.updatePending(pendingOf('tx1'), 3000), false, 'a taken one is not brought back by an update');
    t.equal(await r.takePending('tx1', 3000), undefined);
    t.equal(await r.takePending('never', 3000), undefined);
    await r.putPending(pendingOf('old', 'app', 5000), 10, 1000);
    t.equal(await r.takePending('old', 6000), undefined, 'a lapsed one cannot be taken');
    await second.close();
  });

  withRegistry('pending authorizations: at most maxPerClient live ones per client; lapsed ones do not count', async (t, r) => {
    for (let i = 0; i < 3; i++) t.equal(await r.putPending(pendingOf(`a${i}`, 'app', 5000), 3, 1000), true);
    t.equal(await r.putPending(pendingOf('a3', 'app', 5000), 3, 1000), false, 'the fourth is refused');
    t.equal(await r.pending('a3', 1000), undefined, 'and not stored');
    t.equal(await r.putPending(pendingOf('b0', 'other', 5000), 3, 1000), true, 'another client has its own allowance');
    t.ok(await r.takePending('a0', 1000));
    t.equal(await r.putPending(pendingOf('a3', 'app', 9000), 3, 1000), true, 'a taken one frees a place');
    t.equal(await r.putPending(pendingOf('a4', 'app', 9000), 3, 6000), true, 'lapsed ones free their places');
    t.ok(await r.pending('a4', 6000));
  });

  withRegistry('management sessions: shared across instances, lapsing', async (t, r) => {
    const second = await adapter.second(r);
    await r.putManageSession({ session: 's1', username: 'alice', expiresAt: 5000 }, 1000);
    t.same(await second.manageSession('s1', 2000), { session: 's1', username: 'alice', expiresAt: 5000 });
    t.equal(await second.manageSession('s1', 5000), undefined, 'lapsed at its expiry');
    t.equal(await second.manageSession('s2', 2000), undefined);
    await second.putManageSession({ session: 's2', username: 'bob', expiresAt: 9000 }, 6000);
    t.equal((await r.manageSession('s2', 6000))?.username, 'bob');
    await second.close();
  });

  withRegistry('signing keys: newest first, retired once, removed', async (t, r) => {
    await r.putSigningKey('k1', 1000, { kty: 'RSA', n: 'a', e: 'AQAB', d: 'secret1' });
    await r.putSigningKey('k2', 2000, { kty: 'RSA', n: 'b', e: 'AQAB', d: 'secret2' });
    t.same((await r.signingKeys()).map((k) => k.kid), ['k2', 'k1']);
    t.same((await r.signingKeys())[1], { kid: 'k1', createdAt: 1000, privateJwk: { kty: 'RSA', n: 'a', e: 'AQAB', d: 'secret1' } });
    await r.retireSigningKey('k1', 3000);
    await r.retireSigningKey('k1', 4000);
    t.equal((await r.signingKeys()).find((k) => k.kid === 'k1')?.retiredAt, 3000, 'a second retirement changes nothing');
    t.equal((await r.signingKeys()).find((k) => k.kid === 'k2')?.retiredAt, undefined);
    await r.deleteSigningKey('k1');
    t.same((await r.signingKeys()).map((k) => k.kid), ['k2']);
    const second = await adapter.second(r);
    t.same((await second.signingKeys()).map((k) => k.kid), ['k2'], 'another instance sees the same keys');
    await t.rejects(r.putSigningKey('k2', 5000, {}), 'a kid is never stored twice');
    await second.close();
  });

  withRegistry('audit: appended in order, paged with after/limit, every field kept, from two instances without a clash', async (t, r) => {
    for (let i = 0; i < 250; i++) r.audit(entry(i, i === 0 ? { clientId: 'app', user: 'u', patient: 'p', target: 'Patient/p', query: 'a=b', status: 403 } : {}));
    await r.flushAudit();
    const first = await r.auditLog({ limit: 100 });
    t.equal(first.length, 100);
    t.match(first[0], { ...entry(0), clientId: 'app', user: 'u', patient: 'p', target: 'Patient/p', query: 'a=b', status: 403 });
    t.notOk('clientId' in (first[1] ?? {}), 'absent fields stay absent');
    const all = [...first];
    let after = first[first.length - 1]?.seq ?? 0;
    for (;;) {
      const page = await r.auditLog({ after, limit: 100 });
      if (page.length === 0) break;
      all.push(...page);
      after = page[page.length - 1]?.seq ?? after;
    }
    t.same(all.map((e) => e.requestId), Array.from({ length: 250 }, (_, i) => `rq-${i}`), 'paging returns each entry once, in order');
    t.ok(all.every((e, i) => i === 0 || e.seq > (all[i - 1]?.seq ?? 0)), 'seq increases');
    const second = await adapter.second(r);
    for (let i = 0; i < 30; i++) {
      r.audit(entry(1000 + i));
      second.audit(entry(2000 + i));
    }
    await Promise.all([r.flushAudit(), second.flushAudit()]);
    const log = await second.auditLog({ limit: 1000 });
    t.equal(log.length, 310, 'both instances\' entries are stored');
    t.equal(new Set(log.map((e) => e.seq)).size, 310, 'no two entries share a seq');
    await second.close();
  });

  withRegistry('audit: text fields keep every character, and a batch of large entries is stored whole', async (t, r) => {
    const odd = 'Zoë "Ω" 🙂 \\ a\nb\tc \u2028';
    const query = `name=${'ü'.repeat(600)}&given=${'字'.repeat(300)}`;
    r.audit(entry(0, { user: odd, patient: odd, target: `Patient/${odd}`, query: odd }));
    for (let i = 1; i < 300; i++) r.audit(entry(i, { query }));
    await r.flushAudit();
    const log = await r.auditLog({ limit: 1000 });
    t.equal(log.length, 300, 'every entry is stored');
    t.match(log[0], { ...entry(0), user: odd, patient: odd, target: `Patient/${odd}`, query: odd });
    t.ok(log.slice(1).every((e) => e.query === query), 'large non-Latin entries come back as written');
  });

  withRegistry('audit: close stores what is queued (a clean stop loses nothing)', async (t, r) => {
    const other = await adapter.second(r);
    for (let i = 0; i < 40; i++) other.audit(entry(i));
    await other.close();
    t.equal((await r.auditLog({ limit: 100 })).length, 40);
  });

  tap.test(`${adapter.name}: the port offers no way to change or remove an audit entry`, async (t) => {
    const r = await adapter.open();
    const methods = new Set<string>();
    for (let p = Object.getPrototypeOf(r) as object | null; p && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
      for (const m of Object.getOwnPropertyNames(p)) methods.add(m);
    }
    t.same([...methods].filter((m) => /audit/i.test(m)).sort(), ['audit', 'auditLog', 'flushAudit']);
    await r.close();
  });
}
