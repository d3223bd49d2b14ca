DROP INDEX transfers_connecting_idx;
DROP TRIGGER transfers_cancel_timers ON transfers;
DROP FUNCTION transfers_cancel_timers();
UPDATE jobs SET status = 'done' WHERE status = 'cancelled';
ALTER TABLE jobs DROP CONSTRAINT jobs_status_known;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_known
    CHECK (status IN ('pending', 'running', 'done', 'dead'));
