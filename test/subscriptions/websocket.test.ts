// The websocket channel (R4 subscription.html#2.46.7.2; Backport IG $get-ws-binding-token) over a
// real socket: bind with a token, notifications after a write, refusals of bad tokens and of
// frames a well-behaved client never sends, and the connection cap.
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { testApp, post, body } from '../helpers/app.js';
import { connectWs, type WsClient } from '../helpers/ws-client.js';
import { authApp, seedClinic, userToken, withToken } from '../helpers/auth.js';
import { startReceiver } from '../helpers/receiver.js';

const BP = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';

async function listening(t: Parameters<typeof testApp>[0], env: Record<string, string> = {}): Promise<{ app: FastifyInstance; port: number }> {
  const app = await testApp(t, env);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  return { app, port: typeof addr === 'object' && addr ? addr.port : 0 };
}

async function token(app: FastifyInstance, id: string): Promise<Record<string, string>> {
  const res = await app.inject({ url: `/fhir/Subscription/${id}/$get-ws-binding-token` });
  if (res.statusCode !== 200) throw new Error(res.body);
  const out: Record<string, string> = {};
  for (const p of body(res).parameter as { name: string; [k: string]: string }[]) out[p.name] = p.valueString ?? p.valueUrl ?? p.valueDateTime ?? '';
  return out;
}

async function bound(port: number, tok: string): Promise<WsClient> {
  const ws = await connectWs(port, '/fhir/websocket');
  ws.sendText(`bind-with-token ${tok}`);
  return ws;
}

const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/a' } };

t.test('R4 criteria subscription: token, bind-with-token, bound, then ping <id> after a matching write', async (t) => {
  const { app, port } = await listening(t);
  const created = await post(app, '/fhir/Subscription', { resourceType: 'Subscription', status: 'requested', reason: 't', criteria: 'Observation?patient=Patient/a', channel: { type: 'websocket' } });
  t.equal(created.statusCode, 201, created.body);
  const id = body(created).id as string;
  const tk = await token(app, id);
  t.equal(tk['websocket-url'], 'ws://flint.test/fhir/websocket');
  t.ok(Date.parse(tk.expiration ?? '') > Date.now(), 'expiration in the future');
  t.equal(tk.subscription, `http://flint.test/fhir/Subscription/${id}`);
  const ws = await bound(port, tk.token ?? '');
  const first = await ws.next();
  t.equal(first.text, `bound ${id}`);
  await post(app, '/fhir/Observation', { ...obs, subject: { reference: 'Patient/b' } });
  await post(app, '/fhir/Observation', obs);
  t.equal((await ws.next()).text, `ping ${id}`, 'one ping for the matching write');
  await t.rejects(ws.next(300), 'no ping for the other patient');
  // The token was used: a second bind with it is refused.
  const again = await bound(port, tk.token ?? '');
  const closed = await again.next();
  t.equal(closed.opcode, 8);
  t.equal(closed.code, 1008, 'a used token is refused');
  ws.socket.destroy();
});

