// Payers: Claim/$submit (Flint as a payer endpoint) and Claim/[id]/$submit-to-payer, tested
// with a second Flint on a real socket acting as the payer.
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { testApp, post, put, body, ids, clinic } from '../helpers/app.js';
import { listenFlint } from '../helpers/auth.js';
import { loadClinic, patchJson, operation, outputs, CPT } from '../helpers/clinic.js';
import { loadConfig, ConfigError } from '../../src/config.js';

const CLINIC = 'http://riverside.example.org/fhir';
const copay = (value: number) => [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/coverage-copay-type', code: 'copay' }] }, valueMoney: { value, currency: 'USD' } }];
const byId = (id: string) => clinic().find((r) => r.id === id) as Record<string, any>;

/** The fixture claim for Bob, sent as a clinic would: the Claim and what it references. */
function claimBundle(coverage: Record<string, unknown> = byId('cov-bob')) {
  const claim: Record<string, any> = { ...byId('claim-bob-1'), identifier: [{ system: `${CLINIC}/claims`, value: 'C-1001' }] };
  const entries = [claim, byId('pat-bob'), coverage, byId('org-payer'), byId('org-clinic'), byId('pr-smith')];
  return { resourceType: 'Bundle', type: 'collection', entry: entries.map((r) => ({ fullUrl: `${CLINIC}/${r.resourceType}/${r.id}`, resource: r })) };
}

const adjudication = (x: { adjudication?: any[]; category?: any }[] | undefined, code: string): number[] =>
  (x ?? []).flatMap((i) => (i.adjudication ?? [i]).filter((a: any) => a.category.coding[0].code === code).map((a: any) => a.amount.value));

t.test('Claim/$submit stores the Bundle under new ids and answers a stored, deterministic ClaimResponse', async (t) => {
  const app = await testApp(t);
  const res = await post(app, '/fhir/Claim/$submit', claimBundle({ ...byId('cov-bob'), costToBeneficiary: copay(20) }));
  t.equal(res.statusCode, 200, res.body);
  const cr = body(res);
  t.equal(cr.resourceType, 'ClaimResponse');
  t.equal(cr.outcome, 'complete');
  t.match(res.headers.location, /\/ClaimResponse\/[^/]+\/_history\/1$/);
  t.same(adjudication(cr.item, 'eligible'), [165, 28.5], 'eligible = net');
  // A 20.00 co-pay spread over 165.00 and 28.50 in proportion (17.05 + 2.95).
  t.same(adjudication(cr.item, 'copay'), [17.05, 2.95]);
  t.same(adjudication(cr.item, 'benefit'), [147.95, 25.55]);
  t.same(adjudication(cr.total, 'benefit'), [173.5]);
  t.same(cr.payment.amount, { value: 173.5, currency: 'USD' });
  const stored = body(await app.inject(`/fhir/ClaimResponse/${cr.id}`));
  t.equal(stored.id, cr.id, 'the ClaimResponse is stored');
  const claimId = stored.request.reference.split('/')[1];
  const claim = body(await app.inject(`/fhir/Claim/${claimId}`));
  t.not(claimId, 'claim-bob-1', 'the sender\'s id is not reused');
  const patient = body(await app.inject(`/fhir/${claim.patient.reference}`));
  t.same(patient.identifier[0].value, 'MRN-1002', 'the Patient came along');
  t.match(claim.insurance[0].coverage.reference, /^Coverage\/[0-9a-f-]{36}$/, 'references point at the stored copies');
  t.same(await ids(app, '/fhir/Patient?_id=pat-bob'), [], 'nothing stored under the sender\'s ids');

  const retry = await post(app, '/fhir/Claim/$submit', claimBundle());
  t.equal(retry.statusCode, 200);
  t.equal(body(retry).id, cr.id, 'a claim with the same identifier is adjudicated once: its answer is repeated');
  t.equal((await ids(app, '/fhir/Claim')).length, 1);
});

t.test('Claim/$submit refuses what it cannot store, and stores nothing then', async (t) => {
  const app = await testApp(t);
  const noClaim = await post(app, '/fhir/Claim/$submit', { resourceType: 'Bundle', type: 'collection', entry: [{ resource: byId('pat-bob') }] });
  t.equal(noClaim.statusCode, 400);
  const { patient: _p, ...noPatient } = byId('claim-bob-1');
  void _p;
  const invalid = await post(app, '/fhir/Claim/$submit', noPatient);
  t.equal(invalid.statusCode, 422);
  t.equal(body(invalid).resourceType, 'OperationOutcome');
  const badPatient = claimBundle();
  (badPatient.entry[1]?.resource as Record<string, unknown>).birthDate = 'yesterday';
  t.equal((await post(app, '/fhir/Claim/$submit', badPatient)).statusCode, 422, 'a supporting resource is validated too');
  t.same(await ids(app, '/fhir/Claim'), [], 'no Claim was kept');
  t.same(await ids(app, '/fhir/Patient'), [], 'no Patient was kept');
  const params = await post(app, '/fhir/Claim/$submit', { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: byId('claim-bob-1') }] });
  t.equal(params.statusCode, 200, 'a Parameters with a lone Claim');
  t.equal(body(params).outcome, 'complete');
  t.match(body(params).disposition, /Coverage not found/, 'no Coverage at the payer: no patient share');
  t.equal((await app.inject('/fhir/Claim/$submit')).statusCode, 405);
  const odd = claimBundle();
  odd.entry.push({ fullUrl: `${CLINIC}/Gizmo/1`, resource: { resourceType: 'Gizmo', id: '1' } });
  t.equal((await post(app, '/fhir/Claim/$submit', odd)).statusCode, 400, 'an unknown resource type in the Bundle');
});

