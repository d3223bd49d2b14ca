-- no-transaction
-- A term's calls and a filter's, as entries of one index that GIN ands itself; built without
-- blocking writes. A build cut short leaves an invalid index, which searches do not use (they
-- are slower, not wrong) and this keeps: drop it and restart to build it again.
CREATE INDEX CONCURRENTLY IF NOT EXISTS call_words_idx ON call_words USING gin (words, facets);
