//! A backup director's handling of received sync messages, from the datagram
//! to the packet path: the bounded, CI-run version of the fuzz target
//! `fuzz/fuzz_targets/sync_install.rs` (same checks, `fuzz/sync_install.rs`):
//! every entry accounted for, the tables consistent, every installed
//! connection and template served once the director is active, and, where
//! the datagrams are what was built, the tables and counters a model of
//! `Intake::entry` and `Core::install` predicts.

#[path = "../fuzz/sync_install.rs"]
mod sync_install;

use proptest::prelude::*;
use std::path::PathBuf;

use ringvs::nat::State;
use sync_install::{Fwd, Spec, Steps, Wire};

#[path = "common/seed_files.rs"]
mod seed_files;

fn seed_dir() -> PathBuf {
    seed_files::seed_dir("sync_install")
}

/// The seed corpus, `fuzz/seeds/sync_install/`: (name, bytes).
fn seeds() -> Vec<(String, Vec<u8>)> {
    seed_files::seeds("sync_install")
}

/// The seeds as written here (`Spec` names an entry's fields; the defaults
/// are an established NAT connection of the first client, port and real
/// server of `-t 198.18.0.110:80`).
fn written() -> Vec<(&'static str, Vec<u8>)> {
    let e = Spec::default();
    let tcp = |s| Wire::Tcp(s);
    let c = |client, cport, rip| Spec {
        client,
        cport,
        rip,
        ..e
    };
    let tpl = |svc, client, rip, timeout| Spec {
        template: true,
        svc,
        client,
        rip,
        timeout,
        ..e
    };
    vec![
        // A standby learns connections, updates a state, lets a new real
        // server replace the old; active, it keeps its own; standby again,
        // it takes the master's word.
        (
            "standby_then_active",
            Steps::default()
                .msg(&[
                    c(0, 0, 0),
                    c(1, 1, 1),
                    Spec {
                        state: tcp(State::SynRecv),
                        ..c(2, 2, 0)
                    },
                    Spec {
                        svc: 2,
                        state: Wire::Proto,
                        ..c(0, 0, 0)
                    },
                ])
                .poll()
                .msg(&[
                    Spec {
                        state: tcp(State::CloseWait),
                        ..c(0, 0, 0)
                    },
                    c(1, 1, 0),
                ])
                .poll()
                .active()
                .msg(&[c(0, 0, 1), c(2, 3, 1)])
                .poll()
                .standby()
                .msg(&[Spec {
                    state: tcp(State::TimeWait),
                    ..c(0, 0, 1)
                }])
                .poll()
                .msg(&[Spec {
                    state: tcp(State::FinWait),
                    ..c(0, 0, 1)
                }])
                .poll()
                .0,
        ),
        // Templates of both families: learned, replaced on a standby, kept
        // when active, then replaced once expired; one for a service
        // without persistence.
        (
            "templates",
            Steps::default()
                .msg(&[
                    tpl(4, 0, 0, 3),
                    Spec {
                        v6: true,
                        ..tpl(2, 0, 0, 2)
                    },
                    Spec {
                        svc: 4,
                        ..c(1, 1, 0)
                    },
                ])
                .poll()
                .msg(&[tpl(4, 1, 1, 4)])
                .active()
                .msg(&[tpl(4, 2, 0, 3), tpl(0, 0, 0, 3)])
                .poll()
                .clock(121)
                .msg(&[tpl(4, 0, 0, 3)])
                .poll()
                .0,
        ),
        // Two VIPs on one real server: the same client and port to both
        // clash on the reply's key.
        (
            "clash",
            Steps::default()
                .msg(&[
                    c(0, 0, 0),
                    Spec {
                        svc: 3,
                        ..c(0, 0, 0)
                    },
                    Spec {
                        svc: 3,
                        ..c(1, 0, 0)
                    },
                ])
                .poll()
                .0,
        ),
        // IPv6 connections, DR; methods that differ, unknown services and
        // servers, states a connection cannot be in.
        (
            "v6_dr_and_refusals",
            Steps::default()
                .msg(&[
                    Spec {
                        v6: true,
                        ..c(0, 0, 0)
                    },
                    Spec {
                        v6: true,
                        svc: 1,
                        state: tcp(State::SynSent),
                        ..c(1, 1, 1)
                    },
                    Spec {
                        fwd: Fwd::Route,
                        svc: 5,
                        ..c(0, 0, 1)
                    },
                    Spec {
                        svc: 5,
                        ..c(1, 0, 1)
                    },
                ])
                .msg(&[
                    Spec { svc: 6, ..e },
                    Spec {
                        svc: 7,
                        state: Wire::Proto,
                        ..e
                    },
                    Spec { svc: 8, ..e },
                    Spec { rip: 2, ..e },
                    Spec {
                        state: Wire::Number(0),
                        ..e
                    },
                    Spec {
                        state: Wire::Number(13),
                        ..e
                    },
                    Spec {
                        v6: true,
                        svc: 3,
                        state: Wire::Proto,
                        ..e
                    },
                    Spec {
                        fwd: Fwd::Tunnel,
                        ..c(1, 3, 0)
                    },
                ])
                .poll()
                .0,
        ),
        // Twelve connections of the client that never answers ARP: its
        // replies wait for it, four a worker, and the rest are dropped.
        (
            "unresolved_client",
            Steps::default()
                .msg(&[0, 1, 2].map(|p| Spec {
                    rip: 1,
                    ..c(2, p, 0)
                }))
                .msg(&[0, 1, 2].map(|p| Spec {
                    svc: 2,
                    ..c(2, p, 0)
                }))
                .msg(&[0, 1, 2].map(|p| Spec {
                    svc: 3,
                    ..c(2, p, 0)
                }))
                .msg(&[0, 1, 2].map(|p| Spec {
                    svc: 4,
                    ..c(2, p, 0)
                }))
                .poll()
                .0,
        ),
        // Version 0 (a kernel master with `sync_version=0`): a connection,
        // a template, a connection under it with the sequence option, one
        // of a protocol ringvs lacks; then one cut short of what it
        // announces and one to another syncid. Taken on a standby, served
        // once active.
        (
            "v0_messages",
            Steps::default()
                .raw(&v0(
                    4,
                    7,
                    &[
                        (6, 40000, 80, [198, 19, 0, 3], 0, 1),
                        (6, 0, 443, [198, 19, 0, 3], 0x1100, 0),
                        (6, 40001, 443, [198, 19, 0, 3], 0x0200, 1),
                        (50, 40002, 80, [198, 19, 0, 2], 0, 1),
                    ],
                ))
                .raw(&v0(2, 7, &[(17, 1024, 53, [198, 19, 0, 2], 0x0100, 0)]))
                .raw(&v0(1, 9, &[(6, 40003, 80, [198, 19, 0, 2], 0, 1)]))
                .poll()
                .active()
                .poll()
                .0,
        ),
        // Another syncid, an edited message, raw bytes, the clock moving.
        (
            "edited_raw_clock",
            Steps::default()
                .edited(9, &[e], &[])
                .edited(7, &[c(1, 0, 0)], &[(8, 0xff), (12, 0x80)])
                .raw(
                    &[
                        [0, 2, 0, 0x38, 1, 7, 0, 0].as_slice(),
                        &(0..48).collect::<Vec<u8>>(),
                    ]
                    .concat(),
                )
                .poll()
                .clock(200)
                .msg(&[c(2, 2, 0)])
                .poll()
                .0,
        ),
    ]
}

