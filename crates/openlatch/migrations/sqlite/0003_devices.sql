-- Door status (heartbeats), the NUKI battery alarm and conditional-approval requests.
-- Portable shapes: ids TEXT, times BIGINT unix seconds, flags BIGINT 0/1, JSON TEXT.

-- The last heartbeat of each door: one row per device, overwritten.
CREATE TABLE device_status (
    device_id TEXT PRIMARY KEY REFERENCES devices (id),
    received_at BIGINT NOT NULL,
    firmware_version TEXT NOT NULL,
    allowlist_version BIGINT NOT NULL,
    uptime_seconds BIGINT NOT NULL,
    free_heap BIGINT NOT NULL,
    wifi_rssi BIGINT NOT NULL,
    nuki_battery_percent BIGINT,
    nuki_battery_critical BIGINT,
    nuki_paired BIGINT,
    nuki_state TEXT
);

-- Heartbeat history at a bounded rate (at most one row per door per 5 minutes),
-- pruned after 30 days. `body` is the heartbeat as JSON.
CREATE TABLE device_status_history (
    device_id TEXT NOT NULL REFERENCES devices (id),
    received_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (device_id, received_at)
);
CREATE INDEX device_status_history_time ON device_status_history (received_at);

-- `nuki_battery_low` is raised once (raised = 1) and re-armed (raised = 0)
-- only after a reading above 25 %. Kept here so restarts and other instances agree.
CREATE TABLE nuki_battery_alarm (
    device_id TEXT PRIMARY KEY REFERENCES devices (id),
    raised BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Live approval requests from doors; shared by every instance.
-- status: pending, approved, denied, timeout, abandoned.
CREATE TABLE approval_requests (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices (id),
    uid TEXT NOT NULL,
    key_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    sponsor_id TEXT,
    status TEXT NOT NULL,
    decided_by TEXT,
    door_timestamp BIGINT NOT NULL,
    requested_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    decided_at BIGINT
);
CREATE UNIQUE INDEX approval_requests_one_pending ON approval_requests (device_id, uid)
    WHERE status = 'pending';
CREATE INDEX approval_requests_status ON approval_requests (status, requested_at);
CREATE INDEX approval_requests_deadline ON approval_requests (status, expires_at);
CREATE INDEX approval_requests_device_uid ON approval_requests (device_id, uid, requested_at);
