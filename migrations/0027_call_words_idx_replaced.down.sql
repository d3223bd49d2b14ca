-- no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS call_words_idx ON call_words USING gin (words, facets);