t.test('topic subscription: events written before the bind wait in the outbox, then arrive as numbered Bundles', async (t) => {
  const { app, port } = await listening(t);
  const sub = {
    resourceType: 'Subscription', status: 'requested', reason: 't', criteria: 'http://flint.health/fhir/SubscriptionTopic/patient-result',
    _criteria: { extension: [{ url: `${BP}/backport-filter-criteria`, valueString: 'Observation?patient=Patient/a' }] },
    channel: { type: 'websocket', payload: 'application/fhir+json', _payload: { extension: [{ url: `${BP}/backport-payload-content`, valueCode: 'id-only' }] } },
  };
  const id = body(await post(app, '/fhir/Subscription', sub)).id as string;
  const o1 = body(await post(app, '/fhir/Observation', obs)).id as string;
  await new Promise((r) => setTimeout(r, 200));
  const ws = await bound(port, (await token(app, id)).token ?? '');
  t.equal((await ws.next()).text, `bound ${id}`);
  const b1 = JSON.parse((await ws.next()).text) as { type: string; entry: { resource?: { parameter: { name: string; valueCode?: string; part?: { name: string; valueString?: string }[] }[] }; fullUrl?: string }[] };
  t.equal(b1.type, 'history');
  const params = b1.entry[0]?.resource?.parameter ?? [];
  t.equal(params.find((p) => p.name === 'type')?.valueCode, 'event-notification');
  t.equal(params.find((p) => p.name === 'notification-event')?.part?.find((p) => p.name === 'event-number')?.valueString, '1');
  t.equal(b1.entry[1]?.fullUrl, `http://flint.test/fhir/Observation/${o1}`);
  await post(app, '/fhir/Observation', obs);
  const b2 = JSON.parse((await ws.next()).text) as typeof b1;
  t.equal(b2.entry[0]?.resource?.parameter.find((p) => p.name === 'notification-event')?.part?.find((p) => p.name === 'event-number')?.valueString, '2', 'the next event number');
  ws.socket.destroy();
});

