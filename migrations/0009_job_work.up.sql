-- Less queue work per transfer.
--
-- A transfer that ends no longer leaves its timers to run later as no-ops: they are cancelled
-- in the transaction that ends it. Hand-offs are confirmed by webhooks and by one presence
-- check per interval over every `connecting` transfer (found through the partial index below),
-- instead of a job per transfer claimed and released every interval.

ALTER TABLE jobs DROP CONSTRAINT jobs_status_known;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_known
    CHECK (status IN ('pending', 'running', 'done', 'dead', 'cancelled'));

CREATE FUNCTION transfers_cancel_timers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (SELECT terminal FROM transfer_states WHERE state = NEW.state) THEN
        RETURN NULL;
    END IF;
    UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now()
    WHERE transfer_id = NEW.id AND status = 'pending'
      AND kind IN ('expire_transfer', 'handoff_timeout', 'confirm_handoff');
    RETURN NULL;
END;
$$;

CREATE TRIGGER transfers_cancel_timers
    AFTER UPDATE OF state ON transfers
    FOR EACH ROW
    WHEN (NEW.state IS DISTINCT FROM OLD.state)
    EXECUTE FUNCTION transfers_cancel_timers();

CREATE INDEX transfers_connecting_idx ON transfers (handoff_deadline) WHERE state = 'connecting';
