-- Links keyed by their short code. Times are UTC, at millisecond precision
-- (the store truncates, as the SQLite store keeps Unix milliseconds).
CREATE TABLE links (
    code       text PRIMARY KEY,
    url        text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    deleted_at timestamptz,
    visits     bigint NOT NULL DEFAULT 0
);
