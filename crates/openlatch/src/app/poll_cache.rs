//! The door poll's hot path kept in memory for a moment: whose token it is
//! (with its zone), and the newest signed version of each zone. A poll that changes nothing (the usual
//! 304) then needs no database round trip.
//!
//! Changes made on this instance clear the cache at once (a disabled door
//! is refused on its next request); changes made on another instance are
//! seen within [`FRESH`]. Doors poll every few minutes, so a second is
//! nothing to them.

use crate::domain::device::Device;
use crate::domain::ZoneId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const FRESH: Duration = Duration::from_secs(1);
/// More doors than any space has; past it the cache simply starts over.
const MAX_DOORS: usize = 4096;

/// A door as last read, and when.
type SeenDoor = (Arc<Device>, Instant);

#[derive(Default)]
pub struct PollCache {
    /// Keyed by the SHA-256 of the token; shared, so a poll copies nothing.
    doors: Mutex<HashMap<[u8; 32], SeenDoor>>,
    versions: Mutex<HashMap<ZoneId, (i64, Instant)>>,
}

impl PollCache {
    /// The enabled door whose token hashes to `token_digest`, if seen just now.
    pub fn door(&self, token_digest: &[u8; 32]) -> Option<Arc<Device>> {
        let doors = self.doors.lock().ok()?;
        doors
            .get(token_digest)
            .filter(|(_, at)| at.elapsed() < FRESH)
            .map(|(d, _)| Arc::clone(d))
    }

    pub fn remember_door(&self, token_digest: [u8; 32], device: Arc<Device>) {
        if let Ok(mut doors) = self.doors.lock() {
            if doors.len() >= MAX_DOORS {
                doors.clear();
            }
            doors.insert(token_digest, (device, Instant::now()));
        }
    }

    /// A door was changed, disabled, deleted or given a new token here.
    pub fn forget_doors(&self) {
        if let Ok(mut doors) = self.doors.lock() {
            doors.clear();
        }
    }

    /// The zone's newest signed version, if read just now.
    pub fn version(&self, zone: ZoneId) -> Option<i64> {
        let v = self.versions.lock().ok()?;
        v.get(&zone)
            .filter(|(_, at)| at.elapsed() < FRESH)
            .map(|(v, _)| *v)
    }

    pub fn remember_version(&self, zone: ZoneId, version: i64) {
        if let Ok(mut v) = self.versions.lock() {
            if v.len() >= MAX_DOORS {
                v.clear();
            }
            v.insert(zone, (version, Instant::now()));
        }
    }

    /// A list was built or uploaded here (builds are rare: all zones go).
    pub fn forget_version(&self) {
        if let Ok(mut v) = self.versions.lock() {
            v.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn door() -> Device {
        let now = crate::domain::now();
        Device {
            id: crate::domain::DeviceId::new(),
            name: "front".into(),
            location: None,
            is_enabled: true,
            created_at: now,
            updated_at: now,
            token_rotated_at: now,
            zone_id: ZoneId::MAIN,
        }
    }

    #[test]
    fn remembers_until_forgotten() {
        let c = PollCache::default();
        let (h, other) = ([1u8; 32], [2u8; 32]);
        assert!(c.door(&h).is_none());
        let d = Arc::new(door());
        c.remember_door(h, Arc::clone(&d));
        assert_eq!(c.door(&h), Some(d));
        assert!(c.door(&other).is_none());
        c.forget_doors();
        assert!(c.door(&h).is_none());

        let lab = ZoneId::new();
        assert_eq!(c.version(ZoneId::MAIN), None);
        c.remember_version(ZoneId::MAIN, 7);
        c.remember_version(lab, 9);
        assert_eq!(c.version(ZoneId::MAIN), Some(7));
        assert_eq!(c.version(lab), Some(9));
        assert_eq!(c.version(ZoneId::new()), None);
        c.forget_version();
        assert_eq!(c.version(ZoneId::MAIN), None);
        assert_eq!(c.version(lab), None);
    }
}