/// A version-0 entry's fields: protocol, client port, virtual port, real
/// server, flags, state.
type V0Entry = (u8, u16, u16, [u8; 4], u16, u16);

/// A version-0 message (`struct ip_vs_sync_mesg_v0`: nr_conns, syncid,
/// size) of `entries`, each of the client 198.18.0.1 and the VIP
/// 198.18.0.110 as `struct ip_vs_sync_conn_v0` (24 bytes), followed by the
/// sequence option (in_seq zero, out_seq `[init, 7, 0]` little-endian) when
/// the flags carry one.
fn v0(nr_conns: u8, syncid: u8, entries: &[V0Entry]) -> Vec<u8> {
    let mut m = vec![nr_conns, syncid, 0, 0];
    for &(proto, cport, vport, rs, flags, state) in entries {
        m.extend([0, proto]);
        m.extend(cport.to_be_bytes());
        m.extend(vport.to_be_bytes());
        m.extend(vport.to_be_bytes());
        m.extend([198, 18, 0, 1, 198, 18, 0, 110]);
        m.extend(rs);
        m.extend(flags.to_be_bytes());
        m.extend(state.to_be_bytes());
        if flags & 0x0600 != 0 {
            m.extend([0; 12]);
            for w in [1000u32, 7, 0] {
                m.extend(w.to_le_bytes());
            }
        }
    }
    let n = m.len() as u16;
    m[2..4].copy_from_slice(&n.to_be_bytes());
    m
}

