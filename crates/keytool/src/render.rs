//! Human and JSON views of a list. Keypad secrets are never rendered.

use std::io::{self, Write};

use ol02::{Certificate, Entry, List, Slot};
use serde_json::{json, Value};

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// RFC 3339 UTC, or the raw number if out of range.
pub(crate) fn time(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || unix.to_string(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
}

fn bound(unix: u64) -> String {
    if unix == 0 {
        "-".into()
    } else {
        time(unix)
    }
}

fn hhmm(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn days(mask: u8) -> Vec<&'static str> {
    DAY_NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, d)| *d)
        .collect()
}

fn slot_text(s: &Slot) -> String {
    format!(
        "{} {}-{}{}",
        days(s.days).join(","),
        hhmm(s.start_minute),
        hhmm(s.end_minute),
        if s.is_overnight() { " (+1 day)" } else { "" }
    )
}

fn flag_names(list: &List<'_>) -> Vec<&'static str> {
    let f = list.header().flags;
    let mut v = Vec::new();
    if f.has_emergency() {
        v.push("has_emergency");
    }
    if f.lockdown() {
        v.push("lockdown");
    }
    v
}

/// One line per entry, used by `inspect` and `sign`.
pub(crate) fn entry_line(e: &Entry) -> String {
    let mut s = format!(
        "{:<20} {:<12} {:<9}",
        e.uid.to_string(),
        e.access_type.as_str(),
        e.role.as_str()
    );
    if e.valid_from != 0 || e.valid_until != 0 {
        s += &format!(" valid {} .. {}", bound(e.valid_from), bound(e.valid_until));
    }
    if !e.schedule.is_all_day() {
        let slots: Vec<String> = e.schedule.slots().iter().map(slot_text).collect();
        s += &format!(" slots [{}]", slots.join("; "));
    }
    if e.grace_minutes > 0 {
        s += &format!(" grace {}m", e.grace_minutes);
    }
    if e.flags.notify_on_use() {
        s += " notify_on_use";
    }
    if e.flags.notify_on_anomaly() {
        s += " notify_on_anomaly";
    }
    if e.keypad_id != 0 {
        s += &format!(" keypad {}", e.keypad_id);
    }
    s
}

/// Header lines, used by `inspect` and `sign`.
pub(crate) fn header_text(
    out: &mut dyn Write,
    list: &List<'_>,
    cert: Option<&Certificate>,
    size: usize,
    now: u64,
) -> io::Result<()> {
    let h = list.header();
    writeln!(out, "version:      {}", h.version)?;
    writeln!(out, "generated_at: {}", time(h.generated_at))?;
    let stale = if h.is_stale_at(now) {
        " (STALE at the checked time)"
    } else {
        ""
    };
    writeln!(out, "valid_until:  {}{stale}", time(h.valid_until))?;
    writeln!(out, "flags:        [{}]", flag_names(list).join(", "))?;
    writeln!(
        out,
        "entries:      {} ({} schedules, {} profiles, {} keypad records, {size} bytes)",
        h.entry_count, h.schedule_count, h.profile_count, h.keypad_count
    )?;
    if let Some(c) = cert {
        writeln!(
            out,
            "signer:       key id {} sub-key {} valid {} .. {}",
            c.key_id,
            hex::encode(c.sub_pubkey),
            time(c.valid_from),
            if c.valid_until == 0 {
                "no expiry".into()
            } else {
                time(c.valid_until)
            }
        )?;
    }
    Ok(())
}

pub(crate) fn list_text(
    out: &mut dyn Write,
    list: &List<'_>,
    cert: Option<&Certificate>,
    size: usize,
    now: u64,
) -> io::Result<()> {
    header_text(out, list, cert, size, now)?;
    writeln!(out)?;
    for e in list.entries() {
        writeln!(out, "{}", entry_line(&e))?;
    }
    for k in list.keypads() {
        writeln!(
            out,
            "keypad {:<5} totp={} backup_sheet={} used={:?}",
            k.keypad_id,
            k.totp_secret.is_some(),
            k.hotp_secret.is_some(),
            used_indices(k.hotp_used)
        )?;
    }
    Ok(())
}

fn used_indices(mask: u16) -> Vec<u8> {
    (0..10).filter(|i| mask & (1 << i) != 0).collect()
}

fn opt_time(unix: u64) -> Value {
    if unix == 0 {
        Value::Null
    } else {
        json!(unix)
    }
}

pub(crate) fn entry_json(e: &Entry) -> Value {
    let slots: Vec<Value> = e
        .schedule
        .slots()
        .iter()
        .map(|s| {
            json!({
                "days": days(s.days),
                "day_mask": s.days,
                "start_minute": s.start_minute,
                "end_minute": s.end_minute,
                "start": hhmm(s.start_minute),
                "end": hhmm(s.end_minute),
                "overnight": s.is_overnight(),
            })
        })
        .collect();
    json!({
        "uid": e.uid.to_string(),
        "access_type": e.access_type.as_str(),
        "role": e.role.as_str(),
        "role_byte": e.role.as_byte(),
        "valid_from": opt_time(e.valid_from),
        "valid_until": opt_time(e.valid_until),
        "slots": slots,
        "grace_minutes": e.grace_minutes,
        "notify_on_use": e.flags.notify_on_use(),
        "notify_on_anomaly": e.flags.notify_on_anomaly(),
        "keypad_id": if e.keypad_id == 0 { Value::Null } else { json!(e.keypad_id) },
    })
}

pub(crate) fn list_json(
    list: &List<'_>,
    cert: Option<&Certificate>,
    size: usize,
    now: u64,
) -> Value {
    let h = list.header();
    let certificate = cert.map(|c| {
        json!({
            "key_id": c.key_id,
            "sub_pubkey": hex::encode(c.sub_pubkey),
            "valid_from": c.valid_from,
            "valid_until": opt_time(c.valid_until),
        })
    });
    let keypads: Vec<Value> = list
        .keypads()
        .map(|k| {
            json!({
                "keypad_id": k.keypad_id,
                "totp": k.totp_secret.is_some(),
                "backup_sheet": k.hotp_secret.is_some(),
                "backup_used": used_indices(k.hotp_used),
            })
        })
        .collect();
    json!({
        "version": h.version,
        "generated_at": h.generated_at,
        "valid_until": h.valid_until,
        "stale": h.is_stale_at(now),
        "checked_at": now,
        "flags": {
            "bits": h.flags.bits(),
            "has_emergency": h.flags.has_emergency(),
            "lockdown": h.flags.lockdown(),
            "names": flag_names(list),
        },
        "entry_count": h.entry_count,
        "size_bytes": size,
        "signed": cert.is_some(),
        "certificate": certificate,
        "entries": list.entries().map(|e| entry_json(&e)).collect::<Vec<_>>(),
        "keypads": keypads,
    })
}
