-- A long call's newest words, beside its row in `call_words`.
--
-- A word added to a call's row writes a new version of the row, and GIN enters every word of
-- the call again: a call streamed one segment per statement (300 segments, 1,248 lexemes)
-- wrote 15 times the WAL of its segments, 25 times for 1,000 segments, and a call's
-- hundredth batch cost its whole vocabulary. Once a call's row holds 128 lexemes, the words
-- a statement brings that the call lacks gather here instead, in a row that only its key
-- indexes (updated in place, with no index entry; kept inline up to 8 kB rather than
-- toasted), and move into `call_words` when 256 have gathered and when the call ends. A
-- search looks at these rows beside the index: they are few (open calls longer than a few
-- minutes) and short.
--
-- The words of `call_words` and of its row here, together, are exactly the call's texts'.
-- Rows are written only while the call is open, under the call's row lock, which ending the
-- call takes too: a call that has ended has none.
CREATE TABLE call_words_recent (
    call_id uuid     PRIMARY KEY REFERENCES call_words (call_id) ON DELETE CASCADE,
    words   tsvector NOT NULL
) WITH (toast_tuple_target = 8160);

-- How many lexemes a call's row holds before its new words go to `call_words_recent`: a short
-- call's rewrites enter at most this many words in the index.
CREATE FUNCTION call_words_short() RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 128';

-- How many lexemes gather in `call_words_recent` before they move to the call's row, whose
-- rewrite enters all its words in the index again: one rewrite per this many new words.
CREATE FUNCTION call_words_batch() RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 256';

-- The words of a statement's new segments or summaries, added to their calls'. A call's later
-- segments mostly repeat words it has: then nothing is written. Writers of segments and
-- summaries hold their call's row lock (the transcript's append takes it, a summary's
-- sentiment trigger too), so this sees the call's words as the last of them left them.
CREATE OR REPLACE FUNCTION call_words_add_texts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    added record;
    open boolean;
    gathered integer;
BEGIN
    FOR added IN
        SELECT n.call_id, missing.words, length(w.words) AS kept
        FROM (SELECT call_id, array_to_tsvector(array_agg(DISTINCT lexeme)) AS words
              FROM new_texts, unnest(new_texts.search)
              GROUP BY call_id) AS n
        JOIN call_words w ON w.call_id = n.call_id
        LEFT JOIN call_words_recent r ON r.call_id = n.call_id
        CROSS JOIN LATERAL (
            SELECT ts_delete(ts_delete(n.words, tsvector_to_array(w.words)),
                             COALESCE(tsvector_to_array(r.words), '{}')) AS words) AS missing
        WHERE length(missing.words) > 0
    LOOP
        open := false;
        IF added.kept >= call_words_short() THEN
            PERFORM 1 FROM calls WHERE id = added.call_id AND status <> 'ended' FOR NO KEY UPDATE;
            open := FOUND;
        END IF;
        -- A short call's words, and an ended call's (a segment in the transcript's grace
        -- period, a late summary), go to its row.
        IF NOT open THEN
            UPDATE call_words SET words = words || added.words WHERE call_id = added.call_id;
            CONTINUE;
        END IF;
        INSERT INTO call_words_recent AS r (call_id, words) VALUES (added.call_id, added.words)
        ON CONFLICT (call_id) DO UPDATE SET words = r.words || excluded.words
        RETURNING length(r.words) INTO gathered;
        IF gathered >= call_words_batch() THEN
            PERFORM call_words_settle(added.call_id);
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;

-- Moves a call's gathered words into its row.
CREATE FUNCTION call_words_settle(uuid) RETURNS void LANGUAGE sql AS $$
    WITH moved AS (DELETE FROM call_words_recent WHERE call_id = $1 RETURNING words)
    UPDATE call_words w SET words = w.words || moved.words FROM moved WHERE w.call_id = $1
$$;

CREATE FUNCTION call_words_settle_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM call_words_settle(NEW.id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER calls_words_ended
    AFTER UPDATE OF status ON calls
    FOR EACH ROW WHEN (NEW.status = 'ended' AND OLD.status <> 'ended')
    EXECUTE FUNCTION call_words_settle_ended();
