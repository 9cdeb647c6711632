// bench/generate: a SQLite database of N generated clinic patients (~97 resources each: the
// Synthea records of scripts/generate-data.ts, with encounters, observations, conditions,
// immunizations, claims…), written through the store's own write path (Store.transaction and
// create: versions, current pointers and every search index row as Flint writes them), kept in
// a file that later benchmark runs reuse.
//   npm run bench:generate -- --patients 10000 [--db FILE]
// Fast because:
//   - one transaction per 50 patients, SQLITE_SYNCHRONOUS=normal, no read cache, no hooks;
//   - the SQLite b-tree indexes (CREATE INDEX in src/store/sqlite/schema.ts) are dropped while
//     the rows go in and built once at the end by reopening the store, which creates them from
//     its schema as it does on any open. The rows are the store's; only the order in which
//     SQLite builds its b-trees changes.
// Resumable: `FILE.gen.json` records the patients committed so far; an interrupted run, or a
// run asking for more patients than the file holds, continues where it stopped. A file that
// holds what is asked is reused as it is.
import Database from 'better-sqlite3';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg, tmpdir } from 'node:os';
import type { Resource } from 'fhir/r4.js';
import { loadConfig } from '../src/config.js';
import { openEngine } from '../src/app.js';
import type { FhirContext } from '../src/fhir/context.js';
import { corpus, patientRecord } from '../scripts/generate-data.js';
import { arg, argString, fmt } from './lib.js';

/** What `FILE.gen.json` holds. */
export interface ClinicDatabase {
  format: 1;
  file: string;
  /** Patients whose whole record is committed (0..patients-1). */
  patients: number;
  resources: number;
  /** Resources by type. */
  types: Record<string, number>;
  /** True once the indexes are built: the database is usable. */
  complete: boolean;
  /** Seconds spent writing and building indexes, over all runs. */
  seconds: number;
}

/** Patients per transaction. */
const BATCH = 50;

export function defaultDatabaseFile(patients: number): string {
  return join(tmpdir(), 'flint-bench', `clinic-${patients}.db`);
}

function sidecar(file: string): string {
  return `${file}.gen.json`;
}

function readState(file: string): ClinicDatabase | undefined {
  if (!existsSync(sidecar(file))) return undefined;
  return JSON.parse(readFileSync(sidecar(file), 'utf8')) as ClinicDatabase;
}

function saveState(s: ClinicDatabase): void {
  const tmp = `${sidecar(s.file)}.tmp`;
  writeFileSync(tmp, JSON.stringify(s, null, 1));
  renameSync(tmp, sidecar(s.file));
}

function engine(file: string): Promise<FhirContext> {
  return openEngine(loadConfig({
    DATABASE_URL: `sqlite:${file}`, LOG_LEVEL: 'silent', SQLITE_SYNCHRONOUS: 'normal', AUTH: 'off', READ_CACHE_BYTES: '0', SQLITE_READERS: '0',
  }), { hooks: [] });
}

/** Drops the schema's b-tree indexes (not the tables' own keys); the store's next open builds them again. */
function dropIndexes(file: string): number {
  const db = new Database(file);
  try {
    const names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").pluck().all() as string[];
    db.transaction(() => { for (const n of names) db.exec(`DROP INDEX "${n.replaceAll('"', '""')}"`); })();
    return names.length;
  } finally {
    db.close();
  }
}

function count(types: Record<string, number>, rs: readonly { resourceType: string }[]): number {
  for (const r of rs) types[r.resourceType] = (types[r.resourceType] ?? 0) + 1;
  return rs.length;
}

