//! Audit log entries: append-only records of who did what.

/// Who caused an audit entry; stored as `details.actor_kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorKind {
    Member,
    Device,
    Server,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Member => "member",
            ActorKind::Device => "device",
            ActorKind::Server => "server",
        }
    }
}

/// The event types the server itself writes (device events are listed in `device`).
pub mod event {
    pub const MEMBER_CREATED: &str = "member_created";
    pub const MEMBER_UPDATED: &str = "member_updated";
    pub const MEMBER_DEACTIVATED: &str = "member_deactivated";
    pub const PASSWORD_CHANGED: &str = "password_changed";
    pub const KEY_REGISTERED: &str = "key_registered";
    pub const KEY_REVOKED: &str = "key_revoked";
    pub const LOGIN_FAILED: &str = "login_failed";
    pub const LOGIN_SUCCEEDED: &str = "login_succeeded";
    pub const LOGGED_OUT: &str = "logged_out";
    pub const DEVICE_REGISTERED: &str = "device_registered";
    pub const DEVICE_UPDATED: &str = "device_updated";
    pub const DEVICE_DELETED: &str = "device_deleted";
    pub const DEVICE_TOKEN_ROTATED: &str = "device_token_rotated";
    pub const RULE_CREATED: &str = "rule_created";
    pub const RULE_UPDATED: &str = "rule_updated";
    pub const RULE_DELETED: &str = "rule_deleted";
    pub const ALLOWLIST_GENERATED: &str = "allowlist_generated";
    pub const ALLOWLIST_SIGNED: &str = "allowlist_signed";
    pub const MEMBERS_IMPORTED: &str = "members_imported";
    pub const ZONE_CREATED: &str = "zone_created";
    pub const ZONE_UPDATED: &str = "zone_updated";
    pub const ZONE_DELETED: &str = "zone_deleted";
    /// A door was moved to another zone (it gets that zone's list at its next poll).
    pub const DEVICE_MOVED: &str = "device_moved";
    /// An admin changed a space setting (the time zone).
    pub const SETTINGS_UPDATED: &str = "settings_updated";
}

/// Event types are lower-case snake words; used to validate the `event_type` filter.
/// What [`is_event_type_shape`] accepts, for the OpenAPI document.
pub const EVENT_TYPE_PATTERN: &str = "^[a-z_]{1,64}$";

pub fn is_event_type_shape(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}
