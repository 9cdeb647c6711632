// The one place that reads the environment. Everything else receives a typed Config.
import { dirname, join, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import type { DatabaseTarget } from './store/open.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  port: number;
  host: string;
  /** Public base URL of the FHIR endpoint, without a trailing slash (e.g. http://localhost:8080/fhir). */
  baseUrl: string;
  /** The path the FHIR API is mounted at, from BASE_URL's path (`/fhir`; '' at the root). */
  mountPath: string;
  database: DatabaseTarget;
  logLevel: LogLevel;
  /** Largest accepted request body, in bytes. */
  bodyLimit: number;
  /** Page size when a client gives no _count, and the largest _count honoured. */
  defaultCount: number;
  maxCount: number;
  /** lenient: references may dangle; strict: they must resolve, and referenced resources cannot be deleted. */
  referentialIntegrity: 'lenient' | 'strict';
  /** Largest batch or transaction Bundle, in entries. */
  bundleMaxEntries: number;
  /** Largest batch or transaction response, in bytes of JSON (BUNDLE_RESPONSE_LIMIT). */
  bundleResponseLimit: number;
  /** Time budget of one search, in ms: past it the search is stopped and answered 403 too-costly. */
  searchTimeoutMs: number;
  /**
   * SQLite durability: full (default) syncs every commit to disk, so an acknowledged write
   * survives power loss; normal syncs at checkpoints only (survives a crash of Flint, not of
   * the machine) and ingests faster.
   */
  sqliteSynchronous: 'FULL' | 'NORMAL';
  /** SQLite: bytes of current versions kept in memory for reads (READ_CACHE_BYTES). */
  readCacheBytes: number;
  /** SQLite file databases: reader threads for searches and history (0 = on the main thread). */
  sqliteReaders: number;
  auth: AuthConfig;
  /** Per-client limits (client id of the token, else the remote address); 0 turns one off. */
  limits: { requestsPerMinute: number; concurrent: number };
  /** Folder of extra StructureDefinitions, SearchParameters and ValueSets loaded at start. */
  profilesDir: string;
  /** The payer's FHIR endpoint that Claim/$submit-to-payer sends claims to (PAYER_URL, PAYER_TOKEN). */
  payer?: { url: string; token?: string };
  /** The HL7 v2 MLLP listener (src/v2); absent when MLLP_PORT is unset. */
  mllp?: MllpConfig;
  /** Background jobs (src/jobs): how often each instance polls the queue, and a job's lease (ms). */
  jobs: { pollMs: number; leaseMs: number };
  /** Bulk Data $export (src/operations/export-*.ts). */
  export: ExportConfig;
  subscriptions: SubscriptionConfig;
}

export interface ExportConfig {
  /** An output file is closed before a resource would take it past this size (EXPORT_FILE_MAX_BYTES). */
  fileMaxBytes: number;
  /** How long a finished export's files are kept before deletion (EXPORT_RETENTION_MINUTES). */
  retentionMs: number;
}

/** Subscription delivery (src/subscriptions). */
export interface SubscriptionConfig {
  /** SUBSCRIPTION_ALLOW_INSECURE=1: http endpoints and private/loopback addresses allowed (development, tests). */
  allowInsecure: boolean;
  /** Failed attempts in a row after which a subscription goes to status error. */
  maxAttempts: number;
  /** Time allowed for one POST to an endpoint, in ms. */
  timeoutMs: number;
  /** First retry delay, in ms; doubled after each failure (capped at a minute). */
  retryBaseMs: number;
  /** Websocket channel connections open at once (SUBSCRIPTION_WS_MAX_CONNECTIONS). */
  wsMaxConnections: number;
  /** A websocket connection silent this long (ms) is closed; the server pings at a third of it (SUBSCRIPTION_WS_IDLE_MS). */
  wsIdleMs: number;
}

export interface MllpConfig {
  port: number;
  host: string;
  /** MSH-4 sending facilities allowed to send; empty: any. */
  allowedFacilities: string[];
  /** Create the patient of an ORU^R01 when no Patient has its identifier. */
  createPatients: boolean;
  /** Time zone offset (+HH:MM) for v2 times without one. */
  defaultOffset: string;
  maxFrameBytes: number;
  maxConnections: number;
  idleTimeoutMs: number;
}

