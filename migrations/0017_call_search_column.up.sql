-- The call's own searchable text is a stored column, as it is for segments and summaries.
--
-- A search for a word too common to gather its matches walks the newest calls and checks
-- each one; computing the call's vector from its name and issue there cost more than checking
-- its segments and summaries together (~11 µs a call). Each change of a call already computed
-- it once, for `calls_search_idx`; now it is computed once and kept.
--
-- Adding a stored generated column rewrites the table (about half a minute per million calls
-- on a small machine), under an exclusive lock.
ALTER TABLE calls ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', caller_name || ' ' || COALESCE(issue, ''))) STORED;
DROP INDEX calls_search_idx;
CREATE INDEX calls_search_idx ON calls USING gin (search);
