//! Hostile input through the whole worker pipeline on both NICs: the bounded,
//! CI-run version of the fuzz target `fuzz/fuzz_targets/worker.rs` (same
//! harness). Arbitrary bytes and mutated valid frames must never panic, and
//! every frame must be forwarded or answered, parked for ARP, or counted under
//! exactly one drop reason, and every frame sent must keep the rules of
//! `fuzz/tx_check.rs` (the harness asserts both per frame).

#[path = "../fuzz/harness.rs"]
mod harness;
mod inmem;

use harness::Harness;
use proptest::prelude::*;
use ringvs::Nic;
use ringvs::stats::Ctr;

/// The templates are valid frames (checked by smoltcp, not by our own parser) and
/// each gets through: forwarded, answered, or (the three answers to health
/// checks) handed to the health thread.
#[test]
fn templates_are_valid_and_get_through() {
    let mut h = Harness::new();
    let mut diverted = 0;
    for (i, (nic, f)) in harness::templates().into_iter().enumerate() {
        let tapped_before = h.shared.health.handed();
        // A fragment is no whole TCP/UDP packet for smoltcp to check.
        let fragment = f.len() > 22 && (f[20] & 0x3f != 0 || f[21] != 0);
        if f[12..14] == [8, 0] && !fragment {
            inmem::try_parse_ip(&f).unwrap_or_else(|e| panic!("template {i}: {e}"));
        }
        let sent = h.one(nic, &f, false);
        // The unsolicited-looking ARP reply and the neighbor advertisement
        // from RS1 are learned, not answered.
        let na = f[12..14] == [0x86, 0xdd] && f.get(54) == Some(&136);
        let want = u64::from(!(na || nic == Nic::Int && f[12..14] == [8, 6]));
        if h.shared.health.handed() > tapped_before {
            assert_eq!(sent, 0, "template {i}");
            diverted += 1;
        } else {
            assert_eq!(sent, want, "template {i}");
        }
    }
    assert_eq!(diverted, 3, "the health checks' answers");
}

/// A run of 2000 random frames (half of them to our MAC as IPv4) leaves the established connection working.
#[test]
fn the_established_connection_survives_garbage() {
    let mut h = Harness::new();
    let mut bytes = Vec::new();
    for i in 0..2000u32 {
        let x = i.wrapping_mul(2_654_435_761);
        let len = (x % 90) as u8;
        // Raw bytes only (no template mutations: a mutated RST could close the
        // connection legitimately).
        bytes.push((x >> 8) as u8 & !4);
        bytes.push(len);
        bytes.extend((0..len).map(|k| (x >> (k % 24)) as u8 ^ k));
    }
    h.run(&bytes);
    assert!(h.fed >= 2000);
    let t = harness::templates();
    assert_eq!(
        h.one(t[1].0, &t[1].1, false),
        1,
        "client → server still forwarded"
    );
    assert_eq!(
        h.one(t[2].0, &t[2].1, false),
        1,
        "server → client still forwarded"
    );
    assert!(h.w.core.ctr.get(Ctr::FwdIn) >= 3);
}

/// Mutations whose checksums are recomputed get past the checksum checks into
/// ICMP translation and connection state; without, a third stop at the
/// checksum and few get that far.
/// 8000 mutated templates (1 to 3 byte edits each, in the first 80 bytes), half
/// of them with checksums recomputed; prints how many reach each stage
/// (`-- --nocapture`).
#[test]
fn recomputed_checksums_reach_icmp_and_state() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut fixed = harness::Stages::default();
    let mut unfixed = harness::Stages::default();
    let mut applied = harness::tx_check::Applied::default();
    for _ in 0..40 {
        let mut h = Harness::new();
        let mut data = Vec::new();
        for _ in 0..200 {
            let r = rnd();
            let edits = 1 + (r % 3) as usize;
            data.push(4 | if r & 8 != 0 { 16 } else { 0 });
            data.push(1 + 2 * edits as u8);
            data.push((r >> 8) as u8);
            for k in 0..edits {
                let e = rnd();
                // Past the Ethernet header, where checksums matter.
                data.push(14 + (e % 66) as u8);
                data.push((e >> 8) as u8 ^ k as u8);
            }
        }
        h.run(&data);
        applied.frames += h.applied.frames;
        applied.ip += h.applied.ip;
        applied.l4 += h.applied.l4;
        applied.ttl += h.applied.ttl;
        for (s, t) in [(&mut fixed, &h.fixed), (&mut unfixed, &h.unfixed)] {
            for (a, b) in s.0.iter_mut().zip(t.0) {
                *a += b;
            }
        }
    }
    use harness::Stage::*;
    for (name, t) in [("recomputed", &fixed), ("as mutated", &unfixed)] {
        eprintln!(
            "{name}: {} frames: checksum drop {}, ICMP translated {}, ICMP dropped {}, \
             connection state {}, other {}",
            t.total(),
            t.get(Checksum),
            t.get(IcmpTranslated),
            t.get(Icmp),
            t.get(State),
            t.get(Other)
        );
    }
    assert_eq!(fixed.total() + unfixed.total(), 8000);
    assert!(fixed.get(Checksum) * 20 < fixed.total(), "{fixed:?}");
    assert!(fixed.get(IcmpTranslated) > 0, "{fixed:?}");
    assert!(fixed.get(Icmp) > fixed.get(IcmpTranslated) / 2, "{fixed:?}");
    assert!(
        fixed.get(State) > 2 * unfixed.get(State),
        "{fixed:?} {unfixed:?}"
    );
    assert!(
        fixed.get(IcmpTranslated) > 4 * unfixed.get(IcmpTranslated),
        "{fixed:?} {unfixed:?}"
    );
    assert!(unfixed.get(Checksum) * 4 > unfixed.total(), "{unfixed:?}");
    // The frames sent were held to every rule of `tx_check`: most had their
    // L4 checksum verified, and the forwarded ones their TTL compared.
    eprintln!("rules applied: {applied:?}");
    assert!(applied.ip * 10 > applied.frames * 9, "{applied:?}");
    assert!(applied.l4 * 2 > applied.ip, "{applied:?}");
    assert!(applied.ttl * 4 > applied.ip, "{applied:?}");
}

