// npm run migrate -- --from sqlite:data/flint.db --to 'mongodb://…/flint?replicaSet=rs0' [--auth-from data/auth.db | --no-auth]
// Copies every version of every resource from one store to another through the store port
// (Store.restore), oldest first, exactly as stored: the same versionId, meta.lastUpdated, method,
// JSON and deletion markers, in the same history order, so `_history`, `_since` and ETags
// survive the move. Then the auth registry (scripts/migrate-registry.ts). Re-running it after
// an interruption resumes: what is already in the target, unchanged, is skipped; a target that
// holds anything else is refused, naming the first record that differs. Run it while no Flint
// serves the target (README "Operations").
import { pathToFileURL } from 'node:url';
import { loadConfig, parseDatabaseUrl, ConfigError } from '../src/config.js';
import { openEngine } from '../src/app.js';
import { existsSync } from 'node:fs';
import { openStore, type DatabaseTarget } from '../src/store/open.js';
import type { MongoDb } from '../src/store/mongo/db.js';
import { openRegistry } from '../src/store/open-registry.js';
import { connectMongo } from '../src/store/mongo/driver.js';
import { StoreError, type Store, type VersionRecord } from '../src/store/port.js';
import { migrateRegistry, type RegistryCopy } from './migrate-registry.js';

export interface MigrateProgress {
  phase: 'scan' | 'copy';
  done: number;
  /** Versions in the source (known once the scan is over). */
  total?: number;
  /** Versions found already in the target (a resumed run). */
  skipped: number;
}

/** One version to copy: its resource and number (memory stays a few dozen bytes per version). */
type Key = [type: string, id: string, version: number];

const PAGE = 1000;

/** A version as copied: everything but its position in the change order (each store numbers its own). */
function content(r: VersionRecord): string {
  return JSON.stringify([r.type, r.id, r.versionId, r.lastUpdated, r.deleted, r.method, r.json ?? null]);
}

/**
 * Copies every version of `source` into `target`, oldest first. Throws if the target holds a
 * resource whose versions do not line up with the source's (it was not empty).
 */
export async function migrate(source: Store, target: Store, onProgress?: (p: MigrateProgress) => void, pageSize = PAGE): Promise<{ copied: number; skipped: number }> {
  const keys: Key[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await source.history({ count: pageSize, ...(cursor ? { cursor } : {}) });
    for (const r of page.records) keys.push([r.type, r.id, Number(r.versionId)]);
    onProgress?.({ phase: 'scan', done: keys.length, skipped: 0 });
    if (!page.next) break;
    cursor = page.next;
  }
  const total = keys.length;
  let copied = 0;
  let skipped = 0;
  // System history is newest first: copy from the end.
  for (let n = keys.length - 1; n >= 0; n--) {
    const key = keys[n];
    if (!key) continue;
    const [type, id, v] = key;
    const record = await source.vread(type, id, String(v));
    if (!record) throw new Error(`${type}/${id}/_history/${v} vanished from the source during the copy`);
    const there = await target.vread(type, id, String(v));
    if (there) {
      // A resumed run: the version was copied before — unless the target held other data.
      if (content(there) !== content(record)) throw new Error(`${type}/${id}/_history/${v} differs in the target: the target was not empty`);
      skipped++;
    } else {
      try {
        await target.restore(record);
      } catch (err) {
        if (err instanceof StoreError && err.code === 'version-conflict') throw new Error(`${err.message}: the target was not empty`);
        throw err;
      }
      copied++;
    }
    const done = copied + skipped;
    if (done % pageSize === 0 || done === total) onProgress?.({ phase: 'copy', done, total, skipped });
  }
  return { copied, skipped };
}

async function copyRegistry(authFrom: string, from: DatabaseTarget, to: DatabaseTarget, toAuthFile: string, db: MongoDb | undefined): Promise<RegistryCopy> {
  const source = await openRegistry(from, authFrom);
  try {
    const target = await openRegistry(to, toAuthFile, db);
    try {
      return await migrateRegistry(source, target);
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const from = arg('from');
  const to = arg('to');
  if (!from || !to) {
    process.stderr.write('usage: npm run migrate -- --from sqlite:data/flint.db --to mongodb://host/flint?replicaSet=rs0 [--auth-from data/auth.db | --no-auth]\n');
    process.exit(2);
  }
  // The source's auth registry: --auth-from, else where a server on the source finds it (AUTH_DB or auth.db beside it).
  const authFrom = process.argv.includes('--no-auth') ? undefined : arg('auth-from') ?? loadConfig({ ...process.env, DATABASE_URL: from }).auth.db;
  if (authFrom !== undefined && !existsSync(authFrom)) throw new Error(`no auth registry at ${authFrom}: name it with --auth-from, or pass --no-auth`);
  // The target is opened as the server opens it (with the search indexer, so searches find the copies).
  const config = loadConfig({ ...process.env, DATABASE_URL: to, LOG_LEVEL: 'silent' });
  const sourceTarget = parseDatabaseUrl(from);
  const source = await openStore(sourceTarget);
  const mongoDb = config.database.kind === 'mongodb' ? await connectMongo(config.database.url) : undefined;
  const { store: target } = await openEngine(config, { hooks: [], ...(mongoDb ? { mongoDb } : {}) });
  const started = Date.now();
  try {
    const result = await migrate(source, target, (p) => {
      const of = p.total !== undefined ? ` of ${p.total}` : '';
      process.stdout.write(`${p.phase}: ${p.done}${of} versions${p.skipped ? ` (${p.skipped} already there)` : ''}\n`);
    });
    process.stdout.write(`resources: ${result.copied} versions copied, ${result.skipped} already there\n`);
    if (authFrom !== undefined) {
      const auth = await copyRegistry(authFrom, sourceTarget, config.database, config.auth.db, mongoDb);
      process.stdout.write(`auth: ${auth.clients} clients, ${auth.users} users, ${auth.keys} signing keys, ${auth.grants} grants, ${auth.tokens} tokens, `
        + `${auth.audit} audit entries copied, ${auth.skipped} already there\n`);
    }
    process.stdout.write(`done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  } finally {
    await source.close();
    await target.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    if (err instanceof ConfigError) process.stderr.write(`migrate: invalid configuration: ${err.message}\n`);
    else process.stderr.write(`migrate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
