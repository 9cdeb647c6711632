// The audit writer's thread: its own connection to the auth database, appending the batches the
// main thread posts (synchronous=FULL, so an acknowledged batch survives power loss) and
// acknowledging each one by its number. The request path never waits for the disk.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { auditAppender } from './audit-sqlite.js';
import { auditEntriesOf } from './audit-lines.js';

/** A batch as JSON lines (./audit-lines.ts), numbered for its acknowledgement; or the last message. */
export type AuditWorkerMessage = { id: number; lines: Uint8Array } | { close: true };

const port = parentPort;
if (!port) throw new Error('audit-worker runs as a worker thread');
const db = new Database((workerData as { filename: string }).filename);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
const append = auditAppender(db);
port.on('message', (m: AuditWorkerMessage) => {
  if ('close' in m) {
    db.close();
    port.close();
    return;
  }
  append(auditEntriesOf(m.lines));
  port.postMessage(m.id);
});
