-- Transfers waiting for Agent B or in their briefing, newest first (`GET /transfers/active`
-- and the waiting list): without it the planner walks every transfer still `connecting`, and
-- a busy hour leaves thousands of those between two hand-off checks.
CREATE INDEX transfers_offered_idx ON transfers (initiated_at DESC, id DESC)
    WHERE state IN ('initiated', 'briefing');

-- Cancelling a transfer's pending timers (the `transfers_cancel_timers` trigger) filters on
-- both columns. With `transfer_id` alone the planner could AND it with `jobs_due_idx`, which
-- reads every pending job in the system on each state change.
DROP INDEX jobs_transfer_idx;
CREATE INDEX jobs_transfer_idx ON jobs (transfer_id, status);
