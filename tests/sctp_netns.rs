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

/// The lab with a raw SCTP server (`sctp_peer.py`) on port 5001 of both
/// real servers, their sockets open; `None` where the test does not run.
fn lab_with_servers(name: &'static str) -> Option<nslab::NsDirector> {
    if Path::new("/proc/net/sctp").exists() {
        let why =
            "the kernel has SCTP loaded: its stacks in the lab would answer the raw endpoints";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("sctp_netns: not run: {why}");
        return None;
    }
    let d = Scenario::new(name)
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
        .start()?;
    // Both servers' raw sockets are open (`ss -w` lists them as :132).
    for n in 1..=2 {
        let open = wait_for(Duration::from_secs(5), || {
            let out = lab::ns_command(&d.lab.ns_rs(n), Path::new("ss"), &["-Hwan"])
                .output()
                .expect("ss");
            String::from_utf8_lossy(&out.stdout).contains(":132 ")
        });
        assert!(open.is_some(), "rs{n}'s raw socket");
    }
    Some(d)
}

/// `sctp_peer.py client`: `count` associations to VIP:`port` from `sport`
/// on, each DATA padded with `pad` bytes; what it printed, and its stderr.
fn associations(
    lab: &lab::Lab,
    port: u16,
    sport: u16,
    count: u32,
    pad: u32,
) -> (Vec<String>, String) {
    let vip = lab::VIP.to_string();
    let args = [port, sport].map(|n| n.to_string());
    let (count, pad) = (count.to_string(), pad.to_string());
    let out = lab::ns_command(
        &lab.ns_client(),
        Path::new("python3"),
        &[PEER, "client", &vip, &args[0], &args[1], &count, &pad],
    )
    .output()
    .expect("run sctp_peer.py client");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    (lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn associations_alternate_between_the_real_servers() {
    let Some(nslab::NsDirector { lab, control }) = lab_with_servers("sctp") else {
        return;
    };
    let vip = format!("{}:5000", lab::VIP);
    adm(&control, &["-A", "--sctp-service", &vip, "-s", "rr"]);
    // rs2 added first: the kernel's list (newest first) and so rr meet rs1
    // first.
    for rs in ["198.19.0.3:5001", "198.19.0.2:5001"] {
        adm(&control, &["-a", "--sctp-service", &vip, "-r", rs, "-m"]);
    }
    let (lines, stderr) = associations(&lab, 5000, 40000, 4, 0);
    // Four associations, each answered, round robin.
    assert_eq!(
        lines,
        [
            "rs1: hello 0",
            "rs2: hello 1",
            "rs1: hello 2",
            "rs2: hello 3"
        ],
        "stderr: {stderr}"
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

/// SCTP in IPv4 fragments with kernel endpoints: each DATA (and each
/// answer) is 3000 bytes of chunk, which the sender's kernel sends in three
/// fragments at the lab's MTU of 1500 and the receiver's reassembles, its
/// CRC32c checked by the peer. Where NAT keeps the port (VIP:5001 to the
/// servers' 5001) every fragment goes through, both ways; where it changes
/// it (VIP:5000 to 5001) a fragmented packet is dropped
/// (`drop_sctp_frag_port`), the documented difference from IPVS, which
/// computes the CRC32c again over the datagram it reassembled
/// (`docs/ipvsadm.md`, SCTP): the association's small packets go through,
/// its big DATA does not.
#[test]
fn sctp_in_fragments_through_nat_that_keeps_the_port() {
    let Some(nslab::NsDirector { lab, control }) = lab_with_servers("sctpfrag") else {
        return;
    };
    for port in [5001, 5000] {
        let vip = format!("{}:{port}", lab::VIP);
        adm(&control, &["-A", "--sctp-service", &vip, "-s", "rr"]);
        for rs in ["198.19.0.3:5001", "198.19.0.2:5001"] {
            adm(&control, &["-a", "--sctp-service", &vip, "-r", rs, "-m"]);
        }
    }
    let before = stats(&control);
    let (lines, stderr) = associations(&lab, 5001, 41000, 2, 3000);
    let after = stats(&control);
    let d = |n: &str| total(&after, n) - total(&before, n);
    assert_eq!(
        lines,
        ["rs1: hello 0 +3000", "rs2: hello 1 +3000"],
        "stderr: {stderr}"
    );
    // Two DATA in three fragments each, two answers in three each; the
    // director saw each fragment at least once.
    assert!(
        d("rx_fragments") >= 12,
        "rx_fragments +{}",
        d("rx_fragments")
    );
    for n in [
        "drop_fragment",
        "drop_sctp_frag_port",
        "drop_l4_checksum",
        "drop_no_conn",
    ] {
        assert_eq!(d(n), 0, "{n}");
    }
    // The port changes: the handshake goes through, the big DATA does not.
    let before = stats(&control);
    let (lines, stderr) = associations(&lab, 5000, 42000, 1, 3000);
    let after = stats(&control);
    let d = |n: &str| total(&after, n) - total(&before, n);
    assert_eq!(lines, ["timeout at DATA"], "stderr: {stderr}");
    let dropped = d("drop_sctp_frag_port");
    assert!(dropped >= 1, "drop_sctp_frag_port +{dropped}");
}
