DROP INDEX jobs_transfer_idx;
CREATE INDEX jobs_transfer_idx ON jobs (transfer_id);
DROP INDEX transfers_offered_idx;
