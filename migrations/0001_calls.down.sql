DROP TABLE transcript_segments;
DROP TABLE events;
DROP TABLE calls;
DROP FUNCTION transcript_record_event();
DROP FUNCTION calls_record_event();
DROP FUNCTION events_notify();
DROP FUNCTION events_forbid_change();
