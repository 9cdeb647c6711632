// What an export job keeps in the store (its JobData): the request, the snapshot time, the
// caller, and a checkpoint (step, cursor, files as committed). Everything a restarted or other
// instance needs to resume is here; nothing lives in a process.
import type { ExportRequest } from './export-request.js';
import type { StoredPolicy } from './export-policy.js';

export interface OutputFile {
  /** Resource type; 'OperationOutcome' for the error file. */
  type: string;
  /** Name among the job's files. */
  name: string;
  /** Resources (lines) committed. */
  count: number;
  /** UTF-8 bytes committed: a download serves exactly these, whatever a crash appended after. */
  bytes: number;
}

export interface ExportState {
  request: ExportRequest;
  /** The snapshot instant (IG: transactionTime): nothing written after it is exported. */
  transactionTime: string;
  /** The kick-off URL (manifest `request`). */
  requestUrl: string;
  /** The caller's policy (absent: unrestricted). Its clientId owns status and files. */
  policy?: StoredPolicy;
  /** Patients whose compartments are exported one by one (Group members, `patient`); absent: no compartment. */
  scopes?: string[];
  /** Checkpoint: index into types × scopes, and the history cursor within it. */
  step: number;
  cursor?: string;
  outputs: OutputFile[];
  /** The file being written may not take more: the next line starts a new one. */
  sealed?: boolean;
  exported: number;
  /** Epoch ms after which a finished job and its files are deleted. */
  expires?: number;
  /** Why it failed (no PHI: a message of ours). */
  failure?: string;
}

export const isExportState = (d: unknown): d is ExportState =>
  typeof d === 'object' && d !== null && typeof (d as ExportState).transactionTime === 'string' && Array.isArray((d as ExportState).outputs);

/** How many (type, scope) steps the job has. */
export function stepCount(s: ExportState): number {
  return s.request.types.length * (s.scopes?.length ?? 1);
}

/** The type and patient scope of a step: type-major, so each type's files are contiguous. */
export function stepAt(s: ExportState, step: number): { type: string; patient?: string } {
  const n = Math.max(1, s.scopes?.length ?? 1); // stepCount is 0 when scopes is empty
  const type = s.request.types[Math.floor(step / n)] ?? '';
  const patient = s.scopes?.[step % n];
  return { type, ...(patient !== undefined ? { patient } : {}) };
}
