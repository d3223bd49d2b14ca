-- Searches narrowed to a transfer's state or outcome read the calls that pass the filter first
-- and look for their term among them. A state or an outcome other than `completed` is held by
-- a few percent of transfers: found through this index, not by reading every transfer. Only
-- transfers that ended without a hand-off have an outcome, so the index gets an entry once per
-- such transfer.
CREATE INDEX transfers_outcome_idx ON transfers (state, outcome, call_id) WHERE outcome IS NOT NULL;
