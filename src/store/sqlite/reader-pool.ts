// Reader threads for a SQLite file database: searches and history pages run on worker threads,
// each with its own read-only connection (WAL lets readers run beside the one writer), so that
// one client's long query does not stall the event loop for every other client. The pool holds
// the time budget (SEARCH_TIMEOUT_MS): a thread checks it between steps and rows itself, and a
// statement that does not come back in time costs the thread (better-sqlite3 has no
// sqlite3_interrupt): it is terminated, the search answered too-costly, and a new one started.
// Waiting jobs take turns between clients (the query's lane): one client's many searches do not
// queue ahead of another's.
import { Worker } from 'node:worker_threads';
import type { SearchQuery } from '../../search/ir.js';
import { StoreError, type HistoryPage, type HistoryQuery, type SearchPage } from '../port.js';
import { FairQueue } from '../../fhir-basics/fair-queue.js';

/** What a reader thread is asked to do. `pids`: how many search parameters the writer knows. */
type JobInput = { op: 'search'; query: SearchQuery } | { op: 'history'; query: HistoryQuery };
export type ReaderJob = JobInput & { id: number; budgetMs: number | undefined; pids: number };
export type ReaderReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { message: string; name: string; code?: StoreError['code'] } };

export interface ReaderPoolOptions {
  filename: string;
  /** Most threads at once (those being stopped included). */
  size: number;
  /** Time budget of one job, in ms; none when absent. */
  timeoutMs?: number;
  /** Starts a thread (tests pass their own to reach the threads). */
  start?: (filename: string) => Worker;
}

/** Past its budget, a thread gets this long to stop the job itself before it is terminated. */
const GRACE_MS = 200;
/** Jobs waiting for a thread beyond this are refused (503) rather than queued without bound. */
const MAX_QUEUED = 1024;

interface Pending {
  input: JobInput & { pids: number };
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  job?: { id: number; pending: Pending; timer: NodeJS.Timeout | undefined; ms: number | undefined };
  /** Why the thread failed, if it reported an error before exiting. */
  failure?: Error;
}

/**
 * The worker next to this file. Run from TypeScript sources (tests, tsx), a worker does not
 * inherit the loader of its parent, so it registers tsx itself before importing the .ts file.
 */
