-- Members without a password (created by an import or an admin: door access
-- only, no login until an admin sets one) and members without a keypad id
-- (ids are u16 in OL02; a space may have more members than that).
ALTER TABLE members ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE members ALTER COLUMN keypad_id DROP NOT NULL;

