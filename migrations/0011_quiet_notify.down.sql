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
