DROP INDEX IF EXISTS calls_open_idx;
DROP INDEX IF EXISTS calls_search_idx;
