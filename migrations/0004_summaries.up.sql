-- Call summaries and briefing scripts. A better summary is a new row, never an edit: QA must
-- see exactly what Agent B was given, and when.

CREATE TABLE summaries (
    id                uuid        PRIMARY KEY,
    call_id           uuid        NOT NULL CONSTRAINT summaries_call_fk REFERENCES calls (id) ON DELETE CASCADE,
    transfer_id       uuid        CONSTRAINT summaries_transfer_fk REFERENCES transfers (id) ON DELETE CASCADE,
    -- `extractive` (local, deterministic) or `openai_compatible` (a model behind a chat API).
    provider          text        NOT NULL CONSTRAINT summaries_provider_known CHECK (provider IN ('extractive', 'openai_compatible')),
    model             text        NOT NULL,
    prompt_version    text        NOT NULL,
    -- reason_for_call, key_facts, actions_taken, open_questions, customer_sentiment,
    -- suggested_next_steps, briefing_script.
    content           jsonb       NOT NULL CONSTRAINT summaries_content_is_object CHECK (jsonb_typeof(content) = 'object'),
    summary_text      text        NOT NULL,
    briefing_script   text        NOT NULL,
    -- The local summary standing in for a model that is pending, failed or answered badly.
    fallback          boolean     NOT NULL,
    -- Why the model's answer is not the one stored, when it is not.
    error             text,
    latency_ms        integer,
    prompt_tokens     integer,
    completion_tokens integer,
    -- How many transcript segments the summary was written from.
    segments_used     integer     NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    search            tsvector    GENERATED ALWAYS AS (to_tsvector('simple', summary_text || ' ' || briefing_script)) STORED
);

CREATE INDEX summaries_call_idx ON summaries (call_id, created_at DESC, id DESC);
CREATE INDEX summaries_transfer_idx ON summaries (transfer_id, created_at DESC);
CREATE INDEX summaries_search_idx ON summaries USING gin (search);

CREATE FUNCTION summaries_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'summaries are never changed: write a new one' USING ERRCODE = 'WL002';
END;
$$;

CREATE TRIGGER summaries_immutable
    BEFORE UPDATE ON summaries
    FOR EACH ROW EXECUTE FUNCTION summaries_forbid_change();

CREATE FUNCTION summaries_record_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (call_id, transfer_id, kind, data)
    VALUES (NEW.call_id, NEW.transfer_id, 'summary.created', jsonb_strip_nulls(jsonb_build_object(
        'summary_id', NEW.id, 'provider', NEW.provider, 'model', NEW.model,
        'fallback', NEW.fallback, 'error', NEW.error)));
    RETURN NULL;
END;
$$;

CREATE TRIGGER summaries_events
    AFTER INSERT ON summaries
    FOR EACH ROW EXECUTE FUNCTION summaries_record_event();
