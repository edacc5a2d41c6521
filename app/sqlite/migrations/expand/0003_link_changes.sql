-- A counter of changes to stored links that a cached redirect must not hide
-- (a delete, a new target or expiry, a removed row). Triggers keep it, so
-- every process and every version writing this file bumps it in the same
-- transaction as the change; processes poll it to empty their caches.
CREATE TABLE link_changes (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO link_changes (id, seq) VALUES (1, 0);

CREATE TRIGGER links_changed_update AFTER UPDATE OF url, expires_at, deleted_at ON links
WHEN NEW.url IS NOT OLD.url OR NEW.expires_at IS NOT OLD.expires_at OR NEW.deleted_at IS NOT OLD.deleted_at
BEGIN
    UPDATE link_changes SET seq = seq + 1 WHERE id = 1;
END;

CREATE TRIGGER links_changed_delete AFTER DELETE ON links
BEGIN
    UPDATE link_changes SET seq = seq + 1 WHERE id = 1;
END;
