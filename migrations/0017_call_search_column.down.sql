DROP INDEX IF EXISTS calls_search_idx;
ALTER TABLE calls DROP COLUMN IF EXISTS search;
CREATE INDEX calls_search_idx ON calls
    USING gin (to_tsvector('simple', caller_name || ' ' || COALESCE(issue, '')));
