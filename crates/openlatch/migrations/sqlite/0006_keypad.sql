-- Keypad codes of guarantors (system.md 5): the TOTP secret and the secret of
-- the current backup sheet. Hex, in plain form: every allow-list carries them
-- to the doors, so the server must be able to read them. A row exists only
-- while at least one of the two secrets is set.
-- Portable shapes: ids TEXT, times BIGINT unix seconds, bit masks BIGINT.
CREATE TABLE keypad_credentials (
    member_id TEXT PRIMARY KEY REFERENCES members (id),
    totp_secret TEXT,
    totp_enrolled_at BIGINT,
    hotp_secret TEXT,
    hotp_issued_at BIGINT,
    -- Bit i set: backup code i of the current sheet was used at some door.
    hotp_used BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
