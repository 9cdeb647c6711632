// Fair turns between clients at the HTTP edge (src/http/fair.ts): the order in which waiting
// requests start, driven by hand (a fake clock and deferral, no timing), and the server on a real
// socket: a busy client's many requests and a quiet client's all get answered, and the server
// keeps the timeouts Fastify would have set.
import t from 'tap';
import { request, Agent } from 'node:http';
import { FairGate } from '../../src/http/fair.js';
import { FairQueue } from '../../src/fhir-basics/fair-queue.js';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';

t.test('FairQueue takes one item from each lane in turn', async (t) => {
  const q = new FairQueue<string>();
  for (const x of ['a1', 'a2', 'a3', 'a4']) q.push('a', x);
  q.push('b', 'b1');
  q.push('c', 'c1');
  q.push('c', 'c2');
  t.equal(q.size, 7);
  t.equal(q.waiting('a'), 4);
  const order: string[] = [];
  order.push(q.shift()?.item ?? '', q.shift()?.item ?? '');
  // A lane that arrives late joins the end of the rotation.
  q.push('d', 'd1');
  for (let x = q.shift(); x; x = q.shift()) order.push(x.item);
  t.same(order, ['a1', 'b1', 'c1', 'a2', 'd1', 'c2', 'a3', 'a4']);
  t.equal(q.size, 0);
  t.equal(q.shift(), undefined, 'an empty queue gives nothing');
});

/** A gate whose turns run only when the test says so, on a clock that advances `cost` ms per start. */
function manualGate(burst: number, sliceMs: number, cost = 1) {
  const started: string[] = [];
  let clock = 0;
  const turns: (() => void)[] = [];
  const gate = new FairGate<string>((_key, item) => {
    started.push(item);
    clock += cost;
  }, { burst, sliceMs, now: () => clock, defer: (fn) => turns.push(fn) });
  const turn = (): boolean => {
    const fn = turns.shift();
    fn?.();
    return fn !== undefined;
  };
  return { gate, started, turn, pendingTurns: () => turns.length };
}

t.test('a busy client waits its turn; a quiet client starts at once', async (t) => {
  const { gate, started, turn, pendingTurns } = manualGate(2, 3);
  for (let i = 1; i <= 8; i++) gate.admit('busy', `busy${i}`);
  t.same(started, ['busy1', 'busy2'], 'the busy client starts up to its burst; the rest wait');
  t.equal(gate.waiting, 6);
  gate.admit('quiet', 'quiet1');
  t.same(started.at(-1), 'quiet1', 'the quiet client does not wait behind the busy one');
  t.equal(pendingTurns(), 1, 'one turn is scheduled, however many wait');
  turn();
  t.same(started.slice(3), ['busy3'], 'the next turn starts one waiting request');
  gate.admit('quiet', 'quiet2');
  t.same(started.at(-1), 'quiet2', 'between turns, the quiet client still starts at once');
  while (turn());
  t.same(started.slice(5), ['busy4', 'busy5', 'busy6', 'busy7', 'busy8']);
  t.equal(gate.waiting, 0);
  t.equal(pendingTurns(), 0, 'no turn is scheduled once nothing waits');
});

t.test('requests that finish at once are held to the slice of a turn; another client still starts at once', async (t) => {
  // Each start takes 1 ms of the clock and is done at once (a read answered synchronously): the
  // busy client never has a request in progress, yet after 3 ms of the turn its next ones wait.
  const { gate, started, turn } = manualGate(4, 3);
  const admitDone = (key: string, item: string): void => {
    const before = started.length;
    gate.admit(key, item);
    if (started.length > before) gate.done(key);
  };
  for (let i = 1; i <= 6; i++) admitDone('busy', `busy${i}`);
  t.same(started, ['busy1', 'busy2', 'busy3'], 'three starts use up the 3 ms slice');
  admitDone('quiet', 'quiet1');
  t.same(started.at(-1), 'quiet1', "a client's first request of the turn starts at once, slice used or not");
  admitDone('quiet', 'quiet2');
  t.equal(started.at(-1), 'quiet1', 'its second one in the same spent turn waits');
  turn();
  t.same(started.slice(4), ['busy4'], 'the first turn starts one waiting request');
  turn();
  t.same(started.slice(5), ['quiet2', 'busy5', 'busy6'], 'then as many as fit in the slice at what a start took (1 ms), lanes in rotation');
  // The slice of this turn is spent: a new client's first request starts at once, the busy one's waits.
  admitDone('other', 'other1');
  t.same(started.at(-1), 'other1');
  admitDone('busy', 'busy7');
  t.equal(started.at(-1), 'other1', 'a client that started requests this turn, slice spent, waits for the next');
  turn();
  t.same(started.slice(9), ['busy7']);
  t.equal(gate.waiting, 0);
});

