-- What link owners control (disable, password) and see (visits per day).
--
-- A disabled or password-protected link that is not deleted keeps
-- deleted_at = 0 (the epoch) as a guard: the previous release reads only
-- deleted_at, so while it still serves beside this one (a canary) it
-- answers such a link "deleted" (410) instead of redirecting without the
-- password or despite the owner's switch. This release reads 0 as "not
-- deleted" (NULLIF(deleted_at, 0)).
ALTER TABLE links ADD COLUMN disabled_at INTEGER;
ALTER TABLE links ADD COLUMN password_hash TEXT;

-- The list and the export read links newest first, page by page.
CREATE INDEX links_created ON links (created_at, code);

-- Visits per link per UTC day (days since the Unix epoch), written with
-- the batched visit counts; rows older than the retention are pruned.
CREATE TABLE link_visits_daily (
    code   TEXT NOT NULL,
    day    INTEGER NOT NULL,
    visits INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (code, day)
) WITHOUT ROWID;
CREATE INDEX link_visits_daily_day ON link_visits_daily (day);

-- A new password or a disable/enable must reach every process's redirect
-- cache like a delete does.
CREATE TRIGGER links_changed_access AFTER UPDATE OF disabled_at, password_hash ON links
WHEN NEW.disabled_at IS NOT OLD.disabled_at OR NEW.password_hash IS NOT OLD.password_hash
BEGIN
    UPDATE link_changes SET seq = seq + 1 WHERE id = 1;
END;
