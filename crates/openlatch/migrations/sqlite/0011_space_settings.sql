-- Settings of the space that admins change at run time and every instance
-- shares (the space's time zone), one row per setting.
CREATE TABLE space_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
