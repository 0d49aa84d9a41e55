//! Fuzz what the director reads as text from its operator: a control-socket
//! request (`proto::read_request`) and the ipvsadm command line or `-R` rules
//! it carries, applied to a table; ipvsadm command lines one after another,
//! each also listed (`-L` with every option, `-c` too, numbers at their
//! extremes); a capture filter (`ringvs capture`/`trace`), matched against
//! frames; a keepalived configuration file; and sessions whose addresses
//! and ports are named by a hosts and a services file. Each must give a value or an error, never
//! a panic, and two round trips must hold:
//!
//! * whatever table the commands built, `ipvsadm -S -n` of it restores
//!   (`-R`) into an empty table without an error, and that table saves to
//!   the same text (`ipvsadm -Sn | ipvsadm -R` on another director);
//! * the same for the table of any keepalived configuration that loads, if
//!   ipvsadm's command line can say it (`says_all`).
//!
//! The first byte chooses the input; the rest is the input ([`check`]).
//!
//! Shared by the cargo-fuzz target (`fuzz/fuzz_targets/control.rs`) and the
//! bounded test run in CI (`tests/operator_text.rs`).

#![allow(dead_code)]

use ringvs::config::Config;
use ringvs::config::format::{format_list, format_save};
use ringvs::config::ipvsadm::{AdmCommand, apply, parse_with, restore};
use ringvs::config::listing::{ConnInfo, DestStats, Live};
use ringvs::config::names::Names;
use ringvs::config::{DestId, Forward, Netmask, Service, keepalived};
use ringvs::nat::State;
use ringvs::observe::filter::{Filter, summarize};
use ringvs::proto::{self, Command};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// One input: its first byte chooses what the rest is.
pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 5 {
        0 => request(rest),
        1 => session(&String::from_utf8_lossy(rest), &Names::none()),
        2 => filter(&String::from_utf8_lossy(rest)),
        3 => keepalived_file(rest),
        _ => named_session(&String::from_utf8_lossy(rest)),
    }
}

/// One request as the control socket reads it, carried out on an empty table.
fn request(bytes: &[u8]) {
    let Ok(req) = proto::read_request(&mut &bytes[..]) else {
        return;
    };
    let mut cfg = Config::new();
    match req.cmd {
        Command::Adm { argv } => command(&mut cfg, &argv, &Names::none()),
        Command::Restore { rules } => {
            let _ = restore(&mut cfg, &rules, &Names::none(), &mut |_, _, _| {});
        }
        Command::Capture { filter: f, .. } | Command::Trace { filter: f, .. } => filter(&f),
        Command::Stats { .. } => {}
    }
    round_trip(&cfg);
}

/// Lines of ipvsadm command lines, each applied (or listed) in turn, as an
/// operator's session would, with host and service names from `names`.
fn session(text: &str, names: &Names) {
    let mut cfg = Config::new();
    for line in text.lines().take(64) {
        let argv: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        command(&mut cfg, &argv, names);
    }
    round_trip(&cfg);
}

/// A hosts file, a services file and a session, parted by `%%` lines: the
/// names resolve the session's addresses and ports and name them in its
/// listings and saves (`-S` without `-n`). No round trip through names:
/// where a hosts file gives an address two names, or a name two addresses,
/// the first line wins each way (as the C library's lookups do), so a saved
/// name may stand for another address, for ipvsadm as for ringvs.
fn named_session(text: &str) {
    let (names, session_text) = names_and_session(text);
    session(session_text, &names);
}

/// The names of a named session's hosts and services parts, and its
/// session part (empty where a part is missing).
pub fn names_and_session(text: &str) -> (Names, &str) {
    let mut parts = text.splitn(3, "\n%%\n");
    let (hosts, services) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    (Names::parse(hosts, services), parts.next().unwrap_or(""))
}