export interface AuthConfig {
  /** smart: Flint's own SMART authorization server; external: JWTs of another issuer; off: no authentication. */
  mode: 'smart' | 'external' | 'off';
  /** Where clients, grants, keys and the audit log live. */
  db: string;
  accessTtlS: number;
  keyRotationDays: number;
  /** Test-only shortcuts at /auth/authorize (never allowed with NODE_ENV=production). */
  testHooks: boolean;
  external?: { issuer: string; jwksUrl: string; audience: string };
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^[0-9]+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

export function parseDatabaseUrl(raw: string): DatabaseTarget {
  if (raw.startsWith('sqlite:')) {
    const rest = raw.slice('sqlite:'.length).replace(/^\/\//, '');
    if (rest === ':memory:') return { kind: 'sqlite', filename: ':memory:' };
    if (rest === '') throw new ConfigError('DATABASE_URL sqlite: needs a file path, e.g. sqlite:data/flint.db, or sqlite::memory:');
    return { kind: 'sqlite', filename: resolve(rest) };
  }
  if (raw.startsWith('mongodb://') || raw.startsWith('mongodb+srv://')) {
    if (raw.length <= raw.indexOf('//') + 2) throw new ConfigError('DATABASE_URL mongodb:// needs a host');
    return { kind: 'mongodb', url: raw };
  }
  throw new ConfigError(`DATABASE_URL must start with sqlite: or mongodb:// (or mongodb+srv://), got "${redactUrl(raw)}"`);
}

/** Hides credentials in a URL before it is printed. */
export function redactUrl(raw: string): string {
  return raw.replace(/\/\/[^@/]*@/, '//***@');
}

function baseUrl(env: Env, port: number): string {
  const raw = env.BASE_URL;
  if (raw === undefined || raw === '') return `http://localhost:${port}/fhir`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`BASE_URL must be an absolute http(s) URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`BASE_URL must use http or https, got "${raw}"`);
  }
  if (url.search || url.hash) throw new ConfigError('BASE_URL must not have a query or fragment');
  return raw.replace(/\/+$/, '');
}

function authConfig(env: Env, database: DatabaseTarget, base: string): AuthConfig {
  const mode = (env.AUTH?.trim() || 'smart').toLowerCase();
  if (mode !== 'smart' && mode !== 'external' && mode !== 'off') throw new ConfigError(`AUTH must be smart, external or off, got "${env.AUTH}"`);
  const db = env.AUTH_DB?.trim()
    || (database.kind === 'sqlite' ? (database.filename === ':memory:' ? ':memory:' : join(dirname(database.filename), 'auth.db')) : resolve('data/auth.db'));
  const testHooks = env.AUTH_TEST_HOOKS === '1';
  if (testHooks && env.NODE_ENV === 'production') throw new ConfigError('AUTH_TEST_HOOKS cannot be enabled with NODE_ENV=production');
  const out: AuthConfig = {
    mode, db: db === ':memory:' ? db : resolve(db),
    accessTtlS: int(env, 'ACCESS_TOKEN_TTL', 3600, 60, 3600),
    keyRotationDays: int(env, 'AUTH_KEY_ROTATION_DAYS', 30, 1, 3650),
    testHooks,
  };
  if (mode === 'external') {
    const issuer = env.AUTH_ISSUER?.trim();
    const jwksUrl = env.AUTH_JWKS_URL?.trim();
    if (!issuer || !jwksUrl) throw new ConfigError('AUTH=external needs AUTH_ISSUER and AUTH_JWKS_URL');
    try {
      new URL(jwksUrl);
    } catch {
      throw new ConfigError(`AUTH_JWKS_URL must be a URL, got "${jwksUrl}"`);
    }
    out.external = { issuer, jwksUrl, audience: env.AUTH_AUDIENCE?.trim() || base };
  }
  return out;
}

function payer(env: Env): Config['payer'] {
  const raw = env.PAYER_URL?.trim();
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`PAYER_URL must be an absolute http(s) URL, got "${redactUrl(raw)}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`PAYER_URL must use http or https, got "${redactUrl(raw)}"`);
  const token = env.PAYER_TOKEN?.trim();
  return { url: raw.replace(/\/+$/, ''), ...(token ? { token } : {}) };
}

function synchronous(raw: string | undefined): 'FULL' | 'NORMAL' {
  const v = (raw?.trim() || 'full').toUpperCase();
  if (v !== 'FULL' && v !== 'NORMAL') throw new ConfigError(`SQLITE_SYNCHRONOUS must be full or normal, got "${raw}"`);
  return v;
}

function integrity(raw: string | undefined): 'lenient' | 'strict' {
  const v = raw?.trim() || 'lenient';
  if (v !== 'lenient' && v !== 'strict') throw new ConfigError(`REFERENTIAL_INTEGRITY must be lenient or strict, got "${v}"`);
  return v;
}

/** The mount path of the API: BASE_URL's path without a trailing slash (a proxy may add a prefix). */
export function mountPathOf(base: string): string {
  return new URL(base).pathname.replace(/\/+$/, '');
}

function mllp(env: Env, host: string): MllpConfig | undefined {
  if (env.MLLP_PORT === undefined || env.MLLP_PORT.trim() === '') return undefined;
  const created = (env.MLLP_CREATE_PATIENTS?.trim() || 'false').toLowerCase();
  if (created !== 'true' && created !== 'false') throw new ConfigError(`MLLP_CREATE_PATIENTS must be true or false, got "${env.MLLP_CREATE_PATIENTS}"`);
  const tz = env.MLLP_TIMEZONE?.trim() || '+00:00';
  if (!/^[+-](0\d|1[0-4]):[0-5]\d$/.test(tz)) throw new ConfigError(`MLLP_TIMEZONE must be an offset such as +01:00, got "${tz}"`);
  const facilities = (env.MLLP_ALLOWED_FACILITIES ?? '').split(',').map((f) => f.trim()).filter(Boolean);
  return {
    port: int(env, 'MLLP_PORT', 2575, 0, 65535),
    host,
    allowedFacilities: facilities,
    createPatients: created === 'true',
    defaultOffset: tz,
    maxFrameBytes: int(env, 'MLLP_MAX_FRAME', 1024 * 1024, 1024, 64 * 1024 * 1024),
    maxConnections: int(env, 'MLLP_MAX_CONNECTIONS', 32, 1, 10_000),
    idleTimeoutMs: int(env, 'MLLP_IDLE_TIMEOUT', 300, 1, 86_400) * 1000,
  };
}

export function loadConfig(env: Env = process.env): Config {
  const port = int(env, 'PORT', 8080, 0, 65535);
  const host = env.HOST?.trim() || '127.0.0.1';
  if (!/^[A-Za-z0-9.:\-[\]]+$/.test(host)) throw new ConfigError(`HOST must be a host name or IP address, got "${host}"`);
  const level = (env.LOG_LEVEL?.trim() || 'info') as LogLevel;
  if (!LEVELS.includes(level)) throw new ConfigError(`LOG_LEVEL must be one of ${LEVELS.join(', ')}, got "${level}"`);
  const defaultCount = int(env, 'DEFAULT_COUNT', 20, 1, 1000);
  const maxCount = int(env, 'MAX_COUNT', 1000, 1, 10000);
  if (defaultCount > maxCount) throw new ConfigError('DEFAULT_COUNT must not exceed MAX_COUNT');
  const database = parseDatabaseUrl(env.DATABASE_URL?.trim() || 'sqlite:data/flint.db');
  const base = baseUrl(env, port);
  // A setting that changed meaning is refused rather than silently ignored.
  if (env.READ_CACHE_ENTRIES !== undefined) throw new ConfigError('READ_CACHE_ENTRIES was replaced by READ_CACHE_BYTES (the read cache is bounded in bytes)');
  return {
    port,
    host,
    baseUrl: base,
    mountPath: mountPathOf(base),
    database,
    logLevel: level,
    // 40 MiB: the largest official R4 example (Bundle-resources.json, 35 MB) fits.
    bodyLimit: int(env, 'BODY_LIMIT', 40 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    defaultCount,
    maxCount,
    readCacheBytes: int(env, 'READ_CACHE_BYTES', 32 * 1024 * 1024, 0, 64 * 1024 * 1024 * 1024),
    // One per core: a reader thread is busy for the whole of its statement.
    sqliteReaders: int(env, 'SQLITE_READERS', availableParallelism(), 0, 256),
    auth: authConfig(env, database, base),
    limits: { requestsPerMinute: int(env, 'RATE_LIMIT', 6000, 0, 10_000_000), concurrent: int(env, 'CLIENT_CONCURRENCY', 64, 0, 100_000) },
    referentialIntegrity: integrity(env.REFERENTIAL_INTEGRITY),
    sqliteSynchronous: synchronous(env.SQLITE_SYNCHRONOUS),
    bundleMaxEntries: int(env, 'BUNDLE_MAX_ENTRIES', 10_000, 1, 1_000_000),
    bundleResponseLimit: int(env, 'BUNDLE_RESPONSE_LIMIT', 32 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
    searchTimeoutMs: int(env, 'SEARCH_TIMEOUT_MS', 10_000, 1, 600_000),
    jobs: { pollMs: int(env, 'JOB_POLL_MS', 2000, 10, 600_000), leaseMs: int(env, 'JOB_LEASE_MS', 30_000, 100, 3_600_000) },
    profilesDir: resolve(env.PROFILES_DIR?.trim() || 'profiles'),
    export: {
      fileMaxBytes: int(env, 'EXPORT_FILE_MAX_BYTES', 64 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
      retentionMs: int(env, 'EXPORT_RETENTION_MINUTES', 24 * 60, 1, 525_600) * 60_000,
    },
    ...(payer(env) ? { payer: payer(env) } : {}),
    ...(mllp(env, host) ? { mllp: mllp(env, host) } : {}),
    subscriptions: {
      allowInsecure: ['1', 'true'].includes((env.SUBSCRIPTION_ALLOW_INSECURE ?? '').trim().toLowerCase()),
      maxAttempts: int(env, 'SUBSCRIPTION_MAX_ATTEMPTS', 10, 1, 1000),
      timeoutMs: int(env, 'SUBSCRIPTION_TIMEOUT_MS', 10_000, 100, 120_000),
      retryBaseMs: int(env, 'SUBSCRIPTION_RETRY_MS', 1000, 10, 600_000),
      wsMaxConnections: int(env, 'SUBSCRIPTION_WS_MAX_CONNECTIONS', 1000, 1, 100_000),
      wsIdleMs: int(env, 'SUBSCRIPTION_WS_IDLE_MS', 120_000, 300, 3_600_000),
    },
  };
}
