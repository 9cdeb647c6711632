// A reader thread (reader-pool.ts): its own read-only connection to the WAL database, running
// the searches and history pages the main thread posts, so that a long statement never holds
// up the event loop. Each job reads one snapshot (a deferred read transaction): it sees every
// write committed before it started, as WAL readers do (sqlite.org/wal.html#concurrency).
import { parentPort, workerData } from 'node:worker_threads';
import { setPriority } from 'node:os';
import { StoreError } from '../port.js';
import { openConnection } from './connection.js';
import { PidRegistry } from './index-writer.js';
import { SqliteSearch } from './search.js';
import { SqliteHistory } from './history.js';
import type { ReaderJob, ReaderReply } from './reader-pool.js';

/** Nice value of a reader thread (0 is the event loop's; 10 gets it about a tenth of a contended core). */
const READER_NICE = 10;

const port = parentPort;
if (!port) throw new Error('reader-worker runs as a worker thread');
// A search yields the CPU to the event loop, which serves every client: on Linux a thread's
// nice value is its own (setpriority with pid 0 applies to the calling thread only), so this
// lowers this reader, not the process (elsewhere it would lower the whole process, so it is
// left alone). Raising one's own nice value needs no privilege.
try {
  if (process.platform === 'linux') setPriority(0, READER_NICE);
} catch {
  // Not permitted (or not supported) here: the reader runs at the process's priority.
}
const db = openConnection((workerData as { filename: string }).filename, true);

let pids = new PidRegistry(db);
let search = new SqliteSearch(db, pids);
let history = new SqliteHistory(db, search);

/** Parameters registered on the writer since this thread last looked (they are only ever added). */
function catchUp(known: number): void {
  if (pids.size >= known) return;
  pids = new PidRegistry(db);
  search = new SqliteSearch(db, pids);
  history = new SqliteHistory(db, search);
}

function run(job: ReaderJob): unknown {
  catchUp(job.pids);
  return db.transaction(() => {
    switch (job.op) {
      case 'search': return search.run(job.query, job.budgetMs);
      case 'history': return history.run(job.query);
    }
  })();
}

port.on('message', (job: ReaderJob) => {
  let reply: ReaderReply;
  try {
    reply = { id: job.id, ok: true, value: run(job) };
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    reply = { id: job.id, ok: false, error: { message: e.message, name: e.name, ...(e instanceof StoreError ? { code: e.code } : {}) } };
  }
  port.postMessage(reply);
});
port.postMessage('ready');
