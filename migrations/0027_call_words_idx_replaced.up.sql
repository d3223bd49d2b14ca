-- no-transaction
-- `call_words_day_idx` (0026) serves every query this index served: one GIN index per row
-- is enough to write.
DROP INDEX CONCURRENTLY IF EXISTS call_words_idx;
