-- New events and jobs are announced by the service after its transaction commits, not by
-- these triggers: a transaction that notifies holds a database-wide lock from before its
-- commit record until the record is flushed, so every writing request queued behind the
-- others' disk flushes (a fifth of the prototype flow's throughput).
DROP TRIGGER events_notify_after_insert ON events;
DROP FUNCTION events_notify();
DROP TRIGGER jobs_notify_after_insert ON jobs;
DROP FUNCTION jobs_notify();
