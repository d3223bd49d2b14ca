CREATE FUNCTION transfers_cancel_timers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT terminal FROM transfer_states WHERE state = NEW.state) THEN
        UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now()
        WHERE transfer_id = NEW.id AND status = 'pending'
          AND kind IN ('expire_transfer', 'handoff_timeout', 'confirm_handoff');
    ELSIF OLD.state = 'initiated' THEN
        UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now()
        WHERE transfer_id = NEW.id AND status = 'pending' AND kind = 'expire_transfer';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER transfers_cancel_timers
    AFTER UPDATE OF state ON transfers
    FOR EACH ROW
    WHEN (NEW.state IS DISTINCT FROM OLD.state)
    EXECUTE FUNCTION transfers_cancel_timers();
