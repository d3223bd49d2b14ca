-- One notification per channel per transaction instead of one per row: listeners only need
-- waking (they read the tables), and Postgres folds identical notifications of a transaction
-- into one, which keeps commits that write many events or jobs from queueing on the
-- notification lock.
CREATE OR REPLACE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('warmline_events', '');
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('warmline_jobs', '');
    RETURN NULL;
END;
$$;

-- A transfer that leaves `initiated` can no longer expire: its expiry timer goes at once, not
-- when the transfer ends.
CREATE OR REPLACE FUNCTION transfers_cancel_timers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT terminal FROM transfer_states WHERE state = NEW.state) THEN
        UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now()
        WHERE transfer_id = NEW.id AND status = 'pending'
          AND kind IN ('expire_transfer', 'handoff_timeout', 'confirm_handoff');
    ELSIF OLD.state = 'initiated' THEN
        UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now()
        WHERE transfer_id = NEW.id AND status = 'pending' AND kind = 'expire_transfer';
    END IF;
    RETURN NULL;
END;
$$;
