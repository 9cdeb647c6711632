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
