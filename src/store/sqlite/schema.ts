// The embedded store's tables. `version` keeps every version (and deletion) of every resource
// in change-sequence order; `resource` points at each resource's current version.
export const SCHEMA_VERSION = 1;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;

-- seq is the server-wide change sequence: AUTOINCREMENT so a value is never reused.
CREATE TABLE IF NOT EXISTS version (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  type         TEXT    NOT NULL,
  id           TEXT    NOT NULL,
  version      INTEGER NOT NULL,
  last_updated TEXT    NOT NULL,
  method       TEXT    NOT NULL,
  deleted      INTEGER NOT NULL,
  json         TEXT
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS version_type_id_version ON version (type, id, version);
CREATE INDEX IF NOT EXISTS version_type_id_seq ON version (type, id, seq);
CREATE INDEX IF NOT EXISTS version_type_seq ON version (type, seq);
CREATE INDEX IF NOT EXISTS version_last_updated ON version (last_updated);

-- rid is the resource's internal key; the search index tables refer to it.
CREATE TABLE IF NOT EXISTS resource (
  rid          INTEGER PRIMARY KEY,
  type         TEXT    NOT NULL,
  id           TEXT    NOT NULL,
  version      INTEGER NOT NULL,
  deleted      INTEGER NOT NULL,
  last_updated TEXT    NOT NULL,
  seq          INTEGER NOT NULL,
  UNIQUE (type, id)
) STRICT;
`;

// Search index (src/search/extract.ts produces the entries). Rows exist for current, live
// versions only; `pid` is a (resource type, parameter code) pair from sp_param.
export const INDEX_SCHEMA = `
CREATE INDEX IF NOT EXISTS resource_type_updated ON resource (type, last_updated, rid);
-- Live resources of a type in rowid order: scans that stop when a page is full.
CREATE INDEX IF NOT EXISTS resource_type_live ON resource (type, deleted);

CREATE TABLE IF NOT EXISTS sp_param (
  pid  INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  code TEXT NOT NULL,
  UNIQUE (type, code)
) STRICT;

CREATE TABLE IF NOT EXISTS sp_token (rid INTEGER NOT NULL, pid INTEGER NOT NULL, system TEXT, code TEXT) STRICT;
CREATE INDEX IF NOT EXISTS sp_token_code ON sp_token (pid, code, system, rid);
CREATE INDEX IF NOT EXISTS sp_token_rid_pid ON sp_token (rid, pid);

CREATE TABLE IF NOT EXISTS sp_text (rid INTEGER NOT NULL, pid INTEGER NOT NULL, text TEXT NOT NULL) STRICT;
CREATE INDEX IF NOT EXISTS sp_text_text ON sp_text (pid, text, rid);
CREATE INDEX IF NOT EXISTS sp_text_rid_pid ON sp_text (rid, pid);

CREATE TABLE IF NOT EXISTS sp_string (rid INTEGER NOT NULL, pid INTEGER NOT NULL, norm TEXT NOT NULL, exact TEXT NOT NULL) STRICT;
CREATE INDEX IF NOT EXISTS sp_string_norm ON sp_string (pid, norm, rid);
CREATE INDEX IF NOT EXISTS sp_string_rid_pid ON sp_string (rid, pid);

CREATE TABLE IF NOT EXISTS sp_date (rid INTEGER NOT NULL, pid INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL) STRICT;
CREATE INDEX IF NOT EXISTS sp_date_start ON sp_date (pid, start, end, rid);
CREATE INDEX IF NOT EXISTS sp_date_end ON sp_date (pid, end, rid);
CREATE INDEX IF NOT EXISTS sp_date_rid_pid ON sp_date (rid, pid);

CREATE TABLE IF NOT EXISTS sp_number (rid INTEGER NOT NULL, pid INTEGER NOT NULL, value REAL NOT NULL) STRICT;
CREATE INDEX IF NOT EXISTS sp_number_value ON sp_number (pid, value, rid);
CREATE INDEX IF NOT EXISTS sp_number_rid_pid ON sp_number (rid, pid);

CREATE TABLE IF NOT EXISTS sp_quantity (rid INTEGER NOT NULL, pid INTEGER NOT NULL, low REAL NOT NULL, high REAL NOT NULL, system TEXT, code TEXT) STRICT;
CREATE INDEX IF NOT EXISTS sp_quantity_code ON sp_quantity (pid, code, low, rid);
CREATE INDEX IF NOT EXISTS sp_quantity_low ON sp_quantity (pid, low, rid);
CREATE INDEX IF NOT EXISTS sp_quantity_rid_pid ON sp_quantity (rid, pid);

CREATE TABLE IF NOT EXISTS sp_reference (rid INTEGER NOT NULL, pid INTEGER NOT NULL, ref_type TEXT, ref_id TEXT, url TEXT) STRICT;
-- Serves reference searches (ref_id, ref_type, pid), chains, _has, _revinclude and
-- compartments alike.
CREATE INDEX IF NOT EXISTS sp_reference_back ON sp_reference (ref_id, ref_type, pid, rid);
-- Most references are relative (no url): the url index holds only those that have one.
CREATE INDEX IF NOT EXISTS sp_reference_url ON sp_reference (pid, url, rid) WHERE url IS NOT NULL;
CREATE INDEX IF NOT EXISTS sp_reference_rid_pid ON sp_reference (rid, pid);

CREATE TABLE IF NOT EXISTS sp_uri (rid INTEGER NOT NULL, pid INTEGER NOT NULL, uri TEXT NOT NULL) STRICT;
CREATE INDEX IF NOT EXISTS sp_uri_uri ON sp_uri (pid, uri, rid);
CREATE INDEX IF NOT EXISTS sp_uri_rid_pid ON sp_uri (rid, pid);

CREATE TABLE IF NOT EXISTS sp_composite (
  rid INTEGER NOT NULL, pid INTEGER NOT NULL,
  c1_sys TEXT, c1_code TEXT, c1_lo REAL, c1_hi REAL, c1_str TEXT,
  c2_sys TEXT, c2_code TEXT, c2_lo REAL, c2_hi REAL, c2_str TEXT,
  c3_sys TEXT, c3_code TEXT, c3_lo REAL, c3_hi REAL, c3_str TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS sp_composite_c1 ON sp_composite (pid, c1_code, rid);
CREATE INDEX IF NOT EXISTS sp_composite_rid_pid ON sp_composite (rid, pid);

-- Sort keys: the lowest and highest value of a parameter per resource (R4 search.html#sort),
-- read by rid while ordering the matches; keyed by (rid, pid) so one b-tree serves lookups and
-- deletes.
CREATE TABLE IF NOT EXISTS sp_sort (rid INTEGER NOT NULL, pid INTEGER NOT NULL, lo ANY, hi ANY, PRIMARY KEY (rid, pid)) STRICT, WITHOUT ROWID;

-- Contained resources a container's references point at (R4 search.html#contained: searched
-- through chains only). Their index rows sit in the sp_* tables under a negative rid, so that
-- no resource row ever joins them; \`container\` is the container's rid.
CREATE TABLE IF NOT EXISTS sp_contained (rid INTEGER PRIMARY KEY, container INTEGER NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL) STRICT;
CREATE INDEX IF NOT EXISTS sp_contained_container ON sp_contained (container, id);
`;

// Background work (work.ts). Created like the tables above (IF NOT EXISTS): an older database
// gains them on open, and an older Flint ignores them, so the schema version stays.
export const WORK_SCHEMA = `
CREATE TABLE IF NOT EXISTS work_lease (name TEXT PRIMARY KEY, owner TEXT NOT NULL, until INTEGER NOT NULL) STRICT;

-- created_ms orders the queue (oldest first, id breaking ties, as on MongoDB); data is JSON text.
CREATE TABLE IF NOT EXISTS work_job (
  id          TEXT    PRIMARY KEY,
  kind        TEXT    NOT NULL,
  state       TEXT    NOT NULL,
  owner       TEXT,
  lease_until INTEGER,
  attempts    INTEGER NOT NULL,
  created_ms  INTEGER NOT NULL,
  created_at  TEXT    NOT NULL,
  updated_at  TEXT    NOT NULL,
  data        TEXT    NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS work_job_kind ON work_job (kind, created_ms, id);

-- A job's files, chunk by chunk (src/store/chunks.ts), read back in part order.
CREATE TABLE IF NOT EXISTS work_chunk (
  job_id TEXT    NOT NULL,
  name   TEXT    NOT NULL,
  part   INTEGER NOT NULL,
  bytes  INTEGER NOT NULL,
  text   TEXT    NOT NULL,
  PRIMARY KEY (job_id, name, part)
) STRICT;
`;

export const INDEX_TABLES = ['sp_token', 'sp_text', 'sp_string', 'sp_date', 'sp_number', 'sp_quantity', 'sp_reference', 'sp_uri', 'sp_composite', 'sp_sort'] as const;
