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
