-- QA reviews of transfers, scored on versioned scorecards. Both are append-only: a scorecard
-- changes by a new version, a review by a new row that supersedes it, so a score always means
-- what the criteria said when it was given.

CREATE TABLE scorecards (
    name       text        NOT NULL
                           CONSTRAINT scorecards_name_valid CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    version    integer     NOT NULL CONSTRAINT scorecards_version_positive CHECK (version > 0),
    -- [{key, label, weight, scale: {min, max}}], checked by the service before it is stored.
    criteria   jsonb       NOT NULL
                           CONSTRAINT scorecards_criteria_not_empty CHECK (jsonb_typeof(criteria) = 'array' AND jsonb_array_length(criteria) > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- The key that wrote this version; none in open mode.
    created_by uuid        CONSTRAINT scorecards_created_by_fk REFERENCES api_keys (id),
    CONSTRAINT scorecards_pkey PRIMARY KEY (name, version)
);

CREATE TABLE reviews (
    id                uuid        PRIMARY KEY,
    transfer_id       uuid        NOT NULL CONSTRAINT reviews_transfer_fk REFERENCES transfers (id),
    call_id           uuid        NOT NULL CONSTRAINT reviews_call_fk REFERENCES calls (id),
    scorecard_name    text        NOT NULL,
    scorecard_version integer     NOT NULL,
    -- Who reviewed, as shown and filtered on; `reviewer_key_id` is the key that wrote it,
    -- which decides who may revise it.
    reviewer          text        NOT NULL CONSTRAINT reviews_reviewer_not_blank CHECK (btrim(reviewer) <> ''),
    reviewer_key_id   uuid        CONSTRAINT reviews_reviewer_key_fk REFERENCES api_keys (id),
    -- {criterion key: integer score}, checked against the scorecard version by the service.
    scores            jsonb       NOT NULL CONSTRAINT reviews_scores_is_object CHECK (jsonb_typeof(scores) = 'object'),
    -- Weighted, normalised to 0–100 from the scorecard's scales.
    total             numeric(5, 2) NOT NULL CONSTRAINT reviews_total_in_range CHECK (total BETWEEN 0 AND 100),
    notes             text,
    -- A moment of the replay the review is about: an offset, or a transcript segment.
    at_ms             bigint      CONSTRAINT reviews_at_ms_nonnegative CHECK (at_ms >= 0),
    segment_id        text,
    supersedes        uuid        CONSTRAINT reviews_supersedes_key UNIQUE,
    superseded_by     uuid        CONSTRAINT reviews_superseded_by_key UNIQUE,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT reviews_id_transfer_key UNIQUE (id, transfer_id),
    CONSTRAINT reviews_scorecard_fk FOREIGN KEY (scorecard_name, scorecard_version)
        REFERENCES scorecards (name, version),
    -- The segment must be one of this call's.
    CONSTRAINT reviews_segment_fk FOREIGN KEY (call_id, segment_id)
        REFERENCES transcript_segments (call_id, segment_id),
    -- A revision is of a review of the same transfer.
    CONSTRAINT reviews_supersedes_fk FOREIGN KEY (supersedes, transfer_id)
        REFERENCES reviews (id, transfer_id),
    CONSTRAINT reviews_superseded_by_fk FOREIGN KEY (superseded_by) REFERENCES reviews (id),
    CONSTRAINT reviews_one_moment CHECK (at_ms IS NULL OR segment_id IS NULL)
);

-- Listing is newest first with a (created_at, id) cursor; the filters narrow it.
CREATE INDEX reviews_created_idx ON reviews (created_at DESC, id DESC);
CREATE INDEX reviews_transfer_idx ON reviews (transfer_id, created_at DESC);
CREATE INDEX reviews_reviewer_idx ON reviews (reviewer, created_at DESC);
CREATE INDEX reviews_scorecard_idx ON reviews (scorecard_name, scorecard_version);
CREATE INDEX reviews_total_idx ON reviews (total);
-- The queue asks "has this transfer a current review?".
CREATE INDEX reviews_current_idx ON reviews (transfer_id) WHERE superseded_by IS NULL;

CREATE FUNCTION scorecards_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'scorecards are append-only: add a version instead of %', TG_OP
        USING ERRCODE = 'WL002';
END;
$$;

CREATE TRIGGER scorecards_append_only
    BEFORE UPDATE OR DELETE ON scorecards
    FOR EACH ROW EXECUTE FUNCTION scorecards_forbid_change();

CREATE TRIGGER scorecards_no_truncate
    BEFORE TRUNCATE ON scorecards
    FOR EACH STATEMENT EXECUTE FUNCTION scorecards_forbid_change();

-- The one change a review allows: `superseded_by` set once, to the revision that names it.
CREATE FUNCTION reviews_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.superseded_by IS NULL
       AND NEW.superseded_by IS NOT NULL
       AND to_jsonb(NEW) - 'superseded_by' = to_jsonb(OLD) - 'superseded_by'
       AND EXISTS (SELECT 1 FROM reviews WHERE id = NEW.superseded_by AND supersedes = OLD.id) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'reviews are append-only: % is not allowed; post a revision instead', TG_OP
        USING ERRCODE = 'WL002';
END;
$$;

CREATE TRIGGER reviews_append_only
    BEFORE UPDATE OR DELETE ON reviews
    FOR EACH ROW EXECUTE FUNCTION reviews_forbid_change();

CREATE TRIGGER reviews_no_truncate
    BEFORE TRUNCATE ON reviews
    FOR EACH STATEMENT EXECUTE FUNCTION reviews_forbid_change();

-- A revision marks the review it replaces, in the same statement, so no reader ever sees two
-- current reviews where one supersedes the other; and it goes on the call's timeline.
CREATE FUNCTION reviews_record_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.supersedes IS NOT NULL THEN
        UPDATE reviews SET superseded_by = NEW.id
        WHERE id = NEW.supersedes AND superseded_by IS NULL;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'review % is already superseded', NEW.supersedes
                USING ERRCODE = 'WL002';
        END IF;
    END IF;
    INSERT INTO events (call_id, transfer_id, kind, data)
    VALUES (NEW.call_id, NEW.transfer_id, 'review.created', jsonb_build_object(
        'review_id', NEW.id, 'reviewer', NEW.reviewer, 'total', NEW.total,
        'scorecard', NEW.scorecard_name, 'scorecard_version', NEW.scorecard_version,
        'supersedes', NEW.supersedes));
    RETURN NULL;
END;
$$;

CREATE TRIGGER reviews_events
    AFTER INSERT ON reviews
    FOR EACH ROW EXECUTE FUNCTION reviews_record_created();
