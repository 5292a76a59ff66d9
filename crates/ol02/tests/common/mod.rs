//! Shared fixtures for the integration tests.
#![allow(dead_code)]

use ol02::ed25519_dalek::SigningKey;
use ol02::*;

/// 2024-01-01 00:00:00 UTC, a Monday.
pub const MON: u64 = 1_704_067_200;
pub const DAY: u64 = 86_400;
pub const HOUR: u64 = 3_600;
pub const MIN: u64 = 60;

pub fn master() -> SigningKey {
    SigningKey::from_bytes(&[0x11; 32])
}

pub fn sub() -> SigningKey {
    SigningKey::from_bytes(&[0x22; 32])
}

pub fn master_pub() -> [u8; 32] {
    master().verifying_key().to_bytes()
}

pub fn cert() -> Certificate {
    Certificate::issue(
        &master(),
        &sub().verifying_key().to_bytes(),
        1,
        MON - 30 * DAY,
        MON + 365 * DAY,
    )
}

pub fn uid(s: &str) -> Uid {
    Uid::from_hex(s).unwrap()
}

/// A builder valid from an hour before MON for 30 days.
pub fn builder(version: u64) -> ListBuilder {
    ListBuilder::new(version, MON - HOUR, MON + 30 * DAY)
}

pub fn signed(b: &ListBuilder) -> Vec<u8> {
    sign(&b.encode_unsigned().unwrap(), &cert(), &sub()).unwrap()
}

pub fn scheduled(u: &str, slots: &[Slot]) -> EntrySpec {
    let mut e = EntrySpec::new(uid(u), AccessType::Scheduled, Role::Member);
    e.slots = slots.to_vec();
    e
}
