// HL7 v2 batches (v2.5.1 2.10.3): the envelope is checked whole before anything is stored; a
// well-formed batch's messages are each processed and acknowledged, in order, in an
// acknowledgement batch; a malformed envelope gets one AR and changes nothing.
import t, { type Test } from 'tap';
import type { FastifyInstance } from 'fastify';
import { testApp, body } from '../helpers/app.js';
import { LAB_A, LAB_B, ADT_A04, MllpClient, msa, batchOf, batchAcks } from '../helpers/v2.js';
import { BatchError, batchAcknowledgement, batchRejection, parseBatch } from '../../src/v2/batch.js';
import { parseMessage, V2ParseError } from '../../src/v2/er7.js';
import { frame } from '../../src/v2/mllp.js';

const lines = (s: string): string[] => s.split('\r').filter((l) => l !== '');

t.test('a batch splits into its messages, exactly as sent', async (t) => {
  const b = parseBatch(batchOf([LAB_A, ADT_A04]));
  t.equal(b.file, undefined);
  t.equal(b.batches.length, 1);
  t.equal(b.batches[0]?.header.get(11), 'B-9');
  t.same(b.batches[0]?.messages, [LAB_A, ADT_A04]);
  const file = parseBatch(batchOf([LAB_A], { file: true }));
  t.equal(file.file?.get(11), 'F-77');
  t.same(file.batches.map((x) => x.messages.length), [1]);
  const empty = parseBatch(batchOf([]));
  t.same(empty.batches[0]?.messages, [], 'an empty batch is allowed (periodic submission)');
});

t.test('malformed envelopes are BatchErrors (AR) naming the segment', async (t) => {
  const bad: [string, string, RegExp][] = [
    [batchOf([LAB_A], { count: '2' }), 'BTS', /BTS-1 says 2 messages, the batch holds 1/],
    [batchOf([LAB_A], { count: 'x' }), 'BTS', /BTS-1 says x/],
    [batchOf([LAB_A]).replace(/BTS\|1\r$/, ''), 'BTS', /no BTS trailer/],
    [batchOf([LAB_A], { file: true }).replace(/FTS\|1\r$/, ''), 'FTS', /no FTS trailer/],
    [batchOf([LAB_A], { file: true }).replace(/FTS\|1\r$/, 'FTS|3\r'), 'FTS', /FTS-1 says 3 batches, the file holds 1/],
    [batchOf([LAB_A]).replace('BHS|^~\\&|ACMELAB|ACME|FLINT|CLINIC|20240301090000||||B-9\r', 'BHS|^~\\&|ACMELAB|ACME|FLINT|CLINIC|20240301090000||||B-9\rNTE|1||stray\r'), 'NTE', /outside any message/],
    [`${batchOf([LAB_A])}${batchOf([LAB_B])}`, 'BHS', /several batches in one frame need a file envelope/],
    [`${batchOf([LAB_A])}MSH|^~\\&|X\r`, 'MSH', /comes after the end of the batch/],
    [batchOf([LAB_A]).replace('BTS|1\r', 'BHS|^~\\&|A|B\rBTS|1\r'), 'BTS', /has no BTS before it/],
    ['BHS|^^\\&|A|B\rBTS|0\r', 'BHS', /encoding characters/],
    ['FHS|^~\\&|A|B\rFTS|0\r', 'BHS', /a batch starts with BHS/],
  ];
  for (const [text, segment, message] of bad) {
    try {
      parseBatch(text);
      t.fail(`accepted: ${JSON.stringify(text.slice(-40))}`);
    } catch (err) {
      t.ok(err instanceof BatchError);
      const e = err as BatchError;
      t.equal(e.ack, 'AR');
      t.equal(e.location?.segment, segment, e.message);
      t.match(e.message, message);
    }
  }
  t.throws(() => parseMessage([LAB_A, LAB_B.replace(/\n/g, '\r')].join('')), V2ParseError, 'two messages without an envelope are not one message');
  t.throws(() => parseMessage(`${LAB_A}BTS|1\r`), V2ParseError, 'envelope segments inside a message are refused');
});

t.test('the acknowledgement batch mirrors the envelope: sender and receiver swapped, control ids referenced, answers counted', async (t) => {
  const received = parseBatch(batchOf([LAB_A, ADT_A04], { file: true }));
  const now = new Date('2024-03-01T10:00:00Z');
  const out = lines(batchAcknowledgement(received, [['MSH|^~\\&|X\rMSA|AA|A0001\r', 'MSH|^~\\&|X\rMSA|AE|R-1|why\rERR|||101\r']], now));
  t.match(out[0], /^FHS\|\^~\\&\|FLINT\|CLINIC\|ACMELAB\|ACME\|20240301100000\|\|\|\|FLB\d+\|F-77$/);
  t.match(out[1], /^BHS\|\^~\\&\|FLINT\|CLINIC\|ACMELAB\|ACME\|20240301100000\|\|\|\|FLB\d+\|B-9$/);
  t.same(out.slice(2), ['MSH|^~\\&|X', 'MSA|AA|A0001', 'MSH|^~\\&|X', 'MSA|AE|R-1|why', 'ERR|||101', 'BTS|2', 'FTS|1']);
});

