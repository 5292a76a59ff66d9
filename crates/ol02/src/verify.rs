//! Signature-chain verification of a signed list, on borrowed bytes.

use core::ops::Deref;

use ed25519_dalek::{Signature, VerifyingKey};

use crate::cert::{Certificate, CERT_LEN};
use crate::error::{DecodeError, VerifyError};
use crate::header::Header;
use crate::list::List;
use crate::{SIG_LEN, TRAILER_LEN};

/// A signed list split into its parts. Nothing has been verified except the
/// header and the overall length.
#[derive(Debug, Clone, Copy)]
pub struct SignedParts<'a> {
    /// Header of the body.
    pub header: Header,
    /// The unsigned list: everything before the certificate.
    pub body: &'a [u8],
    /// The certificate, parsed but not checked.
    pub certificate: Certificate,
    /// Every byte the list signature covers (body and certificate).
    pub signed: &'a [u8],
    /// The sub-key's signature.
    pub signature: [u8; SIG_LEN],
}

/// Splits a signed list into body, certificate and signature using the
/// header's section counts. No cryptographic or time check.
pub fn parse_signed(bytes: &[u8]) -> Result<SignedParts<'_>, DecodeError> {
    let header = Header::parse(bytes)?;
    let body_len = header.body_len().ok_or(DecodeError::Truncated)?;
    let total = body_len
        .checked_add(TRAILER_LEN)
        .ok_or(DecodeError::Truncated)?;
    if bytes.len() < total {
        return Err(DecodeError::Truncated);
    }
    if bytes.len() > total {
        return Err(DecodeError::TrailingBytes);
    }
    let (signed, sig) = bytes.split_at(total - SIG_LEN);
    let (body, cert) = signed.split_at(body_len);
    let mut signature = [0u8; SIG_LEN];
    signature.copy_from_slice(sig);
    debug_assert_eq!(cert.len(), CERT_LEN);
    Ok(SignedParts {
        header,
        body,
        certificate: Certificate::parse(cert)?,
        signed,
        signature,
    })
}

/// A list whose whole chain has been checked.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedList<'a> {
    list: List<'a>,
    certificate: Certificate,
}

impl<'a> VerifiedList<'a> {
    /// The list content.
    pub fn list(&self) -> &List<'a> {
        &self.list
    }
    /// The certificate that vouched for the signer.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }
}

impl<'a> Deref for VerifiedList<'a> {
    type Target = List<'a>;
    fn deref(&self) -> &List<'a> {
        &self.list
    }
}

/// Verifies a signed list as a door does when it downloads one, in this
/// order (each failure has its own error):
///
/// 1. structure: magic, header, length = sections + 178 bytes;
/// 2. certificate flags are 0;
/// 3. the sub-key is not the master key itself;
/// 4. the master key signed certificate bytes 0..=49;
/// 5. the certificate is valid at `now_unix`;
/// 6. the sub-key signed every byte before the signature;
/// 7. the version is greater than `held_version`;
/// 8. every section record is well formed.
///
/// Signatures are checked before the records so that any change to a signed
/// byte reports [`VerifyError::BadListSignature`].
pub fn verify_list<'a>(
    bytes: &'a [u8],
    master_pubkey: &[u8; 32],
    now_unix: u64,
    held_version: u64,
) -> Result<VerifiedList<'a>, VerifyError> {
    verify_inner(bytes, master_pubkey, Some((now_unix, held_version)))
}

/// Verifies the signature chain and structure only: no certificate time and
/// no version check. For tooling that inspects old or future lists; a door
/// must use [`verify_list`].
pub fn verify_signatures<'a>(
    bytes: &'a [u8],
    master_pubkey: &[u8; 32],
) -> Result<VerifiedList<'a>, VerifyError> {
    verify_inner(bytes, master_pubkey, None)
}

fn verify_inner<'a>(
    bytes: &'a [u8],
    master_pubkey: &[u8; 32],
    checks: Option<(u64, u64)>,
) -> Result<VerifiedList<'a>, VerifyError> {
    let parts = parse_signed(bytes)?;
    let master =
        VerifyingKey::from_bytes(master_pubkey).map_err(|_| VerifyError::InvalidMasterKey)?;
    let sub = parts.certificate.verify_chain(&master)?;
    if let Some((now, _)) = checks {
        parts.certificate.check_time(now)?;
    }
    sub.verify_strict(parts.signed, &Signature::from_bytes(&parts.signature))
        .map_err(|_| VerifyError::BadListSignature)?;
    if let Some((_, held)) = checks {
        if parts.header.version <= held {
            return Err(VerifyError::VersionNotNewer {
                held,
                offered: parts.header.version,
            });
        }
    }
    let list = List::split(parts.header, parts.body)?;
    list.validate()?;
    Ok(VerifiedList {
        list,
        certificate: parts.certificate,
    })
}
