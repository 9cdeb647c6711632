// The audit log's queue on the request path, shared by both registry adapters: entries wait
// here at most AUDIT_BATCH_MS (or until AUDIT_BATCH_MAX are queued) and are then handed to the
// adapter's sink as one batch, which it appends off the request path. What is still queued
// when a process dies is lost: at most AUDIT_BATCH_MS of entries plus the batch in flight.
import type { AuditEntry } from './registry.js';

export const AUDIT_BATCH_MS = 100;
/** A queue this long is sent at once rather than waiting for the timer (bounds memory and loss). */
export const AUDIT_BATCH_MAX = 2000;

export class AuditQueue {
  private queue: AuditEntry[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly sink: (batch: AuditEntry[]) => void) {}

  /** Queues an entry; never waits for the database. */
  push(entry: AuditEntry): void {
    this.queue.push(entry);
    if (this.queue.length >= AUDIT_BATCH_MAX) this.drain();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.drain(), AUDIT_BATCH_MS);
      this.timer.unref();
    }
  }

  /** Hands what is queued to the sink now. */
  drain(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.sink(batch);
  }
}
