DROP TRIGGER jobs_dead_events ON jobs;
CREATE TRIGGER jobs_dead_events
    AFTER UPDATE OF status ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_record_dead();
CREATE INDEX jobs_due_idx ON jobs (run_after) WHERE status IN ('pending', 'running');
DROP INDEX jobs_lease_idx;
DROP INDEX jobs_pending_idx;
