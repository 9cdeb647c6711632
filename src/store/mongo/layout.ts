// Document shapes and index definitions of the MongoDB adapter (see README.md beside this file
// for why the layout is what it is).
import type { IndexEntries, ResourceIndex } from '../../search/extract.js';
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
  | typeof RESOURCES | typeof HISTORY | typeof META | typeof LEASES | typeof JOBS | typeof JOB_FILES | typeof JOB_CHUNKS | AuthCollection
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
  /** Contained resources the references point at (chains only, R4 search.html#contained). */
  cx?: ContainedDoc[];
}

/** A contained resource: type, local id, the container's parameters referring to it, its index. */
export interface ContainedDoc { t: string; i: string; r: string[]; x: IndexDoc }

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
  /** lastUpdated, FHIR instant (sorts as text): the instant of `s`. */
  lu: string;
  /** Order value of this version (order.ts); ties between instances are broken by `t`, `i`. */
  s: number;
  m: WriteMethod;
  /** The resource JSON exactly as served; null for a deletion. */
  j: string | null;
}

/** A resource's current version (or its tombstone), its index embedded: one atomic document write. */
export interface ResourceDoc extends VersionFields {
  /** `Type/id`: unique, so a second create of one id is refused by the server. */
  _id: string;
  /** Order value at creation: the order of ties, as SQLite's rowid is (then `_id`). */
  c: number;
  x: IndexDoc;
}

