-- Web UI sessions: the browser holds an opaque 256-bit value; the row keeps
-- only its SHA-256 (hex), so a copy of the database cannot log anyone in.
-- API sessions (bearer tokens) leave it NULL.
ALTER TABLE sessions ADD COLUMN web_token_hash TEXT;
CREATE UNIQUE INDEX sessions_web_token_hash ON sessions (web_token_hash);
