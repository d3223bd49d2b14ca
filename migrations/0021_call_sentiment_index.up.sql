-- no-transaction
-- A sentiment's newest calls, read in order a window at a time by a search; built without
-- blocking writes to calls. A build cut short leaves an invalid index, which searches do not
-- use (they are slower, not wrong) and this keeps: drop it and restart to build it again.
CREATE INDEX CONCURRENTLY IF NOT EXISTS calls_sentiment_idx
    ON calls (sentiment, created_at DESC, id DESC) WHERE sentiment IS NOT NULL;
