//! The allow-list signer (system.md 4): a configured sub-key, a sub-key the
//! server created on first start (shared by every instance through the
//! database), or no private key at all (air-gapped).

use crate::config::{Config, SigningMode};
use crate::storage::{now_unix, secrets, Db};
use anyhow::{anyhow, bail, Context};
use ol02::ed25519_dalek::{SigningKey, VerifyingKey};
use ol02::Certificate;
use std::path::PathBuf;

/// Sub-keys expiring sooner than this are warned about.
pub const EXPIRY_WARNING_SECS: i64 = 30 * 86_400;
/// Validity of a sub-key the server delegates itself on first start.
const GENERATED_SUBKEY_DAYS: u32 = 365;
const GENERATED_KEY_ID: u8 = 1;
/// `server_secrets` row holding `master_pub:sub_seed:cert`, all hex.
const SECRET_NAME: &str = "allowlist_subkey";

pub struct OnlineKey {
    pub key: SigningKey,
    pub cert: Certificate,
}

pub struct Signing {
    pub mode: SigningMode,
    pub master_public: [u8; 32],
    /// Online mode only.
    pub online: Option<OnlineKey>,
}

impl Signing {
    pub fn master_public_hex(&self) -> String {
        hex::encode(self.master_public)
    }

    /// A short, comparable name for the master public key: the first 8
    /// bytes of its SHA-256, as `SHA256:ab:cd:...`.
    pub fn master_fingerprint(&self) -> String {
        fingerprint(&self.master_public)
    }

    /// Unix second the sub-key certificate expires (0 = never), online only.
    pub fn subkey_expires_at(&self) -> Option<i64> {
        self.online
            .as_ref()
            .map(|o| i64::try_from(o.cert.valid_until).unwrap_or(i64::MAX))
    }

    /// A warning text when the online sub-key expires within 30 days.
    pub fn subkey_warning(&self, now: i64) -> Option<String> {
        let until = self.subkey_expires_at().filter(|&u| u != 0)?;
        (until - now < EXPIRY_WARNING_SECS).then(|| {
            format!(
                "the signing sub-key expires in {} days; delegate a new one with \
                 `openlatch keys delegate` and set OPENLATCH_SUBKEY",
                (until - now).max(0) / 86_400
            )
        })
    }
}

/// See [`Signing::master_fingerprint`].
pub fn fingerprint(public: &[u8; 32]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(public);
    let parts: Vec<String> = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("SHA256:{}", parts.join(":"))
}

/// The master key file the first start creates in the data directory.
pub fn generated_master_path(config: &Config) -> PathBuf {
    config.data_dir.join("keys").join("master.key")
}

fn parse_master(config: &Config) -> anyhow::Result<Option<[u8; 32]>> {
    config
        .master_public_key
        .as_deref()
        .map(|s| {
            openlatch_keytool::parse_public_key_hex(s)
                .map_err(|e| anyhow!("OPENLATCH_MASTER_PUBLIC_KEY: {e}"))
        })
        .transpose()
}

/// Loads (or on first start creates) what the server signs with; refuses to
/// start on a sub-key that does not chain to the master or has expired.
pub async fn load(db: &Db, config: &Config) -> anyhow::Result<Signing> {
    let master_cfg = parse_master(config)?;
    let master_file = generated_master_path(config);
    if master_file.exists() {
        tracing::warn!(
            path = %master_file.display(),
            "a master PRIVATE key sits in the data directory: copy it to an offline machine, \
             set OPENLATCH_MASTER_PUBLIC_KEY to its public key, and delete it here (docs/signing.md)"
        );
    }
    let signing = match config.signing_mode {
        SigningMode::AirGapped => {
            let master = master_cfg.context(
                "air-gapped signing needs OPENLATCH_MASTER_PUBLIC_KEY (the master key's public \
                 half, 64 hex digits) to verify uploaded lists",
            )?;
            Signing {
                mode: SigningMode::AirGapped,
                master_public: master,
                online: None,
            }
        }
        SigningMode::Online => match &config.subkey {
            Some(prefix) => {
                let (key, cert) = openlatch_keytool::load_subkey(prefix)
                    .map_err(|e| anyhow!("loading the sub-key OPENLATCH_SUBKEY: {e}"))?;
                let master = master_cfg.context(
                    "OPENLATCH_SUBKEY needs OPENLATCH_MASTER_PUBLIC_KEY to check that the sub-key \
                     chains to the master key doors trust",
                )?;
                Signing {
                    mode: SigningMode::Online,
                    master_public: master,
                    online: Some(OnlineKey { key, cert }),
                }
            }
            None => {
                let (master, key, cert) = generated(db, config).await?;
                if master_cfg.is_some_and(|m| m != master) {
                    bail!(
                        "OPENLATCH_MASTER_PUBLIC_KEY is set but no OPENLATCH_SUBKEY: the server's \
                         own sub-key was certified by another master ({}). Delegate a sub-key \
                         from your master with `openlatch keys delegate` and set OPENLATCH_SUBKEY",
                        hex::encode(master)
                    );
                }
                Signing {
                    mode: SigningMode::Online,
                    master_public: master,
                    online: Some(OnlineKey { key, cert }),
                }
            }
        },
    };
    if let Some(o) = &signing.online {
        check_chain(&signing.master_public, &o.cert, now_unix())?;
        if let Some(w) = signing.subkey_warning(now_unix()) {
            tracing::warn!("{w}");
        }
    }
    Ok(signing)
}

