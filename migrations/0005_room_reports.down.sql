DROP TABLE room_reports;
