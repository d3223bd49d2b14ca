-- Who is who: agents as a resource, API keys with roles, which key started a call, and which
-- agents a call has had (what an agent key may read).

CREATE TABLE agents (
    -- The LiveKit identity the agent joins rooms as; it never changes.
    identity        text        PRIMARY KEY
                                CONSTRAINT agents_identity_valid
                                CHECK (identity = btrim(identity) AND identity <> '' AND char_length(identity) <= 128),
    display_name    text        NOT NULL
                                CONSTRAINT agents_display_name_not_blank CHECK (btrim(display_name) <> ''),
    team            text,
    skills          text[]      NOT NULL DEFAULT '{}',
    -- Registered on first use in open mode (no API keys), not by an admin.
    auto_registered boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- A disabled agent keeps its history but takes no new call and receives no transfer.
    disabled_at     timestamptz
);

CREATE INDEX agents_team_idx ON agents (team, identity) WHERE team IS NOT NULL;

-- Everyone already named as an agent in the records becomes one, so the keys below hold.
INSERT INTO agents (identity, display_name, auto_registered)
SELECT DISTINCT identity, identity, true
FROM (SELECT current_agent AS identity FROM calls WHERE current_agent IS NOT NULL
      UNION SELECT from_agent FROM transfers
      UNION SELECT to_agent FROM transfers) AS known
ON CONFLICT DO NOTHING;

-- Only a registered agent can hold a call or take part in a transfer.
ALTER TABLE calls
    ADD CONSTRAINT calls_current_agent_fk FOREIGN KEY (current_agent) REFERENCES agents (identity);
ALTER TABLE transfers
    ADD CONSTRAINT transfers_from_agent_fk FOREIGN KEY (from_agent) REFERENCES agents (identity),
    ADD CONSTRAINT transfers_to_agent_fk FOREIGN KEY (to_agent) REFERENCES agents (identity);

CREATE TABLE api_keys (
    id           uuid        PRIMARY KEY,
    -- The public part of the key (`wl_<prefix>_<secret>`), for lookup; the secret is only hashed.
    prefix       text        NOT NULL CONSTRAINT api_keys_prefix_key UNIQUE,
    -- SHA-256 of the whole key. Keys carry 256 random bits, so a slow hash adds nothing.
    secret_hash  bytea       NOT NULL CONSTRAINT api_keys_hash_is_sha256 CHECK (octet_length(secret_hash) = 32),
    role         text        NOT NULL
                             CONSTRAINT api_keys_role_known CHECK (role IN ('admin', 'supervisor', 'agent', 'frontend')),
    -- The one identity an agent key acts as.
    agent        text        CONSTRAINT api_keys_agent_fk REFERENCES agents (identity),
    label        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_keys_agent_iff_agent_role CHECK ((role = 'agent') = (agent IS NOT NULL))
);

CREATE INDEX api_keys_created_idx ON api_keys (created_at DESC, id DESC);

-- Every process caches keys; a new or revoked key reaches them all at once.
CREATE FUNCTION api_keys_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('warmline_api_keys', NEW.prefix);
    RETURN NULL;
END;
$$;

CREATE TRIGGER api_keys_notify_change
    AFTER INSERT OR UPDATE OF revoked_at, role, agent ON api_keys
    FOR EACH ROW EXECUTE FUNCTION api_keys_notify();

-- The frontend key that started a call: only that key reads it or gets its caller's token.
ALTER TABLE calls ADD COLUMN created_by uuid CONSTRAINT calls_created_by_fk REFERENCES api_keys (id);

-- Every agent a call has had (its agents, and both sides of its transfers): an agent key reads
-- these calls, and history can be searched by agent.
ALTER TABLE calls ADD COLUMN agents text[] NOT NULL DEFAULT '{}';

UPDATE calls c SET agents = known.agents
FROM (SELECT call_id, array_agg(DISTINCT identity ORDER BY identity) AS agents
      FROM (SELECT id AS call_id, current_agent AS identity FROM calls WHERE current_agent IS NOT NULL
            UNION SELECT call_id, from_agent FROM transfers
            UNION SELECT call_id, to_agent FROM transfers) AS named
      GROUP BY call_id) AS known
WHERE c.id = known.call_id;

CREATE INDEX calls_agents_idx ON calls USING gin (agents);

CREATE FUNCTION calls_remember_agent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.current_agent IS NOT NULL AND NOT NEW.current_agent = ANY (NEW.agents) THEN
        NEW.agents := NEW.agents || NEW.current_agent;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER calls_remember_agent
    BEFORE INSERT OR UPDATE OF current_agent ON calls
    FOR EACH ROW EXECUTE FUNCTION calls_remember_agent();

CREATE FUNCTION transfers_remember_agents() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE calls SET agents = agents || NEW.to_agent
    WHERE id = NEW.call_id AND NOT NEW.to_agent = ANY (agents);
    RETURN NULL;
END;
$$;

CREATE TRIGGER transfers_remember_agents
    AFTER INSERT ON transfers
    FOR EACH ROW EXECUTE FUNCTION transfers_remember_agents();

-- A caller's identity is checked against agents, and a returning caller is found by it.
CREATE INDEX calls_caller_identity_idx ON calls (caller_identity, created_at DESC);
