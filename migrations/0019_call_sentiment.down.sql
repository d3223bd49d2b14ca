DROP TRIGGER IF EXISTS summaries_call_sentiment ON summaries;
DROP FUNCTION IF EXISTS summaries_set_call_sentiment();
ALTER TABLE calls DROP COLUMN IF EXISTS sentiment;
