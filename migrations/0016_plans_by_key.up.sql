-- Rows changed by key are found by key, whatever the planner thinks of a table's size.
--
-- A new database's tables are nearly empty when the service first runs its statements, and a
-- prepared statement keeps the plan it settled on then until the table is analyzed. Where an
-- index on a status column (or a scan of the whole table) looked as cheap as the primary key,
-- that plan kept walking every row of that status as the table grew: ending a transfer walked
-- every `transferring` call (`calls_status_idx`), claiming and finishing jobs read the whole
-- queue. Statuses now only appear in partial-index predicates, which a status given as a
-- parameter cannot match.

-- A call's status changes twice per transfer, and each change wrote an entry here. The
-- statuses looked up are the open ones: the calls waiting for an agent (the unanswered-call
-- sweep) get a partial index of their own, the others have `calls_open_idx`.
DROP INDEX calls_status_idx;
CREATE INDEX calls_waiting_idx ON calls (created_at) WHERE status = 'waiting';

-- Timers no longer cancel jobs by transfer and status (0015): the transfer alone is looked up.
DROP INDEX jobs_transfer_idx;
CREATE INDEX jobs_transfer_idx ON jobs (transfer_id);

-- A lease is set exactly while a job runs, so a lapsed lease is found by `jobs_lease_idx`
-- alone.
UPDATE jobs SET locked_until = NULL WHERE status <> 'running' AND locked_until IS NOT NULL;
UPDATE jobs SET locked_until = now() WHERE status = 'running' AND locked_until IS NULL;
ALTER TABLE jobs ADD CONSTRAINT jobs_lease_only_running
    CHECK ((status = 'running') = (locked_until IS NOT NULL));
