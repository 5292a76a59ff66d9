-- Notifications: subscriptions, the durable outbox and its attempt history,
-- door presence (offline detection) and the critical-battery alarm.
-- Portable shapes: ids TEXT, flags BIGINT 0/1, JSON TEXT. Outbox times are
-- unix MILLISECONDS (`*_ms`): a notification should arrive within a second.

-- Who wants which events through which channel. `settings` holds the
-- channel's settings as JSON, secrets included (never returned by the API).
CREATE TABLE notification_subscriptions (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    settings TEXT NOT NULL,
    events TEXT NOT NULL,
    is_enabled BIGINT NOT NULL,
    disabled_reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row per message to one target. Written in the transaction of the
-- change that caused it; claimed by a worker with a lease (`lease_until_ms`)
-- and fenced by `attempt`. state: pending, in_progress, delivered, failed.
-- `dedup_key` makes a repeated cause (same emergency within a minute, a
-- second instance noticing the same offline door) one message.
CREATE TABLE notification_outbox (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    subscription_id TEXT,
    target TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    lease_until_ms BIGINT,
    last_error TEXT,
    created_ms BIGINT NOT NULL,
    delivered_ms BIGINT,
    dedup_key TEXT UNIQUE
);
CREATE INDEX notification_outbox_due ON notification_outbox (state, next_attempt_ms);
CREATE INDEX notification_outbox_subscription ON notification_outbox (subscription_id, created_ms);

-- Every attempt, for `GET /notifications/deliveries`. Pruned with the outbox.
CREATE TABLE notification_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id TEXT NOT NULL,
    subscription_id TEXT,
    attempt BIGINT NOT NULL,
    attempted_ms BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX notification_attempts_subscription ON notification_attempts (subscription_id, id);
CREATE INDEX notification_attempts_outbox ON notification_attempts (outbox_id);

-- A door is flagged offline once (when its heartbeats stop) and cleared by
-- its next heartbeat, so each transition is notified once across instances.
CREATE TABLE door_presence (
    device_id TEXT PRIMARY KEY REFERENCES devices (id),
    is_offline BIGINT NOT NULL,
    changed_at BIGINT NOT NULL
);

-- The critical-battery alarm rides on the low-battery one: raised once,
-- re-armed with it above 25 %.
ALTER TABLE nuki_battery_alarm ADD COLUMN critical_raised BIGINT NOT NULL DEFAULT 0;
