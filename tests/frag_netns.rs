//! Fragmented UDP through the director with kernel endpoints (`dataplane/frag.rs`):
//! the client's kernel sends each 4000-byte request in three fragments, the
//! real server's kernel reassembles it and answers 5000 bytes, which leave the
//! real server in four fragments; the client's kernel reassembles the answer.
//! IPVS answers the same (it reassembles both ways and the kernel fragments
//! again); before `frag.rs` every fragment was dropped (`drop_fragment`) and
//! every request timed out.
//!
//! Two workers, on AF_PACKET (whose fanout hashes payload bytes as the ports of
//! a fragment past the first, so fragments land on either worker) and on
//! AF_XDP with two queues per NIC; and IPv6 on AF_PACKET. Needs root and `ip netns`; under `CI=true`
//! a missing capability fails the test.

mod nslab;
use nslab::{NsDirector, Scenario, stats, total, udp_client};
use ringvs::lab;
use std::path::Path;

const PORT: u16 = 5353;
const REQUESTS: usize = 8;

/// The service on `vip` (an IPv4 or bracketed IPv6 address), rr over both
/// real servers `rs`.
fn rules(vip: &str, rs: [&str; 2]) -> String {
    format!(
        "-A -u {vip}:{PORT} -s rr\n\
         -a -u {vip}:{PORT} -r {r1}:{PORT} -m -w 1\n\
         -a -u {vip}:{PORT} -r {r2}:{PORT} -m -w 1\n",
        r1 = rs[0],
        r2 = rs[1],
    )
}

fn fragmented_udp_through(tag: &'static str, queues: usize, args: &[&str], v6: bool) {
    let (rules, any, vip) = if v6 {
        let (r1, r2) = (lab::rs_addr6(1), lab::rs_addr6(2));
        let rs = [format!("[{r1}]"), format!("[{r2}]")];
        let vip = format!("[{}]", lab::VIP6);
        (rules(&vip, [&rs[0], &rs[1]]), "::", lab::VIP6.to_string())
    } else {
        let vip = lab::VIP.to_string();
        (rules(&vip, ["198.19.0.2", "198.19.0.3"]), "0.0.0.0", vip)
    };
    let scenario = Scenario::new(tag)
        .queues(queues)
        .workers(2)
        .director_args(args)
        .rules(&rules);
    let Some(NsDirector { lab, control }) = scenario.start_with_udp_echo(any, PORT, v6) else {
        return;
    };
    let before = stats(&control);
    let answers = udp_client(&lab, "big", &vip, PORT, REQUESTS);
    let after = stats(&control);
    let d = |n: &str| total(&after, n) - total(&before, n);
    eprintln!(
        "FRAG-MEASURE {tag}: answers {answers:?} rx_fragments=+{} fwd_in=+{} fwd_out=+{} frag_held=+{} handoff_out=+{} drop_fragment=+{} drop_no_conn=+{}",
        d("rx_fragments"),
        d("fwd_in"),
        d("fwd_out"),
        d("frag_held"),
        d("handoff_out"),
        d("drop_fragment"),
        d("drop_no_conn"),
    );
    assert_eq!(answers.len(), REQUESTS, "{answers:?}");
    for a in &answers {
        assert!(
            a == "rs1 5000 ok" || a == "rs2 5000 ok",
            "a whole, intact answer: {answers:?}"
        );
    }
    let rs1 = answers.iter().filter(|a| a.starts_with("rs1")).count();
    assert_eq!(rs1, REQUESTS / 2, "rr over both servers: {answers:?}");
    // 3 fragments a request, 4 an answer: each seen at least once (once
    // more by each worker it is handed to).
    assert!(d("rx_fragments") >= 7 * REQUESTS as u64);
    // IPv6 fragments carry 8 bytes more a header: 4000 and 5000 bytes are
    // still 3 and 4 fragments at an MTU of 1500.
    assert_eq!(d("fwd_in"), 3 * REQUESTS as u64);
    assert_eq!(d("fwd_out"), 4 * REQUESTS as u64);
    let new = if v6 { "conn_new6" } else { "conn_new" };
    assert_eq!(d(new), REQUESTS as u64);
    for n in ["drop_fragment", "drop_no_conn", "drop_frag_expired"] {
        assert_eq!(d(n), 0, "{n}");
    }

    // `ping -s 3000 VIP`: the kernel's echo request in three fragments, the
    // director's reply in three (`frag.rs`), which the client reassembles.
    let before = stats(&control);
    let family = if v6 { "-6" } else { "-4" };
    let out = lab::ns_command(
        &lab.ns_client(),
        Path::new("ping"),
        &[
            family, "-n", "-c", "3", "-i", "0.2", "-W", "2", "-s", "3000", &vip,
        ],
    )
    .output()
    .expect("ping");
    let after = stats(&control);
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "FRAG-MEASURE {tag} ping -s 3000: {} icmp_echo_reply=+{}",
        text.lines().find(|l| l.contains("received")).unwrap_or("?"),
        total(&after, "icmp_echo_reply") - total(&before, "icmp_echo_reply")
    );
    assert!(
        text.contains("3 received") && text.contains("3008 bytes from"),
        "ping -s 3000 {vip}: {text}"
    );
}

#[test]
fn fragmented_udp_through_af_packet_with_two_workers() {
    fragmented_udp_through("frag", 1, &[], false);
}

#[test]
fn fragmented_udp_through_af_xdp_on_two_queues() {
    let args = ["--io", "xdp", "--xdp-mode", "auto"];
    fragmented_udp_through("fragxdp", 2, &args, false);
}

/// IPv6: the client's and the real server's kernels put a fragment header
/// in each fragment (the source fragments, never a router).
#[test]
fn fragmented_udp_over_ipv6_through_two_workers() {
    fragmented_udp_through("frag6", 1, &[], true);
}
