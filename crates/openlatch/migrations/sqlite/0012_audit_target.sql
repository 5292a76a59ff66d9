-- The audit-log page filters by target (a member, key, door or rule id),
-- newest first; without this index that filter reads the whole log.
CREATE INDEX audit_log_target ON audit_log (target_id, id);
