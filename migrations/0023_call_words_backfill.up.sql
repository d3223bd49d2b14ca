-- no-transaction
-- The words and facets of the calls stored before 0022, 5,000 calls per transaction, in id
-- order, so that no call stays locked long while the service runs. Each batch first locks its
-- calls `FOR UPDATE`, so that segments and summaries being written to them (which take a
-- key-share lock on their call) finish before it reads and later ones wait for it, then find
-- its row and add their words themselves; it locks their transfers too, for the same reason.
-- Calls made since 0022 have their row already. Run again after a failure, it goes over every
-- call and skips those with a row.
DO $$
DECLARE
    ids uuid[];
    done uuid := '00000000-0000-0000-0000-000000000000';
BEGIN
    LOOP
        SELECT array_agg(id ORDER BY id) INTO ids
        FROM (SELECT id FROM calls WHERE id > done ORDER BY id LIMIT 5000) AS batch;
        EXIT WHEN ids IS NULL;
        done := ids[cardinality(ids)];
        PERFORM 1 FROM calls WHERE id = ANY(ids) ORDER BY id FOR UPDATE;
        PERFORM 1 FROM transfers WHERE call_id = ANY(ids) ORDER BY id FOR NO KEY UPDATE;
        INSERT INTO call_words (call_id, created_at, facets, words)
        SELECT c.id, c.created_at,
               call_facets(c.agents, c.sentiment) || COALESCE(ended.facets, '{}'),
               strip(c.search) || COALESCE(texts.words, '')
        FROM calls c
        LEFT JOIN (SELECT call_id, array_to_tsvector(array_agg(DISTINCT lexeme)) AS words
                   FROM (SELECT call_id, search FROM transcript_segments WHERE call_id = ANY(ids)
                         UNION ALL
                         SELECT call_id, search FROM summaries WHERE call_id = ANY(ids)) AS t,
                        unnest(t.search)
                   GROUP BY call_id) AS texts ON texts.call_id = c.id
        LEFT JOIN (SELECT call_id, array_agg(DISTINCT f) AS facets
                   FROM transfers, unnest(transfer_facets(state::text, outcome)) AS f
                   WHERE call_id = ANY(ids) AND outcome IS NOT NULL
                   GROUP BY call_id) AS ended ON ended.call_id = c.id
        WHERE c.id = ANY(ids)
        ON CONFLICT (call_id) DO NOTHING;
        COMMIT;
    END LOOP;
END;
$$;