fn command(cfg: &mut Config, argv: &[String], names: &Names) {
    match parse_with(argv, names) {
        Ok(AdmCommand::List(o)) => {
            // Numbers at their extremes, so the listing's widths and unit
            // scaling meet the largest counters a director can show.
            let gauges = |id: DestId| (u32::MAX - id.0, id.0);
            let stats = |id: DestId| big(u64::MAX - u64::from(id.0));
            let rates = |ids: &[DestId]| {
                let sum = ids.iter().map(|id| u64::from(id.0) << 40);
                big(sum.fold(0, u64::saturating_add))
            };
            let conns = conns_of(cfg);
            let live = Live::<State, IpAddr> {
                gauges: &gauges,
                stats: &stats,
                rates: &rates,
                conns: &conns,
                timeouts: [u32::MAX, 0, 1],
            };
            let _ = format_list(cfg, &o, &live, names);
        }
        Ok(AdmCommand::Save { numeric }) => {
            let _ = format_save(cfg, numeric, names);
        }
        Ok(cmd) => {
            let _ = apply(cfg, &cmd);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// A connection (or persistence template) to each real server of the table,
/// in every state in turn, for `-L -c`: the first ones at the extremes of the
/// expiry and port columns.
fn conns_of(cfg: &Config) -> Vec<ConnInfo<State, IpAddr>> {
    let client = IpAddr::from([198, 18, 0, 10]);
    let servers = cfg
        .services()
        .iter()
        .flat_map(|s| s.dests.iter().map(move |d| (s, d)));
    servers
        .take(64)
        .enumerate()
        .map(|(i, (s, d))| ConnInfo {
            proto: s.key.proto.number(),
            client: (client, [0, u16::MAX][i % 2]),
            vip: (s.key.addr, s.key.port),
            dest: (d.addr, d.port),
            state: State::ALL[i % State::ALL.len()],
            expires_in: [u32::MAX, 0, 900][i % 3],
            template: i % 4 == 3,
            assured: i % 8 == 7,
            pe: None,
        })
        .collect()
}

fn big(n: u64) -> DestStats {
    DestStats {
        conns: n,
        inpkts: n,
        outpkts: n / 3,
        inbytes: n,
        outbytes: n / 7,
    }
}

/// `ipvsadm -Sn` of `cfg` restores into an empty table without a refusal,
/// to the same services with the same real servers and every setting (a
/// setting `-S` left out would come back as its default), and that table
/// saves the same text.
fn round_trip(cfg: &Config) {
    let saved = format_save(cfg, true, &Names::none());
    let mut again = Config::new();
    let refused = restore(&mut again, &saved, &Names::none(), &mut |_, _, _| {})
        .unwrap_or_else(|e| panic!("{e}: the saved rules do not parse:\n{saved}"));
    assert!(
        refused.is_empty(),
        "restoring the saved rules refused {refused:?}:\n{saved}"
    );
    assert_eq!(shape(&again), shape(cfg), "through:\n{saved}");
    assert_eq!(format_save(&again, true, &Names::none()), saved);
}

/// The services of `cfg` without the ids its real servers were given (a
/// table that saw deletions hands out other ids than one restored afresh),
/// in a fixed order (`-S` writes services as the listing orders them), and
/// without the persistence mask of a service that is not persistent: `-M`
/// is taken without `-p`, but `-S` writes it only after `-p`, as ipvsadm's
/// `print_service_entry` does, and the mask means nothing without
/// persistence (an `-E` that makes the service persistent sets its own).
fn shape(cfg: &Config) -> Vec<Service> {
    let mut v = cfg.services().to_vec();
    for s in &mut v {
        if s.persistent.is_none() {
            s.netmask = Netmask::host(s.key.addr);
        }
        for d in &mut s.dests {
            d.id = DestId(0);
        }
        s.dests.sort_by_key(|d| (d.addr, d.port));
    }
    v.sort_by_key(|s| s.key);
    v
}

/// Whether ipvsadm's command line can say what `cfg` holds: keepalived
/// writes a direct-routing or tunnelled real server's port as given (over
/// netlink, where the kernel keeps it), while ipvsadm's parser (`ipvsadm.c`,
/// as ours) gives such a server the service's port, so its `-Sn | -R`
/// through the kernel's own tools changes it too (or refuses it, where the
/// server is there under the service's port already). A keepalived.conf
/// weight may be up to 2147483647, `ipvsadm -w` (and `-R`) takes 0..65535: `-S` writes
/// such a weight as it is and `-R` refuses it, as ipvsadm does with a
/// kernel's (`docs/ha.md`).
fn says_all(cfg: &Config) -> bool {
    cfg.services().iter().all(|s| {
        s.dests.iter().all(|d| {
            (d.forward == Forward::Masq || d.port == s.key.port) && d.weight <= u32::from(u16::MAX)
        })
    })
}

/// A capture filter, and what it says of a few frames, whole and cut short.
fn filter(text: &str) {
    let Ok(f) = Filter::parse(text) else {
        return;
    };
    // The normalized text (what `ringvs capture` echoes) means the same.
    let g = Filter::parse(f.text()).unwrap_or_else(|e| panic!("{e}: {}", f.text()));
    assert_eq!(g.text(), f.text());
    for frame in FRAMES {
        for cut in [0, 13, 14, 33, 34, 41, 53, 54, usize::MAX] {
            let frame = &frame[..cut.min(frame.len())];
            let s = summarize(frame);
            let _ = s.tcpdump6();
            assert_eq!(f.matches(frame), f.matches_summary(&s));
            assert_eq!(g.matches(frame), f.matches(frame));
        }
    }
}

/// A keepalived configuration (one file; an `include` reads what it names).
/// It is written into a directory made for it alone (mode 0700; one that
/// already exists is not used), so a relative `include` finds nothing
/// another user or thread left in the temporary directory.
fn keepalived_file(bytes: &[u8]) {
    use std::os::unix::fs::DirBuilderExt;
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ringvs-fuzz-{}-{n}", std::process::id()));
    if std::fs::DirBuilder::new().mode(0o700).create(&dir).is_err() {
        return;
    }
    let path = dir.join("keepalived.conf");
    let loaded = std::fs::write(&path, bytes).map(|()| keepalived::load(&path));
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir(&dir);
    let Ok(loaded) = loaded else {
        return;
    };
    if let Ok(loaded) = loaded
        && says_all(&loaded.config)
    {
        round_trip(&loaded.config);
    }
}

/// An IPv4 TCP SYN, an IPv4 UDP datagram and an ARP request (198.18.0.0/15).
const FRAMES: [&[u8]; 3] = [
    &[
        2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0, 0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 198,
        18, 0, 10, 198, 18, 0, 110, 0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff,
        0xff, 0, 0, 0, 0,
    ],
    &[
        2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0, 0x45, 0, 0, 29, 0, 1, 0, 0, 64, 17, 0, 0, 198,
        19, 0, 2, 198, 18, 0, 10, 0, 53, 0x9c, 0x41, 0, 9, 0, 0, 7,
    ],
    &[
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 2, 8, 6, 0, 1, 8, 0, 6, 4, 0, 1, 2, 0,
        0, 0, 0, 2, 198, 18, 0, 10, 0, 0, 0, 0, 0, 0, 198, 18, 0, 110,
    ],
];
