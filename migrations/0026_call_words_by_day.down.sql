DROP INDEX IF EXISTS call_words_day_idx;
