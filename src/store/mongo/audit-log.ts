// The audit log on MongoDB, append-only: this file inserts into and finds in AUTH_AUDIT, and
// nothing in the code updates or deletes there (an operator can make the database refuse it
// too: README, "Audit on MongoDB"). Entries are queued on the request path (../audit-queue.ts)
// and each batch is appended off it: its sequence numbers are taken from a counter document in
// AUTH_META and the entries inserted, in one transaction on a replica set or sharded cluster, so
// batches become visible in the order of their numbers and a reader paging with `after` misses
// none. What is lost on a crash: the entries queued in the last AUDIT_BATCH_MS and a batch whose
// insert had not been acknowledged; a batch the database refuses three times is dropped (counted
// in `lost`), so a database outage cannot grow the queue without bound.
import type { AuditEntry, StoredAuditEntry } from '../registry.js';
import { AuditQueue } from '../audit-queue.js';
import type { MongoDb, Session } from './db.js';
import { AUTH_AUDIT, AUTH_META, type AuditDoc } from './layout.js';

const ATTEMPTS = 3;
const RETRY_MS = 200;

function toDoc(seq: number, e: AuditEntry): AuditDoc {
  return {
    _id: seq, time: e.time, rq: e.requestId, ac: e.action, st: e.status,
    ...(e.clientId ? { cl: e.clientId } : {}), ...(e.user ? { us: e.user } : {}), ...(e.patient ? { pt: e.patient } : {}),
    ...(e.target ? { tg: e.target } : {}), ...(e.query ? { q: e.query } : {}),
  };
}

function fromDoc(d: AuditDoc): StoredAuditEntry {
  return {
    seq: d._id, time: d.time, requestId: d.rq, action: d.ac, status: d.st,
    ...(d.cl ? { clientId: d.cl } : {}), ...(d.us ? { user: d.us } : {}), ...(d.pt ? { patient: d.pt } : {}),
    ...(d.tg ? { target: d.tg } : {}), ...(d.q ? { query: d.q } : {}),
  };
}

export class MongoAuditLog {
  private readonly queue = new AuditQueue((batch) => this.send(batch));
  /** The appends in flight, chained: batches are stored in the order they were queued. */
  private tail: Promise<void> = Promise.resolve();
  /** Entries dropped after the database refused them ATTEMPTS times. */
  lost = 0;

  constructor(private readonly db: MongoDb) {}

  /** Queues an entry; never waits for the database. */
  write(entry: AuditEntry): void {
    this.queue.push(entry);
  }

  /** Resolves once every entry written before the call is stored (or dropped). */
  flush(): Promise<void> {
    this.queue.drain();
    return this.tail;
  }

  async read(opts: { after?: number; limit: number }): Promise<StoredAuditEntry[]> {
    await this.flush();
    const docs = await this.db.find(AUTH_AUDIT, { _id: { $gt: opts.after ?? 0 } }, { sort: { _id: 1 }, limit: opts.limit });
    return (docs as unknown as AuditDoc[]).map(fromDoc);
  }

  private send(batch: AuditEntry[]): void {
    this.tail = this.tail.then(() => this.store(batch));
  }

  private async store(batch: AuditEntry[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await (this.db.topology === 'standalone' ? this.append(batch) : this.db.withTransaction((s) => this.append(batch, s)));
        return;
      } catch {
        if (attempt >= ATTEMPTS) {
          this.lost += batch.length;
          return;
        }
        await new Promise((r) => setTimeout(r, RETRY_MS * attempt));
      }
    }
  }

  /** Takes `batch.length` numbers and inserts the entries under them. */
  private async append(batch: AuditEntry[], session?: Session): Promise<void> {
    const last = await this.db.increment(AUTH_META, 'audit', 'seq', batch.length, session);
    const first = last - batch.length + 1;
    await this.db.insertMany(AUTH_AUDIT, batch.map((e, i) => ({ ...toDoc(first + i, e) })), session);
  }
}
