// npm run migrate -- --from sqlite:data/flint.db --to 'mongodb://…/flint?replicaSet=rs0'
// Copies every version of every resource from one store to another through the store port,
// oldest first, so that the target holds the same resources, version numbers, deletions and
// history order (README "Operations": lastUpdated becomes the time of the copy). Re-running it
// after an interruption resumes: versions already in the target are skipped.
import { pathToFileURL } from 'node:url';
import type { Resource } from 'fhir/r4.js';
import { loadConfig, parseDatabaseUrl, ConfigError } from '../src/config.js';
import { openEngine } from '../src/app.js';
import { openStore } from '../src/store/open.js';
import type { Store, VersionRecord } from '../src/store/port.js';

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

/** A version's content as copied: everything but lastUpdated (the copy gets its own). */
function content(r: VersionRecord): string {
  if (!r.json) return `deleted:${r.deleted}`;
  const json = JSON.parse(r.json) as { meta?: Record<string, unknown> };
  if (json.meta) delete json.meta.lastUpdated;
  return JSON.stringify(json);
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
      const before = await target.read(type, id);
      const at = before.status === 'missing' ? 0 : Number(before.record.versionId);
      if (at !== v - 1) throw new Error(`${type}/${id}: the target is at version ${at}, the source's next is ${v}: the target was not empty`);
      let written: string | undefined;
      if (record.deleted) {
        written = (await target.delete(type, id, { ifMatch: String(at) })).record?.versionId;
      } else {
        const resource = JSON.parse(record.json ?? '{}') as Resource & { id: string };
        const ifMatch = before.status === 'found' ? { ifMatch: String(at) } : {};
        written = (await target.update(resource, { ...ifMatch, method: record.method })).record.versionId;
      }
      if (written !== String(v)) throw new Error(`${type}/${id}: wrote version ${written ?? 'none'} instead of ${v}`);
      copied++;
    }
    const done = copied + skipped;
    if (done % pageSize === 0 || done === total) onProgress?.({ phase: 'copy', done, total, skipped });
  }
  return { copied, skipped };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const from = arg('from');
  const to = arg('to');
  if (!from || !to) {
    process.stderr.write('usage: npm run migrate -- --from sqlite:data/flint.db --to mongodb://host/flint?replicaSet=rs0\n');
    process.exit(2);
  }
  // The target is opened as the server opens it (with the search indexer, so searches find the copies).
  const config = loadConfig({ ...process.env, DATABASE_URL: to, LOG_LEVEL: 'silent' });
  const source = await openStore(parseDatabaseUrl(from));
  const { store: target } = await openEngine(config, { hooks: [] });
  const started = Date.now();
  try {
    const result = await migrate(source, target, (p) => {
      const of = p.total !== undefined ? ` of ${p.total}` : '';
      process.stdout.write(`${p.phase}: ${p.done}${of} versions${p.skipped ? ` (${p.skipped} already there)` : ''}\n`);
    });
    const s = ((Date.now() - started) / 1000).toFixed(1);
    process.stdout.write(`done: ${result.copied} versions copied, ${result.skipped} already there, in ${s} s\n`);
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
