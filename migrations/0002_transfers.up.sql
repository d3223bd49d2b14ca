-- Transfers and the durable job queue. The transfer state machine lives here, as data: a
-- trigger refuses any change of `transfers.state` that `transfer_transitions` does not list,
-- so no code path (API, worker, webhook, a human with psql) can skip a step.

CREATE TYPE transfer_state AS ENUM (
    'initiated', 'briefing', 'connecting', 'completed',
    'cancelled', 'declined', 'expired', 'failed', 'abandoned'
);

CREATE TABLE transfer_states (
    state    transfer_state PRIMARY KEY,
    terminal boolean        NOT NULL
);

INSERT INTO transfer_states (state, terminal) VALUES
    ('initiated', false), ('briefing', false), ('connecting', false),
    ('completed', true), ('cancelled', true), ('declined', true),
    ('expired', true), ('failed', true), ('abandoned', true);

CREATE TABLE transfer_transitions (
    from_state transfer_state NOT NULL CONSTRAINT transfer_transitions_from_fk REFERENCES transfer_states (state),
    to_state   transfer_state NOT NULL CONSTRAINT transfer_transitions_to_fk REFERENCES transfer_states (state),
    CONSTRAINT transfer_transitions_pkey PRIMARY KEY (from_state, to_state)
);

INSERT INTO transfer_transitions (from_state, to_state) VALUES
    ('initiated', 'briefing'),    -- Agent B accepted, or was seen in the briefing room
    ('initiated', 'declined'),    -- Agent B said no
    ('initiated', 'cancelled'),   -- Agent A withdrew
    ('initiated', 'expired'),     -- nobody accepted in time
    ('initiated', 'abandoned'),   -- the caller left or the call ended
    ('briefing', 'connecting'),   -- Agent A handed the caller over
    ('briefing', 'cancelled'),
    ('briefing', 'abandoned'),
    ('connecting', 'completed'),  -- the receiving side was seen in the room (or A's word)
    ('connecting', 'failed'),     -- hand-off not seen in time, or LiveKit refused it
    ('connecting', 'abandoned');

CREATE TABLE transfers (
    id                uuid           PRIMARY KEY,
    call_id           uuid           NOT NULL CONSTRAINT transfers_call_fk REFERENCES calls (id) ON DELETE CASCADE,
    from_agent        text           NOT NULL,
    to_agent          text           NOT NULL,
    mode              text           NOT NULL CONSTRAINT transfers_mode_known CHECK (mode IN ('consult', 'conference')),
    handoff           text           NOT NULL CONSTRAINT transfers_handoff_known CHECK (handoff IN ('agent_joins_caller', 'move_caller')),
    reason            text,
    state             transfer_state NOT NULL DEFAULT 'initiated',
    -- Why a transfer ended where it did, typed so reports can group outcomes.
    outcome           text           CONSTRAINT transfers_outcome_known CHECK (outcome IN (
                                         'busy', 'wrong_skill', 'other', 'agent_cancelled', 'no_answer',
                                         'livekit_error', 'handoff_timeout', 'caller_left', 'call_ended')),
    outcome_detail    text,
    -- On completion: was the receiving side seen in the room, or taken on Agent A's word?
    handoff_confirmed boolean,
    caller_room       text           NOT NULL,
    briefing_room     text           NOT NULL CONSTRAINT transfers_briefing_room_key UNIQUE,
    -- Where the caller talks to Agent B once the transfer completed.
    final_room        text,
    accept_deadline   timestamptz    NOT NULL,
    handoff_deadline  timestamptz,
    initiated_at      timestamptz    NOT NULL DEFAULT now(),
    briefing_at       timestamptz,
    connecting_at     timestamptz,
    completed_at      timestamptz,
    cancelled_at      timestamptz,
    declined_at       timestamptz,
    expired_at        timestamptz,
    failed_at         timestamptz,
    abandoned_at      timestamptz,
    updated_at        timestamptz    NOT NULL DEFAULT now(),
    CONSTRAINT transfers_not_to_self CHECK (from_agent <> to_agent),
    CONSTRAINT transfers_terminal_has_outcome CHECK (
        state IN ('initiated', 'briefing', 'connecting', 'completed') OR outcome IS NOT NULL)
);

-- At most one transfer of a call is under way; the list must match the non-terminal states.
CREATE UNIQUE INDEX transfers_one_active_per_call ON transfers (call_id)
    WHERE state IN ('initiated', 'briefing', 'connecting');
CREATE INDEX transfers_created_idx ON transfers (initiated_at DESC, id DESC);
CREATE INDEX transfers_call_idx ON transfers (call_id, initiated_at DESC);
CREATE INDEX transfers_to_agent_idx ON transfers (to_agent, initiated_at DESC);
CREATE INDEX transfers_from_agent_idx ON transfers (from_agent, initiated_at DESC);

-- The guard: new transfers start `initiated`; a state changes only along a listed transition.
-- `UPDATE OF state` fires whenever `state` is in the SET list, even to its current value, so
-- two racing `complete`s cannot both "succeed": the second sees connecting -> connecting.
CREATE FUNCTION transfers_guard_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'initiated' THEN
            RAISE EXCEPTION 'none -> %', NEW.state USING ERRCODE = 'WL001';
        END IF;
        NEW.initiated_at := now();
        RETURN NEW;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM transfer_transitions
                   WHERE from_state = OLD.state AND to_state = NEW.state) THEN
        RAISE EXCEPTION '% -> %', OLD.state, NEW.state USING ERRCODE = 'WL001';
    END IF;
    CASE NEW.state
        WHEN 'briefing'   THEN NEW.briefing_at   := now();
        WHEN 'connecting' THEN NEW.connecting_at := now();
        WHEN 'completed'  THEN NEW.completed_at  := now();
        WHEN 'cancelled'  THEN NEW.cancelled_at  := now();
        WHEN 'declined'   THEN NEW.declined_at   := now();
        WHEN 'expired'    THEN NEW.expired_at    := now();
        WHEN 'failed'     THEN NEW.failed_at     := now();
        WHEN 'abandoned'  THEN NEW.abandoned_at  := now();
        ELSE NULL;
    END CASE;
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER transfers_state_machine
    BEFORE INSERT OR UPDATE OF state ON transfers
    FOR EACH ROW EXECUTE FUNCTION transfers_guard_state();

