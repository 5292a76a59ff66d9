//! Size and speed of allow-lists built on the server's own path: the
//! compiler (`domain::compile` through `app::allowlist::compile_inputs`),
//! the server's OL02 builder and encoder, and signing with a sub-key, for
//! spaces of 500, 10,000 and 100,000 members.
//!
//! ```text
//! cargo run --release -p openlatch --example list_build [-- 500 10000 100000]
//! ```
//!
//! The space: 75 % 7-byte and 25 % 4-byte UIDs, one key per member;
//! 2 % keyholders, 1 % admins, 3 % guests, the rest members; members may
//! enter on weekdays 07:00-23:00 and weekends 09:00-21:00 (Europe/Berlin),
//! keyholders and admins at any time; guests come in groups of about 30,
//! each group with its own date range (and 30 minutes' grace). Keyholders
//! and admins are guarantors with keypad codes enrolled (a TOTP secret and
//! a backup sheet each), so their profiles carry keypad ids and the list
//! carries a keypad section, as the server builds it.
//!
//! The example uses jemalloc, as the server binary does: the compiler
//! allocates per key, and the allocator shows in the times.

use ol02::KeypadSpec;
use openlatch::app::allowlist::{compile_inputs, encode_compiled, zone_keypads, Inputs};
use openlatch::domain::key::{NfcKey, Uid};
use openlatch::domain::member::{Member, Role};
use openlatch::domain::rule::{DateRange, Rule, RuleParams, Target, TimeWindow};
use openlatch::domain::zone::ZoneScope;
use openlatch::domain::{from_unix, KeyId, MemberId, RuleId};
use std::collections::HashMap;
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const NOW: i64 = 1_768_392_000; // 2026-01-14T12:00:00Z, a Wednesday
const VALIDITY: i64 = 86_400;

fn rule(name: &str, params: RuleParams, targets: Vec<Target>, seq: i64) -> Rule {
    Rule {
        id: RuleId::new(),
        name: name.into(),
        params,
        priority: 0,
        is_active: true,
        targets,
        zone_ids: Vec::new(),
        created_at: from_unix(0),
        updated_at: from_unix(0),
        seq,
    }
}

fn window(days: u8, start: u16, end: u16) -> RuleParams {
    RuleParams::TimeWindow(TimeWindow {
        days,
        start_minute: start,
        end_minute: end,
        timezone: chrono_tz::Europe::Berlin,
    })
}

/// A deterministic UID for member `i`: 7 bytes for three in four.
fn uid(i: usize) -> Uid {
    let x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5A5A_5A5A;
    let hex = format!("{x:016X}");
    let text = if i % 4 == 3 {
        hex[..8].to_owned()
    } else {
        format!("04{}", &hex[..12])
    };
    Uid::parse(&text).expect("valid uid")
}

