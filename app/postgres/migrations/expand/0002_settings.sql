-- Secrets shared by every replica on this database (e.g. the key that signs
-- the web page's cookie), and the write probe's row.
CREATE TABLE settings (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);
