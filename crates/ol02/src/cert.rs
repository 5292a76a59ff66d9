//! The 114-byte sub-key certificate (system.md 4).

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::bytes::{array_at, u64_at};
use crate::error::{DecodeError, VerifyError};

/// Certificate size in bytes.
pub const CERT_LEN: usize = 114;
/// Bytes covered by the master signature: offsets 0..=49.
pub const CERT_SIGNED_LEN: usize = 50;

/// A master key's delegation to a sub-key.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 32 | sub_pubkey |
/// | 32 | 1 | key_id |
/// | 33 | 8 | valid_from (u64 LE) |
/// | 41 | 8 | valid_until (u64 LE, 0 = no expiry) |
/// | 49 | 1 | flags (must be 0) |
/// | 50 | 64 | master signature over bytes 0..=49 |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Certificate {
    /// The sub-key's Ed25519 public key.
    pub sub_pubkey: [u8; 32],
    /// Signer key id, logged by the door.
    pub key_id: u8,
    /// Not valid before this unix second.
    pub valid_from: u64,
    /// Not valid from this unix second on; 0 = no expiry.
    pub valid_until: u64,
    /// Must be 0; any other value is refused.
    pub flags: u8,
    /// Master signature over the first 50 bytes.
    pub master_sig: [u8; 64],
}

impl Certificate {
    /// Issues a certificate for `sub_pubkey`, signed by `master`.
    pub fn issue(
        master: &SigningKey,
        sub_pubkey: &[u8; 32],
        key_id: u8,
        valid_from: u64,
        valid_until: u64,
    ) -> Certificate {
        let mut cert = Certificate {
            sub_pubkey: *sub_pubkey,
            key_id,
            valid_from,
            valid_until,
            flags: 0,
            master_sig: [0; 64],
        };
        cert.master_sig = master.sign(&cert.signed_part()).to_bytes();
        cert
    }

    /// Parses exactly [`CERT_LEN`] bytes. No signature or time check.
    pub fn parse(b: &[u8]) -> Result<Certificate, DecodeError> {
        if b.len() < CERT_LEN {
            return Err(DecodeError::Truncated);
        }
        if b.len() > CERT_LEN {
            return Err(DecodeError::TrailingBytes);
        }
        let t = DecodeError::Truncated;
        Ok(Certificate {
            sub_pubkey: array_at(b, 0).ok_or(t)?,
            key_id: b[32],
            valid_from: u64_at(b, 33).ok_or(t)?,
            valid_until: u64_at(b, 41).ok_or(t)?,
            flags: b[49],
            master_sig: array_at(b, 50).ok_or(t)?,
        })
    }

    /// The bytes the master signs (offsets 0..=49).
    pub fn signed_part(&self) -> [u8; CERT_SIGNED_LEN] {
        let mut b = [0u8; CERT_SIGNED_LEN];
        b[..32].copy_from_slice(&self.sub_pubkey);
        b[32] = self.key_id;
        b[33..41].copy_from_slice(&self.valid_from.to_le_bytes());
        b[41..49].copy_from_slice(&self.valid_until.to_le_bytes());
        b[49] = self.flags;
        b
    }

    /// Serialises all 114 bytes.
    pub fn to_bytes(&self) -> [u8; CERT_LEN] {
        let mut b = [0u8; CERT_LEN];
        b[..CERT_SIGNED_LEN].copy_from_slice(&self.signed_part());
        b[CERT_SIGNED_LEN..].copy_from_slice(&self.master_sig);
        b
    }

    /// Checks flags, the master signature and that the sub-key is not the
    /// master itself. Returns the sub-key for list verification.
    pub fn verify_chain(&self, master: &VerifyingKey) -> Result<VerifyingKey, VerifyError> {
        if self.flags != 0 {
            return Err(VerifyError::CertificateFlags(self.flags));
        }
        if self.sub_pubkey == master.to_bytes() {
            return Err(VerifyError::SubKeyIsMaster);
        }
        let sub =
            VerifyingKey::from_bytes(&self.sub_pubkey).map_err(|_| VerifyError::InvalidSubKey)?;
        let sig = Signature::from_bytes(&self.master_sig);
        master
            .verify_strict(&self.signed_part(), &sig)
            .map_err(|_| VerifyError::BadMasterSignature)?;
        Ok(sub)
    }

    /// Checks `valid_from <= now` and (`valid_until == 0` or `now < valid_until`).
    pub fn check_time(&self, now: u64) -> Result<(), VerifyError> {
        if now < self.valid_from {
            return Err(VerifyError::CertificateNotYetValid {
                valid_from: self.valid_from,
            });
        }
        if self.valid_until != 0 && now >= self.valid_until {
            return Err(VerifyError::CertificateExpired {
                valid_until: self.valid_until,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_parse_verify() {
        let master = SigningKey::from_bytes(&[1; 32]);
        let sub = SigningKey::from_bytes(&[2; 32]);
        let c = Certificate::issue(&master, &sub.verifying_key().to_bytes(), 9, 100, 200);
        let b = c.to_bytes();
        let p = Certificate::parse(&b).unwrap();
        assert_eq!(p, c);
        assert_eq!(
            p.verify_chain(&master.verifying_key()).unwrap(),
            sub.verifying_key()
        );
        assert_eq!(p.check_time(100), Ok(()));
        assert_eq!(
            p.check_time(99),
            Err(VerifyError::CertificateNotYetValid { valid_from: 100 })
        );
        assert_eq!(
            p.check_time(200),
            Err(VerifyError::CertificateExpired { valid_until: 200 })
        );
        // Another master does not verify.
        let other = SigningKey::from_bytes(&[3; 32]);
        assert_eq!(
            p.verify_chain(&other.verifying_key()),
            Err(VerifyError::BadMasterSignature)
        );
        // Tampered validity does not verify.
        let mut t = p;
        t.valid_until = 0;
        assert_eq!(
            t.verify_chain(&master.verifying_key()),
            Err(VerifyError::BadMasterSignature)
        );
        // Self-delegation is refused.
        let s = Certificate::issue(&master, &master.verifying_key().to_bytes(), 1, 0, 0);
        assert_eq!(
            s.verify_chain(&master.verifying_key()),
            Err(VerifyError::SubKeyIsMaster)
        );
    }
}
