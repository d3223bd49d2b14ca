CREATE OR REPLACE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('warmline_events', json_build_object(
        'id', NEW.id, 'call_id', NEW.call_id, 'transfer_id', NEW.transfer_id, 'kind', NEW.kind)::text);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('warmline_jobs', NEW.id::text);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION transfers_cancel_timers() RETURNS trigger LANGUAGE plpgsql AS $$
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
