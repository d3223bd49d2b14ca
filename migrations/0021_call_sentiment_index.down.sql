DROP INDEX IF EXISTS calls_sentiment_idx;
