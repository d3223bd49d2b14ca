-- Every word of a call, one row per call, beside the facets a search narrows calls by.
--
-- The full-text indexes are per text (a segment, a summary, the call's name and issue) and the
-- filters per call, so a search for an uncommon word among an agent's calls, a sentiment's or
-- a transfer outcome's read a page or more for every call passing the filter (85–205 ms p95
-- at 1 M calls). Here the word's calls and the filter's are entries of one GIN index, and'ed
-- before any row is read. The words are positionless and a union of the call's texts, so for
-- a term of several words they only narrow the calls down, and a search checks their texts.
--
-- A table of its own, not a column of `calls`: every update of a call that changes an indexed
-- column would reinsert all its words into the index, and its status changes several times.
-- The rows are kept by triggers in the writing transaction; the calls stored before this
-- migration are filled in by 0023 and the index built by 0024, outside any long lock.
CREATE TABLE call_words (
    call_id    uuid        PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
    -- The call's, so that a page of matches is found here and only its calls are read.
    created_at timestamptz NOT NULL,
    -- `agent:<identity>` for each of `calls.agents`, `sentiment:<sentiment>` for
    -- `calls.sentiment`, and for each transfer that ended with an outcome
    -- `transfer:<state>:<outcome>`, `transfer_state:<state>` and `transfer_outcome:<outcome>`.
    facets     text[]      NOT NULL,
    words      tsvector    NOT NULL
);

-- A call's own facets (those of its transfers are added by their trigger).
CREATE FUNCTION call_facets(agents text[], sentiment text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY(SELECT 'agent:' || a FROM unnest(agents) AS a)
           || CASE WHEN sentiment IS NULL THEN '{}'::text[] ELSE ARRAY['sentiment:' || sentiment] END
$$;

-- A new call's row, and its facets, name and issue as they change. Words are only added: a
-- call's name and issue do not change once written, segments and summaries are never edited
-- or deleted, and searches rely on a call's words being exactly its texts'. A change to that
-- must rebuild the call's words.
CREATE FUNCTION call_words_keep_call() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO call_words (call_id, created_at, facets, words)
        VALUES (NEW.id, NEW.created_at, call_facets(NEW.agents, NEW.sentiment), strip(NEW.search));
    ELSE
        UPDATE call_words
        SET facets = ARRAY(SELECT f FROM unnest(facets) AS f
                           WHERE f NOT LIKE 'agent:%' AND f NOT LIKE 'sentiment:%')
                     || call_facets(NEW.agents, NEW.sentiment),
            words = words || strip(NEW.search)
        WHERE call_id = NEW.id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER calls_words_insert
    AFTER INSERT ON calls
    FOR EACH ROW EXECUTE FUNCTION call_words_keep_call();

CREATE TRIGGER calls_words_update
    AFTER UPDATE ON calls
    FOR EACH ROW
    WHEN (OLD.agents IS DISTINCT FROM NEW.agents OR OLD.sentiment IS DISTINCT FROM NEW.sentiment
          OR OLD.search IS DISTINCT FROM NEW.search)
    EXECUTE FUNCTION call_words_keep_call();

-- A transfer's facets, once it ends with an outcome (terminal: they never change after). A
-- transfer completed has none, and its state is found otherwise.
CREATE FUNCTION transfer_facets(state text, outcome text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['transfer:' || state || ':' || outcome, 'transfer_state:' || state,
                 'transfer_outcome:' || outcome]
$$;

CREATE FUNCTION call_words_add_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE call_words
    SET facets = facets || transfer_facets(NEW.state::text, NEW.outcome)
    WHERE call_id = NEW.call_id AND NOT facets @> transfer_facets(NEW.state::text, NEW.outcome);
    RETURN NULL;
END;
$$;

CREATE TRIGGER transfers_words
    AFTER INSERT OR UPDATE OF state, outcome ON transfers
    FOR EACH ROW WHEN (NEW.outcome IS NOT NULL) EXECUTE FUNCTION call_words_add_transfer();

-- The words of a statement's new segments or summaries, added to their calls'. A call's later
-- segments mostly repeat words it has: then its row is left alone, with no new version and no
-- index entry. Two writers to one call both add theirs: the second's update is evaluated again
-- on the first's committed row.
CREATE FUNCTION call_words_add_texts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE call_words w SET words = w.words || added.words
    FROM (SELECT call_id, array_to_tsvector(array_agg(DISTINCT lexeme)) AS words
          FROM new_texts, unnest(new_texts.search)
          GROUP BY call_id) AS added
    WHERE w.call_id = added.call_id
      AND NOT tsvector_to_array(w.words) @> tsvector_to_array(added.words);
    RETURN NULL;
END;
$$;

CREATE TRIGGER transcript_segments_words
    AFTER INSERT ON transcript_segments
    REFERENCING NEW TABLE AS new_texts
    FOR EACH STATEMENT EXECUTE FUNCTION call_words_add_texts();

CREATE TRIGGER summaries_words
    AFTER INSERT ON summaries
    REFERENCING NEW TABLE AS new_texts
    FOR EACH STATEMENT EXECUTE FUNCTION call_words_add_texts();
