-- What LiveKit tells us about rooms: every webhook delivery as received, and who was in which
-- room when. Deliveries are at least once and in any order, so every fact here is merged with
-- min/max (a `left` may come before its `joined`), never overwritten by arrival order.

CREATE TABLE webhook_deliveries (
    -- LiveKit's event id: a redelivery collides here and changes nothing.
    event_id    text        PRIMARY KEY,
    event_type  text        NOT NULL,
    room        text,
    -- When LiveKit says the event happened (createdAt), not when it reached us.
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    -- The exact bytes that were signed.
    body        text        NOT NULL,
    result      text        NOT NULL DEFAULT 'received'
                            CONSTRAINT webhook_deliveries_result_known CHECK (result IN ('received', 'applied', 'recorded', 'ignored')),
    detail      text
);

CREATE INDEX webhook_deliveries_room_idx ON webhook_deliveries (room, occurred_at);

-- One row per LiveKit room session (a room name can be reused after it finished).
CREATE TABLE room_sessions (
    room_sid    text        PRIMARY KEY,
    room        text        NOT NULL,
    started_at  timestamptz,
    finished_at timestamptz
);

CREATE INDEX room_sessions_room_idx ON room_sessions (room);

-- One row per participant session: (room, identity, participant sid).
CREATE TABLE participants (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room            text        NOT NULL,
    identity        text        NOT NULL,
    participant_sid text        NOT NULL,
    -- The call the room belongs to, when it is one of ours.
    call_id         uuid        CONSTRAINT participants_call_fk REFERENCES calls (id) ON DELETE CASCADE,
    role            text        NOT NULL DEFAULT 'unknown'
                                CONSTRAINT participants_role_known CHECK (role IN ('caller', 'agent', 'unknown')),
    name            text,
    joined_at       timestamptz,
    left_at         timestamptz,
    CONSTRAINT participants_session_key UNIQUE (room, identity, participant_sid)
);

CREATE INDEX participants_room_idx ON participants (room, joined_at);
CREATE INDEX participants_call_idx ON participants (call_id, joined_at);

-- A participant's comings and goings are part of the call's story.
CREATE FUNCTION participants_record_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.call_id IS NULL THEN
        RETURN NULL;
    END IF;
    IF NEW.joined_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.joined_at IS NULL) THEN
        INSERT INTO events (call_id, kind, data)
        VALUES (NEW.call_id, 'participant.joined', jsonb_build_object(
            'room', NEW.room, 'identity', NEW.identity, 'participant_sid', NEW.participant_sid,
            'role', NEW.role, 'at', NEW.joined_at));
    END IF;
    IF NEW.left_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.left_at IS NULL) THEN
        INSERT INTO events (call_id, kind, data)
        VALUES (NEW.call_id, 'participant.left', jsonb_build_object(
            'room', NEW.room, 'identity', NEW.identity, 'participant_sid', NEW.participant_sid,
            'role', NEW.role, 'at', NEW.left_at));
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER participants_events
    AFTER INSERT OR UPDATE ON participants
    FOR EACH ROW EXECUTE FUNCTION participants_record_event();
