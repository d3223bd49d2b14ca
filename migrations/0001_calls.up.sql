-- Calls, their transcripts and the append-only event log every timeline, replay and live
-- stream is built from. Every constraint is named: the API maps errors by these names.

CREATE TABLE calls (
    id             uuid        PRIMARY KEY,
    room_name      text        NOT NULL CONSTRAINT calls_room_name_key UNIQUE,
    caller_name    text        NOT NULL CONSTRAINT calls_caller_name_not_blank CHECK (btrim(caller_name) <> ''),
    caller_identity text       NOT NULL,
    caller_phone   text,
    issue          text,
    metadata       jsonb       NOT NULL DEFAULT '{}'::jsonb
                               CONSTRAINT calls_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
    status         text        NOT NULL DEFAULT 'waiting'
                               CONSTRAINT calls_status_known CHECK (status IN ('waiting', 'active', 'transferring', 'ended')),
    current_agent  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    ended_at       timestamptz,
    CONSTRAINT calls_ended_at_iff_ended CHECK ((status = 'ended') = (ended_at IS NOT NULL))
);

-- Listing is newest first with a (created_at, id) cursor.
CREATE INDEX calls_created_idx ON calls (created_at DESC, id DESC);
CREATE INDEX calls_caller_idx ON calls (lower(caller_name), created_at DESC);
CREATE INDEX calls_status_idx ON calls (status, created_at DESC);

CREATE TABLE transcript_segments (
    -- Arrival order, the tie-breaker when two segments share a start offset.
    seq         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id     uuid        NOT NULL CONSTRAINT transcript_segments_call_fk REFERENCES calls (id) ON DELETE CASCADE,
    segment_id  text        NOT NULL,
    speaker     text        NOT NULL,
    role        text        NOT NULL CONSTRAINT transcript_segments_role_known CHECK (role IN ('caller', 'agent', 'system')),
    text        text        NOT NULL,
    start_ms    bigint      NOT NULL CONSTRAINT transcript_segments_start_nonnegative CHECK (start_ms >= 0),
    end_ms      bigint      CONSTRAINT transcript_segments_end_after_start CHECK (end_ms IS NULL OR end_ms >= start_ms),
    spoken_at   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    search      tsvector    GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
    -- A client retrying a batch re-sends the same ids: they must not become new rows.
    CONSTRAINT transcript_segments_call_segment_key UNIQUE (call_id, segment_id)
);

CREATE INDEX transcript_segments_order_idx ON transcript_segments (call_id, start_ms, seq);
CREATE INDEX transcript_segments_search_idx ON transcript_segments USING gin (search);

-- The append-only log. Rows are written by triggers only, never changed.
CREATE TABLE events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id     uuid        NOT NULL,
    transfer_id uuid,
    kind        text        NOT NULL,
    data        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX events_call_idx ON events (call_id, id);

CREATE FUNCTION events_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % is not allowed', TG_OP
        USING ERRCODE = 'WL002';
END;
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_forbid_change();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_forbid_change();

-- Live listeners (SSE, workers) learn of each event without polling.
CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('warmline_events', json_build_object(
        'id', NEW.id, 'call_id', NEW.call_id, 'transfer_id', NEW.transfer_id, 'kind', NEW.kind)::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_notify_after_insert
    AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_notify();

CREATE FUNCTION calls_record_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO events (call_id, kind, data)
        VALUES (NEW.id, 'call.created', jsonb_build_object(
            'caller_name', NEW.caller_name, 'room_name', NEW.room_name, 'status', NEW.status));
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO events (call_id, kind, data)
        VALUES (NEW.id, CASE NEW.status WHEN 'ended' THEN 'call.ended' ELSE 'call.status_changed' END,
                jsonb_build_object('from', OLD.status, 'to', NEW.status, 'current_agent', NEW.current_agent));
    ELSIF NEW.current_agent IS DISTINCT FROM OLD.current_agent THEN
        INSERT INTO events (call_id, kind, data)
        VALUES (NEW.id, 'call.agent_changed',
                jsonb_build_object('from', OLD.current_agent, 'to', NEW.current_agent));
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER calls_events
    AFTER INSERT OR UPDATE ON calls
    FOR EACH ROW EXECUTE FUNCTION calls_record_event();

-- One event per appended batch, counting only rows really inserted (retried ids are skipped).
CREATE FUNCTION transcript_record_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (call_id, kind, data)
    SELECT call_id, 'transcript.appended',
           jsonb_build_object('segments', count(*), 'first_start_ms', min(start_ms), 'last_start_ms', max(start_ms))
    FROM new_segments
    GROUP BY call_id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER transcript_segments_events
    AFTER INSERT ON transcript_segments
    REFERENCING NEW TABLE AS new_segments
    FOR EACH STATEMENT EXECUTE FUNCTION transcript_record_event();
