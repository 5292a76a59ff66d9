-- Members without a password (created by an import or an admin: door access
-- only, no login until an admin sets one) and members without a keypad id
-- (ids are u16 in OL02; a space may have more members than that).
-- SQLite cannot drop NOT NULL, so the table is rebuilt (the migration runner
-- switches foreign keys off around it and checks them before committing);
-- the other tables' `REFERENCES members` name the rebuilt table.
CREATE TABLE members_0005 (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    is_active BIGINT NOT NULL,
    password_hash TEXT,
    keypad_id BIGINT UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO members_0005 (id, username, email, display_name, role, is_active, password_hash,
                          keypad_id, created_at, updated_at)
    SELECT id, username, email, display_name, role, is_active, password_hash,
           keypad_id, created_at, updated_at
    FROM members;
DROP TABLE members;
ALTER TABLE members_0005 RENAME TO members;
