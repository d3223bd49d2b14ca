-- A call's sentiment, as its latest summary gives it, kept on the call. Filtering calls by
-- sentiment was a subquery per call for the latest summary, whose selectivity the planner
-- guessed: a search with a sentiment could not read the newest calls a window at a time, and
-- walked them checking each (110 ms p95 at 1 M calls).
--
-- Adding a column with no default changes the catalog only; the calls that already have a
-- summary are filled in by 0020 and the index built by 0021, outside this transaction, so
-- that the table's exclusive lock lasts milliseconds (one transaction took 27 s at 1 M calls).
ALTER TABLE calls ADD COLUMN sentiment text;

-- The latest summary is the newest by (created_at, id). Summaries of one call written at once
-- take the call's row lock in turn; the newer-summary check runs after the lock, with a new
-- snapshot, so an older summary committed last cannot overwrite a newer one's sentiment.
CREATE FUNCTION summaries_set_call_sentiment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM calls WHERE id = NEW.call_id FOR NO KEY UPDATE;
    UPDATE calls SET sentiment = NEW.content->>'customer_sentiment'
    WHERE id = NEW.call_id
      AND sentiment IS DISTINCT FROM NEW.content->>'customer_sentiment'
      AND NOT EXISTS (SELECT 1 FROM summaries s
                      WHERE s.call_id = NEW.call_id AND (s.created_at, s.id) > (NEW.created_at, NEW.id));
    RETURN NULL;
END;
$$;

CREATE TRIGGER summaries_call_sentiment
    AFTER INSERT ON summaries
    FOR EACH ROW EXECUTE FUNCTION summaries_set_call_sentiment();
