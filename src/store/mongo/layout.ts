// Document shapes and index definitions of the MongoDB adapter (see README.md beside this file
// for why the layout is what it is).
import type { IndexEntries } from '../../search/extract.js';
import type { VersionRecord, WriteMethod } from '../port.js';

export const RESOURCES = 'resources';
export const HISTORY = 'history';
export const META = 'meta';
/** Subscription notifications and per-subscription counters (../outbox.ts, mongo/outbox.ts). */
export const OUTBOX = 'outbox';
export const OUTBOX_STATE = 'outbox_state';
/** Background work (work.ts): named leases, the job queue, job files and their chunks. */
export const LEASES = 'leases';
export const JOBS = 'jobs';
export const JOB_FILES = 'job_files';
export const JOB_CHUNKS = 'job_chunks';
export type CollectionName =
  | typeof RESOURCES | typeof HISTORY | typeof META | typeof LEASES | typeof JOBS | typeof JOB_FILES | typeof JOB_CHUNKS
  | typeof OUTBOX | typeof OUTBOX_STATE;

/** The search index of one resource: one array per kind of value (the sp_* tables of SQLite). */
export interface IndexDoc {
  tk: { p: string; s: string | null; c: string | null }[];
  tx: { p: string; t: string }[];
  st: { p: string; n: string; e: string }[];
  dt: { p: string; lo: number; hi: number }[];
  nm: { p: string; v: number }[];
  qt: { p: string; lo: number; hi: number; s: string | null; c: string | null }[];
  /** `u` only when the reference has a URL, so the sparse URL index holds only those. */
  rf: { p: string; t: string | null; i: string | null; u?: string }[];
  ur: { p: string; u: string }[];
  /** Composite parts flattened: s1/c1/l1/h1/x1 for component 1, and so on. */
  cp: ({ p: string } & Record<string, string | number | null>)[];
  /** Sort keys per parameter code: the lowest and highest value (R4 search.html#sort). */
  so: Record<string, { lo: string | number; hi: string | number }>;
}

/** The kinds of index arrays, by the IR's table name (for `:missing`). */
export const KIND_OF_TABLE = {
  token: 'tk', text: 'tx', string: 'st', date: 'dt', number: 'nm', quantity: 'qt', reference: 'rf', uri: 'ur', composite: 'cp',
} as const;

/** One version of a resource, as both collections hold it. */
interface VersionFields {
  t: string;
  i: string;
  /** Version number. */
  v: number;
  /** Deleted (a tombstone: no JSON, empty index). */
  d: boolean;
  /** lastUpdated, FHIR instant (sorts as text). */
  lu: string;
  /** Change sequence of this version. */
  s: number;
  m: WriteMethod;
  /** The resource JSON exactly as served; null for a deletion. */
  j: string | null;
}

/** A resource's current version (or its tombstone), its index embedded: one atomic document write. */
export interface ResourceDoc extends VersionFields {
  /** `Type/id`: unique, so a second create of one id is refused by the server. */
  _id: string;
  /** Change sequence at creation: the order of ties, as SQLite's rowid is. */
  c: number;
  x: IndexDoc;
}

/** A superseded version, `_id` = `Type/id/version`. */
export interface HistoryDoc extends VersionFields {
  _id: string;
}

/** The change-sequence counter: `_id: 'seq'`. */
export interface CounterDoc {
  _id: string;
  seq: number;
  time: string;
}

export const historyId = (t: string, i: string, v: number): string => `${t}/${i}/${v}`;

export function toRecord(d: VersionFields): VersionRecord {
  return {
    type: d.t, id: d.i, versionId: String(d.v), lastUpdated: d.lu, deleted: d.d, method: d.m, seq: d.s,
    ...(d.j !== null && d.j !== undefined ? { json: d.j } : {}),
  };
}

export function toHistory(d: ResourceDoc): HistoryDoc {
  return { _id: historyId(d.t, d.i, d.v), t: d.t, i: d.i, v: d.v, d: d.d, lu: d.lu, s: d.s, m: d.m, j: d.j };
}

export function emptyIndex(): IndexDoc {
  return { tk: [], tx: [], st: [], dt: [], nm: [], qt: [], rf: [], ur: [], cp: [], so: {} };
}

/**
 * The embedded index from the extractor's entries, deduplicated exactly as SQLite's index
 * writer does, so that both adapters hold the same index.
 */
