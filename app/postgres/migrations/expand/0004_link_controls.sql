-- What link owners control (disable, password) and see (visits per day).
--
-- A disabled or password-protected link that is not deleted keeps
-- deleted_at = 'epoch' as a guard: the previous release reads only
-- deleted_at, so while it still serves beside this one (a canary) it
-- answers such a link "deleted" (410) instead of redirecting without the
-- password or despite the owner's switch. This release reads the epoch as
-- "not deleted" (NULLIF(deleted_at, 'epoch')).
ALTER TABLE links ADD COLUMN disabled_at timestamptz;
ALTER TABLE links ADD COLUMN password_hash text;

-- The list and the export read links newest first, page by page.
CREATE INDEX links_created ON links (created_at, code);

-- Visits per link per UTC day, written with the batched visit counts;
-- rows older than the retention are pruned.
CREATE TABLE link_visits_daily (
    code   text NOT NULL,
    day    date NOT NULL,
    visits bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (code, day)
);
CREATE INDEX link_visits_daily_day ON link_visits_daily (day);

-- A new password or a disable/enable must reach every replica's redirect
-- cache like a delete does (the function of step 0003 notifies).
CREATE TRIGGER links_changed_access AFTER UPDATE OF disabled_at, password_hash ON links
FOR EACH ROW
WHEN (NEW.disabled_at IS DISTINCT FROM OLD.disabled_at OR NEW.password_hash IS DISTINCT FROM OLD.password_hash)
EXECUTE FUNCTION shortener_link_changed();
