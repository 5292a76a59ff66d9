//! Conditional-approval requests: a door asks, a person decides.

use super::key::Uid;
use super::{DeviceId, KeyId, MemberId};
use std::str::FromStr;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
    /// Nobody decided in time.
    Timeout,
    /// The door hung up before a decision (audited as a timeout).
    Abandoned,
}

impl ApprovalStatus {
    pub const ALL: [ApprovalStatus; 5] = [
        Self::Pending,
        Self::Approved,
        Self::Denied,
        Self::Timeout,
        Self::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Timeout => "timeout",
            Self::Abandoned => "abandoned",
        }
    }

    /// What the door is told: an abandoned request is a timeout to it.
    pub fn answer(self) -> &'static str {
        match self {
            Self::Abandoned => "timeout",
            other => other.as_str(),
        }
    }
}

impl FromStr for ApprovalStatus {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or("must be one of pending, approved, denied, timeout, abandoned")
    }
}

/// The key, its holder and (for a sponsored guest) the sponsor, for a UID
/// the door must ask about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionalSubject {
    pub key_id: KeyId,
    pub member_id: MemberId,
    pub sponsor_id: Option<MemberId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRequest {
    pub id: Uuid,
    pub device_id: DeviceId,
    pub uid: Uid,
    pub key_id: KeyId,
    pub member_id: MemberId,
    pub sponsor_id: Option<MemberId>,
    pub status: ApprovalStatus,
    pub decided_by: Option<MemberId>,
    /// The door's clock when it asked.
    pub door_timestamp: i64,
    pub requested_at: i64,
    pub expires_at: i64,
    pub decided_at: Option<i64>,
}