export function startReader(filename: string): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./reader-worker.js', import.meta.url), { workerData: { filename } });
  const src = JSON.stringify(new URL('./reader-worker.ts', import.meta.url).href);
  return new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${src}); })`, { eval: true, workerData: { filename } });
}

function revive(e: Extract<ReaderReply, { ok: false }>['error']): Error {
  if (e.code) return new StoreError(e.code, e.message);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

export class ReaderPool {
  private readonly slots = new Set<Slot>();
  /** Jobs waiting for a thread, one lane per client (the query's lane), served in rotation. */
  private readonly queue = new FairQueue<Pending>();
  /** Threads told to stop and not yet gone: a runaway statement finishes its current step first. */
  private readonly stopping = new Set<Promise<unknown>>();
  private nextId = 0;
  private closed = false;

  constructor(private readonly opts: ReaderPoolOptions) {}

  search(query: SearchQuery, pids: number): Promise<SearchPage> {
    return this.submit({ op: 'search', query, pids }) as Promise<SearchPage>;
  }

  history(query: HistoryQuery, pids: number): Promise<HistoryPage> {
    return this.submit({ op: 'history', query, pids }) as Promise<HistoryPage>;
  }

  private submit(input: Pending['input']): Promise<unknown> {
    if (this.closed) return Promise.reject(new StoreError('unavailable', 'store is closed'));
    if (this.queue.size >= MAX_QUEUED) return Promise.reject(new StoreError('too-busy', 'too many searches are waiting; try again shortly'));
    return new Promise((resolve, reject) => {
      this.queue.push(input.query.lane ?? '', { input, resolve, reject });
      this.pump();
    });
  }

  /** Hands queued jobs to idle threads, and starts threads while there is room and work. */
  private pump(): void {
    if (this.closed) return;
    let starting = 0;
    for (const slot of this.slots) {
      if (!slot.ready) starting++;
      else if (!slot.job) {
        const next = this.queue.shift();
        if (next) this.assign(slot, next.item);
      }
    }
    while (this.queue.size > starting && this.slots.size + this.stopping.size < this.opts.size) {
      this.spawn();
      starting++;
    }
  }

  private spawn(): void {
    const worker = (this.opts.start ?? startReader)(this.opts.filename);
    const slot: Slot = { worker, ready: false };
    this.slots.add(slot);
    worker.on('message', (m: ReaderReply | 'ready') => this.onMessage(slot, m));
    worker.on('error', (err) => {
      slot.failure = err;
    });
    worker.on('exit', () => this.onExit(slot));
  }

  private assign(slot: Slot, pending: Pending): void {
    const id = ++this.nextId;
    const ms = pending.input.op === 'search' && pending.input.query.budgetMs !== undefined ? pending.input.query.budgetMs : this.opts.timeoutMs;
    const timer = ms === undefined ? undefined : setTimeout(() => this.overrun(slot), ms + GRACE_MS);
    slot.job = { id, pending, timer, ms };
    slot.worker.ref();
    slot.worker.postMessage({ ...pending.input, id, budgetMs: ms } satisfies ReaderJob);
  }

  private onMessage(slot: Slot, m: ReaderReply | 'ready'): void {
    if (m === 'ready') {
      slot.ready = true;
    } else {
      const job = slot.job;
      if (!job || job.id !== m.id) return;
      clearTimeout(job.timer);
      slot.job = undefined;
      if (m.ok) job.pending.resolve(m.value);
      else job.pending.reject(revive(m.error));
    }
    // An idle thread keeps no process alive (one that is starting or busy does).
    if (!slot.job) slot.worker.unref();
    this.pump();
  }

  /** The job outlived its budget in a statement the thread cannot leave: the thread goes. */
  private overrun(slot: Slot): void {
    const job = slot.job;
    if (!job) return;
    slot.job = undefined;
    job.pending.reject(new StoreError('too-costly', `the search ran past its time budget of ${job.ms} ms (SEARCH_TIMEOUT_MS); narrow it down`));
    this.retire(slot);
  }

  private retire(slot: Slot): void {
    this.slots.delete(slot);
    const gone = slot.worker.terminate().catch(() => undefined).finally(() => {
      this.stopping.delete(gone);
      this.pump();
    });
    this.stopping.add(gone);
  }

  /** A thread stopped on its own (a crash, or it could not open the database). */
  private onExit(slot: Slot): void {
    if (!this.slots.delete(slot)) return; // retired or closed: already accounted for
    const job = slot.job;
    if (job) {
      clearTimeout(job.timer);
      job.pending.reject(new StoreError('unavailable', 'a reader thread stopped during the search; try again'));
    }
    if (!slot.ready) {
      // It never started: starting another now would fail the same way, so the waiting jobs fail.
      const why = slot.failure?.message ?? 'the reader thread did not start';
      this.rejectWaiting(new StoreError('unavailable', why));
      return;
    }
    this.pump();
  }

  private rejectWaiting(err: StoreError): void {
    for (let next = this.queue.shift(); next; next = this.queue.shift()) next.item.reject(err);
  }

  /** Refuses what waits, stops every thread and resolves once they are gone. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closed = (): StoreError => new StoreError('unavailable', 'store is closed');
    this.rejectWaiting(closed());
    const exits: Promise<unknown>[] = [...this.stopping];
    for (const slot of this.slots) {
      if (slot.job) {
        clearTimeout(slot.job.timer);
        slot.job.pending.reject(closed());
      }
      // An idle thread is unref'd: ref it again, or the process may end before it is gone.
      slot.worker.ref();
      exits.push(slot.worker.terminate().catch(() => undefined));
    }
    this.slots.clear();
    // Terminating threads hold no handle the event loop waits on: without one, a process with
    // nothing else to do ends while close() is still pending (its awaiter never resumes).
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      await Promise.all(exits);
    } finally {
      clearInterval(keepAlive);
    }
  }
}
