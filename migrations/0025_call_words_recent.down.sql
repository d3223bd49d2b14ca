-- Every call's gathered words back into its row, then the one-row-per-call trigger of 0022.
DROP TRIGGER calls_words_ended ON calls;
DROP FUNCTION call_words_settle_ended();
UPDATE call_words w SET words = w.words || r.words FROM call_words_recent r WHERE r.call_id = w.call_id;

CREATE OR REPLACE FUNCTION call_words_add_texts() RETURNS trigger LANGUAGE plpgsql AS $$
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

DROP FUNCTION call_words_settle(uuid);
DROP FUNCTION call_words_batch();
DROP FUNCTION call_words_short();
DROP TABLE call_words_recent;
