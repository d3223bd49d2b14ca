DROP INDEX IF EXISTS call_words_idx;
