// The MLLP listener over real sockets: ACKs in order, split and coalesced frames, results
// landing as ordinary FHIR resources, corrections, and a hostile client.
import t, { type Test } from 'tap';
import { connect } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { testApp, body } from '../helpers/app.js';
import { ADT_A04, ADT_A08, LAB_A, LAB_A_CORRECTION, LAB_B, MULTI_OBR, MllpClient, msa } from '../helpers/v2.js';
import { frame } from '../../src/v2/mllp.js';

async function start(t: Tap, env: Record<string, string> = {}): Promise<{ app: FastifyInstance; port: number }> {
  const app = await testApp(t, { MLLP_PORT: '0', MLLP_CREATE_PATIENTS: 'true', ...env });
  await app.ready();
  const port = app.mllp?.address()?.port;
  if (!port) throw new Error('MLLP listener not started');
  return { app, port };
}
type Tap = Test;

async function client(t: Tap, port: number): Promise<MllpClient> {
  const c = await MllpClient.open(port);
  t.teardown(() => c.close());
  return c;
}

async function search(app: FastifyInstance, url: string): Promise<Record<string, any>[]> {
  const res = await app.inject({ url });
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body.slice(0, 200)}`);
  return (body(res).entry ?? []).map((e: { resource: Record<string, any> }) => e.resource);
}

t.test('a lab sends ORU^R01 over MLLP, gets AA, and the results are ordinary Observations and DiagnosticReports', async (t) => {
  const { app, port } = await start(t);
  const c = await client(t, port);
  c.write(frame(LAB_A));
  const [ack] = await c.acksUntil(1);
  t.match(msa(ack ?? ''), { code: 'AA', control: 'A0001' });
  t.match(ack, /^MSH\|\^~\\&\|FLINT\|CLINIC\|ACMELAB\|ACME\^2\.16\.840\.1\.113883\.3\.9999\^ISO\|\d{14}\|\|ACK\^R01\^ACK\|/);
  const patients = await search(app, '/fhir/Patient?identifier=urn:oid:2.16.840.1.113883.3.1234|MRN123');
  t.equal(patients.length, 1);
  const pid = patients[0]?.id as string;
  const obs = await search(app, `/fhir/Observation?subject=Patient/${pid}&_count=50`);
  t.equal(obs.length, 6);
  const reports = await search(app, `/fhir/DiagnosticReport?patient=Patient/${pid}&_include=DiagnosticReport:result`);
  const report = reports.find((r) => r.resourceType === 'DiagnosticReport');
  t.equal(report?.status, 'final');
  t.equal(report?.result.length, 6);
  t.ok(report?.result.every((r: { reference: string }) => /^Observation\/[A-Za-z0-9-]+$/.test(r.reference)), 'temporary ids resolved');
  t.match(report?.basedOn[0].reference, /^ServiceRequest\//);
  const glucose = await search(app, '/fhir/Observation?code=http://loinc.org|2345-7');
  t.equal(glucose[0]?.valueQuantity.value, 182);
  t.equal(glucose[0]?.subject.reference, `Patient/${pid}`);
});

t.test('a correction (same filler order number and set id) updates the result instead of adding one', async (t) => {
  const { app, port } = await start(t);
  const c = await client(t, port);
  c.write(frame(LAB_A));
  c.write(frame(LAB_A_CORRECTION));
  const acks = await c.acksUntil(2);
  t.same(acks.map((a) => msa(a).code), ['AA', 'AA']);
  const glucose = await search(app, '/fhir/Observation?code=http://loinc.org|2345-7');
  t.equal(glucose.length, 1, 'no duplicate');
  t.equal(glucose[0]?.valueQuantity.value, 128);
  t.equal(glucose[0]?.status, 'corrected');
  t.equal(glucose[0]?.meta.versionId, '2');
  t.equal((await search(app, '/fhir/Observation?_count=50')).length, 6);
  const reports = await search(app, '/fhir/DiagnosticReport');
  t.equal(reports.length, 1);
  t.equal(reports[0]?.status, 'corrected');
  t.equal((await search(app, '/fhir/ServiceRequest')).length, 1, 'the order is found again, not created twice');
  t.equal((await search(app, '/fhir/Patient')).length, 1);
});

t.test('split frames (byte by byte) and coalesced frames are answered in order', async (t) => {
  const { app, port } = await start(t);
  const c = await client(t, port);
  const one = frame(LAB_B);
  for (let i = 0; i < one.length; i += 7) {
    c.write(one.subarray(i, i + 7));
    if (i % 70 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  t.equal(msa((await c.acksUntil(1))[0] ?? '').code, 'AA');
  c.write(Buffer.concat([frame(MULTI_OBR), frame('MSH|^~\\&|X|Y|||||ORM^O01|BAD1|P|2.5.1\rPID|1||1^^^A'), frame(ADT_A04), frame(ADT_A08)]));
  const acks = (await c.acksUntil(5)).slice(1).map(msa);
  t.same(acks.map((a) => [a.code, a.control]), [['AA', 'A0002'], ['AR', 'BAD1'], ['AA', 'R-1'], ['AA', 'R-2']]);
  const roe = await search(app, '/fhir/Patient?family=Roe');
  t.equal(roe.length, 1, 'A08 updated the patient A04 registered');
  t.same(roe[0]?.address[0].line, ['7 Oak St']);
  t.equal(roe[0]?.meta.versionId, '2');
});

t.test('an unknown patient is refused with AE and the reason when patients are not created; nothing is stored', async (t) => {
  const { app, port } = await start(t, { MLLP_CREATE_PATIENTS: 'false' });
  const c = await client(t, port);
  c.write(frame(LAB_A));
  const a = msa((await c.acksUntil(1))[0] ?? '');
  t.equal(a.code, 'AE');
  t.match(a.text, /Patient\?identifier=.* matches no resource/);
  t.match(a.err, /^ERR\|\|\|204\^Unknown key identifier\^HL70357\|E\|/);
  t.equal((await search(app, '/fhir/Observation')).length, 0, 'all or nothing');
  t.equal((await search(app, '/fhir/ServiceRequest')).length, 0);
});

t.test('an application error names the field in MSA-3 and ERR', async (t) => {
  const { port } = await start(t);
  const c = await client(t, port);
  c.write(frame(LAB_A.replace('||182|', '||one-eighty|')));
  const a = msa((await c.acksUntil(1))[0] ?? '');
  t.equal(a.code, 'AE');
  t.equal(a.control, 'A0001');
  t.match(a.text, /^OBX-5: /);
  t.match(a.err, /^ERR\|\|OBX\^1\^5\|102\^Data type error\^HL70357\|E/);
});

t.test('allow-list: a facility not listed gets AR', async (t) => {
  const { port } = await start(t, { MLLP_ALLOWED_FACILITIES: 'ACME, OTHER' });
  const c = await client(t, port);
  c.write(Buffer.concat([frame(LAB_B), frame(LAB_A)]));
  const acks = (await c.acksUntil(2)).map(msa);
  t.same(acks.map((a) => a.code), ['AR', 'AA']);
});

t.test('hostile client: garbage, wrong encoding characters, empty frames, oversize frames, unterminated frames', async (t) => {
  const { port } = await start(t, { MLLP_MAX_FRAME: '4096' });
  const c = await client(t, port);
  c.write(Buffer.from([0, 1, 2, 0xff, 0x1c, 0x0d, 0x41]));
  c.write(frame(''));
  c.write(frame('MSH|^^\\&|A|B|||||ORU^R01|1|P|2.5'));
  c.write(frame(Buffer.from([0xff, 0xfe, 0x00, 0x0b])));
  c.write(frame(`MSH|^~\\&|A|B|||||ORU^R01|BIG|P|2.5\r${'NTE|1||'.padEnd(10_000, 'x')}`));
  c.write(frame(LAB_B));
  const acks = (await c.acksUntil(5)).map(msa);
  t.same(acks.map((a) => a.code), ['AR', 'AR', 'AR', 'AR', 'AA'], 'each bad frame gets AR, in order; the connection keeps working');
  t.match(acks[3]?.text, /MLLP_MAX_FRAME/);

  // A frame that never ends, larger than the limit: refused without holding it all.
  const d = await client(t, port);
  d.write(Buffer.from([0x0b]));
  for (let i = 0; i < 20; i++) d.write(Buffer.alloc(1024, 0x41));
  const dacks = (await d.acksUntil(1)).map(msa);
  t.equal(dacks[0]?.code, 'AR');
  d.close();
  // The listener still serves.
  const e = await client(t, port);
  e.write(frame(LAB_B));
  t.equal(msa((await e.acksUntil(1))[0] ?? '').code, 'AA');
});

t.test('connections over MLLP_MAX_CONNECTIONS are refused; idle connections are closed', async (t) => {
  const { port } = await start(t, { MLLP_MAX_CONNECTIONS: '2', MLLP_IDLE_TIMEOUT: '1' });
  const a = await client(t, port);
  const b = await client(t, port);
  await new Promise((r) => setTimeout(r, 50));
  const closed = await new Promise<boolean>((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.on('close', () => resolve(true));
    s.on('error', () => undefined);
    setTimeout(() => { s.destroy(); resolve(false); }, 3000);
  });
  t.ok(closed, 'the third connection is closed by the server');
  a.write(frame(LAB_B));
  t.equal(msa((await a.acksUntil(1))[0] ?? '').code, 'AA', 'existing connections still work');
  await new Promise((r) => setTimeout(r, 1500));
  t.ok(b.closed, 'an idle connection is closed after MLLP_IDLE_TIMEOUT');
});

t.test('many concurrent connections sending at once all get their ACKs', async (t) => {
  const { app, port } = await start(t);
  const clients = await Promise.all(Array.from({ length: 10 }, () => client(t, port)));
  clients.forEach((c, i) => c.write(frame(LAB_B.replace('B-555', `C-${i}`).replace('NL-42', `NL-${i}`).replace('778899', `P${i}`))));
  const acks = await Promise.all(clients.map(async (c) => msa((await c.acksUntil(1))[0] ?? '')));
  t.same(acks.map((a) => a.code), Array(10).fill('AA'));
  t.equal((await search(app, '/fhir/DiagnosticReport?_count=50')).length, 10);
});

t.test('messages arriving together share one commit, yet each is all-or-nothing: a failing one gets AE, its neighbours AA', async (t) => {
  const { app, port } = await start(t, { MLLP_CREATE_PATIENTS: 'false' });
  const c = await client(t, port);
  // For the patient ADT_A04 registers (P-900, sent by CLINIC like the ADT).
  const labForRoe = LAB_A
    .replace(/^PID\|[^\r]*/m, 'PID|1||P-900^^^CLINIC^MR||Roe^Richard||19550505|M')
    .replace('|ACMELAB|ACME^2.16.840.1.113883.3.9999^ISO|', '|ACMELAB|CLINIC|')
    .replace('|A0001|', '|A0101|');
  // One write: the frames are waiting together when the listener takes them.
  c.write(Buffer.concat([frame(ADT_A04), frame(labForRoe), frame(LAB_A), frame(ADT_A08)]));
  const acks = (await c.acksUntil(4)).map(msa);
  t.same(acks.map((a) => a.code), ['AA', 'AA', 'AE', 'AA']);
  t.same(acks.map((a) => a.control), ['R-1', 'A0101', 'A0001', 'R-2'], 'in order');
  t.match(acks[2]?.text, /Patient\?identifier=.* matches no resource/);
  const patients = await search(app, '/fhir/Patient');
  t.equal(patients.length, 1, 'the unknown patient was not created');
  t.equal(patients[0]?.meta.versionId, '2', 'registered, then updated by the A08 after the failed message');
  t.equal((await search(app, '/fhir/Observation?_count=50')).length, 6, 'the lab for the registered patient landed, the refused one did not');
  t.equal((await search(app, '/fhir/DiagnosticReport')).length, 1);
});

t.test('an order placed over FHIR is updated by the results that refer to it (placer number): its status changes, the rest is kept', async (t) => {
  const { app, port } = await start(t);
  const order = {
    resourceType: 'ServiceRequest', status: 'active', intent: 'order', identifier: [{ system: 'urn:flint:v2:id:CLINIC', value: 'ORD-77' }],
    code: { text: 'CMP' }, subject: { display: 'Jane Doe' }, note: [{ text: 'urgent' }],
  };
  const created = await app.inject({ method: 'POST', url: '/fhir/ServiceRequest', payload: order, headers: { 'content-type': 'application/fhir+json' } });
  t.equal(created.statusCode, 201);
  const id = body(created).id as string;
  const c = await client(t, port);
  c.write(frame(LAB_A.replace(/(PID\|[^\r]*\r)/, '$1NTE|1||Patient reports fasting since midnight\r')));
  t.equal(msa((await c.acksUntil(1))[0] ?? '').code, 'AA');
  const srs = await search(app, '/fhir/ServiceRequest');
  t.equal(srs.length, 1, 'the existing order, not a new one');
  t.equal(srs[0]?.id, id);
  t.equal(srs[0]?.status, 'completed', 'final results complete the order');
  t.equal(srs[0]?.meta.versionId, '2');
  t.same(srs[0]?.note, [{ text: 'urgent' }], 'what the results do not speak of is kept');
  const reports = await search(app, '/fhir/DiagnosticReport');
  t.equal(reports[0]?.basedOn[0].reference, `ServiceRequest/${id}`);
  t.same(reports[0]?.extension, [{ url: 'http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note', valueAnnotation: { text: 'Patient reports fasting since midnight' } }]);
});
