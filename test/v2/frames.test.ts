// MLLP framing (v2.5.1 Appendix C): frames split anywhere, several per chunk, bytes between
// frames, and the size limit — the decoder alone, chunk by chunk.
import t from 'tap';
import { frame, MllpDecoder, type FrameEvent } from '../../src/v2/mllp.js';

const frames = (evs: FrameEvent[]): string[] => evs.filter((e) => e.kind === 'frame').map((e) => (e.kind === 'frame' ? e.payload.toString() : ''));

t.test('a frame split at every possible point decodes to the same message', async (t) => {
  const whole = frame('MSH|^~\\&|A\rPID|1');
  for (let cut = 1; cut < whole.length; cut++) {
    const d = new MllpDecoder(1000);
    const got = [...frames(d.push(whole.subarray(0, cut))), ...frames(d.push(whole.subarray(cut)))];
    t.same(got, ['MSH|^~\\&|A\rPID|1'], `cut at ${cut}`);
  }
});

t.test('coalesced frames with bytes between them give each message, and report the dropped bytes', async (t) => {
  const d = new MllpDecoder(1000);
  const evs = d.push(Buffer.concat([Buffer.from('junk'), frame('one'), Buffer.from('\r\n'), frame('two'), frame('three')]));
  t.same(frames(evs), ['one', 'two', 'three']);
  t.ok(evs.some((e) => e.kind === 'garbage'));
});

t.test('a lone FS inside a frame is content; a VT inside a frame restarts it', async (t) => {
  const d = new MllpDecoder(1000);
  t.same(frames(d.push(Buffer.from('\u000ba\u001cb\u001c\r'))), ['a\u001cb']);
  t.same(frames(d.push(Buffer.from('\u000bhalf\u000bwhole\u001c\r'))), ['whole']);
});

t.test('a frame over the limit is reported once, not buffered, and the next frame decodes', async (t) => {
  const d = new MllpDecoder(10);
  const evs = [...d.push(Buffer.from('\u000b0123456789abc')), ...d.push(Buffer.alloc(100_000, 0x41))];
  t.equal(evs.filter((e) => e.kind === 'oversize').length, 1);
  t.equal(d.buffered, 0, 'nothing held for the oversize frame');
  t.same(frames(d.push(Buffer.concat([Buffer.from('\u001c\r'), frame('ok')]))), ['ok']);
});
