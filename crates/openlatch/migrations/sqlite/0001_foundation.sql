-- Members, NFC keys, sessions, devices, the audit log and server secrets.
-- Portable shapes: ids TEXT, times BIGINT unix seconds, flags BIGINT 0/1, JSON TEXT.

CREATE TABLE members (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    is_active BIGINT NOT NULL,
    password_hash TEXT NOT NULL,
    keypad_id BIGINT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE nfc_keys (
    id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members (id),
    uid TEXT NOT NULL,
    label TEXT NOT NULL,
    key_type TEXT,
    access_type TEXT,
    expires_at BIGINT,
    revoked_at BIGINT,
    revoke_reason TEXT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX nfc_keys_active_uid ON nfc_keys (uid) WHERE revoked_at IS NULL;
CREATE INDEX nfc_keys_member ON nfc_keys (member_id);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_member ON sessions (member_id);

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    location TEXT,
    token_hash TEXT NOT NULL UNIQUE,
    is_enabled BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    token_rotated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE UNIQUE INDEX devices_live_name ON devices (name) WHERE deleted_at IS NULL;

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_type TEXT NOT NULL,
    actor_id TEXT,
    target_id TEXT,
    details TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    dedup_key TEXT UNIQUE
);
CREATE INDEX audit_log_event_type ON audit_log (event_type, id);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);
CREATE INDEX audit_log_created_at ON audit_log (created_at);

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('keypad_id', 0);

CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE login_throttle (
    scope TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_started BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL
);