CREATE FUNCTION transfers_record_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO events (call_id, transfer_id, kind, data)
        VALUES (NEW.call_id, NEW.id, 'transfer.initiated', jsonb_build_object(
            'from_agent', NEW.from_agent, 'to_agent', NEW.to_agent, 'mode', NEW.mode,
            'handoff', NEW.handoff, 'reason', NEW.reason, 'briefing_room', NEW.briefing_room));
    ELSIF NEW.state IS DISTINCT FROM OLD.state THEN
        INSERT INTO events (call_id, transfer_id, kind, data)
        VALUES (NEW.call_id, NEW.id, 'transfer.' || NEW.state, jsonb_strip_nulls(jsonb_build_object(
            'from', OLD.state, 'to', NEW.state, 'outcome', NEW.outcome,
            'outcome_detail', NEW.outcome_detail, 'handoff_confirmed', NEW.handoff_confirmed,
            'final_room', NEW.final_room)));
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER transfers_events
    AFTER INSERT OR UPDATE ON transfers
    FOR EACH ROW EXECUTE FUNCTION transfers_record_event();

-- Durable work: LiveKit room operations (the outbox) and timers. A job is written in the same
-- transaction as the state change it carries out, so neither exists without the other.
CREATE TABLE jobs (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text        NOT NULL,
    payload      jsonb       NOT NULL,
    call_id      uuid        NOT NULL CONSTRAINT jobs_call_fk REFERENCES calls (id) ON DELETE CASCADE,
    transfer_id  uuid        CONSTRAINT jobs_transfer_fk REFERENCES transfers (id) ON DELETE CASCADE,
    status       text        NOT NULL DEFAULT 'pending'
                             CONSTRAINT jobs_status_known CHECK (status IN ('pending', 'running', 'done', 'dead')),
    attempts     integer     NOT NULL DEFAULT 0,
    max_attempts integer     NOT NULL CONSTRAINT jobs_max_attempts_positive CHECK (max_attempts > 0),
    run_after    timestamptz NOT NULL DEFAULT now(),
    -- A running job whose lease ran out belongs to a worker that died: it is taken again.
    locked_until timestamptz,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);

CREATE INDEX jobs_due_idx ON jobs (run_after) WHERE status IN ('pending', 'running');
CREATE INDEX jobs_transfer_idx ON jobs (transfer_id);

-- Every attempt, for operators and QA: what was tried, when, and what came of it.
CREATE TABLE job_attempts (
    job_id      bigint      NOT NULL CONSTRAINT job_attempts_job_fk REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     integer     NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    outcome     text        NOT NULL CONSTRAINT job_attempts_outcome_known CHECK (outcome IN ('done', 'retry', 'dead')),
    error       text,
    CONSTRAINT job_attempts_pkey PRIMARY KEY (job_id, attempt, started_at)
);

-- Wake idle workers at once instead of at their next poll.
CREATE FUNCTION jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('warmline_jobs', NEW.id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_notify_after_insert
    AFTER INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_notify();

-- A job that gave up is part of the call's story (a room that was never closed, a participant
-- never removed): put it on the timeline.
CREATE FUNCTION jobs_record_dead() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'dead' AND OLD.status <> 'dead' THEN
        INSERT INTO events (call_id, transfer_id, kind, data)
        VALUES (NEW.call_id, NEW.transfer_id, 'job.failed', jsonb_build_object(
            'job_id', NEW.id, 'job', NEW.kind, 'attempts', NEW.attempts, 'error', NEW.last_error));
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_dead_events
    AFTER UPDATE OF status ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_record_dead();