t.test('a rejected envelope is answered by one ACK with AR, the batch control id and the reason', async (t) => {
  let err: BatchError | undefined;
  try {
    parseBatch(batchOf([LAB_A], { count: '4', control: 'B-42' }));
  } catch (e) {
    err = e as BatchError;
  }
  const ack = batchRejection(err as BatchError);
  t.match(ack, /^MSH\|\^~\\&\|FLINT\|CLINIC\|ACMELAB\|ACME\|\d{14}\|\|ACK\^\^ACK\|/);
  t.match(msa(ack), { code: 'AR', control: 'B-42', text: 'BTS-1 says 4 messages, the batch holds 1' });
  t.match(msa(ack).err, /^ERR\|\|BTS\^\d+\^\|100\^Segment sequence error\^HL70357\|E\|/);
});

async function start(t: Test): Promise<{ app: FastifyInstance; c: MllpClient }> {
  const app = await testApp(t, { MLLP_PORT: '0', MLLP_CREATE_PATIENTS: 'true' });
  await app.ready();
  const c = await MllpClient.open(app.mllp?.address()?.port ?? 0);
  t.teardown(() => c.close());
  return { app, c };
}

const count = async (app: FastifyInstance, type: string): Promise<number> => (body(await app.inject({ url: `/fhir/${type}?_summary=count` })).total as number);

t.test('over MLLP: every message of a batch is processed and acknowledged in order; a failing one alone gets AE', async (t) => {
  const { app, c } = await start(t);
  const bad = LAB_A.replace('||182|', '||one-eighty|').replace('|A0001|', '|A0009|');
  c.write(frame(batchOf([LAB_A, bad, LAB_B], { file: true })));
  c.write(frame(ADT_A04));
  const [answer, after] = await c.acksUntil(2);
  const { envelope, acks } = batchAcks(answer ?? '');
  t.same(acks.map((a) => [a.code, a.control]), [['AA', 'A0001'], ['AE', 'A0009'], ['AA', 'B-555']]);
  t.match(acks[1]?.text, /^OBX-5: /);
  t.equal(envelope.length, 4);
  t.match(envelope[0], /\|F-77$/);
  t.match(envelope[1], /\|B-9$/);
  t.same(envelope.slice(2), ['BTS|3', 'FTS|1']);
  t.same(msa(after ?? ''), { code: 'AA', control: 'R-1', text: '' }, 'the next frame is answered after the batch, in order');
  t.equal(await count(app, 'DiagnosticReport'), 2, 'the accepted messages are stored, the refused one is not');
  t.equal(await count(app, 'Observation'), 9);
});

t.test('over MLLP: a malformed batch envelope gets one AR and nothing of it is stored; the connection keeps working', async (t) => {
  const { app, c } = await start(t);
  c.write(frame(batchOf([LAB_A, LAB_B], { count: '3' })));
  c.write(frame(batchOf([LAB_A]).replace(/BTS\|1\r$/, '')));
  c.write(frame('BHS|^~\\&|' + 'x|'.repeat(5000)));
  c.write(frame(LAB_B));
  const acks = (await c.acksUntil(4)).map(msa);
  t.same(acks.map((a) => [a.code, a.control]), [['AR', 'B-9'], ['AR', 'B-9'], ['AR', 'x'], ['AA', 'B-555']]);
  t.equal(await count(app, 'DiagnosticReport'), 1, 'only the last, plain message');
  t.equal(await count(app, 'Patient'), 1);
});

t.test('over MLLP: a large batch is processed in bounded groups and answered once', async (t) => {
  const { app, c } = await start(t);
  const many = Array.from({ length: 70 }, (_, i) => LAB_B.replace('B-555', `B-${i}`).replace('NL-42', `NL-${i}`));
  c.write(frame(batchOf(many)));
  const [answer] = await c.acksUntil(1, 60_000);
  const { acks, envelope } = batchAcks(answer ?? '');
  t.equal(acks.length, 70);
  t.ok(acks.every((a, i) => a.code === 'AA' && a.control === `B-${i}`), 'all accepted, in order');
  t.same(envelope.slice(-1), ['BTS|70']);
  t.equal(await count(app, 'DiagnosticReport'), 70);
});