async function billedVisit(app: FastifyInstance, costToBeneficiary = copay(30)): Promise<string> {
  await loadClinic(app);
  await put(app, '/fhir/Coverage/cov-alice', { ...byId('cov-alice'), costToBeneficiary });
  await put(app, '/fhir/Encounter/enc-p1', {
    resourceType: 'Encounter', id: 'enc-p1', status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
    type: [{ coding: [{ system: CPT, code: '99213' }] }], subject: { reference: 'Patient/pat-alice' },
    participant: [{ individual: { reference: 'Practitioner/pr-smith' } }], serviceProvider: { reference: 'Organization/org-clinic' },
    period: { start: '2026-12-14T09:00:00Z' },
  });
  await patchJson(app, '/fhir/Encounter/enc-p1', [{ op: 'replace', path: '/status', value: 'finished' }]);
  const billed = await operation(app, '/fhir/Encounter/enc-p1/$bill');
  if (billed.statusCode !== 200) throw new Error(billed.body);
  return outputs(body(billed), 'claim')[0]?.id as string;
}

t.test('$submit-to-payer sends the claim to a second Flint and records its ClaimResponse', async (t) => {
  const payer = await listenFlint(t, { AUTH: 'off' });
  // The payer knows its member's coverage: a co-pay of 30.00.
  await put(payer.app, '/fhir/Coverage/cov-alice', { ...byId('cov-alice'), costToBeneficiary: copay(30) });
  const clinicFlint = await listenFlint(t, { AUTH: 'off', PAYER_URL: payer.base });
  const app = clinicFlint.app;
  const claimId = await billedVisit(app);
  const res = await operation(app, `/fhir/Claim/${claimId}/$submit-to-payer`);
  t.equal(res.statusCode, 200, res.body);
  const [cr] = outputs(body(res), 'claimResponse');
  const [invoice] = outputs(body(res), 'invoice');
  t.equal(cr?.request.reference, `Claim/${claimId}`, 'linked to the local Claim');
  t.equal(cr?.identifier[0].system, `${payer.base}/ClaimResponse`);
  const remoteId = cr?.identifier[0].value;
  const atPayer = body(await payer.app.inject(`/fhir/ClaimResponse/${remoteId}`));
  t.equal(atPayer.outcome, 'complete', 'the payer stored its answer');
  t.equal((await payer.app.inject(`/fhir/${atPayer.request.reference}`)).statusCode, 200, 'and the claim it judged');
  t.same(await ids(app, `/fhir/ClaimResponse?request=Claim/${claimId}`), [`ClaimResponse/${cr?.id}`], 'recorded at the clinic');
  t.equal(invoice?.status, 'issued', 'the co-pay Invoice is issued once adjudicated');
  t.same(invoice?.totalNet, { value: 30, currency: 'USD' });
  const again = await operation(app, `/fhir/Claim/${claimId}/$submit-to-payer`);
  t.equal(again.statusCode, 409, 'a claim is sent once');
});

