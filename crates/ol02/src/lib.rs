//! OL02: the signed binary allow-list that OpenLatch door controllers
//! evaluate offline.
//!
//! The byte layout is specified in `docs/protocol/ol02.md`; this crate is the
//! reference implementation used both by the server (to build, sign and
//! explain lists) and by door firmware written in Rust.
//!
//! * Decoding, verification ([`verify_list`]), lookup ([`List::find`]), the
//!   access decision ([`decide`]) and keypad checks ([`check_keypad`]) work
//!   on a borrowed `&[u8]` without heap allocation and without `std`.
//! * The `alloc` feature adds the encoder ([`ListBuilder`]) and list signing
//!   ([`sign`]); `std` (the default) adds `std::error::Error` impls. Door
//!   firmware uses `default-features = false`.
//!
//! ```
//! # #[cfg(feature = "alloc")] {
//! use ol02::*;
//! use ed25519_dalek::SigningKey;
//!
//! let master = SigningKey::from_bytes(&[1; 32]);
//! let sub = SigningKey::from_bytes(&[2; 32]);
//! let cert = Certificate::issue(&master, &sub.verifying_key().to_bytes(), 7, 0, 0);
//!
//! let mut b = ListBuilder::new(1, 1_000, 100_000);
//! b.add_entry(EntrySpec::new(Uid::from_hex("04A1B2C3").unwrap(), AccessType::Unrestricted, Role::Member));
//! let unsigned = b.encode_unsigned().unwrap();
//! let signed = sign(&unsigned, &cert, &sub).unwrap();
//!
//! let list = verify_list(&signed, &master.verifying_key().to_bytes(), 2_000, 0).unwrap();
//! let out = decide(&list, &Uid::from_hex("04A1B2C3").unwrap(), 2_000, &DoorState::new());
//! assert_eq!(out.decision, Decision::Granted);
//! # }
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod bytes;
mod cert;
mod decide;
#[cfg(feature = "alloc")]
mod encode;
mod error;
mod header;
mod keypad;
mod list;
mod types;
mod uid;
mod verify;

pub use cert::{Certificate, CERT_LEN, CERT_SIGNED_LEN};
pub use decide::{decide, decide_entry, Decision, DoorState, Outcome, SESSION_CAPACITY};
#[cfg(feature = "alloc")]
pub use encode::{sign, EncodeError, EntrySpec, KeypadSpec, ListBuilder, SignError};
pub use error::{DecodeError, VerifyError};
pub use header::{Header, HEADER_LEN};
pub use keypad::{
    check_keypad, hotp, totp, KeypadMatch, KeypadMethod, KeypadRecord, KeypadRefusal, KeypadState,
    HOTP_SHEET_LEN, KEYPAD_LOCK_SECONDS, KEYPAD_MAX_FAILURES, KEYPAD_MEMORY, OTP_SECRET_LEN,
    TOTP_STEP_SECONDS,
};
pub use list::{Entries, Entry, KeypadRecords, List};
pub use types::{
    AccessType, EntryFlags, HeaderFlags, Role, Schedule, Slot, SlotError, MAX_GRACE_MINUTES,
    MAX_SLOTS,
};
pub use uid::{Uid, UidError};
pub use verify::{parse_signed, verify_list, verify_signatures, SignedParts, VerifiedList};

/// Re-export so callers use the same ed25519 types as this crate.
pub use ed25519_dalek;

/// The ASCII magic every OL02 file starts with.
pub const MAGIC: [u8; 4] = *b"OL02";
/// Bytes of one Ed25519 signature.
pub const SIG_LEN: usize = 64;
/// Bytes appended by signing: certificate followed by the list signature.
pub const TRAILER_LEN: usize = CERT_LEN + SIG_LEN;
