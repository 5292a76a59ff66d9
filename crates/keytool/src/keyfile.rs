//! Key and certificate files (format: docs/keys.md).
//!
//! * secret key: one line, the 32-byte Ed25519 seed as 64 hex digits,
//!   mode 0600, never overwritten;
//! * public key: one line, 64 hex digits;
//! * certificate: the 114 raw bytes of an OL02 certificate.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ol02::ed25519_dalek::SigningKey;
use ol02::{Certificate, CERT_LEN};

use crate::Error;

/// Backdating of a new certificate's `valid_from`, so that doors whose clocks
/// run a little slow accept a list signed right after delegation.
pub const CERT_BACKDATE_SECONDS: u64 = 300;

/// A fresh signing key from the operating system's random generator.
pub fn generate_signing_key() -> Result<SigningKey, Error> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| Error::Random(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Lower-case hex of a key's public half.
pub fn public_key_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().to_bytes())
}

/// Parses a 64-hex-digit Ed25519 public key (surrounding whitespace ignored).
pub fn parse_public_key_hex(s: &str) -> Result<[u8; 32], Error> {
    let bytes = hex::decode(s.trim()).map_err(|e| Error::BadPublicKey(e.to_string()))?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| Error::BadPublicKey(format!("{} bytes, expected 32", b.len())))?;
    ol02::ed25519_dalek::VerifyingKey::from_bytes(&key)
        .map_err(|_| Error::BadPublicKey("not a valid Ed25519 point".into()))?;
    Ok(key)
}

/// Creates `path` with `contents`, failing if it exists. `secret` files get
/// mode 0600 from the start (never briefly world-readable).
pub fn write_new_file(path: &Path, contents: &[u8], secret: bool) -> Result<(), Error> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Exists(path.to_path_buf())
        } else {
            Error::io(path, e)
        }
    })?;
    f.write_all(contents)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Writes a secret key file (64 hex digits and a newline, mode 0600).
pub fn write_secret_key(path: &Path, key: &SigningKey) -> Result<(), Error> {
    let text = format!("{}\n", hex::encode(key.to_bytes()));
    write_new_file(path, text.as_bytes(), true)
}

/// Reads a secret key file written by [`write_secret_key`].
pub fn read_secret_key(path: &Path) -> Result<SigningKey, Error> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let bad = |reason: &str| Error::BadKeyFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let bytes = hex::decode(text.trim()).map_err(|_| bad("expected 64 hex digits"))?;
    let seed: [u8; 32] = bytes
        .try_into()
        .map_err(|_| bad("expected 64 hex digits"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Paths of a sub-key pair: `PREFIX.key` (secret) and `PREFIX.cert`.
pub fn subkey_paths(prefix: &Path) -> (PathBuf, PathBuf) {
    let with = |ext: &str| {
        let mut s = prefix.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    (with(".key"), with(".cert"))
}

/// Reads a certificate file (114 raw bytes).
pub fn read_certificate(path: &Path) -> Result<Certificate, Error> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.len() != CERT_LEN {
        return Err(Error::BadCertificate {
            path: path.to_path_buf(),
            reason: format!("{} bytes, expected {CERT_LEN}", bytes.len()),
        });
    }
    Certificate::parse(&bytes).map_err(|e| Error::BadCertificate {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Loads `PREFIX.key` and `PREFIX.cert` and checks that the certificate
/// belongs to the key. The master signature is not checked here (the tool
/// does not need the master key to sign; doors check it).
pub fn load_subkey(prefix: &Path) -> Result<(SigningKey, Certificate), Error> {
    let (key_path, cert_path) = subkey_paths(prefix);
    let key = read_secret_key(&key_path)?;
    let cert = read_certificate(&cert_path)?;
    if cert.sub_pubkey != key.verifying_key().to_bytes() {
        return Err(Error::CertKeyMismatch {
            key: key_path,
            cert: cert_path,
        });
    }
    Ok((key, cert))
}

/// Creates a new sub-key and a certificate for it, valid from
/// `now - 300 s` for `valid_days` days.
pub fn delegate(
    master: &SigningKey,
    key_id: u8,
    now: u64,
    valid_days: u32,
) -> Result<(SigningKey, Certificate), Error> {
    if valid_days == 0 {
        return Err(Error::BadValidity);
    }
    let sub = generate_signing_key()?;
    let from = now.saturating_sub(CERT_BACKDATE_SECONDS);
    let until = now.saturating_add(valid_days as u64 * 86_400);
    let cert = Certificate::issue(master, &sub.verifying_key().to_bytes(), key_id, from, until);
    Ok((sub, cert))
}

/// Writes `PREFIX.key` (0600) and `PREFIX.cert`; refuses to overwrite either.
pub fn write_subkey(prefix: &Path, key: &SigningKey, cert: &Certificate) -> Result<(), Error> {
    let (key_path, cert_path) = subkey_paths(prefix);
    for p in [&key_path, &cert_path] {
        if p.exists() {
            return Err(Error::Exists(p.clone()));
        }
    }
    write_secret_key(&key_path, key)?;
    write_new_file(&cert_path, &cert.to_bytes(), false)
}

/// Path of the public key written beside a master secret: `FILE.pub`.
pub fn public_key_path(secret: &Path) -> PathBuf {
    let mut s = secret.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// Creates a master key: secret in `path` (0600) and public key in
/// `path.pub`. Refuses to overwrite either. Used by `keys init-master` and by
/// the server's first start.
pub fn create_master(path: &Path) -> Result<SigningKey, Error> {
    let pub_path = public_key_path(path);
    if pub_path.exists() {
        return Err(Error::Exists(pub_path));
    }
    let key = generate_signing_key()?;
    write_secret_key(path, &key)?;
    write_new_file(
        &pub_path,
        format!("{}\n", public_key_hex(&key)).as_bytes(),
        false,
    )?;
    Ok(key)
}

/// Reads a public key file (64 hex digits), e.g. `master.key.pub`.
pub fn read_public_key(path: &Path) -> Result<[u8; 32], Error> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_public_key_hex(&text)
}

/// Delegates a new sub-key and writes `PREFIX.key` / `PREFIX.cert`.
/// Used by `keys delegate` and by the server's first start.
pub fn create_subkey(
    master: &SigningKey,
    prefix: &Path,
    key_id: u8,
    now: u64,
    valid_days: u32,
) -> Result<(SigningKey, Certificate), Error> {
    let (sub, cert) = delegate(master, key_id, now, valid_days)?;
    write_subkey(prefix, &sub, &cert)?;
    Ok((sub, cert))
}
