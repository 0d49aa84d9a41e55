//! Neighbors that move (issue 11, item 5), with kernel hosts on the internal
//! segment: a real server whose MAC changes announces it with gratuitous ARP
//! (the kernel's `arp_notify`, as a VM that moved or a VRRP failover without a
//! virtual MAC) and is relearned within about a second; a forged claim of its
//! address by another host (a kernel ARP request to the DIP from that address)
//! is ignored because the real server answers the unicast probe.
//!
//! Needs root and `ip netns`; under `CI=true` a missing capability fails the test.

mod nslab;
use nslab::{EXE, NsDirector, Scenario, stats, total};
use ringvs::lab;
use std::path::Path;
use std::time::{Duration, Instant};

/// VIP:80 → rs1:80 only.
const RULES: &str = "-A -t 198.18.0.110:80 -s rr\n\
                     -a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1\n";

/// One HTTP GET of the VIP from the client: the body, or `error: ...`.
fn get(lab: &lab::Lab, timeout_ms: u64) -> String {
    let out = lab::ns_command(
        &lab.ns_client(),
        Path::new(EXE),
        &[
            "http-get",
            "198.18.0.110:80",
            "--timeout-ms",
            &timeout_ms.to_string(),
        ],
    )
    .output()
    .expect("run http-get");
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

fn start(name: &'static str) -> Option<NsDirector> {
    Scenario::new(name).rules(RULES).start()
}

#[test]
fn a_real_server_whose_mac_changes_is_relearned_within_a_second() {
    let Some(NsDirector { lab, control }) = start("nmove") else {
        return;
    };
    assert_eq!(get(&lab, 3000), "i am rs1", "before the move");
    let rs1 = lab.ns_rs(1);
    let before = stats(&control);
    // The kernel announces the new MAC with gratuitous ARP (arp_notify).
    lab::ns_run(&rs1, "sysctl", &["-qw", "net.ipv4.conf.eth0.arp_notify=1"]).expect("sysctl");
    let moved = Instant::now();
    lab::ip(&[
        "-n",
        &rs1,
        "link",
        "set",
        "eth0",
        "address",
        "02:55:00:00:00:77",
    ])
    .expect("change rs1's MAC");
    // A connection opened right away: its first SYN may still go to the old MAC
    // (silent now); its retransmission after 1 s must reach the new one.
    let mut tries = vec![];
    let took = loop {
        let body = get(&lab, 2500);
        if body == "i am rs1" {
            break moved.elapsed();
        }
        tries.push(body);
        assert!(
            moved.elapsed() < Duration::from_secs(4),
            "rs1 unreachable {:?} after its MAC changed: {tries:?}",
            moved.elapsed()
        );
    };
    let after = stats(&control);
    let claims = total(&after, "arp_claim") - total(&before, "arp_claim");
    eprintln!("relearned: first answer {took:?} after the MAC change; arp_claim +{claims}");
    assert!(claims >= 1, "the gratuitous ARP was not taken as a claim");
    assert!(took < Duration::from_millis(2500), "{took:?}");
}

#[test]
fn a_forged_claim_is_ignored_while_the_owner_answers() {
    let Some(NsDirector { lab, control }) = start("nforge") else {
        return;
    };
    assert_eq!(get(&lab, 3000), "i am rs1", "before the claim");
    let rs2 = lab.ns_rs(2);
    let before = stats(&control);
    // rs2 takes rs1's address and ARPs for the DIP from it: a claim of
    // 198.19.0.2 from rs2's MAC. Had it been believed, the VIP would answer
    // "i am rs2" (rs2 serves port 80 on every address).
    lab::ip(&["-n", &rs2, "addr", "add", "198.19.0.2/32", "dev", "eth0"]).expect("addr add");
    lab::ip(&["-n", &rs2, "neigh", "flush", "all"]).expect("neigh flush");
    let _ = lab::ns_command(
        &rs2,
        Path::new("ping"),
        &["-c", "1", "-W", "1", "-I", "198.19.0.2", "198.19.0.1"],
    )
    .output()
    .expect("run ping");
    let deadline = Instant::now() + Duration::from_secs(3);
    while total(&stats(&control), "arp_claim") == total(&before, "arp_claim") {
        assert!(
            Instant::now() < deadline,
            "rs2's ARP was not taken as a claim"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let claimed = Instant::now();
    // Well past the 750 ms after which a silent owner is replaced, every
    // request still reaches rs1.
    let mut n = 0;
    while claimed.elapsed() < Duration::from_secs(2) {
        assert_eq!(get(&lab, 3000), "i am rs1", "request {n} after the claim");
        n += 1;
    }
    assert!(n >= 2);
}