t.test('binding is refused without a valid token; tokens only for websocket subscriptions the caller can read', async (t) => {
  const { app, port } = await listening(t, { SUBSCRIPTION_ALLOW_INSECURE: '1' });
  const id = body(await post(app, '/fhir/Subscription', { resourceType: 'Subscription', status: 'requested', reason: 't', criteria: 'Observation?', channel: { type: 'websocket' } })).id as string;
  for (const msg of ['bind-with-token nonsense', `bind ${id}`, 'bind-with-token ' + 'a'.repeat(200), 'hello']) {
    const ws = await connectWs(port, '/fhir/websocket');
    ws.sendText(msg);
    const f = await ws.next();
    t.same([f.opcode, f.code], [8, 1008], msg.slice(0, 40));
    await ws.ended;
  }
  const hook = body(await post(app, '/fhir/Subscription', { resourceType: 'Subscription', status: 'off', reason: 't', criteria: 'Observation?', channel: { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/x' } })).id as string;
  t.equal((await app.inject({ url: `/fhir/Subscription/${hook}/$get-ws-binding-token` })).statusCode, 422, 'not a websocket subscription');
  t.equal((await app.inject({ url: '/fhir/Subscription/nope/$get-ws-binding-token' })).statusCode, 404);
});

t.test('hostile frames are closed with the RFC 6455 code', async (t) => {
  const { port } = await listening(t);
  const cases: [string, (ws: WsClient) => void, number][] = [
    ['unmasked frame', (ws) => ws.sendFrame(1, Buffer.from('bind-with-token x'), { mask: false }), 1002],
    ['oversize frame (70 KiB)', (ws) => ws.sendFrame(1, Buffer.alloc(70 * 1024, 97)), 1009],
    ['announced 2^40 bytes', (ws) => ws.socket.write(Buffer.from([0x81, 0xff, 0, 0, 1, 0, 0, 0, 0, 0])), 1009],
    ['binary frame', (ws) => ws.sendFrame(2, Buffer.from([1, 2, 3])), 1003],
    ['fragmented text', (ws) => ws.sendFrame(1, Buffer.from('bind-'), { fin: false }), 1003],
    ['invalid UTF-8', (ws) => ws.sendFrame(1, Buffer.from([0xc3, 0x28])), 1007],
    ['reserved bits', (ws) => ws.socket.write(Buffer.from([0xf1, 0x80, 0, 0, 0, 0])), 1002],
    ['unknown opcode', (ws) => ws.sendFrame(3, Buffer.alloc(0)), 1002],
    ['long control frame', (ws) => ws.sendFrame(9, Buffer.alloc(200)), 1002],
  ];
  for (const [name, act, code] of cases) {
    const ws = await connectWs(port, '/fhir/websocket');
    t.match(ws.status, /^HTTP\/1.1 101/);
    act(ws);
    const f = await ws.next();
    t.same([f.opcode, f.code], [8, code], name);
    await ws.ended;
  }
  // A ping gets its pong; a close gets a close.
  const ws = await connectWs(port, '/fhir/websocket');
  ws.sendFrame(9, Buffer.from('hi'));
  const pong = await ws.next();
  t.same([pong.opcode, pong.payload.toString()], [10, 'hi']);
  ws.sendFrame(8, Buffer.from([3, 232]));
  t.equal((await ws.next()).opcode, 8);
  await ws.ended;
});

t.test('handshake rules and the connection cap', async (t) => {
  const { port } = await listening(t, { SUBSCRIPTION_WS_MAX_CONNECTIONS: '2' });
  t.match((await connectWs(port, '/fhir/elsewhere')).status, /^HTTP\/1.1 404/, 'another path');
  t.match((await connectWs(port, '/fhir/websocket', 'Sec-WebSocket-Version: 8\r\n')).status, /^HTTP\/1.1 400/, 'an unsupported version');
  const a = await connectWs(port, '/fhir/websocket');
  const b = await connectWs(port, '/fhir/websocket');
  t.match(a.status, /101/);
  t.match(b.status, /101/);
  const c = await connectWs(port, '/fhir/websocket');
  t.match(c.status, /^HTTP\/1.1 503/, 'past the cap');
  a.socket.destroy();
  await a.ended;
  await new Promise((r) => setTimeout(r, 50));
  const d = await connectWs(port, '/fhir/websocket');
  t.match(d.status, /101/, 'a freed slot is usable again');
  b.socket.destroy();
  d.socket.destroy();
});

t.test('the CapabilityStatement advertises the websocket URL (R4 capabilitystatement-websocket)', async (t) => {
  const app = await testApp(t);
  const cs = body(await app.inject({ url: '/fhir/metadata' })) as { rest: { extension?: { url: string; valueUri?: string }[] }[] };
  const ext = cs.rest[0]?.extension?.find((e) => e.url === 'http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket');
  t.equal(ext?.valueUri, 'ws://flint.test/fhir/websocket');
});

t.test('a binding token needs read access to that Subscription', async (t) => {
  const app = await authApp(t, { RATE_LIMIT: '0' });
  await seedClinic(app);
  const dr = withToken(app, await userToken(app, 'desk', 'dr-smith', 'user/*.cruds'));
  const res = await dr.inject({ method: 'POST', url: '/fhir/Subscription', headers: { 'content-type': 'application/fhir+json' }, payload: JSON.stringify({ resourceType: 'Subscription', status: 'requested', reason: 't', criteria: 'Observation?', channel: { type: 'websocket' } }) });
  t.equal(res.statusCode, 201, res.body);
  const id = body(res).id as string;
  t.equal((await dr.inject({ url: `/fhir/Subscription/${id}/$get-ws-binding-token` })).statusCode, 200);
  const other = withToken(app, await userToken(app, 'desk', 'dr-smith', 'user/Observation.rs'));
  t.equal((await other.inject({ url: `/fhir/Subscription/${id}/$get-ws-binding-token` })).statusCode, 403, 'no Subscription read scope');
  t.equal((await app.inject({ url: `/fhir/Subscription/${id}/$get-ws-binding-token` })).statusCode, 401, 'no token');
});

t.test('a client that does not read is dropped, not buffered for', async (t) => {
  const { app, port } = await listening(t);
  const sub = {
    resourceType: 'Subscription', status: 'requested', reason: 't', criteria: 'http://flint.health/fhir/SubscriptionTopic/patient-result',
    channel: { type: 'websocket', payload: 'application/fhir+json', _payload: { extension: [{ url: `${BP}/backport-payload-content`, valueCode: 'full-resource' }] } },
  };
  const id = body(await post(app, '/fhir/Subscription', sub)).id as string;
  const ws = await bound(port, (await token(app, id)).token ?? '');
  t.equal((await ws.next()).text, `bound ${id}`);
  ws.socket.pause();
  const big = { ...obs, note: [{ text: 'x'.repeat(400_000) }] };
  const N = 40;
  for (let i = 0; i < N; i++) t.equal((await post(app, '/fhir/Observation', big)).statusCode, 201);
  await new Promise((r) => setTimeout(r, 1000));
  ws.socket.resume();
  let frames = 0;
  for (;;) {
    try {
      const f = await ws.next(3000);
      if (f.opcode === 1) frames++;
    } catch {
      break;
    }
  }
  t.ok(ws.socket.destroyed || ws.socket.readableEnded, 'the server dropped the connection');
  t.ok(frames < N, `${frames} of ${N} notifications reached the slow reader before the drop`);
  // The rest wait in the outbox for the next bind.
  const again = await bound(port, (await token(app, id)).token ?? '');
  t.equal((await again.next()).text, `bound ${id}`);
  t.ok((await again.next(5000)).text.includes('event-notification'), 'delivery resumes after a new bind');
  again.socket.destroy();
});

t.test('a connection that answers nothing is closed after the idle time; one that answers pings stays', async (t) => {
  const { port } = await listening(t, { SUBSCRIPTION_WS_IDLE_MS: '600' });
  const silent = await connectWs(port, '/fhir/websocket');
  const lively = await connectWs(port, '/fhir/websocket');
  // Answer every server ping with a pong, as a browser does.
  lively.socket.on('data', (d: Buffer) => { if (d[0] === 0x89) lively.sendFrame(0xa, Buffer.alloc(0)); });
  const f = await silent.next(3000);
  t.same([f.opcode, f.code], [8, 1001], 'idle connection closed (going away)');
  t.notOk(lively.socket.destroyed, 'the pong-answering connection is still open');
  lively.socket.destroy();
});

t.test('unbound websocket subscriptions with waiting events do not hold up rest-hook delivery', async (t) => {
  const app = await testApp(t, { SUBSCRIPTION_ALLOW_INSECURE: '1' });
  for (let i = 0; i < 12; i++) {
    t.equal((await post(app, '/fhir/Subscription', { resourceType: 'Subscription', status: 'requested', reason: 't', criteria: 'Observation?', channel: { type: 'websocket' } })).statusCode, 201);
  }
  await post(app, '/fhir/Observation', obs);
  await new Promise((r) => setTimeout(r, 200));
  const rx = await startReceiver(t);
  await post(app, '/fhir/Subscription', { resourceType: 'Subscription', status: 'requested', reason: 't', criteria: 'Observation?', channel: { type: 'rest-hook', endpoint: rx.url } });
  await rx.waitFor(1);
  const before = Date.now();
  await post(app, '/fhir/Observation', obs);
  await rx.waitFor(2);
  t.ok(Date.now() - before < 2000, 'the rest-hook notification arrives promptly');
});

t.test('a request asking for another protocol (Upgrade: h2c) is served as an ordinary request', async (t) => {
  const { port } = await listening(t);
  const { connect } = await import('node:net');
  const answer = await new Promise<string>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write('GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nAccept: application/fhir+json\r\n\r\n');
    });
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('end', () => resolve(got));
    s.on('error', reject);
    setTimeout(() => { s.destroy(); resolve(got); }, 10_000).unref();
  });
  t.match(answer, /^HTTP\/1\.1 200 /, 'the metadata is served');
  t.match(answer, /"resourceType":"CapabilityStatement"/);
});

