-- no-transaction
-- `call_words_idx` with each call's day (UTC) as a third column. GIN returns no order, so a
-- search of a word in a few thousand calls read every one of their rows to find its newest
-- page (~2,000 rows and 140 ms for a word in 0.2 % of 1 M calls, with the rows on disk); with
-- the day in the index, it asks for the word within the newest days, a span at a time, and
-- reads about a page of rows. `date(created_at AT TIME ZONE 'UTC')` is immutable, so it can
-- be indexed; queries must spell it the same way. Built without blocking writes; 0027 drops
-- the index this one replaces (any query of words and facets alone can use this one).
CREATE INDEX CONCURRENTLY IF NOT EXISTS call_words_day_idx
    ON call_words USING gin (words, facets, (ARRAY[date(created_at AT TIME ZONE 'UTC')]));
