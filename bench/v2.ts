// bench/v2: HL7 v2 ORU^R01 (10 OBX each) throughput over one MLLP connection, pipelined and
// one-at-a-time, against a baseline in the same process: the same messages' FHIR transactions
// POSTed through the HTTP route (fastify.inject), i.e. what the listener adds to the engine.
//   npm run bench:v2 [-- --messages 500 --rounds 3 --obx 10 --modes pipelined,serial,http]
import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../src/config.js';
import { buildApp } from '../src/app.js';
import { parseMessage } from '../src/v2/er7.js';
import { mapMessage } from '../src/v2/map.js';
import { frame } from '../src/v2/mllp.js';
import { arg, fmt, median } from './lib.js';

const messages = arg('messages', 500);
const rounds = arg('rounds', 3);
const obxCount = arg('obx', 10);
const modesAt = process.argv.indexOf('--modes');
const modes = new Set((modesAt >= 0 ? process.argv[modesAt + 1] ?? '' : 'pipelined,serial,http').split(','));
let serial = 0;

/** An ORU^R01 with `n` numeric results, for a new order of one of 50 patients. */
function oru(n: number): string {
  const k = ++serial;
  const obx = Array.from({ length: n }, (_, i) => `OBX|${i + 1}|NM|${1000 + i}-${i % 10}^Analyte ${i}^LN||${(4 + i / 10).toFixed(1)}|mmol/L^^UCUM|3.5-5.5|N|||F`);
  return [
    `MSH|^~\\&|BENCHLAB|BENCH|FLINT|CLINIC|20240310100000||ORU^R01^ORU_R01|M${k}|P|2.5.1`,
    `PID|1||MRN${k % 50}^^^BENCH^MR||Bench^Patient${k % 50}||19700101|F`,
    `OBR|1||F${k}^BENCH|24323-8^Panel^LN|||20240310090000`,
    ...obx,
  ].join('\r') + '\r';
}

/** Sends the messages on one connection; `window` frames in flight at most. Resolves with the ACK codes. */
function run(socket: Socket, msgs: string[], window: number): Promise<string[]> {
  return new Promise((resolve) => {
    const codes: string[] = [];
    let buf = Buffer.alloc(0);
    let sent = 0;
    const fill = (): void => {
      while (sent < msgs.length && sent - codes.length < window) socket.write(frame(msgs[sent++] ?? ''));
    };
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf(Buffer.from([0x1c, 0x0d]));
        if (end < 0) break;
        codes.push(/\rMSA\|([A-Z]{2})/.exec(buf.subarray(0, end).toString())?.[1] ?? '?');
        buf = buf.subarray(end + 2);
      }
      if (codes.length === msgs.length) {
        socket.off('data', onData);
        resolve(codes);
      } else fill();
    };
    socket.on('data', onData);
    fill();
  });
}

async function viaHttp(app: FastifyInstance, msgs: string[]): Promise<void> {
  for (const m of msgs) {
    const { bundle } = mapMessage(parseMessage(m), { createPatients: true, defaultOffset: '+00:00', allowedFacilities: [] });
    const res = await app.inject({ method: 'POST', url: '/fhir', payload: JSON.stringify(bundle), headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' } });
    if (res.statusCode !== 200) throw new Error(`HTTP baseline: ${res.statusCode} ${res.body.slice(0, 200)}`);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flint-bench-v2-'));
  const config = loadConfig({
    DATABASE_URL: `sqlite:${join(dir, 'flint.db')}`, LOG_LEVEL: 'silent', AUTH: 'off', BASE_URL: 'http://bench/fhir',
    MLLP_PORT: '0', MLLP_CREATE_PATIENTS: 'true', SQLITE_SYNCHRONOUS: process.env.SQLITE_SYNCHRONOUS ?? 'full',
  });
  const app = await buildApp(config);
  await app.ready();
  const port = app.mllp?.address()?.port ?? 0;
  const socket = await new Promise<Socket>((resolve) => { const s = connect({ port, host: '127.0.0.1' }, () => resolve(s)); });
  socket.setNoDelay(true);
  // Warm-up: patients created, statements prepared.
  await run(socket, Array.from({ length: 60 }, () => oru(obxCount)), 16);

  const rate = { pipelined: [] as number[], serial: [] as number[], http: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    for (const [kind, window] of [['pipelined', 32], ['serial', 1]] as const) {
      if (!modes.has(kind)) continue;
      const msgs = Array.from({ length: messages }, () => oru(obxCount));
      const t0 = performance.now();
      const codes = await run(socket, msgs, window);
      const s = (performance.now() - t0) / 1000;
      const bad = codes.filter((c) => c !== 'AA').length;
      if (bad) throw new Error(`${bad} messages not accepted`);
      rate[kind].push(messages / s);
    }
    if (!modes.has('http')) continue;
    const msgs = Array.from({ length: messages }, () => oru(obxCount));
    const t0 = performance.now();
    await viaHttp(app, msgs);
    rate.http.push(messages / ((performance.now() - t0) / 1000));
  }
  socket.destroy();
  await app.close();
  rmSync(dir, { recursive: true, force: true });

  const base = median(rate.http);
  const vsBase = (x: number): string => (rate.http.length ? `  (${fmt(x / base, 2)}× baseline)` : '');
  console.log(`ORU^R01 with ${obxCount} OBX, ${messages} messages a round, ${rounds} rounds, one MLLP connection, SQLite synchronous=${config.sqliteSynchronous}`);
  if (rate.http.length) console.log(`  baseline: same transactions via POST /fhir (inject)   ${fmt(base)} msg/s`);
  if (rate.pipelined.length) console.log(`  MLLP pipelined (32 in flight)                         ${fmt(median(rate.pipelined))} msg/s${vsBase(median(rate.pipelined))}`);
  if (rate.serial.length) console.log(`  MLLP one at a time (send, wait for ACK)               ${fmt(median(rate.serial))} msg/s${vsBase(median(rate.serial))}`);
  console.log(`  target: ≥ 500 msg/s`);
}

void main();
