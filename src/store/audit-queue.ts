// The audit log's queue on the request path, shared by both registry adapters: entries wait
// here at most AUDIT_BATCH_MS (or until AUDIT_BATCH_MAX are queued) and are then handed to the
// adapter's sink as one batch, which it appends off the request path. What is still queued
// when a process dies is lost: at most AUDIT_BATCH_MS of entries plus the batch in flight.
// How a batch is held while it waits is the adapter's choice (a BatchBuilder): an array of
// entries, or their encoding in bytes (src/store/sqlite/audit-lines.ts).
import type { AuditEntry } from './registry.js';

export const AUDIT_BATCH_MS = 100;
/** A queue this long is sent at once rather than waiting for the timer (bounds memory and loss). */
export const AUDIT_BATCH_MAX = 2000;

/** Collects the entries of one batch. */
export interface BatchBuilder<B> {
  add(entry: AuditEntry): void;
  /** Entries added since the last take(). */
  readonly size: number;
  /** The batch so far; the builder starts over empty. */
  take(): B;
}

/** The plain batch: the entries themselves. */
export class EntryArray implements BatchBuilder<AuditEntry[]> {
  private entries: AuditEntry[] = [];

  add(entry: AuditEntry): void {
    this.entries.push(entry);
  }

  get size(): number {
    return this.entries.length;
  }

  take(): AuditEntry[] {
    const batch = this.entries;
    this.entries = [];
    return batch;
  }
}

export class AuditQueue<B = AuditEntry[]> {
  private timer: NodeJS.Timeout | undefined;
  private readonly builder: BatchBuilder<B>;

  constructor(private readonly sink: (batch: B) => void, builder?: BatchBuilder<B>) {
    this.builder = builder ?? (new EntryArray() as unknown as BatchBuilder<B>);
  }

  /** Queues an entry; never waits for the database. */
  push(entry: AuditEntry): void {
    this.builder.add(entry);
    if (this.builder.size >= AUDIT_BATCH_MAX) this.drain();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.drain(), AUDIT_BATCH_MS);
      this.timer.unref();
    }
  }

  /** Hands what is queued to the sink now. */
  drain(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.builder.size === 0) return;
    this.sink(this.builder.take());
  }
}
