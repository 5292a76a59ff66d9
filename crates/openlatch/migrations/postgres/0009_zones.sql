-- Zones (issue 10): doors that share one allow-list. Every database has the
-- zone `main` (fixed id, default presence `members`); existing doors, rules
-- and lists belong to it, so nothing changes until an admin adds a zone.
-- Portable shapes: ids TEXT, times BIGINT unix seconds, JSON TEXT.
CREATE TABLE zones (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    -- `members` (admin, keyholder and member keys present unless a rule
    -- removes them) or `granted` (only admins, emergency keys and keys a
    -- `grant` rule adds).
    default_presence TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO zones (id, name, description, default_presence, created_at, updated_at)
VALUES ('00000000-0000-0000-0000-000000000001', 'main', NULL, 'members', 0, 0);

-- Every door is in exactly one zone (checked by the application: SQLite
-- cannot add a referencing column with a default).
ALTER TABLE devices ADD COLUMN zone_id TEXT NOT NULL DEFAULT '00000000-0000-0000-0000-000000000001';

-- A JSON array of zone ids; empty = every zone (what every existing rule meant).
ALTER TABLE access_rules ADD COLUMN zone_ids TEXT NOT NULL DEFAULT '[]';

-- One list per zone; versions stay unique across zones (one counter).
ALTER TABLE allowlists ADD COLUMN zone_id TEXT NOT NULL DEFAULT '00000000-0000-0000-0000-000000000001';
CREATE INDEX allowlists_zone_version ON allowlists (zone_id, version);
