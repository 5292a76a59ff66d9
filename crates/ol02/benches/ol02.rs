//! Encode+sign 10k/100k entries, verify 100k, lookup+decision in 100k.
//! `cargo bench -p ol02 --features std -- --warm-up-time 1 --measurement-time 3`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use ol02::ed25519_dalek::SigningKey;
use ol02::*;

const MON: u64 = 1_704_067_200;

/// A typical space: mostly 7-byte UIDs, some 4-byte, a few shared schedules,
/// a few dozen distinct profiles.
fn builder(n: usize) -> ListBuilder {
    let schedules = [
        vec![Slot::new(0x1F, 8 * 60, 22 * 60).unwrap()],
        vec![Slot::new(0x60, 10 * 60, 2 * 60).unwrap()],
        vec![
            Slot::new(Slot::TUE, 18 * 60, 23 * 60).unwrap(),
            Slot::new(Slot::THU, 18 * 60, 23 * 60).unwrap(),
        ],
    ];
    let mut b = ListBuilder::new(1, MON - 3600, MON + 86_400);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..n {
        // xorshift: deterministic, well-spread UIDs.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let bytes = x.to_be_bytes();
        let uid = if i % 4 == 0 {
            Uid::new(&bytes[..4]).unwrap()
        } else {
            Uid::new(&bytes[..7]).unwrap()
        };
        let mut e = EntrySpec::new(uid, AccessType::Scheduled, Role::Member);
        match i % 10 {
            0 => e.access_type = AccessType::Unrestricted,
            1..=6 => e.slots = schedules[i % 3].clone(),
            7 => {
                e.role = Role::Guest;
                e.valid_until = MON + 86_400 + 3_600 * ((i as u64 / 10) % 200);
                e.grace_minutes = 30;
            }
            _ => e.valid_until = MON + 86_400 * 365,
        }
        b.add_entry(e);
    }
    b
}

fn keys() -> (SigningKey, Certificate, [u8; 32]) {
    let master = SigningKey::from_bytes(&[1; 32]);
    let sub = SigningKey::from_bytes(&[2; 32]);
    let cert = Certificate::issue(&master, &sub.verifying_key().to_bytes(), 1, 0, 0);
    (sub, cert, master.verifying_key().to_bytes())
}

fn encode_sign(c: &mut Criterion) {
    let (sub, cert, _) = keys();
    let mut g = c.benchmark_group("encode_sign");
    g.sample_size(20);
    for n in [10_000usize, 100_000] {
        let b = builder(n);
        let signed = sign(&b.encode_unsigned().unwrap(), &cert, &sub).unwrap();
        let h = *List::parse_unsigned(&signed[..signed.len() - TRAILER_LEN])
            .unwrap()
            .header();
        println!(
            "{n} entries: {} bytes signed, {:.2} bytes/entry ({} profiles, {} schedules)",
            signed.len(),
            signed.len() as f64 / n as f64,
            h.profile_count,
            h.schedule_count
        );
        g.bench_with_input(BenchmarkId::from_parameter(n), &b, |bench, b| {
            bench.iter(|| sign(&b.encode_unsigned().unwrap(), &cert, &sub).unwrap())
        });
    }
    g.finish();
}

fn verify_and_decide(c: &mut Criterion) {
    let (sub, cert, master_pub) = keys();
    let b = builder(100_000);
    let uids: Vec<Uid> = b.entries.iter().map(|e| e.uid).collect();
    let signed = sign(&b.encode_unsigned().unwrap(), &cert, &sub).unwrap();
    c.bench_function("verify_100k", |bench| {
        bench.iter(|| {
            verify_list(black_box(&signed), &master_pub, MON, 0)
                .unwrap()
                .len()
        })
    });
    let list = verify_list(&signed, &master_pub, MON, 0).unwrap();
    let mut st = DoorState::new();
    for u in uids.iter().take(64) {
        st.record_grant(*u, MON - 100);
    }
    st.record_shutdown(MON - 50);
    let now = MON + 10 * 3600;
    let mut i = 0usize;
    c.bench_function("lookup_decide_100k", |bench| {
        bench.iter(|| {
            i = (i + 7919) % uids.len();
            decide(&list, black_box(&uids[i]), now, &st).decision
        })
    });
    let missing = Uid::from_hex("FFFFFFFFFFFFFE").unwrap();
    c.bench_function("lookup_decide_100k_unknown", |bench| {
        bench.iter(|| decide(&list, black_box(&missing), now, &st).decision)
    });
}

criterion_group!(benches, encode_sign, verify_and_decide);
criterion_main!(benches);