/// The certificate must be signed by the master and valid now.
pub fn check_chain(master: &[u8; 32], cert: &Certificate, now: i64) -> anyhow::Result<()> {
    let master_key = VerifyingKey::from_bytes(master)
        .map_err(|_| anyhow!("OPENLATCH_MASTER_PUBLIC_KEY is not a valid Ed25519 key"))?;
    cert.verify_chain(&master_key).map_err(|e| {
        anyhow!(
            "the sub-key's certificate does not chain to the master key {} ({e}); doors would \
             refuse every list. Delegate a sub-key from that master with `openlatch keys delegate`",
            hex::encode(master)
        )
    })?;
    cert.check_time(u64::try_from(now).unwrap_or(0))
        .map_err(|e| {
            anyhow!(
                "the sub-key's certificate is not valid now ({e}); delegate a new sub-key with \
                 `openlatch keys delegate` and set OPENLATCH_SUBKEY"
            )
        })
}

/// The sub-key created on first start, stored once in the database so that
/// every instance signs with the same key.
async fn generated(
    db: &Db,
    config: &Config,
) -> anyhow::Result<([u8; 32], SigningKey, Certificate)> {
    let mut conn = db.read().await?;
    let stored = match secrets::get(&mut conn, SECRET_NAME).await? {
        Some(s) => s,
        None => {
            let master_path = generated_master_path(config);
            let master = if master_path.exists() {
                openlatch_keytool::read_secret_key(&master_path)
                    .map_err(|e| anyhow!("reading {}: {e}", master_path.display()))?
            } else {
                create_master(&master_path)?
            };
            let (sub, cert) = openlatch_keytool::delegate(
                &master,
                GENERATED_KEY_ID,
                u64::try_from(now_unix()).unwrap_or(0),
                GENERATED_SUBKEY_DAYS,
            )
            .map_err(|e| anyhow!("delegating a sub-key: {e}"))?;
            let candidate = format!(
                "{}:{}:{}",
                hex::encode(master.verifying_key().to_bytes()),
                hex::encode(sub.to_bytes()),
                hex::encode(cert.to_bytes())
            );
            // Instances starting together agree on whichever was stored first.
            secrets::get_or_create(&mut conn, SECRET_NAME, &candidate).await?
        }
    };
    parse_stored(&stored).context("the stored allow-list sub-key is unreadable")
}

fn create_master(path: &std::path::Path) -> anyhow::Result<SigningKey> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let key = openlatch_keytool::keyfile::create_master(path).map_err(|e| anyhow!("{e}"))?;
    let pub_hex = openlatch_keytool::public_key_hex(&key);
    let path = crate::datadir::absolute(path);
    // Loud on purpose: a server started in the wrong working directory gets
    // here too, and every door provisioned before would refuse its lists.
    tracing::warn!(
        path = %path.display(),
        master_public_key = %pub_hex,
        fingerprint = %fingerprint(&key.verifying_key().to_bytes()),
        "NEW MASTER KEY CREATED at {}: this is a first start with an empty data directory. \
         If this server ran before, it was started in another directory (the data directory is \
         relative to where it starts): stop it now, before any door is provisioned, and start \
         it with OPENLATCH_DATA_DIR set to the old directory. Otherwise provision doors with \
         this master public key, then move the master private key offline (copy it away, set \
         OPENLATCH_MASTER_PUBLIC_KEY, delete the file here)",
        path.display()
    );
    Ok(key)
}

fn parse_stored(s: &str) -> anyhow::Result<([u8; 32], SigningKey, Certificate)> {
    let mut parts = s.split(':');
    let mut next = || -> anyhow::Result<Vec<u8>> {
        hex::decode(parts.next().context("missing part")?).context("not hex")
    };
    let master: [u8; 32] = next()?
        .try_into()
        .map_err(|_| anyhow!("master key length"))?;
    let seed: [u8; 32] = next()?.try_into().map_err(|_| anyhow!("seed length"))?;
    let cert = Certificate::parse(&next()?).map_err(|e| anyhow!("certificate: {e}"))?;
    Ok((master, SigningKey::from_bytes(&seed), cert))
}
