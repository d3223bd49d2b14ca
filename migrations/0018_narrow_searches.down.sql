DROP INDEX IF EXISTS transfers_outcome_idx;
