-- Links keyed by their short code. Times are Unix milliseconds (UTC).
CREATE TABLE links (
    code       TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    deleted_at INTEGER,
    visits     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
