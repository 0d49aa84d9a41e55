//! An SCTP service end to end, in namespaces: the seed's scenario with
//! `ipvsadm -A --sctp-service VIP:5000 -s rr` and two masqueraded real
//! servers on port 5001. This kernel has no SCTP module, so both ends speak
//! SCTP over raw IP sockets (`tests/data/sctp/sctp_peer.py`): the handshake,
//! one DATA chunk each way and the shutdown, every packet's CRC32c checked
//! on arrival. The director sees what it would see from kernel endpoints.
//!
//! Needs root, `ip netns`, python3, ss, and a kernel without SCTP (with
//! `sctp.ko` loaded, the namespaces' own stacks would answer the raw
//! endpoints' packets with ABORTs). Under `CI=true` a missing capability
//! fails the test; elsewhere the test says why it did not run.

mod nslab;
use nslab::{Scenario, adm, stats, total, wait_for};
use ringvs::lab;
use std::path::Path;
use std::time::Duration;

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sctp/sctp_peer.py");

#[test]
fn associations_alternate_between_the_real_servers() {
    if Path::new("/proc/net/sctp").exists() {
        let why =
            "the kernel has SCTP loaded: its stacks in the lab would answer the raw endpoints";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("sctp_netns: not run: {why}");
        return;
    }
    let Some(nslab::NsDirector { lab, control }) = Scenario::new("sctp")
        .needs(&["python3", "ss"])
        .before_director(|lab| {
            for n in 1..=2 {
                let name = format!("rs{n}");
                lab.spawn_in(
                    &lab.ns_rs(n),
                    Path::new("python3"),
                    &[PEER, "server", &name, "5001", "60"],
                )
                .expect("start sctp_peer.py server");
            }
        })
        .start()
    else {
        return;
    };
    // Both servers' raw sockets are open (`ss -w` lists them as :132).
    for n in 1..=2 {
        let open = wait_for(Duration::from_secs(5), || {
            let out = lab::ns_command(&lab.ns_rs(n), Path::new("ss"), &["-Hwan"])
                .output()
                .expect("ss");
            String::from_utf8_lossy(&out.stdout).contains(":132 ")
        });
        assert!(open.is_some(), "rs{n}'s raw socket");
    }
    let vip = format!("{}:5000", lab::VIP);
    adm(&control, &["-A", "--sctp-service", &vip, "-s", "rr"]);
    // rs2 added first: the kernel's list (newest first) and so rr meet rs1
    // first.
    for rs in ["198.19.0.3:5001", "198.19.0.2:5001"] {
        adm(&control, &["-a", "--sctp-service", &vip, "-r", rs, "-m"]);
    }
    let out = lab::ns_command(
        &lab.ns_client(),
        Path::new("python3"),
        &[PEER, "client", &lab::VIP.to_string(), "5000", "40000", "4"],
    )
    .output()
    .expect("run sctp_peer.py client");
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    // Four associations, each answered, round robin.
    assert_eq!(
        lines,
        [
            "rs1: hello 0",
            "rs2: hello 1",
            "rs1: hello 2",
            "rs2: hello 3"
        ],
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = adm(&control, &["-L", "-n"]);
    assert!(
        list.contains(&format!("\nSCTP {vip} rr\n")),
        "ipvsadm's SCTP line: {list}"
    );
    // Each association ended with SHUTDOWN COMPLETE: CLOSED, as IPVS
    // lists it (the client's last packet may still be on its way).
    let closed_of = |conns: &str| {
        conns
            .lines()
            .filter(|l| l.starts_with("SCTP ") && l.contains(" CLOSED "))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let all_closed = wait_for(Duration::from_secs(5), || {
        closed_of(&adm(&control, &["-L", "-n", "-c"])).len() == 4
    });
    let conns = adm(&control, &["-L", "-n", "-c"]);
    assert!(all_closed.is_some(), "{conns}");
    let closed = closed_of(&conns);
    assert_eq!(closed.len(), 4, "{conns}");
    assert!(
        closed.iter().any(|l| l.contains("198.19.0.2:5001"))
            && closed.iter().any(|l| l.contains("198.19.0.3:5001")),
        "{conns}"
    );
    let s = stats(&control);
    assert_eq!(total(&s, "drop_l4_checksum"), 0);
    assert_eq!(total(&s, "drop_no_conn"), 0);
    let saved = adm(&control, &["-S", "-n"]);
    assert!(
        saved.contains(&format!("-A --sctp-service {vip} -s rr\n")),
        "{saved}"
    );
}
