-- A transfer's timers are its deadline columns (`accept_deadline`, `handoff_deadline`),
-- watched by one sweep per interval through the partial indexes `transfers_offered_idx` and
-- `transfers_connecting_idx`. Timer jobs are no longer queued: per transfer, two job rows
-- written and two cancelled, and a query on every change of state to cancel them, are gone.
-- The sweep covers the transfers of the timer jobs still pending.
UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now()
WHERE status = 'pending' AND kind IN ('expire_transfer', 'handoff_timeout', 'confirm_handoff');

DROP TRIGGER transfers_cancel_timers ON transfers;
DROP FUNCTION transfers_cancel_timers();
