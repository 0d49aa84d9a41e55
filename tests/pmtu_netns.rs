//! Path MTU discovery across the director (issue 11, item 6), with kernel TCP
//! on both sides: the director's external NIC has a smaller MTU (1400) than the
//! client's and the real servers' (1500), an MTU step the endpoints cannot see
//! in their MSS. A real server's 1460-byte segments do not fit; the director
//! must answer them with ICMP "fragmentation needed" (MTU 1400) so that the real
//! server's kernel lowers its path MTU and the transfer completes.
//!
//! `ping -M do` cannot show this: the director answers echo requests to its own
//! addresses (the VIP included) and forwards no echo, so no ping crosses it.
//!
//! Needs root and `ip netns`; under `CI=true` a missing capability fails the test.

mod nslab;
use nslab::{EXE, NsDirector, Scenario, stats, total};
use ringvs::lab;
use std::path::Path;
use std::time::{Duration, Instant};

const BODY_LEN: usize = 64 * 1024;

#[test]
fn tcp_transfer_across_an_mtu_step_completes_thanks_to_frag_needed() {
    transfer_across_an_mtu_step("pmtu", false);
}

/// The same MTU step made while the director runs (`ip link set ext0 mtu
/// 1400` after start): the director takes the new MTU within a second
/// (`control::mtu`, shown in `stats --json`) and answers the real server's
/// 1460-byte segments with "fragmentation needed", so the transfer
/// completes. It used to go on building frames up to 1500, which the
/// kernel refused and the TX ring counted sent: the transfer stalled.
#[test]
fn an_mtu_lowered_at_run_time_is_taken() {
    transfer_across_an_mtu_step("pmtu-late", true);
}

/// A 64 KiB HTTP transfer from rs1 to the client across the director whose
/// ext0 has MTU 1400: set before the director starts, or after (`late`).
fn transfer_across_an_mtu_step(name: &'static str, late: bool) {
    let body: String = (0..BODY_LEN)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let served = body.clone();
    let set_mtu = |lab: &lab::Lab| {
        lab::ns_run(
            &lab.ns_director(),
            "ip",
            &["link", "set", "ext0", "mtu", "1400"],
        )
        .expect("set ext0 mtu");
    };
    let Some(NsDirector { lab, control }) = Scenario::new(name)
        .before_director(move |lab| {
            if !late {
                set_mtu(lab);
            }
            nslab::spawn_http_server(lab, 1, "0.0.0.0:8080", &served, "120");
        })
        .rules(
            "-A -t 198.18.0.110:8080 -s rr\n\
             -a -t 198.18.0.110:8080 -r 198.19.0.2:8080 -m -w 1\n",
        )
        .start()
    else {
        return;
    };
    let mtu_ext = || stats(&control)["mtu"]["ext"].as_u64();
    if late {
        assert_eq!(mtu_ext(), Some(1500));
        set_mtu(&lab);
        let deadline = Instant::now() + Duration::from_secs(5);
        while mtu_ext() != Some(1400) {
            assert!(
                Instant::now() < deadline,
                "MTU 1400 not taken: {:?}",
                mtu_ext()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert_eq!(mtu_ext(), Some(1400));
    let rs = lab.ns_rs(1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !lab::listens_on(&rs, 8080).expect("ss") {
        assert!(
            Instant::now() < deadline,
            "server on rs1:8080 not listening"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = stats(&control);
    let out = lab::ns_command(
        &lab.ns_client(),
        Path::new(EXE),
        &["http-get", "198.18.0.110:8080", "--timeout-ms", "10000"],
    )
    .output()
    .expect("run http-get");
    let got = String::from_utf8_lossy(&out.stdout);
    let after = stats(&control);
    let d = |name: &str| total(&after, name) - total(&before, name);
    let head: String = got.chars().take(120).collect();
    assert!(
        got.trim_end() == body,
        "transfer of {BODY_LEN} bytes did not complete ({} bytes, starts {head:?}); \
         drop_too_big +{}, icmp_frag_needed +{}",
        got.len(),
        d("drop_too_big"),
        d("icmp_frag_needed")
    );
    assert!(d("icmp_frag_needed") >= 1, "no fragmentation needed sent");
    assert!(d("drop_too_big") >= d("icmp_frag_needed"));
    assert_eq!(d("icmp_frag_needed_limited"), 0);
    // The real server's kernel took the MTU from our error.
    let route = lab::ns_run(&rs, "ip", &["route", "get", "198.18.0.1"]).expect("ip route get");
    assert!(
        route.contains("mtu 1400"),
        "rs1 has no path MTU 1400 towards the client: {route}"
    );
}
