// Background work on MongoDB (../work.ts). Every change of hands is one conditional
// single-document update (findOneAndUpdate), atomic on the server without a transaction, so it
// holds on a standalone server, a replica set and a sharded cluster alike:
// - a lease is a document `_id: name` taken only if it is free, lapsed or already the caller's
//   (an upsert whose filter misses an existing lease fails with a duplicate key: not ours);
// - a job is claimed only if it is still queued or its lease lapsed, and saved only by its owner.
// Job data is kept as JSON text: caller keys may hold dots or dollars, which field names must not.
// A file is a small document (part counter, size) plus its chunks, each ≤ 768 KiB (../chunks.ts).
import { StoreError } from '../port.js';
import { splitText, utf8Bytes } from '../chunks.js';
import type { JobChange, JobData, JobRecord, JobState, WorkStore } from '../work.js';
import { DuplicateKeyError, type Doc, type MongoDb, type Update } from './db.js';
import { JOB_CHUNKS, JOB_FILES, JOBS, LEASES } from './layout.js';

/** One job: `k` kind, `st` state, `o` owner, `lu` lease until (ms), `a` attempts, `c` created (ms), `ca`/`ua` instants, `d` data JSON. */
interface JobDoc {
  _id: string;
  k: string;
  st: JobState;
  o?: string;
  lu?: number;
  a: number;
  c: number;
  ca: string;
  ua: string;
  d: string;
}

const fileId = (job: string, name: string): string => JSON.stringify([job, name]);
const chunkId = (job: string, name: string, n: number): string => JSON.stringify([job, name, n]);

function toJob(doc: Doc): JobRecord {
  const d = doc as unknown as JobDoc;
  return {
    id: d._id, kind: d.k, state: d.st, attempts: d.a, createdAt: d.ca, updatedAt: d.ua, data: JSON.parse(d.d) as JobData,
    ...(d.o !== undefined ? { owner: d.o } : {}), ...(d.lu !== undefined ? { leaseUntil: d.lu } : {}),
  };
}

/** Queued, or running on a lease that lapsed (its owner died). */
const claimable = (now: number) => ({ $or: [{ st: 'queued' }, { st: 'running', lu: { $lte: now } }] });

export class MongoWorkStore implements WorkStore {
  constructor(private readonly db: MongoDb) {}

  async tryLease(name: string, owner: string, ttlMs: number, now = Date.now()): Promise<boolean> {
    try {
      const doc = await this.db.findOneAndUpdate(LEASES, { _id: name, $or: [{ o: owner }, { u: { $lte: now } }] },
        { $set: { o: owner, u: now + ttlMs } }, { upsert: true });
      return doc?.o === owner;
    } catch (err) {
      if (err instanceof DuplicateKeyError) return false; // held by another owner
      throw err;
    }
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await this.db.deleteOne(LEASES, { _id: name, o: owner });
  }

  async addJob(kind: string, id: string, data: JobData, now = Date.now()): Promise<JobRecord> {
    const at = new Date(now).toISOString();
    const doc: JobDoc = { _id: id, k: kind, st: 'queued', a: 0, c: now, ca: at, ua: at, d: JSON.stringify(data) };
    try {
      await this.db.insertOne(JOBS, { ...doc });
    } catch (err) {
      if (err instanceof DuplicateKeyError) throw new StoreError('version-conflict', `job ${id} exists`);
      throw err;
    }
    return toJob({ ...doc });
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    const [doc] = await this.db.find(JOBS, { _id: id }, { limit: 1 });
    return doc ? toJob(doc) : undefined;
  }

  async listJobs(kind: string, states?: readonly JobState[]): Promise<JobRecord[]> {
    const filter = states ? { k: kind, st: { $in: [...states] } } : { k: kind };
    return (await this.db.find(JOBS, filter, { sort: { c: 1, _id: 1 } })).map(toJob);
  }

  async claimJob(kind: string, owner: string, ttlMs: number, now = Date.now()): Promise<JobRecord | undefined> {
    const doc = await this.db.findOneAndUpdate(JOBS, { k: kind, ...claimable(now) },
      { $set: { st: 'running', o: owner, lu: now + ttlMs, ua: new Date(now).toISOString() }, $inc: { a: 1 } },
      { sort: { c: 1, _id: 1 } });
    return doc ? toJob(doc) : undefined;
  }

  async saveJob(id: string, owner: string, change: JobChange, ttlMs: number, now = Date.now()): Promise<boolean> {
    const state = change.state ?? 'running';
    const set: Doc = { st: state, ua: new Date(now).toISOString(), ...(change.data !== undefined ? { d: JSON.stringify(change.data) } : {}) };
    const update: Update = { $set: set };
    if (state === 'running') set.lu = now + ttlMs;
    // Given back to the queue: nobody owns it; finished: the owner stays on record, the lease ends.
    else update.$unset = state === 'queued' ? { o: '', lu: '' } : { lu: '' };
    const doc = await this.db.findOneAndUpdate(JOBS, { _id: id, o: owner, st: 'running' }, update);
    return doc !== undefined;
  }

  async cancelJob(id: string, now = Date.now()): Promise<boolean> {
    const doc = await this.db.findOneAndUpdate(JOBS, { _id: id, st: { $in: ['queued', 'running'] } },
      { $set: { st: 'cancelled', ua: new Date(now).toISOString() }, $unset: { lu: '' } });
    return doc !== undefined;
  }

  async deleteJob(id: string): Promise<void> {
    // Files first: a crash in between leaves a job without files, never files without a job.
    await this.db.deleteMany(JOB_CHUNKS, { j: id });
    await this.db.deleteMany(JOB_FILES, { j: id });
    await this.db.deleteOne(JOBS, { _id: id });
  }

  async appendFile(jobId: string, name: string, text: string): Promise<void> {
    const parts = splitText(text);
    // Reserves the part numbers atomically, so chunks keep their order whoever appends.
    const file = await this.db.findOneAndUpdate(JOB_FILES, { _id: fileId(jobId, name) },
      { $set: { j: jobId, f: name }, $inc: { p: parts.length, b: utf8Bytes(text) } }, { upsert: true });
    const last = Number(file?.p);
    let n = last - parts.length;
    for (const t of parts) {
      n++;
      await this.db.insertOne(JOB_CHUNKS, { _id: chunkId(jobId, name, n), j: jobId, f: name, n, t });
    }
  }

  async readFile(jobId: string, name: string): Promise<AsyncIterable<string> | undefined> {
    const [file] = await this.db.find(JOB_FILES, { _id: fileId(jobId, name) }, { limit: 1 });
    if (!file) return undefined;
    const db = this.db;
    return {
      async *[Symbol.asyncIterator]() {
        let after = 0;
        for (;;) {
          // One chunk per round trip: memory stays at one chunk whatever the file's size.
          const [c] = await db.find(JOB_CHUNKS, { j: jobId, f: name, n: { $gt: after } }, { sort: { n: 1 }, limit: 1 });
          if (!c) return;
          after = Number(c.n);
          yield String(c.t);
        }
      },
    };
  }

  async listFiles(jobId: string): Promise<{ name: string; bytes: number }[]> {
    const files = await this.db.find(JOB_FILES, { j: jobId }, { sort: { f: 1 } });
    return files.map((f) => ({ name: String(f.f), bytes: Number(f.b) }));
  }
}
