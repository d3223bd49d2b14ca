CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('warmline_events', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_notify_after_insert
    AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_notify();

CREATE FUNCTION jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('warmline_jobs', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_notify_after_insert
    AFTER INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_notify();
