-- What clients say is in a room (the prototype's POST /room/participants). Kept beside the
-- webhook-tracked membership, never mixed into it: LiveKit's word is the record.
CREATE TABLE room_reports (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room         text        NOT NULL,
    participants text[]      NOT NULL,
    reported_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX room_reports_room_idx ON room_reports (room, id DESC);