t.test('a turn starts more waiting requests when they are cheap, one when they are dear', async (t) => {
  const cheap = manualGate(0, 1, 0.25);
  for (let i = 1; i <= 12; i++) cheap.gate.admit('a', `a${i}`);
  cheap.turn();
  t.equal(cheap.started.length, 1, 'one before anything is measured');
  cheap.turn();
  t.equal(cheap.started.length, 5, '0.25 ms each: four fit in a 1 ms slice');
  cheap.turn();
  t.equal(cheap.started.length, 9);
  const dear = manualGate(0, 1, 5);
  for (let i = 1; i <= 4; i++) dear.gate.admit('a', `a${i}`);
  dear.turn();
  dear.turn();
  dear.turn();
  t.equal(dear.started.length, 3, 'one per turn when a start takes longer than the slice');
});

t.test('waiting clients are served in rotation, and a client waits while its own requests wait', async (t) => {
  const { gate, started, turn } = manualGate(1, 100);
  gate.admit('a', 'a1');
  gate.admit('b', 'b1');
  for (const x of ['a2', 'a3', 'a4']) gate.admit('a', x);
  for (const x of ['b2', 'b3']) gate.admit('b', x);
  gate.done('b');
  // b has nothing in progress now, but requests of its own wait: b4 queues behind them.
  gate.admit('b', 'b4');
  gate.admit('c', 'c1');
  t.same(started, ['a1', 'b1', 'c1']);
  while (turn());
  t.same(started, ['a1', 'b1', 'c1', 'a2', 'b2', 'a3', 'b3', 'a4', 'b4']);
});

t.test('a turn always starts a waiting request', async (t) => {
  const { gate, started, turn } = manualGate(0, 0);
  gate.admit('a', 'a1');
  gate.admit('a', 'a2');
  t.same(started, []);
  turn();
  t.same(started, ['a1'], 'one per turn');
  turn();
  t.same(started, ['a1', 'a2']);
});

t.test('done() forgets a client once nothing of it is in progress', async (t) => {
  const { gate, started } = manualGate(1, 10);
  gate.admit('a', 'a1');
  gate.done('a');
  gate.done('a'); // one too many: harmless
  gate.admit('a', 'a2');
  t.same(started, ['a1', 'a2'], 'a client with nothing in progress starts at once again');
});

function get(port: number, agent: Agent, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('on a real socket, a burst from one client and a quiet client are all answered', async (t) => {
  const app = await buildApp(loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', AUTH: 'off', RATE_LIMIT: '0', CLIENT_CONCURRENCY: '0' }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  t.equal(app.server.requestTimeout, 60_000, 'the request timeout Flint configures is kept');
  t.equal(app.server.keepAliveTimeout, 72_000, "Fastify's keep-alive timeout is kept");
  const busy = new Agent({ keepAlive: true, maxSockets: 64 });
  const quiet = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => {
    busy.destroy();
    quiet.destroy();
  });
  const [busyStatuses, quietStatuses] = await Promise.all([
    Promise.all(Array.from({ length: 300 }, () => get(port, busy, '/fhir/metadata?_summary=true'))),
    Promise.all(Array.from({ length: 5 }, () => get(port, quiet, '/fhir/Patient?_count=1'))),
  ]);
  t.same(new Set(busyStatuses), new Set([200]), 'every request of the busy client is answered');
  t.same(quietStatuses, [200, 200, 200, 200, 200]);
});