type StatusBundle = { type: string; entry: { resource?: { resourceType: string; parameter: { name: string; valueCode?: string; valueString?: string; part?: { name: string; valueString?: string }[] }[] } }[] };
const statusOf = (text: string) => {
  const b = JSON.parse(text) as StatusBundle;
  const params = b.entry[0]?.resource?.parameter ?? [];
  return {
    bundle: b.type, type: params.find((p) => p.name === 'type')?.valueCode,
    since: params.find((p) => p.name === 'events-since-subscription-start')?.valueString,
    events: params.filter((p) => p.name === 'notification-event').map((p) => p.part?.find((x) => x.name === 'event-number')?.valueString),
    entries: b.entry.length,
  };
};

t.test('heartbeats (Backport IG heartbeatPeriod) reach a bound websocket, with the events so far and none listed', { timeout: 60_000 }, async (t) => {
  const { app, port } = await listening(t);
  // 10 s: the shortest period Flint honours (spec.ts), so a busy server is not flooded.
  const sub = {
    resourceType: 'Subscription', status: 'requested', reason: 't', criteria: 'http://flint.health/fhir/SubscriptionTopic/patient-result',
    _criteria: { extension: [{ url: `${BP}/backport-filter-criteria`, valueString: 'Observation?patient=Patient/a' }] },
    channel: {
      type: 'websocket', payload: 'application/fhir+json',
      extension: [{ url: `${BP}/backport-heartbeat-period`, valueUnsignedInt: 10 }],
      _payload: { extension: [{ url: `${BP}/backport-payload-content`, valueCode: 'id-only' }] },
    },
  };
  const id = body(await post(app, '/fhir/Subscription', sub)).id as string;
  const ws = await bound(port, (await token(app, id)).token ?? '');
  t.equal((await ws.next()).text, `bound ${id}`);
  t.equal((await post(app, '/fhir/Observation', obs)).statusCode, 201);
  const first = statusOf((await ws.next()).text);
  t.same(first, { bundle: 'history', type: 'event-notification', since: '1', events: ['1'], entries: 2 }, 'the event');
  // Nothing else happens: the next frame is a heartbeat, within the period and a few polls.
  const beat = statusOf((await ws.next(25_000)).text);
  t.same(beat, { bundle: 'history', type: 'heartbeat', since: '1', events: [], entries: 1 }, 'a heartbeat: one event so far, none carried');
  t.equal((await post(app, '/fhir/Observation', obs)).statusCode, 201);
  t.same(statusOf((await ws.next()).text), { bundle: 'history', type: 'event-notification', since: '2', events: ['2'], entries: 2 }, 'the next event after the heartbeat');
  ws.socket.destroy();
});

