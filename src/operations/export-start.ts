// Starts the export worker on the engine's store, when the store keeps background work.
import type { FhirContext } from '../fhir/context.js';
import type { ExportConfig } from '../config.js';
import { startExportWorker, type ExportWorker } from './export-worker.js';

/** Versions read per snapshot page: large enough to amortise a query, small enough to checkpoint often. */
const PAGE_SIZE = 1000;

export function startBulkExport(ctx: FhirContext, config: ExportConfig, onError: (err: unknown) => void): ExportWorker {
  return startExportWorker(ctx, ctx.store.work, { fileMaxBytes: config.fileMaxBytes, retentionMs: config.retentionMs, pageSize: PAGE_SIZE }, {
    leaseMs: config.leaseMs, pollMs: 1000, onError,
  });
}
