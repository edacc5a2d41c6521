-- A counter of changes to stored links that a cached redirect must not hide
-- (a delete, a new target or expiry, a removed row), kept by triggers in the
-- same transaction as the change, whichever replica or release made it.
-- Each change is also announced on the channel shortener_link_changes as
-- "<seq> <code>" when it commits: replicas LISTEN and drop that code from
-- their cache at once; the counter is the fallback they poll, and a gap in
-- the announced numbers tells them a notification was lost.
CREATE TABLE link_changes (
    id  integer PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
);
INSERT INTO link_changes (id, seq) VALUES (1, 0);

CREATE FUNCTION shortener_link_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
BEGIN
    UPDATE link_changes SET seq = seq + 1 WHERE id = 1 RETURNING seq INTO s;
    PERFORM pg_notify('shortener_link_changes', s::text || ' ' || OLD.code);
    RETURN NULL;
END
$$;

CREATE TRIGGER links_changed_update AFTER UPDATE OF url, expires_at, deleted_at ON links
FOR EACH ROW
WHEN (NEW.url IS DISTINCT FROM OLD.url OR NEW.expires_at IS DISTINCT FROM OLD.expires_at OR NEW.deleted_at IS DISTINCT FROM OLD.deleted_at)
EXECUTE FUNCTION shortener_link_changed();

CREATE TRIGGER links_changed_delete AFTER DELETE ON links
FOR EACH ROW EXECUTE FUNCTION shortener_link_changed();
