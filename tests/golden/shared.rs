//! What the golden tests of `ringvs adm` share (`tests/golden.rs` for IPv4,
//! `tests/golden_ipv6.rs` for the dual-stack table): parsing a command line,
//! reading a golden file written by `oracle.py`, building a table from a
//! scenario, and the live numbers oracle.py prints for each real server, so
//! both listings are checked against the same gauges, counters and rates.

#![allow(dead_code)] // each test binary uses its own subset

use ringvs::config::format::{Live, format_list, format_save};
use ringvs::config::ipvsadm::{AdmCommand, apply, parse, parse_with};
use ringvs::config::listing::{ConnInfo, ListAddr};
use ringvs::config::names::Names;
use ringvs::config::{AdmError, Config, DestId};
use ringvs::nat::State;
use ringvs::stats::DestStats;

pub fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

pub fn p(line: &str) -> Result<AdmCommand, AdmError> {
    parse(&words(line))
}

pub fn ok(line: &str) -> AdmCommand {
    p(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// The text of `tests/golden/{name}`.
pub fn golden(name: &str) -> String {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A table built by applying each line of a scenario in turn.
pub fn build(scenario: &[&str]) -> Config {
    let mut c = Config::new();
    for line in scenario {
        apply(&mut c, &ok(line)).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    c
}

/// (ActiveConn, InActConn) of a real server, as oracle.py has them.
pub fn gauges(id: DestId) -> (u32, u32) {
    (id.0 * 11, id.0 * 1000)
}

/// Counters big enough to take every unit suffix of `--stats`.
pub fn stats(id: DestId) -> DestStats {
    let i = u64::from(id.0);
    DestStats {
        conns: i * 50_000_000,
        inpkts: i * 7_000_000_000,
        outpkts: i * 3,
        inbytes: i * 40_000_000_000_000,
        outbytes: i * 99_999_999,
    }
}

pub fn rates(ids: &[DestId]) -> DestStats {
    let i: u64 = ids.iter().map(|id| u64::from(id.0)).sum();
    DestStats {
        conns: i,
        inpkts: i * 100,
        outpkts: i * 90,
        inbytes: i * 150_000_000,
        outbytes: i * 1000,
    }
}

/// What `ringvs adm {line}` (a `-L` or `-S`) prints for `cfg`, with the
/// numbers above, `conns` as the connection table and `names` as
/// /etc/hosts and /etc/services.
pub fn list_with<A: ListAddr>(
    cfg: &Config,
    line: &str,
    names: &Names,
    conns: &[ConnInfo<State, A>],
) -> String {
    let live = Live {
        gauges: &gauges,
        stats: &stats,
        rates: &rates,
        conns,
        timeouts: [900, 120, 300],
    };
    match parse_with(&words(line), names).unwrap() {
        AdmCommand::List(o) => format_list(cfg, &o, &live, names).unwrap(),
        AdmCommand::Save { numeric } => format_save(cfg, numeric, names),
        other => panic!("{line}: {other:?}"),
    }
}
