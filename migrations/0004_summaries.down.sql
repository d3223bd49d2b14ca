DROP TABLE summaries;
DROP FUNCTION summaries_record_event();
DROP FUNCTION summaries_forbid_change();