/** A superseded version, `_id` = `Type/id/version`. */
export interface HistoryDoc extends VersionFields {
  _id: string;
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
export function indexDoc(e: ResourceIndex): IndexDoc {
  const x = entriesDoc(e);
  if (e.contained?.length) x.cx = e.contained.map((c) => ({ t: c.type, i: c.id, r: c.refs, x: entriesDoc(c.entries) }));
  return x;
}

function entriesDoc(e: IndexEntries): IndexDoc {
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
  /** A TTL index: the server removes a document this long after the date in its (single) key field. */
  expireAfterSeconds?: number;
}

/**
 * Every index Flint creates (idempotently, at start). Each search-value index is led by the
 * resource type then the parameter code, as SQLite's are by pid; the reference index is led
 * by the target, because every reverse lookup (reference search, chains, _has, _revinclude,
 * compartments, referential integrity) starts from the referenced resource.
 */
export const INDEXES: readonly IndexSpec[] = [
  // Order values may tie across instances: every ordered index ends with the tie-break.
  { collection: RESOURCES, name: 'type_created_id', key: { t: 1, c: 1, _id: 1 } },
  { collection: RESOURCES, name: 'type_updated', key: { t: 1, lu: 1 } },
  { collection: RESOURCES, name: 'order', key: { s: 1, t: 1, i: 1 } },
  { collection: RESOURCES, name: 'type_order', key: { t: 1, s: 1, i: 1 } },
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
  // A chain's branch through contained resources: without it, the $or of a chain scans its type.
  { collection: RESOURCES, name: 'x_contained', key: { t: 1, 'x.cx.t': 1 } },
  { collection: HISTORY, name: 'instance_seq', key: { t: 1, i: 1, s: 1 } },
  { collection: HISTORY, name: 'type_order', key: { t: 1, s: 1, i: 1 } },
  { collection: HISTORY, name: 'order', key: { s: 1, t: 1, i: 1 } },
  // A claim looks for the oldest claimable job of one kind; listJobs reads the same order.
  { collection: JOBS, name: 'kind_created', key: { k: 1, c: 1, _id: 1 } },
  { collection: JOB_FILES, name: 'job', key: { j: 1 } },
  // A file is read chunk after chunk in order; one chunk per (job, file, part).
  { collection: JOB_CHUNKS, name: 'file_part', key: { j: 1, f: 1, n: 1 }, unique: true },
  { collection: OUTBOX, name: 'sub_n', key: { s: 1, n: 1 } },
];

// ---- The auth registry (src/store/registry.ts, mongo/registry.ts) ------------------------------
// One collection per kind of record. Records whose inner shape is opaque to queries (clients,
// users, grant context, launch context, keys) are kept as JSON text (`j`), so a field name of a
// client's JWKS or a launch context can never collide with MongoDB's operators. Short-lived
// records carry `exp` (a BSON date) for a TTL index: the server removes them after they lapse
// (its TTL monitor runs about once a minute, so code never relies on the removal, only on `ea`).

export const AUTH_CLIENTS = 'auth_clients';
export const AUTH_USERS = 'auth_users';
export const AUTH_GRANTS = 'auth_grants';
export const AUTH_TOKENS = 'auth_tokens';
export const AUTH_CODES = 'auth_codes';
export const AUTH_LAUNCHES = 'auth_launches';
export const AUTH_JTI = 'auth_jti';
/** Authorizations in progress (login, picker, consent pages), so any instance serves any page. */
export const AUTH_PENDING = 'auth_pending';
export const AUTH_MANAGE_SESSIONS = 'auth_manage_sessions';
export const AUTH_KEYS = 'auth_keys';
/** Append-only: the code only inserts and finds (README, "Audit on MongoDB": the role that enforces it). */
export const AUTH_AUDIT = 'auth_audit';
/** The audit sequence counter (`_id: 'audit'`), apart from the audit so the audit role can stay insert-only. */
export const AUTH_META = 'auth_meta';
export const AUTH_COLLECTIONS = [AUTH_CLIENTS, AUTH_USERS, AUTH_GRANTS, AUTH_TOKENS, AUTH_CODES, AUTH_LAUNCHES, AUTH_JTI, AUTH_PENDING, AUTH_MANAGE_SESSIONS, AUTH_KEYS, AUTH_AUDIT, AUTH_META] as const;
export type AuthCollection = typeof AUTH_COLLECTIONS[number];

/** `_id` = grant id; `u` its user's name; `rv` revoked; `j` the GrantRecord as JSON. */
export interface GrantDoc { _id: string; u: string | null; rv: boolean; j: string }
/** `_id` = token hash; `g` grant; `k` kind; `ia`/`ea`/`ua` issued/expires/used at (epoch ms); `rv` revoked. */
export interface TokenDoc { _id: string; g: string; k: 'access' | 'refresh'; ia: number; ea: number; ua: number | null; rv: boolean; exp: Date }
/** `_id` = code hash; `ua` when redeemed (null before: the single-use update's condition). */
export interface CodeDoc { _id: string; j: string; ea: number; ua: number | null; exp: Date }
/** `_id` = JSON `[iss, jti]`. */
export interface JtiDoc { _id: string; ea: number; exp: Date }
/** `_id` = tx; `c` its client (the per-client cap counts these); `j` the PendingRecord as JSON. */
export interface PendingDoc { _id: string; c: string; j: string; ea: number; exp: Date }
/** `_id` = the session id; `u` its user. */
export interface ManageSessionDoc { _id: string; u: string; ea: number; exp: Date }
/** `_id` = kid; `ca`/`ra` created/retired at. */
export interface KeyDoc { _id: string; ca: number; ra: number | null; j: string }
/** `_id` = the entry's sequence number (the admin API's `after` cursor). */
export interface AuditDoc { _id: number; time: string; rq: string; cl?: string; us?: string; pt?: string; ac: string; tg?: string; q?: string; st: number }

/**
 * A used code is kept an hour past its expiry, so that a late second redemption is still seen
 * as a reuse (which revokes the grant, RFC 6749 §4.1.2) rather than as an unknown code.
 */
export const CODE_KEPT_S = 3600;

export const AUTH_INDEXES: readonly IndexSpec[] = [
  { collection: AUTH_GRANTS, name: 'user_live', key: { u: 1, rv: 1 } },
  { collection: AUTH_TOKENS, name: 'grant', key: { g: 1 } },
  { collection: AUTH_TOKENS, name: 'ttl', key: { exp: 1 }, expireAfterSeconds: 0 },
  { collection: AUTH_CODES, name: 'ttl', key: { exp: 1 }, expireAfterSeconds: CODE_KEPT_S },
  { collection: AUTH_LAUNCHES, name: 'ttl', key: { exp: 1 }, expireAfterSeconds: 0 },
  { collection: AUTH_JTI, name: 'ttl', key: { exp: 1 }, expireAfterSeconds: 0 },
  { collection: AUTH_PENDING, name: 'client_live', key: { c: 1, ea: 1 } },
  { collection: AUTH_PENDING, name: 'ttl', key: { exp: 1 }, expireAfterSeconds: 0 },
  { collection: AUTH_MANAGE_SESSIONS, name: 'ttl', key: { exp: 1 }, expireAfterSeconds: 0 },
];

/**
 * The shard key of each collection of a sharded cluster (README.md, "Sharding": which queries
 * stay on one shard and which go to all). `meta` stays unsharded: a few small documents.
 */
export const SHARD_KEYS: Partial<Record<CollectionName, Record<string, 1 | 'hashed'>>> = {
  [RESOURCES]: { _id: 'hashed' },
  [HISTORY]: { t: 1, i: 'hashed' },
};
