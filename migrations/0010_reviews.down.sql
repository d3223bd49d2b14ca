DROP TABLE reviews;
DROP FUNCTION reviews_record_created();
DROP FUNCTION reviews_forbid_change();
DROP TABLE scorecards;
DROP FUNCTION scorecards_forbid_change();
