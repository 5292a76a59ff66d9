-- Which committed change last touched a member or key, so the allow-list
-- builder can read only the rows changed since its last build instead of the
-- whole space. Every write takes its number from the `list_input_change`
-- counter inside its transaction; the counter's row lock orders the numbers
-- as the commits, so a snapshot that sees counter value N sees every row
-- numbered up to N. Rows from before this migration keep 0 (a full read
-- covers them).
ALTER TABLE members ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE nfc_keys ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX members_change_seq ON members (change_seq);
CREATE INDEX nfc_keys_change_seq ON nfc_keys (change_seq);
INSERT INTO counters (name, value) VALUES ('list_input_change', 0);