t.test('one connection binds at most 20 subscriptions; the 21st bind closes it (policy violation)', async (t) => {
  const { app, port } = await listening(t);
  const ws = await connectWs(port, '/fhir/websocket');
  const ids: string[] = [];
  for (let i = 0; i < 21; i++) {
    ids.push(body(await post(app, '/fhir/Subscription', { resourceType: 'Subscription', status: 'requested', reason: 't', criteria: 'Observation?', channel: { type: 'websocket' } })).id as string);
  }
  for (const id of ids.slice(0, 20)) {
    ws.sendText(`bind-with-token ${(await token(app, id)).token ?? ''}`);
    t.equal((await ws.next()).text, `bound ${id}`);
  }
  // Binding one already bound again with a fresh token is not one more.
  ws.sendText(`bind-with-token ${(await token(app, ids[0] ?? '')).token ?? ''}`);
  t.equal((await ws.next()).text, `bound ${ids[0] ?? ''}`);
  ws.sendText(`bind-with-token ${(await token(app, ids[20] ?? '')).token ?? ''}`);
  const f = await ws.next();
  t.same([f.opcode, f.code], [8, 1008], 'the 21st is refused');
  await ws.ended;
});

t.test('a burst of bind messages with made-up tokens is closed at the first', async (t) => {
  const { port } = await listening(t);
  const ws = await connectWs(port, '/fhir/websocket');
  for (let i = 0; i < 200; i++) ws.sendText(`bind-with-token ${'x'.repeat(40)}${i}`);
  const f = await ws.next();
  t.same([f.opcode, f.code], [8, 1008]);
  await ws.ended;
  const after = await connectWs(port, '/fhir/websocket');
  t.match(after.status, /101/, 'the server still accepts connections');
  after.socket.destroy();
});
