-- Indexes for history at scale (a million calls and more).

-- Full-text search over a call's own caller name and issue, as the call list's `q` matches
-- them. An expression index, not a stored column: adding one would rewrite the whole table.
-- Queries must use the very same expression for the index to serve them.
CREATE INDEX calls_search_idx ON calls
    USING gin (to_tsvector('simple', caller_name || ' ' || COALESCE(issue, '')));

-- The calls in progress, newest first: a few hundred among millions of ended ones.
CREATE INDEX calls_open_idx ON calls (created_at DESC, id DESC) WHERE status <> 'ended';