pub fn space(n: usize) -> Inputs {
    let mut members = Vec::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    let mut guests: Vec<MemberId> = Vec::new();
    let mut enrolled_keypads = HashMap::new();
    let mut keypads = Vec::new();
    for i in 0..n {
        let role = match i % 100 {
            0 | 1 => Role::Keyholder,
            2 => Role::Admin,
            3..=5 => Role::Guest,
            _ => Role::Member,
        };
        let guarantor = matches!(role, Role::Keyholder | Role::Admin);
        let keypad_id = if guarantor {
            u16::try_from(keypads.len() + 1).expect("fewer than 65,536 guarantors")
        } else {
            0
        };
        let m = Member {
            id: MemberId::new(),
            username: format!("member{i}"),
            email: format!("member{i}@example.org"),
            display_name: format!("Member {i}"),
            role,
            is_active: true,
            keypad_id,
            created_at: from_unix(0),
            updated_at: from_unix(0),
        };
        if role == Role::Guest {
            guests.push(m.id);
        }
        if guarantor {
            let secret = |salt: u8| {
                let mut s = [0u8; ol02::OTP_SECRET_LEN];
                for (j, b) in s.iter_mut().enumerate() {
                    *b = (i as u8) ^ (j as u8).wrapping_mul(31) ^ salt;
                }
                s
            };
            enrolled_keypads.insert(m.id, keypad_id);
            keypads.push(KeypadSpec {
                keypad_id,
                totp_secret: Some(secret(0x5a)),
                hotp_secret: Some(secret(0xa5)),
                hotp_used: 0b11,
            });
        }
        keys.push(NfcKey {
            id: KeyId::new(),
            member_id: m.id,
            uid: uid(i),
            label: String::new(),
            key_type: None,
            access_type: None,
            expires_at: None,
            revoked_at: None,
            revoke_reason: None,
            created_at: from_unix(0),
        });
        members.push(m);
    }
    let mut rules = vec![
        rule(
            "members on weekdays",
            window(0b001_1111, 7 * 60, 23 * 60),
            vec![Target::Role(Role::Member)],
            1,
        ),
        rule(
            "members at weekends",
            window(0b110_0000, 9 * 60, 21 * 60),
            vec![Target::Role(Role::Member)],
            2,
        ),
    ];
    for (g, group) in guests.chunks(30).enumerate() {
        let start = NOW - 86_400 + (g as i64 % 7) * 3600;
        rules.push(rule(
            &format!("guest group {g}"),
            RuleParams::DateRange(DateRange {
                start: from_unix(start),
                end: from_unix(start + (3 + g as i64 % 10) * 86_400),
                grace_minutes: 30,
            }),
            group.iter().map(|&id| Target::Member(id)).collect(),
            3 + g as i64,
        ));
    }
    Inputs {
        members,
        keys,
        rules,
        zones: Vec::new(),
        enrolled_keypads,
        keypads,
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a member count"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![500, 10_000, 100_000]
    } else {
        sizes
    };
    let master = ol02::ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let sub = ol02::ed25519_dalek::SigningKey::from_bytes(&[8; 32]);
    let cert = ol02::Certificate::issue(&master, &sub.verifying_key().to_bytes(), 1, 0, 0);
    println!("members  entries  profiles  schedules  keypads  bytes     bytes/entry  compile  encode  sign   total (median of 5)");
    for n in sizes {
        let inputs = space(n);
        let mut runs = Vec::new();
        let mut last = None;
        for _ in 0..5 {
            let t0 = Instant::now();
            let c = compile_inputs(&inputs, ZoneScope::MAIN, NOW, VALIDITY);
            let t1 = Instant::now();
            let keypads = zone_keypads(&inputs, ZoneScope::MAIN, &c);
            let unsigned = encode_compiled(&c, &keypads, 1, NOW, NOW + VALIDITY).expect("encodes");
            let t2 = Instant::now();
            let signed = ol02::sign(&unsigned, &cert, &sub).expect("signs");
            let t3 = Instant::now();
            runs.push((t1 - t0, t2 - t1, t3 - t2, t3 - t0));
            last = Some((c.entries().count(), signed));
        }
        runs.sort_by_key(|r| r.3);
        let (compile, encode, sign, total) = runs[runs.len() / 2];
        let (entries, signed) = last.expect("ran");
        let list = ol02::List::parse_unsigned(&signed[..signed.len() - ol02::TRAILER_LEN])
            .expect("readable");
        println!(
            "{n:>7}  {entries:>7}  {:>8}  {:>9}  {:>7}  {:>8}  {:>11.2}  {:>5.1}ms {:>5.1}ms {:>4.1}ms {:>5.1}ms",
            list.header().profile_count,
            list.header().schedule_count,
            list.header().keypad_count,
            signed.len(),
            signed.len() as f64 / entries as f64,
            compile.as_secs_f64() * 1e3,
            encode.as_secs_f64() * 1e3,
            sign.as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3,
        );
    }
}
