-- Access rules and the built allow-lists (issue 4).

CREATE TABLE access_rules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    rule_type TEXT NOT NULL,
    parameters TEXT NOT NULL,
    priority BIGINT NOT NULL,
    is_active BIGINT NOT NULL,
    targets TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    seq BIGINT NOT NULL
);

-- One row per built version; signed_bytes stays NULL until signed (air-gapped upload).
CREATE TABLE allowlists (
    version BIGINT PRIMARY KEY,
    generated_at BIGINT NOT NULL,
    valid_until BIGINT NOT NULL,
    unsigned_bytes BYTEA NOT NULL,
    signed_bytes BYTEA,
    entry_count BIGINT NOT NULL,
    content_hash TEXT NOT NULL,
    signed_at BIGINT
);

INSERT INTO counters (name, value) VALUES ('allowlist_version', 0);
INSERT INTO counters (name, value) VALUES ('access_rule_seq', 0);
