// Background work on SQLite (../work.ts). Each change of hands is one conditional statement
// (an upsert guarded by its WHERE, an UPDATE … RETURNING), atomic in SQLite, so two connections
// on one file never both take a lease or a job. Statements run through `run`, which the store
// serialises with its own writes (never inside an open clinical transaction).
import type Database from 'better-sqlite3';
import { StoreError } from '../port.js';
import { splitText, utf8Bytes } from '../chunks.js';
import type { JobChange, JobData, JobRecord, JobState, WorkStore } from '../work.js';

interface JobRow {
  id: string;
  kind: string;
  state: string;
  owner: string | null;
  lease_until: number | null;
  attempts: number;
  created_at: string;
  updated_at: string;
  data: string;
}

function toJob(r: JobRow): JobRecord {
  return {
    id: r.id, kind: r.kind, state: r.state as JobState, attempts: r.attempts, createdAt: r.created_at, updatedAt: r.updated_at,
    data: JSON.parse(r.data) as JobData,
    ...(r.owner !== null ? { owner: r.owner } : {}), ...(r.lease_until !== null ? { leaseUntil: r.lease_until } : {}),
  };
}

const JOB_COLUMNS = 'id, kind, state, owner, lease_until, attempts, created_at, updated_at, data';

function prepare(db: Database.Database) {
  return {
    lease: db.prepare<[string, string, number, number]>(
      `INSERT INTO work_lease (name, owner, until) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
        WHERE work_lease.owner = excluded.owner OR work_lease.until <= ?`),
    release: db.prepare<[string, string]>('DELETE FROM work_lease WHERE name = ? AND owner = ?'),
    add: db.prepare<[string, string, number, string, string, string]>(
      `INSERT INTO work_job (id, kind, state, attempts, created_ms, created_at, updated_at, data)
       VALUES (?, ?, 'queued', 0, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
    get: db.prepare<[string], JobRow>(`SELECT ${JOB_COLUMNS} FROM work_job WHERE id = ?`),
    list: db.prepare<[string], JobRow>(`SELECT ${JOB_COLUMNS} FROM work_job WHERE kind = ? ORDER BY created_ms, id`),
    claim: db.prepare<[string, number, string, string, number], JobRow>(
      `UPDATE work_job SET state = 'running', owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
        WHERE id = (SELECT id FROM work_job WHERE kind = ? AND (state = 'queued' OR (state = 'running' AND lease_until <= ?))
                     ORDER BY created_ms, id LIMIT 1)
       RETURNING ${JOB_COLUMNS}`),
    save: db.prepare<[string, number | null, string | null, string, string | null, string, string]>(
      `UPDATE work_job SET state = ?, lease_until = ?, owner = ?, updated_at = ?, data = coalesce(?, data)
        WHERE id = ? AND owner = ? AND state = 'running'`),
    cancel: db.prepare<[string, string]>(
      `UPDATE work_job SET state = 'cancelled', lease_until = NULL, updated_at = ? WHERE id = ? AND state IN ('queued', 'running')`),
    deleteJob: db.prepare<[string]>('DELETE FROM work_job WHERE id = ?'),
    deleteChunks: db.prepare<[string]>('DELETE FROM work_chunk WHERE job_id = ?'),
    lastPart: db.prepare<[string, string], { p: number | null }>('SELECT max(part) AS p FROM work_chunk WHERE job_id = ? AND name = ?'),
    append: db.prepare<[string, string, number, number, string]>('INSERT INTO work_chunk (job_id, name, part, bytes, text) VALUES (?, ?, ?, ?, ?)'),
    exists: db.prepare<[string, string], { one: number }>('SELECT 1 AS one FROM work_chunk WHERE job_id = ? AND name = ? LIMIT 1'),
    nextChunk: db.prepare<[string, string, number], { part: number; text: string }>(
      'SELECT part, text FROM work_chunk WHERE job_id = ? AND name = ? AND part > ? ORDER BY part LIMIT 1'),
    files: db.prepare<[string], { name: string; bytes: number }>(
      'SELECT name, sum(bytes) AS bytes FROM work_chunk WHERE job_id = ? GROUP BY name ORDER BY name'),
  };
}

/** Runs one synchronous unit on the connection, serialised with the store's other writes. */
export type Runner = <T>(fn: () => T) => Promise<T>;

export class SqliteWorkStore implements WorkStore {
  private readonly s: ReturnType<typeof prepare>;

  constructor(private readonly db: Database.Database, private readonly run: Runner) {
    this.s = prepare(db);
  }

  tryLease(name: string, owner: string, ttlMs: number, now = Date.now()): Promise<boolean> {
    return this.run(() => this.s.lease.run(name, owner, now + ttlMs, now).changes === 1);
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await this.run(() => this.s.release.run(name, owner));
  }

  addJob(kind: string, id: string, data: JobData, now = Date.now()): Promise<JobRecord> {
    const at = new Date(now).toISOString();
    return this.run(() => {
      if (this.s.add.run(id, kind, now, at, at, JSON.stringify(data)).changes === 0) throw new StoreError('version-conflict', `job ${id} exists`);
      const row = this.s.get.get(id);
      if (!row) throw new Error('inserted job not found');
      return toJob(row);
    });
  }

  getJob(id: string): Promise<JobRecord | undefined> {
    return this.run(() => {
      const row = this.s.get.get(id);
      return row ? toJob(row) : undefined;
    });
  }

  listJobs(kind: string, states?: readonly JobState[]): Promise<JobRecord[]> {
    return this.run(() => this.s.list.all(kind).filter((r) => !states || states.includes(r.state as JobState)).map(toJob));
  }

  claimJob(kind: string, owner: string, ttlMs: number, now = Date.now()): Promise<JobRecord | undefined> {
    return this.run(() => {
      const row = this.s.claim.get(owner, now + ttlMs, new Date(now).toISOString(), kind, now);
      return row ? toJob(row) : undefined;
    });
  }

  saveJob(id: string, owner: string, change: JobChange, ttlMs: number, now = Date.now()): Promise<boolean> {
    const state = change.state ?? 'running';
    // Running: the lease is renewed. Given back to the queue: nobody owns it. Finished: the owner stays on record.
    const until = state === 'running' ? now + ttlMs : null;
    const keeper = state === 'queued' ? null : owner;
    const data = change.data !== undefined ? JSON.stringify(change.data) : null;
    return this.run(() => this.s.save.run(state, until, keeper, new Date(now).toISOString(), data, id, owner).changes === 1);
  }

  cancelJob(id: string, now = Date.now()): Promise<boolean> {
    return this.run(() => this.s.cancel.run(new Date(now).toISOString(), id).changes === 1);
  }

  async deleteJob(id: string): Promise<void> {
    await this.run(() => this.db.transaction(() => {
      this.s.deleteChunks.run(id);
      this.s.deleteJob.run(id);
    }).immediate());
  }

  async appendFile(jobId: string, name: string, text: string): Promise<void> {
    await this.run(() => this.db.transaction(() => {
      let part = this.s.lastPart.get(jobId, name)?.p ?? 0;
      for (const t of splitText(text)) this.s.append.run(jobId, name, ++part, utf8Bytes(t), t);
    }).immediate());
  }

  async readFile(jobId: string, name: string): Promise<AsyncIterable<string> | undefined> {
    if (!await this.run(() => this.s.exists.get(jobId, name))) return undefined;
    const { s, run } = this;
    return {
      async *[Symbol.asyncIterator]() {
        let after = 0;
        for (;;) {
          // One chunk per step: memory stays at one chunk whatever the file's size.
          const c = await run(() => s.nextChunk.get(jobId, name, after));
          if (!c) return;
          after = c.part;
          yield c.text;
        }
      },
    };
  }

  listFiles(jobId: string): Promise<{ name: string; bytes: number }[]> {
    return this.run(() => this.s.files.all(jobId));
  }
}
