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
  /** Patients whose compartments are exported (Group members, `patient`); absent: no compartment. */
  scopes?: string[];
  /**
   * Patients scanned together in one step (absent: 1, as jobs queued before batching were).
   * A resource in several listed patients' compartments is written once: in the step of the
   * first of them (README: Bulk Data).
   */
  perStep?: number;
  /**
   * Group/[id]/$export with _since: how many of `scopes`, at the front, joined the Group after
   * _since. Their compartments are exported whole (IG v2.0.0 group-export, _since: the server
   * MAY return resources modified before _since for patients added to the Group after it).
   */
  newMembers?: number;
  /** Checkpoint: index into types × patient batches, and the history cursor within it. */
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

/** A run of `scopes` scanned in one step: [start, end), all new members or none. */
export interface PatientBatch {
  start: number;
  end: number;
  /** Joined the Group after _since: exported whole. */
  whole: boolean;
}

/** The patient batches of a job, in order: new members first, then the others. */
export function batches(s: ExportState): PatientBatch[] {
  const n = s.scopes?.length ?? 0;
  const per = Math.max(1, s.perStep ?? 1);
  const split = Math.min(n, s.newMembers ?? 0);
  const out: PatientBatch[] = [];
  for (let i = 0; i < split; i += per) out.push({ start: i, end: Math.min(split, i + per), whole: true });
  for (let i = split; i < n; i += per) out.push({ start: i, end: Math.min(n, i + per), whole: false });
  return out;
}

/** How many (type, patient batch) steps the job has. */
export function stepCount(s: ExportState): number {
  return s.request.types.length * (s.scopes ? batches(s).length : 1);
}

/** The type and patient batch of a step: type-major, so each type's files are contiguous. */
export function stepAt(s: ExportState, step: number): { type: string; batch?: PatientBatch } {
  if (!s.scopes) return { type: s.request.types[step] ?? '' };
  const all = batches(s);
  const n = Math.max(1, all.length); // stepCount is 0 when scopes is empty
  const type = s.request.types[Math.floor(step / n)] ?? '';
  const batch = all[step % n];
  return { type, ...(batch ? { batch } : {}) };
}
