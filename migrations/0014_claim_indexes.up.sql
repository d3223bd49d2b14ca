-- Claiming jobs reads only what is due. `jobs_due_idx` held every pending and running job by
-- `run_after`, and the claim's OR over the two (due now, or a lease run out) could not bound
-- the scan: each claim walked every pending timer in the system (and the dead entries of
-- jobs finished since the last vacuum). Each half of the claim now has an index of its own,
-- walked from the oldest entry up to now.
CREATE INDEX jobs_pending_idx ON jobs (run_after, id) WHERE status = 'pending';
-- Leases are set on running jobs only. Not `WHERE status = 'running'`: finishing a batch of
-- jobs filters on that status, and the planner would then hash the whole index (with its dead
-- entries) instead of looking each job up by its id.
CREATE INDEX jobs_lease_idx ON jobs (locked_until) WHERE locked_until IS NOT NULL;
DROP INDEX jobs_due_idx;

-- Only a job that gives up has an event to write: every other change of status (each claim
-- and each finish) no longer calls the function at all.
DROP TRIGGER jobs_dead_events ON jobs;
CREATE TRIGGER jobs_dead_events
    AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (NEW.status = 'dead' AND OLD.status <> 'dead')
    EXECUTE FUNCTION jobs_record_dead();
