// The audit log's one SQLite statement: a batch of entries appended in one transaction.
// Shared by the in-thread writer and the audit worker (each with its own connection).
import type Database from 'better-sqlite3';
import type { AuditEntry } from '../registry.js';

const INSERT = 'INSERT INTO audit (time, request_id, client_id, user, patient, action, target, query, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';

/** Returns a function that appends a batch to `db`'s audit table, all or nothing. */
export function auditAppender(db: Database.Database): (batch: readonly AuditEntry[]) => void {
  const ins = db.prepare(INSERT);
  return db.transaction((batch: readonly AuditEntry[]) => {
    for (const e of batch) ins.run(e.time, e.requestId, e.clientId ?? null, e.user ?? null, e.patient ?? null, e.action, e.target ?? null, e.query ?? null, e.status);
  });
}