t.test('the payer decides the share: a visit the clinic expected to be fully covered gets its Invoice issued', async (t) => {
  const payer = await listenFlint(t, { AUTH: 'off' });
  // The payer's own record of the member (member number as identifier) says 15.00 co-pay;
  // the clinic's copy says nothing: the payer's terms decide.
  await put(payer.app, '/fhir/Coverage/cov-alice', { ...byId('cov-alice'), identifier: [{ system: 'http://acme.example/member', value: 'ACME-778812' }], costToBeneficiary: copay(15) });
  const clinicFlint = await listenFlint(t, { AUTH: 'off', PAYER_URL: payer.base });
  const app = clinicFlint.app;
  const claimId = await billedVisit(app, []);
  const drafts = await ids(app, '/fhir/Invoice?subject=Patient/pat-alice&status=draft');
  t.equal(drafts.length, 1, 'a draft Invoice of 0.00 waits for the payer');
  const res = await operation(app, `/fhir/Claim/${claimId}/$submit-to-payer`);
  t.equal(res.statusCode, 200, res.body);
  const [invoice] = outputs(body(res), 'invoice');
  t.equal(`Invoice/${invoice?.id}`, drafts[0]);
  t.equal(invoice?.status, 'issued');
  t.same(invoice?.totalNet, { value: 15, currency: 'USD' }, 'the share the payer adjudicated');
});

t.test('$submit-to-payer without a payer, or with one that is down, changes nothing', async (t) => {
  const lonely = await testApp(t);
  const claimId = await billedVisit(lonely);
  const none = await operation(lonely, `/fhir/Claim/${claimId}/$submit-to-payer`);
  t.equal(none.statusCode, 501);
  t.match(body(none).issue[0].diagnostics, /PAYER_URL/);
  const down = await testApp(t, { PAYER_URL: 'http://127.0.0.1:9/fhir' });
  const claim2 = await billedVisit(down);
  const res = await operation(down, `/fhir/Claim/${claim2}/$submit-to-payer`);
  t.equal(res.statusCode, 502);
  t.match(body(res).issue[0].diagnostics, /did not accept the claim: unreachable/);
  t.same(await ids(down, '/fhir/ClaimResponse'), []);
  t.equal((await operation(down, '/fhir/Claim/nope/$submit-to-payer')).statusCode, 404);
});

t.test('PAYER_URL and PAYER_TOKEN are read and checked at start', async (t) => {
  t.same(loadConfig({ PAYER_URL: 'https://payer.example/fhir/', PAYER_TOKEN: ' s3cret ' }).payer, { url: 'https://payer.example/fhir', token: 's3cret' });
  t.equal(loadConfig({}).payer, undefined);
  t.throws(() => loadConfig({ PAYER_URL: 'ftp://payer.example' }), ConfigError);
  t.throws(() => loadConfig({ PAYER_URL: 'not a url' }), ConfigError);
});

t.test('the payer client sends PAYER_TOKEN as a bearer token, and a non-ClaimResponse answer is a 502', async (t) => {
  const { createServer } = await import('node:http');
  const seen: { auth?: string; path?: string; type?: string; body?: Record<string, any> }[] = [];
  let answer: unknown = { resourceType: 'Patient' };
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => { text += c.toString(); });
    req.on('end', () => {
      seen.push({ auth: req.headers.authorization, path: req.url, type: req.headers['content-type'], body: JSON.parse(text) as Record<string, any> });
      res.writeHead(200, { 'content-type': 'application/fhir+json' }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const app = await testApp(t, { PAYER_URL: `http://127.0.0.1:${port}/fhir`, PAYER_TOKEN: 'tok-123' });
  const claimId = await billedVisit(app);
  const res = await operation(app, `/fhir/Claim/${claimId}/$submit-to-payer`);
  t.equal(res.statusCode, 502);
  t.match(body(res).issue[0].diagnostics, /did not answer a ClaimResponse/);
  t.same(await ids(app, '/fhir/ClaimResponse'), [], 'nothing recorded');
  t.equal(seen[0]?.auth, 'Bearer tok-123');
  t.equal(seen[0]?.path, '/fhir/Claim/$submit');
  t.equal(seen[0]?.type, 'application/fhir+json');
  t.same(seen[0]?.body?.entry.map((e: any) => e.resource.resourceType).sort(), ['Claim', 'Coverage', 'Organization', 'Organization', 'Patient', 'Practitioner'], 'the claim and what a payer needs to judge it');
  // A ClaimResponse that is not valid FHIR is refused too.
  answer = { resourceType: 'ClaimResponse', status: 'active', outcome: 'complete', created: 'yesterday' };
  const invalid = await operation(app, `/fhir/Claim/${claimId}/$submit-to-payer`);
  t.equal(invalid.statusCode, 502);
  t.match(body(invalid).issue[0].diagnostics, /not valid/);
  t.same(await ids(app, '/fhir/ClaimResponse'), []);
});