export function indexDoc(e: IndexEntries): IndexDoc {
  const x = emptyIndex();
  const seen = new Set<string>();
  const once = (key: string): boolean => {
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  };
  for (const t of e.token) if (once(`t${t.param}|${t.system}|${t.code}`)) x.tk.push({ p: t.param, s: t.system, c: t.code });
  for (const t of e.text) if (once(`x${t.param}|${t.text}`)) x.tx.push({ p: t.param, t: t.text });
  for (const s of e.string) if (once(`s${s.param}|${s.exact}`)) x.st.push({ p: s.param, n: s.norm, e: s.exact });
  for (const d of e.date) if (once(`d${d.param}|${d.start}|${d.end}`)) x.dt.push({ p: d.param, lo: d.start, hi: d.end });
  for (const n of e.number) if (once(`n${n.param}|${n.value}`)) x.nm.push({ p: n.param, v: n.value });
  for (const q of e.quantity) {
    if (once(`q${q.param}|${q.low}|${q.high}|${q.system}|${q.code}`)) x.qt.push({ p: q.param, lo: q.low, hi: q.high, s: q.system, c: q.code });
  }
  for (const r of e.reference) {
    if (once(`r${r.param}|${r.type}|${r.id}|${r.url}`)) x.rf.push({ p: r.param, t: r.type, i: r.id, ...(r.url !== null ? { u: r.url } : {}) });
  }
  for (const u of e.uri) if (once(`u${u.param}|${u.uri}`)) x.ur.push({ p: u.param, u: u.uri });
  for (const c of e.composite) {
    const doc: { p: string } & Record<string, string | number | null> = { p: c.param };
    for (let i = 0; i < 3; i++) {
      const part = c.parts[i];
      doc[`s${i + 1}`] = part?.sys ?? null;
      doc[`c${i + 1}`] = part?.code ?? null;
      doc[`l${i + 1}`] = part?.lo ?? null;
      doc[`h${i + 1}`] = part?.hi ?? null;
      doc[`x${i + 1}`] = part?.str ?? null;
    }
    const key = JSON.stringify(Object.values(doc));
    if (once(`c${key}`)) x.cp.push(doc);
  }
  // Later entries of one parameter replace earlier ones, as SQLite's INSERT OR REPLACE does.
  for (const s of e.sort) x.so[s.param] = { lo: s.lo, hi: s.hi };
  return x;
}

export interface IndexSpec {
  collection: CollectionName;
  name: string;
  key: Record<string, 1 | -1 | 'hashed'>;
  unique?: boolean;
  sparse?: boolean;
}

/**
 * Every index Flint creates (idempotently, at start). Each search-value index is led by the
 * resource type then the parameter code, as SQLite's are by pid; the reference index is led
 * by the target, because every reverse lookup (reference search, chains, _has, _revinclude,
 * compartments, referential integrity) starts from the referenced resource.
 */
export const INDEXES: readonly IndexSpec[] = [
  { collection: RESOURCES, name: 'type_created', key: { t: 1, c: 1 } },
  { collection: RESOURCES, name: 'type_updated', key: { t: 1, lu: 1 } },
  { collection: RESOURCES, name: 'seq', key: { s: 1 } },
  { collection: RESOURCES, name: 'type_seq', key: { t: 1, s: 1 } },
  { collection: RESOURCES, name: 'x_token', key: { t: 1, 'x.tk.p': 1, 'x.tk.c': 1, 'x.tk.s': 1 } },
  { collection: RESOURCES, name: 'x_text', key: { t: 1, 'x.tx.p': 1, 'x.tx.t': 1 } },
  { collection: RESOURCES, name: 'x_string', key: { t: 1, 'x.st.p': 1, 'x.st.n': 1 } },
  { collection: RESOURCES, name: 'x_string_exact', key: { t: 1, 'x.st.p': 1, 'x.st.e': 1 } },
  { collection: RESOURCES, name: 'x_date', key: { t: 1, 'x.dt.p': 1, 'x.dt.lo': 1, 'x.dt.hi': 1 } },
  { collection: RESOURCES, name: 'x_number', key: { t: 1, 'x.nm.p': 1, 'x.nm.v': 1 } },
  { collection: RESOURCES, name: 'x_quantity', key: { t: 1, 'x.qt.p': 1, 'x.qt.c': 1, 'x.qt.lo': 1 } },
  { collection: RESOURCES, name: 'x_reference', key: { 'x.rf.i': 1, 'x.rf.t': 1, 'x.rf.p': 1 } },
  // Most references are relative: only those with a URL (canonicals, absolute) are in it.
  { collection: RESOURCES, name: 'x_reference_url', key: { 'x.rf.u': 1 }, sparse: true },
  { collection: RESOURCES, name: 'x_uri', key: { t: 1, 'x.ur.p': 1, 'x.ur.u': 1 } },
  { collection: RESOURCES, name: 'x_composite', key: { t: 1, 'x.cp.p': 1, 'x.cp.c1': 1 } },
  { collection: HISTORY, name: 'instance_seq', key: { t: 1, i: 1, s: 1 } },
  { collection: HISTORY, name: 'type_seq', key: { t: 1, s: 1 } },
  { collection: HISTORY, name: 'seq', key: { s: 1 } },
  // A claim looks for the oldest claimable job of one kind; listJobs reads the same order.
  { collection: JOBS, name: 'kind_created', key: { k: 1, c: 1, _id: 1 } },
  { collection: JOB_FILES, name: 'job', key: { j: 1 } },
  // A file is read chunk after chunk in order; one chunk per (job, file, part).
  { collection: JOB_CHUNKS, name: 'file_part', key: { j: 1, f: 1, n: 1 }, unique: true },
  { collection: OUTBOX, name: 'sub_n', key: { s: 1, n: 1 } },
];
