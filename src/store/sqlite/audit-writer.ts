// The SQLite registry's audit writer. Entries are queued on the request path (../audit-queue.ts)
// and appended in batches: by a worker thread for a database file, in this thread for an
// in-memory one (a worker cannot see it). A clean stop (close) loses nothing; a crash loses at
// most the entries of the last AUDIT_BATCH_MS plus one batch in flight.
import { Worker } from 'node:worker_threads';
import type { AuditEntry } from '../registry.js';
import { AuditQueue } from '../audit-queue.js';
import type { AuditWorkerMessage } from './audit-worker.js';
import { AuditLines, auditEntriesOf } from './audit-lines.js';

/** Appends one batch in this thread (the store's own connection). */
export type AppendBatch = (batch: readonly AuditEntry[]) => void;

/**
 * The worker next to this file. Run from TypeScript sources (tests, tsx), a worker does not
 * inherit the loader of its parent, so it registers tsx itself before importing the .ts file.
 */
function startWorker(filename: string): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./audit-worker.js', import.meta.url), { workerData: { filename } });
  const src = JSON.stringify(new URL('./audit-worker.ts', import.meta.url).href);
  return new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${src}); })`, { eval: true, workerData: { filename } });
}

export class SqliteAuditWriter {
  /** Batches for the worker are held as bytes (./audit-lines.ts); an in-memory database takes entries. */
  private readonly queue: Pick<AuditQueue<unknown>, 'push' | 'drain'>;
  private worker: Worker | undefined;
  private nextId = 0;
  /** Batches posted to the worker and not yet acknowledged, by number (re-written here if it dies). */
  private readonly unacked = new Map<number, Uint8Array>();
  private readonly waiters: { id: number; resolve: () => void }[] = [];
  private closing = false;

  /**
   * @param filename the auth database (`:memory:`: batches are appended in this thread)
   * @param appendHere appends a batch through the store's own connection
   */
  constructor(filename: string, private readonly appendHere: AppendBatch) {
    if (filename === ':memory:') {
      this.queue = new AuditQueue<AuditEntry[]>((batch) => this.appendHere(batch));
      return;
    }
    this.queue = new AuditQueue<Uint8Array>((lines) => this.send(lines), new AuditLines());
    const worker = startWorker(filename);
    worker.on('message', (id: number) => this.acknowledged(id));
    worker.on('error', () => this.workerLost());
    worker.on('exit', () => this.workerLost());
    worker.unref();
    this.worker = worker;
  }

  /** Queues an entry; never waits for the disk. */
  write(entry: AuditEntry): void {
    this.queue.push(entry);
  }

  private send(lines: Uint8Array): void {
    if (!this.worker) {
      this.appendHere(auditEntriesOf(lines));
      return;
    }
    const id = ++this.nextId;
    // Held by the event loop only while a batch is on its way (an idle writer keeps no process alive).
    if (this.unacked.size === 0) this.worker.ref();
    this.unacked.set(id, lines);
    this.worker.postMessage({ id, lines } satisfies AuditWorkerMessage);
  }

  private acknowledged(id: number): void {
    this.unacked.delete(id);
    if (this.unacked.size === 0) this.worker?.unref();
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i];
      if (w && w.id <= id) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /** The worker died (or was closed): what it had not acknowledged is appended here, and so is all that follows. */
  private workerLost(): void {
    if (!this.worker) return;
    this.worker = undefined;
    const pending = [...this.unacked.entries()].sort((a, b) => a[0] - b[0]);
    this.unacked.clear();
    if (!this.closing) for (const [, lines] of pending) this.appendHere(auditEntriesOf(lines));
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  /** Resolves once every entry written before the call is stored. */
  flush(): Promise<void> {
    this.queue.drain();
    if (!this.worker || this.unacked.size === 0) return Promise.resolve();
    const id = this.nextId;
    return new Promise((resolve) => this.waiters.push({ id, resolve }));
  }

  async close(): Promise<void> {
    await this.flush();
    const worker = this.worker;
    if (!worker) return;
    this.closing = true;
    worker.ref();
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.postMessage({ close: true } satisfies AuditWorkerMessage);
    await exited;
  }
}
