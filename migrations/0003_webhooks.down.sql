DROP TABLE participants;
DROP FUNCTION participants_record_event();
DROP TABLE room_sessions;
DROP TABLE webhook_deliveries;