/** Writes patients state.patients..patients-1 with the indexes dropped; returns how many were dropped. */
async function write(state: ClinicDatabase, patients: number, log: (line: string) => void, t0: number): Promise<number> {
  const { file } = state;
  const before = state.resources;
  // Open once so that the schema exists, then drop its indexes while this store stays open
  // (its statements prepare again on the changed schema).
  const ctx = await engine(file);
  const dropped = dropIndexes(file);
  try {
    const { store } = ctx;
    // A transaction that committed after the last saved state: its patients are in the file.
    for (;;) {
      const first = patientRecord(state.patients)[0];
      if (!first || (await store.read(first.resourceType, first.id)).status === 'missing') break;
      state.resources += count(state.types, patientRecord(state.patients));
      state.patients++;
    }
    if (state.resources === 0) {
      const shared = corpus().shared as unknown as Resource[];
      await store.transaction(async (tx) => { for (const r of shared) await tx.create(r); });
      state.resources += count(state.types, shared);
      saveState(state);
    }
    let lastLog = performance.now();
    while (state.patients < patients) {
      const end = Math.min(patients, state.patients + BATCH);
      const batch: Resource[] = [];
      for (let n = state.patients; n < end; n++) batch.push(...(patientRecord(n) as unknown as Resource[]));
      await store.transaction(async (tx) => { for (const r of batch) await tx.create(r); });
      state.resources += count(state.types, batch);
      state.patients = end;
      saveState(state);
      if (performance.now() - lastLog > 10_000) {
        lastLog = performance.now();
        const s = (lastLog - t0) / 1000;
        log(`  ${fmt(state.patients)} patients, ${fmt(state.resources)} resources, ${fmt((state.resources - before) / s)} resources/s`);
      }
    }
  } finally {
    await ctx.store.close();
  }
  return dropped;
}

/**
 * The database of `patients` generated patients in `file`: reused when it holds them, else
 * generated (or continued). `log` receives progress lines.
 */
export async function clinicDatabase(patients: number, file = defaultDatabaseFile(patients), log: (line: string) => void = () => {}): Promise<ClinicDatabase> {
  let state = readState(file);
  if (!state && existsSync(file)) throw new Error(`${file} exists but was not made by bench/generate (no ${sidecar(file)}); remove it`);
  if (state && state.patients > patients) throw new Error(`${file} holds ${state.patients} patients, more than the ${patients} asked for`);
  if (state?.complete && state.patients === patients) return { ...state, file };
  state ??= { format: 1, file, patients: 0, resources: 0, types: {}, complete: false, seconds: 0 };
  state.file = file;
  state.complete = false;
  saveState(state);

  const t0 = performance.now();
  const before = state.resources;
  // Everything written already (a run stopped while building the indexes): build them.
  const dropped = state.patients < patients || state.resources === 0 ? await write(state, patients, log, t0) : 0;
  const written = performance.now();
  log(`  ${fmt(state.resources - before)} resources written in ${fmt((written - t0) / 1000, 1)} s (${dropped} indexes dropped); building indexes…`);
  // Reopening builds the indexes from the schema (and gathers planner statistics).
  const again = await engine(file);
  await again.store.close();
  const built = performance.now();
  state.seconds += (built - t0) / 1000;
  state.complete = true;
  saveState(state);
  log(`  indexes built in ${fmt((built - written) / 1000, 1)} s`);
  return state;
}

/** Deletes a generated database and its sidecar files. */
export function removeClinicDatabase(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-owner`, sidecar(file)]) rmSync(f, { force: true });
}

async function main(): Promise<void> {
  const patients = arg('patients', 1000);
  const file = argString('db') ?? defaultDatabaseFile(patients);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const had = readState(file);
  const s = await clinicDatabase(patients, file, (l) => process.stdout.write(`${l}\n`));
  const seconds = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu0);
  const cpu = (used.user + used.system) / 1e6;
  const reused = had?.complete === true && had.patients === patients;
  const added = s.resources - (had?.resources ?? 0);
  process.stdout.write(`${file}: ${fmt(s.patients)} patients, ${fmt(s.resources)} resources\n`);
  process.stdout.write(`  ${Object.entries(s.types).sort((a, b) => b[1] - a[1]).map(([t, n]) => `${t} ${fmt(n)}`).join(', ')}\n`);
  if (reused) process.stdout.write('reused as it was\n');
  else if (added > 0) process.stdout.write(`this run: ${fmt(added)} resources in ${fmt(seconds, 1)} s = ${fmt(added / seconds)} resources/s (indexes included); CPU ${fmt(cpu, 1)} s = ${fmt(added / cpu)} resources per CPU-second\n`);
  else process.stdout.write(`this run: indexes built in ${fmt(seconds, 1)} s\n`);
  process.stdout.write(`load average ${loadavg().map((x) => fmt(x, 1)).join(' ')}\n`);
}

if (/generate\.(ts|js)$/.test(process.argv[1] ?? '')) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
