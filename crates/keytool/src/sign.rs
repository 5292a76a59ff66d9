//! `keys sign`: show what is about to be signed, confirm, sign.

use std::collections::BTreeMap;
use std::path::Path;

use ol02::{AccessType, Entry, List, Uid};

use crate::{keyfile, render, Console, Error};

/// The changes a signer must see: a compromised server must not slip in a
/// UID unnoticed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListDiff {
    /// In the new list only.
    pub added: Vec<Entry>,
    /// In the previous list only.
    pub removed: Vec<Entry>,
    /// In both with another access type: (old, new).
    pub type_changed: Vec<(AccessType, Entry)>,
    /// In both, same type, other fields changed.
    pub other_changed: Vec<Entry>,
}

/// Compares two lists by UID.
pub fn diff(previous: &List<'_>, new: &List<'_>) -> ListDiff {
    let old: BTreeMap<Uid, Entry> = previous.entries().map(|e| (e.uid, e)).collect();
    let mut d = ListDiff::default();
    for e in new.entries() {
        match old.get(&e.uid) {
            None => d.added.push(e),
            Some(o) if o.access_type != e.access_type => d.type_changed.push((o.access_type, e)),
            Some(o) if o != &e => d.other_changed.push(e),
            Some(_) => {}
        }
    }
    d.removed = previous
        .entries()
        .filter(|e| new.find(&e.uid).is_none())
        .collect();
    d
}

pub(crate) fn run(
    subkey: &Path,
    unsigned: &Path,
    signed: &Path,
    previous: Option<&Path>,
    yes: bool,
    c: &mut Console<'_>,
) -> Result<(), Error> {
    let (key, cert) = keyfile::load_subkey(subkey)?;
    let body = std::fs::read(unsigned).map_err(|e| Error::io(unsigned, e))?;
    let list = List::parse_unsigned(&body).map_err(|source| Error::Decode {
        path: unsigned.to_path_buf(),
        reason: source,
    })?;
    let out = &mut *c.out;
    let w = |r: std::io::Result<()>| r.map_err(Error::stdout);

    w(writeln!(out, "About to sign {}:", unsigned.display()))?;
    w(render::header_text(
        out,
        &list,
        Some(&cert),
        body.len() + ol02::TRAILER_LEN,
        c.now,
    ))?;
    if cert.valid_until != 0 && cert.valid_until < list.header().valid_until {
        w(writeln!(
            out,
            "WARNING: the certificate expires ({}) before the list does",
            render::time(cert.valid_until)
        ))?;
    }

    let prev_bytes;
    match previous {
        Some(p) => {
            prev_bytes = std::fs::read(p).map_err(|e| Error::io(p, e))?;
            let decode = |source| Error::Decode {
                path: p.to_path_buf(),
                reason: source,
            };
            let parts = ol02::parse_signed(&prev_bytes).map_err(decode)?;
            let prev = List::parse_unsigned(parts.body).map_err(decode)?;
            if list.version() <= prev.version() {
                return Err(Error::VersionNotNewer {
                    previous: prev.version(),
                    new: list.version(),
                });
            }
            let d = diff(&prev, &list);
            w(writeln!(
                out,
                "\nChanges against {} (version {}): {} added, {} removed, {} changed type, {} otherwise changed",
                p.display(),
                prev.version(),
                d.added.len(),
                d.removed.len(),
                d.type_changed.len(),
                d.other_changed.len()
            ))?;
            for e in &d.added {
                w(writeln!(out, "  + {}", render::entry_line(e)))?;
            }
            for e in &d.removed {
                w(writeln!(out, "  - {}", render::entry_line(e)))?;
            }
            for (old, e) in &d.type_changed {
                w(writeln!(
                    out,
                    "  ~ {} type {} -> {}",
                    e.uid,
                    old.as_str(),
                    e.access_type.as_str()
                ))?;
            }
            for e in &d.other_changed {
                w(writeln!(out, "  * {}", render::entry_line(e)))?;
            }
        }
        None => {
            // Nothing to compare with: every entry is new to the signer.
            w(writeln!(
                out,
                "\nNo --previous list given; all {} entries:",
                list.len()
            ))?;
            for e in list.entries() {
                w(writeln!(out, "  + {}", render::entry_line(&e)))?;
            }
        }
    }

    if c.interactive && !yes {
        w(write!(out, "\nSign this list? [y/N] "))?;
        w(out.flush())?;
        let mut answer = String::new();
        c.input
            .read_line(&mut answer)
            .map_err(|e| Error::io(Path::new("<stdin>"), e))?;
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            return Err(Error::Aborted);
        }
    }

    let signed_bytes = ol02::sign(&body, &cert, &key)?;
    // Write beside the target, then rename: never a half-written list.
    let tmp = signed.with_extension("tmp-signing");
    std::fs::write(&tmp, &signed_bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, signed).map_err(|e| Error::io(signed, e))?;
    w(writeln!(
        c.out,
        "signed version {} with key id {} -> {} ({} bytes)",
        list.version(),
        cert.key_id,
        signed.display(),
        signed_bytes.len()
    ))
}
