-- no-transaction
-- The sentiment of the calls summarized before 0019, 5,000 calls per transaction, so that no
-- call stays locked long while the service runs (summaries written meanwhile set their call's
-- sentiment themselves). Each batch locks its calls first: the update after the lock sees
-- every summary committed before it, and a summary written meanwhile waits for the batch and
-- then sets the sentiment itself. Run again after a failure, it rewrites only what differs.
DO $$
DECLARE
    ids uuid[];
    done uuid := '00000000-0000-0000-0000-000000000000';
BEGIN
    LOOP
        SELECT array_agg(call_id ORDER BY call_id) INTO ids
        FROM (SELECT DISTINCT call_id FROM summaries WHERE call_id > done
              ORDER BY call_id LIMIT 5000) AS batch;
        EXIT WHEN ids IS NULL;
        done := ids[cardinality(ids)];
        PERFORM 1 FROM calls WHERE id = ANY(ids) ORDER BY id FOR NO KEY UPDATE;
        UPDATE calls SET sentiment = latest.sentiment
        FROM (SELECT DISTINCT ON (call_id) call_id, content->>'customer_sentiment' AS sentiment
              FROM summaries WHERE call_id = ANY(ids)
              ORDER BY call_id, created_at DESC, id DESC) AS latest
        WHERE calls.id = latest.call_id AND calls.sentiment IS DISTINCT FROM latest.sentiment;
        COMMIT;
    END LOOP;
END;
$$;
