-- Process-wide secrets shared by every process on this database (stable and
-- canary), e.g. the key that signs the web page's cookie.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