/// The DR/TUN director's own templates get through: data to each
/// connection goes to its server, the router's error about the tunnel
/// packet reaches the client, the client-side error about the DR reply the
/// real server, and the packets without DF over the internal MTU go in
/// fragments (each counted as one outcome by the harness).
#[test]
fn direct_templates_get_through() {
    let mut h = Harness::direct();
    let base = harness::templates().len();
    let t = harness::templates_direct();
    let want = [
        (Ctr::TunnelEncap, 1u64),
        (Ctr::FwdIn, 1),
        (Ctr::IcmpErrorTunnel, 1),
        (Ctr::IcmpErrorDirect, 1),
        (Ctr::TxFragments, 2),
        (Ctr::TxFragments, 2),
    ];
    assert_eq!(t.len(), base + want.len());
    for (i, ((nic, f), (ctr, n))) in t[base..].iter().zip(want).enumerate() {
        inmem::try_parse_ip(f).unwrap_or_else(|e| panic!("template {i}: {e}"));
        let before = h.w.core.ctr.get(ctr);
        let sent = h.one(*nic, f, false);
        assert!(sent >= 1, "template {i}: nothing sent");
        assert_eq!(
            h.w.core.ctr.get(ctr) - before,
            n,
            "template {i}: {}",
            ctr.name()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// [`Harness::direct`] under mutated templates, its own ones among
    /// them: the ICMP paths of DR and TUN and fragmentation keep one
    /// outcome per frame.
    #[test]
    fn mutated_direct_templates_have_one_outcome_per_frame(
        muts in prop::collection::vec(
            (any::<u8>(), any::<bool>(), prop::collection::vec((14u8..120, any::<u8>()), 0..4)),
            1..24,
        )
    ) {
        let mut h = Harness::direct();
        let n = harness::templates_direct().len();
        let base = harness::templates().len();
        let mut data = Vec::new();
        for (which, fix, edits) in muts {
            // Mostly the DR/TUN templates.
            let which = if which & 1 == 0 { (base + usize::from(which >> 1) % (n - base)) as u8 } else { which };
            let body: Vec<u8> = std::iter::once(which)
                .chain(edits.into_iter().flat_map(|(a, v)| [a, v]))
                .collect();
            data.push(4 | if fix { 16 } else { 0 });
            data.push(body.len() as u8);
            data.extend(body);
        }
        h.run(&data);
        prop_assert!(h.fed >= 1);
    }

    #[test]
    fn arbitrary_runs_have_one_outcome_per_frame(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut h = Harness::new();
        h.run(&data);
    }

    #[test]
    fn mutated_templates_have_one_outcome_per_frame(
        muts in prop::collection::vec(
            (any::<u8>(), any::<bool>(), any::<bool>(), prop::collection::vec((0u8..80, any::<u8>()), 0..6)),
            1..16,
        )
    ) {
        let mut h = Harness::new();
        let mut data = Vec::new();
        for (which, partial, fix, edits) in muts {
            let body: Vec<u8> = std::iter::once(which)
                .chain(edits.into_iter().flat_map(|(a, v)| [a, v]))
                .collect();
            data.push(4 | if partial { 2 } else { 0 } | if fix { 16 } else { 0 });
            data.push(body.len() as u8);
            data.extend(body);
        }
        h.run(&data);
        prop_assert!(h.fed >= 1);
    }
}

/// A fuzzer's find (`cargo fuzz run worker`): a one-packet-scheduling
/// reply mutated to a client address nobody answers ARP for is parked, and
/// given up (`drop_neigh_unresolved`) during a later frame's pass, hundreds
/// of frames on. The run keeps the harness's one-outcome-per-frame count.
#[test]
fn a_parked_frame_given_up_later_is_its_own_outcome() {
    let data = include_bytes!("data/fuzz/worker-parked-then-given-up");
    let mut h = Harness::new();
    h.run(data);
    assert_eq!(h.w.core.ctr.get(Ctr::DropNeighUnresolved), 1);
    assert!(h.fed > 300, "{} frames", h.fed);
}