/// The seed files are the seeds written above (`RINGVS_WRITE_CORPUS=1`
/// rewrites them).
#[test]
fn the_seed_files_are_current() {
    let dir = seed_dir();
    let written = written();
    if std::env::var_os("RINGVS_WRITE_CORPUS").is_some() {
        std::fs::create_dir_all(&dir).expect("the seed directory");
        for (name, bytes) in &written {
            std::fs::write(dir.join(name), bytes).expect("a seed written");
        }
    }
    let mut want: Vec<_> = written
        .into_iter()
        .map(|(n, b)| (n.to_string(), b))
        .collect();
    want.sort();
    assert_eq!(
        seeds(),
        want,
        "stale: RINGVS_WRITE_CORPUS=1 cargo test --test sync_intake"
    );
}

#[test]
fn the_seeds_pass() {
    let seeds = seeds();
    assert!(seeds.len() >= 5, "{} seeds", seeds.len());
    let mut all = sync_install::Tally::default();
    for (name, bytes) in &seeds {
        let t = sync_install::check(bytes);
        eprintln!("seed {name}: {t:?}");
        all += t;
    }
    // Every outcome is reached: installed, updated, kept and refused
    // connections; templates; NAT of both families, DR, a reply waiting for
    // ARP; a template steering a new connection; the resolution's and the
    // parser's refusals.
    assert!(all.workers.iter().all(|&n| n > 0), "{all:?}");
    assert!(all.exact && all.templates_installed > 0, "{all:?}");
    assert!(all.nat4 > 0 && all.nat6 > 0 && all.dr > 0, "{all:?}");
    assert!(
        all.waiting > 0 && all.dropped_waiting > 0 && all.steered > 0,
        "{all:?}"
    );
    for why in [
        "unknown_service",
        "unknown_dest",
        "method_differs",
        "not_persistent",
        "template_kept_or_full",
        "bad_state",
        "syncid",
    ] {
        assert!(all.drops.contains_key(why), "{why}: {all:?}");
    }
}

/// The version-0 seed reaches what it was written for: its connections
/// and template installed and served after the takeover (the template
/// steering a new connection), its faults counted under version 1's
/// reasons.
#[test]
fn the_v0_seed_installs_and_counts() {
    let seeds = seeds();
    let (_, bytes) = seeds
        .iter()
        .find(|(n, _)| n == "v0_messages")
        .expect("the v0_messages seed");
    let t = sync_install::check(bytes);
    // Installed: the TCP connections to 80 and 443 and the UDP one.
    assert_eq!(t.workers[0], 3, "{t:?}");
    assert_eq!(t.templates_installed, 1, "{t:?}");
    assert!(t.nat4 >= 3 && t.steered > 0, "{t:?}");
    let drops: Vec<_> = t.drops.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(
        drops,
        [("protocol", 1), ("syncid", 1), ("truncated", 1)],
        "{t:?}"
    );
}

/// A step the model follows: a message of one to eight built entries to our
/// syncid (op 0), the workers' installs (5), the director standby (14) or
/// active (6).
fn exact_step() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (0u8..8).prop_flat_map(|n| {
            prop::collection::vec(any::<u8>(), 6 * (usize::from(n) + 1)).prop_map(move |e| {
                let mut v = vec![0, n];
                v.extend(e);
                v
            })
        }),
        2 => Just(vec![5]),
        1 => Just(vec![14]),
        1 => Just(vec![6]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Runs of built messages, installs and role changes: the model holds
    /// (and is compared: the run stays exact).
    #[test]
    fn built_messages_install_what_the_model_says(
        steps in prop::collection::vec(exact_step(), 1..24)
    ) {
        prop_assert!(sync_install::check(&steps.concat()).exact);
    }

    /// Any bytes: edited and raw datagrams, other syncids, the clock moving.
    #[test]
    fn any_steps_keep_the_tables_consistent(data in prop::collection::vec(any::<u8>(), 0..600)) {
        sync_install::check(&data);
    }

    /// Seeds with a few bytes changed.
    #[test]
    fn edited_seeds_pass(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let seeds = seeds();
        let mut bytes = seeds[which.index(seeds.len())].1.clone();
        for (at, v) in edits {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        sync_install::check(&bytes);
    }
}
