ALTER TABLE jobs DROP CONSTRAINT IF EXISTS jobs_lease_only_running;
DROP INDEX IF EXISTS jobs_transfer_idx;
CREATE INDEX jobs_transfer_idx ON jobs (transfer_id, status);
DROP INDEX IF EXISTS calls_waiting_idx;
CREATE INDEX IF NOT EXISTS calls_status_idx ON calls (status, created_at DESC);
