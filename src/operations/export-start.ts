// Starts the export worker on the engine's store, when the store keeps background work.
import type { FhirContext } from '../fhir/context.js';
import type { ExportConfig } from '../config.js';
import type { Store } from '../store/port.js';
import type { WorkStore } from '../store/work.js';
import { startExportWorker, type ExportWorker } from './export-worker.js';

/** Versions read per snapshot page: large enough to amortise a query, small enough to checkpoint often. */
const PAGE_SIZE = 1000;

export function startBulkExport(ctx: FhirContext, config: ExportConfig, onError: (err: unknown) => void): ExportWorker | undefined {
  const work = (ctx.store as Store & { work?: WorkStore }).work;
  if (!work) return undefined;
  return startExportWorker(ctx, work, { fileMaxBytes: config.fileMaxBytes, retentionMs: config.retentionMs, pageSize: PAGE_SIZE }, {
    leaseMs: config.leaseMs, pollMs: 1000, onError,
  });
}
