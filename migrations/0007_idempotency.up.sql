-- The first response to each POST that carried an `Idempotency-Key`, so that a client's retry
-- is answered with it instead of doing the work twice (as payment APIs do). A row is claimed
-- before the request runs (in flight: no response yet, a lease) and completed with the
-- response on the same row, so one key never runs twice at once. Rows are kept 24 hours
-- (IDEMPOTENCY_KEY_TTL_SECS) and then purged.

CREATE TABLE idempotency_keys (
    -- SHA-256 of the request's Authorization header (of '' without one): two API keys never
    -- share an idempotency key.
    scope        bytea       NOT NULL
                             CONSTRAINT idempotency_keys_scope_is_sha256 CHECK (octet_length(scope) = 32),
    key          text        NOT NULL
                             CONSTRAINT idempotency_keys_key_length CHECK (char_length(key) BETWEEN 1 AND 255),
    -- SHA-256 of method, path and body: the same key sent with another request is refused.
    request_hash bytea       NOT NULL
                             CONSTRAINT idempotency_keys_request_hash_is_sha256 CHECK (octet_length(request_hash) = 32),
    -- The request holding the key; only it may store the response or let the key go.
    owner        uuid        NOT NULL,
    -- While in flight: after this, the holder is taken for dead (its process crashed) and the
    -- key is free again.
    locked_until timestamptz,
    -- The stored response: all three set together, none while in flight. 5xx, 409 and 429
    -- answers are never stored (a retry may fare differently).
    status       smallint    CONSTRAINT idempotency_keys_status_storable CHECK (status BETWEEN 200 AND 499),
    headers      jsonb,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    expires_at   timestamptz NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, key),
    CONSTRAINT idempotency_keys_response_whole CHECK (
        (status IS NULL) = (body IS NULL) AND (status IS NULL) = (headers IS NULL)),
    CONSTRAINT idempotency_keys_in_flight_leased CHECK (status IS NOT NULL OR locked_until IS NOT NULL)
);

-- For the purge of expired keys.
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
