-- WAL written while one call's transcript is appended, as a measure of what keeping its words
-- in `call_words` costs (WAL is what the machine's noise does not move). Run on a migrated
-- scratch database, with the segments' words trigger and with it disabled, and compare:
--
--   psql -X -q -d <scratch> -v statements=300 -v segments=1 -f benches/call_words_wal.sql
--
-- Each statement appends `segments` segments of 15 words drawn Zipf-like from 3,000, as its
-- own transaction; the last tenth of the statements is measured apart.
\set ON_ERROR_STOP on
SELECT setseed(0.42);
SELECT gen_random_uuid() AS call \gset
INSERT INTO calls (id, room_name, caller_name, caller_identity, issue)
VALUES (:'call', 'wal_' || :'call', 'Wal Caller', 'wal_' || :'call', 'measuring');
-- One statement of the transcript's append, run by `\gexec` below as a statement of its own.
CREATE FUNCTION pg_temp.append(call uuid, statement int, segments int) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO transcript_segments (call_id, segment_id, speaker, role, text, start_ms)
    SELECT call, 's' || statement || '_' || g, 'Caller', 'caller',
           (SELECT string_agg('w' || floor(exp(random() * ln(3000)))::int, ' ')
            FROM generate_series(1, 15 + 0 * g)),
           statement * 1000 + g
    FROM generate_series(1, segments) AS g
$$;
CHECKPOINT;
SELECT pg_current_wal_lsn() AS started \gset
SELECT format('SELECT pg_temp.append(%L, %s, %s)', :'call', i, :segments)
FROM generate_series(1, :statements - :statements / 10) AS i \gexec
SELECT pg_current_wal_lsn() AS last_tenth \gset
SELECT format('SELECT pg_temp.append(%L, %s, %s)', :'call', i, :segments)
FROM generate_series(:statements - :statements / 10 + 1, :statements) AS i \gexec
SELECT pg_size_pretty(pg_current_wal_lsn() - :'started') AS wal,
       pg_size_pretty(pg_current_wal_lsn() - :'last_tenth') AS wal_last_tenth,
       (SELECT count(DISTINCT lexeme) FROM transcript_segments, unnest(search)
        WHERE call_id = :'call') AS lexemes;
