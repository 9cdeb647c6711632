// Servers the benchmarks run against, one per child process:
//   flint  Flint on a fresh SQLite file, seeded with READ_PATIENTS patients (ids in patients.json);
//          with AUTH=smart it also writes an operator token (system/*.cruds) to token.txt
//   bare   a bare Fastify route answering GET /fhir/Patient/:id with the same bytes Flint stores
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { loadConfig } from '../src/config.js';
import { buildApp } from '../src/app.js';
import { samplePatient } from './data.js';

const kind = process.argv[2];
const dir = process.env.BENCH_DIR ?? mkdtempSync(join(tmpdir(), 'flint-bench-'));

async function main(): Promise<void> {
  if (kind === 'flint') {
    const config = loadConfig({ ...process.env, PORT: '0', DATABASE_URL: process.env.BENCH_DATABASE_URL ?? `sqlite:${join(dir, 'flint.db')}`, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', AUTH: process.env.AUTH ?? 'off' });
    // Production logs one line per request; they go to a file here, as they would to a collector.
    const app = await buildApp(config);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const auth: Record<string, string> = {};
    if (config.auth.mode === 'smart') {
      const { issueOperatorToken } = await import('../src/auth/server/admin.js');
      const token = (await issueOperatorToken(app.authService, ['system/*.cruds'])).access_token;
      writeFileSync(join(dir, 'token.txt'), token);
      auth.authorization = `Bearer ${token}`;
    }
    const n = Number(process.env.READ_PATIENTS ?? '0');
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const res = await app.inject({ method: 'POST', url: '/fhir/Patient', headers: { 'content-type': 'application/fhir+json', ...auth }, payload: JSON.stringify(samplePatient(i)) });
      ids.push(JSON.parse(res.body).id as string);
    }
    if (n > 0) {
      const bodies = await Promise.all(ids.map(async (id) => (await app.inject({ url: `/fhir/Patient/${id}`, headers: auth })).body));
      writeFileSync(join(dir, 'patients.json'), JSON.stringify({ ids, bodies }));
    }
    process.stderr.write(`ready ${port} ${dir}\n`);
    return;
  }
  if (kind === 'bare') {
    const { ids, bodies } = JSON.parse(readFileSync(join(dir, 'patients.json'), 'utf8')) as { ids: string[]; bodies: string[] };
    const byId = new Map(ids.map((id, i) => [id, process.env.BARE_BUFFER ? Buffer.from(bodies[i] ?? '') : bodies[i] ?? '']));
    const app = Fastify();
    app.get<{ Params: { id: string } }>('/fhir/Patient/:id', async (req, reply) => {
      const body = byId.get(req.params.id);
      if (!body) return reply.code(404).send();
      return reply.type('application/fhir+json; charset=utf-8').send(body);
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    process.stderr.write(`ready ${typeof address === 'object' && address ? address.port : 0}\n`);
    return;
  }
  throw new Error(`unknown server kind ${kind}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

// Exit through process.exit so that --cpu-prof and friends can write their output.
process.once('SIGTERM', () => process.exit(0));
process.once('SIGINT', () => process.exit(0));
