// A batch of audit entries on its way to the audit worker, held as JSON lines in one byte
// buffer. An entry is encoded when it is queued, so nothing of it stays on the JS heap while the
// batch waits (entries kept 100 ms outlive the young generation and make every GC dearer), and
// the batch crosses to the worker as bytes: one copy, instead of a structured clone per entry.
import type { AuditEntry } from '../registry.js';
import type { BatchBuilder } from '../audit-queue.js';

const NEWLINE = 10;
const INITIAL_BYTES = 64 * 1024;

/** A batch as JSON lines (UTF-8, each ending in a newline; JSON text holds no raw newline). */
export class AuditLines implements BatchBuilder<Uint8Array> {
  private buf = Buffer.allocUnsafe(INITIAL_BYTES);
  private used = 0;
  private count = 0;

  add(entry: AuditEntry): void {
    const json = JSON.stringify(entry);
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    const most = json.length * 3 + 1;
    if (this.used + most > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + most));
      this.buf.copy(bigger, 0, 0, this.used);
      this.buf = bigger;
    }
    this.used += this.buf.write(json, this.used, 'utf8');
    this.buf[this.used++] = NEWLINE;
    this.count++;
  }

  get size(): number {
    return this.count;
  }

  take(): Uint8Array {
    const batch = new Uint8Array(this.used);
    batch.set(this.buf.subarray(0, this.used));
    this.used = 0;
    this.count = 0;
    return batch;
  }
}

/** The entries of a batch made by AuditLines. */
export function auditEntriesOf(lines: Uint8Array): AuditEntry[] {
  const text = Buffer.from(lines.buffer, lines.byteOffset, lines.byteLength).toString('utf8');
  const out: AuditEntry[] = [];
  let start = 0;
  for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
    out.push(JSON.parse(text.slice(start, nl)) as AuditEntry);
    start = nl + 1;
  }
  return out;
}
