//! `ringvs run --sloppy-tcp` (IPVS's `sloppy_tcp`, `tcp_conn_schedule` in
//! `ip_vs_proto_tcp.c`) through real rings: a director that starts while
//! keep-alive connections are open through the VIP (a crash and restart, or a
//! standby taking over without sync) carries them on from their next segment,
//! each to the server `sh` gave it. Without the option, the same takeover
//! loses every one of them (their segments find no connection).
//!
//! Needs root, `ip netns` and python3 (the clients are
//! `tests/data/ha/clients.py keepalive`).

mod nslab;

use nslab::{NsDirector, Scenario, kill_all_in, stats, total, wait_for};
use ringvs::lab::{self, Lab};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type Lines = nslab::StampedLines<()>;

const CLIENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ha/clients.py");
/// Keep-alive connections per phase.
const N: usize = 6;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `N` keep-alive connections to the VIP, a request every 200 ms each, for
/// `secs` seconds, each request given 8 s (TCP's retransmissions reach the
/// restarted director well within that).
fn keepalive(lab: &mut Lab, secs: u32) -> Lines {
    let cmd = lab::ns_command(
        &lab.ns_client(),
        Path::new("python3"),
        &[
            CLIENTS,
            "keepalive",
            &lab::VIP.to_string(),
            "80",
            &N.to_string(),
            "200",
            &secs.to_string(),
            "8",
        ],
    );
    nslab::spawn_collecting(lab, cmd, |_| ())
}

/// Per connection id: the server bodies answered, with their times, and the
/// error that ended it if one did.
#[derive(Debug, Default)]
struct Conn {
    oks: Vec<(f64, String)>,
    error: Option<String>,
}

fn conns(lines: &Lines) -> BTreeMap<usize, Conn> {
    let mut m: BTreeMap<usize, Conn> = BTreeMap::new();
    for (_, line) in lines.lock().expect("lines").iter() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let (Some(at), Some(id)) = (
            w.first().and_then(|s| s.parse::<f64>().ok()),
            w.get(2).and_then(|s| s.parse::<usize>().ok()),
        ) else {
            continue;
        };
        let c = m.entry(id).or_default();
        match w.get(4).copied() {
            Some("ok") => c.oks.push((at, w.get(5).unwrap_or(&"").to_string())),
            Some("error") => c.error = Some(w[5..].join(" ")),
            _ => {}
        }
    }
    m
}

/// Every connection answered at least twice (warm).
fn all_warm(lines: &Lines) -> bool {
    let c = conns(lines);
    c.len() == N && c.values().all(|c| c.oks.len() >= 2 && c.error.is_none())
}

/// Kill the director (SIGKILL: a crash) and start another on the same NICs
/// with the same rules and `extra` options; its control socket, and when it
/// answered on it.
fn restart(lab: &mut Lab, rules: &Path, n: usize, extra: &[&str]) -> (PathBuf, f64) {
    assert!(kill_all_in(&lab.ns_director()) >= 1, "the director to kill");
    let control = PathBuf::from(format!(
        "/run/ringvs-sloppy-{}-{n}.sock",
        std::process::id()
    ));
    let rules = rules.display().to_string();
    let mut args = vec!["--workers", "2", "--rules", &rules];
    args.extend_from_slice(extra);
    lab.start_director(Path::new(nslab::EXE), &control, &args)
        .expect("restarted director");
    (control, now())
}

#[test]
fn sloppy_tcp_carries_keepalive_connections_over_a_director_restart() {
    let vip = format!("{}:80", lab::VIP);
    let rules = format!(
        "-A -t {vip} -s sh\n-a -t {vip} -r {}:80 -m\n-a -t {vip} -r {}:80 -m\n",
        lab::rs_addr(1),
        lab::rs_addr(2)
    );
    let Some(NsDirector {
        mut lab,
        control: _,
    }) = Scenario::new("sloppy")
        .needs(&["python3"])
        .rules(&rules)
        .start()
    else {
        return;
    };
    let file = std::env::temp_dir().join(format!("ringvs-sloppy-{}.rules", std::process::id()));
    std::fs::write(&file, &rules).expect("rules file");
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _file = Remove(file.clone());

    // (a) With --sloppy-tcp: every connection goes on, to the server it had.
    let sloppy = keepalive(&mut lab, 12);
    let warm = wait_for(Duration::from_secs(10), || all_warm(&sloppy));
    assert!(warm.is_some(), "warm: {:?}", conns(&sloppy));
    let (control, at) = restart(&mut lab, &file, 1, &["--sloppy-tcp"]);
    let kept = wait_for(Duration::from_secs(10), || {
        conns(&sloppy)
            .values()
            .all(|c| c.oks.iter().filter(|(t, _)| *t > at).count() >= 3)
    });
    let c = conns(&sloppy);
    assert!(kept.is_some(), "connections kept: {c:?}");
    for (id, conn) in &c {
        assert_eq!(conn.error, None, "connection {id}");
        let before = conn.oks.iter().find(|(t, _)| *t < at).map(|(_, b)| b);
        let since = conn.oks.iter().rev().find(|(t, _)| *t > at).map(|(_, b)| b);
        assert_eq!(before, since, "connection {id} keeps its server");
    }
    let s = stats(&control);
    // (A server's retransmitted reply may come before its client's next
    // segment and be dropped: no assertion on drop_no_conn here.)
    assert_eq!(total(&s, "conn_new"), N as u64, "picked up, not opened");

    // (b) Without --sloppy-tcp: the restarted director knows none of them.
    // The first clients are gone (their last segments could be dropped here
    // too, which would count for these).
    kill_all_in(&lab.ns_client());
    let plain = keepalive(&mut lab, 12);
    let warm = wait_for(Duration::from_secs(10), || all_warm(&plain));
    assert!(warm.is_some(), "warm: {:?}", conns(&plain));
    let (control, at) = restart(&mut lab, &file, 2, &[]);
    // Each request in flight times out (8 s), its retransmissions dropped.
    let lost = wait_for(Duration::from_secs(12), || {
        conns(&plain).values().all(|c| c.error.is_some())
    });
    let c = conns(&plain);
    assert!(lost.is_some(), "every connection lost: {c:?}");
    let after: usize = c
        .values()
        .map(|c| c.oks.iter().filter(|(t, _)| *t > at).count())
        .sum();
    assert_eq!(after, 0, "no answer after the restart: {c:?}");
    let s = stats(&control);
    assert!(
        total(&s, "drop_no_conn") >= N as u64,
        "each one's segments dropped"
    );
    assert_eq!(total(&s, "conn_new"), 0);
}
