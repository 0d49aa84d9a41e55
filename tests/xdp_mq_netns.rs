//! Several AF_XDP workers on multi-queue NICs (issue 12): the seed's scenario
//! with `--io xdp --workers 2` on veths with two RX and two TX queues, so that
//! worker k reads queue k of each NIC. A veth frame lands on the RX queue
//! numbered like the TX queue its sender picked, which is per connection (the
//! socket's hash) and knows nothing of our client-keyed owner: requests and
//! replies of one connection reach both workers, and the one that does not own
//! a connection hands its frames to the one that does. Every request must be
//! answered anyway, with no frame of a connection meeting a worker without it.
//!
//! Needs root and `ip netns`; under `CI=true` a missing capability fails the test.

mod nslab;
use nslab::{
    EXE, NsDirector, Scenario, adm, assert_umem_adds_up, generator, http_bodies, mac_of,
    per_worker, run_demo, stats, stop_director, total,
};
use ringvs::lab;

/// How many connections (each a new client port) the test makes.
const CONNS: usize = 60;

/// One director at a time: three at once (one with spinning `--busy-poll`
/// workers) on two vCPUs only slow each other down.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn two_af_xdp_workers_on_two_queues_hand_off_to_the_owner() {
    let _serial = one_at_a_time();
    // Native XDP where veth has it (it does: one NAPI per RX queue), generic
    // otherwise.
    let Some(d) = Scenario::new("xdpmq")
        .log_to_file()
        .queues(2)
        .workers(2)
        .director_args(&["--io", "xdp", "--xdp-mode", "auto"])
        .seed_service()
        .start()
    else {
        return;
    };
    seed_through_two_workers(&d, "xdp", true, true);
    icmp_errors_reach_the_client_through_their_owner(&d);

    // A second director asked for more workers than the NICs have queues is
    // refused before it touches them, and told how to fix it.
    let out = second_director(&d, "refused", &["--workers", "3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "3 workers on 2 queues started: {err}"
    );
    assert!(
        err.contains("ext0 has 2 receive queue(s)") && err.contains("ethtool -L ext0 combined 3"),
        "{err}"
    );
    // A second director whose options pass, on AF_PACKET rings (which open
    // beside the AF_XDP sockets), is refused before a worker reads a frame:
    // it would answer every frame a second time.
    let out = second_director_on(&d, "twice", "packet", &["--workers", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a second director started: {err}");
    assert!(err.contains("ext0 is used by another ringvs run"), "{err}");
    // `--steer rss` reads the NICs' RSS settings with ethtool before it trusts
    // them; veth has none, so it is refused, naming the NIC and the call.
    let out = second_director(&d, "rss", &["--workers", "2", "--steer", "rss"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "--steer rss on veth started: {err}");
    assert!(err.contains("--steer rss: ethtool -x ext0 failed"), "{err}");
    // The first director still serves.
    let bodies = http_bodies(&d.lab, &format!("{}:80", lab::VIP), 2);
    assert_eq!(bodies.len(), 2, "{bodies:?}");

    // With one transmit queue left on ext0, worker 1's sockets would bind
    // (queue 1 < 2 receive queues) and then send nothing: refused, naming
    // the NIC and the fix. The kernel shrinks no queue an AF_XDP socket is
    // bound to: the first director goes first.
    // Every frame of the UMEM was back or accounted for at exit.
    assert_umem_adds_up(&stop_director(&d));
    let ns = d.lab.ns_director();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    // Its sockets' release is deferred (`xp_release_deferred`): retry, bounded.
    while let Err(e) = lab::ns_run(&ns, "ethtool", &["-L", "ext0", "tx", "1"]) {
        assert!(
            std::time::Instant::now() < deadline,
            "ethtool -L ext0 tx 1: {e}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = second_director(&d, "txq", &["--workers", "2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "2 workers on 1 TX queue started: {err}"
    );
    assert!(
        err.contains("ext0 has 1 transmit queue(s)") && err.contains("ethtool -L ext0 combined 2"),
        "{err}"
    );
}

/// Generic XDP (in the core receive path, any NIC) and `--busy-poll`
/// (preferred busy polling on the sockets, spinning workers): the same, but
/// veth's generic path gives every frame RX queue 0 (seen on Linux 6.18: the
/// sender's TX queue is not recorded as an RX queue), so worker 0 receives
/// everything and hands worker 1 what it owns.
#[test]
fn generic_xdp_with_busy_poll_on_two_queues() {
    let _serial = one_at_a_time();
    let Some(d) = Scenario::new("xdpmqbp")
        .log_to_file()
        .queues(2)
        .workers(2)
        .director_args(&["--io", "xdp", "--xdp-mode", "generic", "--busy-poll"])
        .seed_service()
        .start()
    else {
        return;
    };
    seed_through_two_workers(&d, "xdpgeneric", false, true);
    assert_umem_adds_up(&stop_director(&d));
}

/// `--umem per-worker`: each worker's sockets on their own UMEM, so a frame
/// handed to its owner is copied; everything else as with one UMEM.
#[test]
fn a_umem_per_worker_copies_handoffs() {
    let _serial = one_at_a_time();
    let Some(d) = Scenario::new("xdpmqpw")
        .log_to_file()
        .queues(2)
        .workers(2)
        .director_args(&[
            "--io",
            "xdp",
            "--xdp-mode",
            "native",
            "--umem",
            "per-worker",
        ])
        .seed_service()
        .start()
    else {
        return;
    };
    seed_through_two_workers(&d, "xdp", true, false);
    assert_umem_adds_up(&stop_director(&d));
}

/// The seed's traffic through a director of two AF_XDP workers whose NICs
/// carry an XDP program shown as `mode` by `ip -d link`; `spread`: both RX
/// queues of the external NIC get frames; `one_umem`: all the workers'
/// sockets on one UMEM (`--umem shared`, the default).
fn seed_through_two_workers(d: &NsDirector, mode: &str, spread: bool, one_umem: bool) {
    let NsDirector { lab, control } = d;
    let dns = lab.ns_director();
    for nic in [lab.ext_if(), lab.int_if()] {
        let d = lab::ns_run(&dns, "ip", &["-d", "link", "show", nic]).expect("ip link");
        assert!(d.contains(mode), "no {mode} program on {nic}: {d}");
    }

    // Connections one after the other, each from a new port: bounded by
    // http-get's own timeouts.
    let vip80 = format!("{}:80", lab::VIP);
    let t = std::time::Instant::now();
    let bodies = http_bodies(lab, &vip80, CONNS);
    eprintln!("{CONNS} requests in {:?}", t.elapsed());
    assert_eq!(bodies.len(), CONNS, "every request answered: {bodies:?}");
    let rs1 = bodies.iter().filter(|b| *b == "i am rs1").count();
    let rs2 = bodies.iter().filter(|b| *b == "i am rs2").count();
    assert_eq!((rs1, rs2), (CONNS / 2, CONNS / 2), "{bodies:?}");

    // The director answers ARP and ping on a multi-queue NIC too.
    let p = nslab::ping(&lab.ns_client(), &lab::VIP.to_string());
    assert!(
        p.status.success(),
        "ping VIP: {}",
        String::from_utf8_lossy(&p.stdout)
    );

    // A worker publishes its counters after the pass that sent a reply: ping
    // can see its third reply before the stats do (bounded wait).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut s = stats(control);
    while total(&s, "icmp_echo_reply") < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        s = stats(control);
    }
    eprintln!(
        "per worker: rx_ext {:?} rx_int {:?} conn_new {:?} handoff_out {:?} handoff_in {:?} \
         drop_handoff_full {:?}",
        per_worker(&s, "rx_ext"),
        per_worker(&s, "rx_int"),
        per_worker(&s, "conn_new"),
        per_worker(&s, "handoff_out"),
        per_worker(&s, "handoff_in"),
        per_worker(&s, "drop_handoff_full"),
    );
    let conn_new = per_worker(&s, "conn_new");
    assert_eq!(conn_new.len(), 2);
    assert_eq!(conn_new.iter().sum::<u64>(), CONNS as u64, "{conn_new:?}");
    assert!(
        conn_new.iter().all(|&n| n > 0),
        "one worker owns no connection: {conn_new:?}"
    );
    // Both queues of the external NIC carried frames: RSS (here, the client's
    // TX queue choice) and not our owner picked the worker.
    let rx_ext = per_worker(&s, "rx_ext");
    assert!(
        rx_ext.iter().all(|&n| n > 0) || !spread,
        "a queue of ext0 got nothing: {rx_ext:?}"
    );
    assert!(rx_ext[0] > 0);
    let (out, inn) = (total(&s, "handoff_out"), total(&s, "handoff_in"));
    assert!(inn > 0, "no handoff");
    assert_eq!(out, inn, "every frame handed off was received");
    assert_eq!(total(&s, "drop_handoff_full"), 0);
    // No frame of a connection met a worker without it.
    assert_eq!(per_worker(&s, "drop_no_conn"), [0, 0]);
    assert!(total(&s, "arp_reply") > 0, "the client's ARP for the VIP");
    assert_eq!(total(&s, "icmp_echo_reply"), 3);
    // Each connection's frames were forwarded by its owner only: as many in
    // as out in total, every one counted once.
    assert!(total(&s, "fwd_in") >= 4 * CONNS as u64);
    assert!(total(&s, "fwd_out") >= 3 * CONNS as u64);
    // Every worker's sockets on one UMEM: a frame went out from the buffer
    // it arrived in, whichever worker received it (a handoff moves its
    // descriptor, not its bytes); only frames parked for ARP were copied.
    // A UMEM per worker: frames handed over were copied too.
    let fwd = total(&s, "fwd_in") + total(&s, "fwd_out");
    let zc = total(&s, "tx_zero_copy");
    let lent = total(&s, "handoff_zero_copy");
    let parked = total(&s, "neigh_queued");
    eprintln!(
        "forwarded {fwd}, from their own buffers {zc}, handed in {inn} ({lent} by descriptor), parked {parked}"
    );
    assert!(zc > 0, "no frame sent from its RX buffer");
    assert!(zc <= fwd);
    if one_umem {
        assert_eq!(lent, out, "a frame handed off was copied");
        assert!(
            zc + parked >= fwd,
            "a forwarded frame was copied: {zc} + {parked} < {fwd}"
        );
    } else {
        assert_eq!(lent, 0, "handed by descriptor between UMEMs");
        assert!(
            zc + inn + parked >= fwd,
            "a frame received by its owner was copied: {zc} + {inn} + {parked} < {fwd}"
        );
        assert!(
            zc + inn <= fwd,
            "a handed frame was not copied: {zc} + {inn} > {fwd}"
        );
    }
}

/// UDP datagrams to a real server port nobody listens on: the real server's
/// kernel answers each with ICMP port unreachable, which reaches whichever
/// worker its queue belongs to, is handed to the owner of the connection it
/// quotes, and is translated towards the client.
fn icmp_errors_reach_the_client_through_their_owner(d: &NsDirector) {
    let NsDirector { lab, control } = d;
    let vip53 = format!("{}:53", lab::VIP);
    adm(control, &["-A", "-u", &vip53, "-s", "rr"]);
    let rip = format!("{}:5353", lab::rs_addr(1));
    adm(control, &["-a", "-u", &vip53, "-r", &rip, "-m"]);
    let before = stats(control);
    // Six datagrams, each from a socket of its own (bash's /dev/udp), all held
    // open to the end so the kernel cannot give two of them one port: six
    // connections. The real server's kernel sends up to 6 errors to one host
    // in a burst (`icmp_ratelimit`).
    let script = format!(
        "for i in 1 2 3 4 5 6; do exec {{fd}}>/dev/udp/{}/53; echo ringvs >&$fd; sleep 0.05; done",
        lab::VIP
    );
    let out = lab::ns_command(
        &lab.ns_client(),
        std::path::Path::new("bash"),
        &["-c", &script],
    )
    .output()
    .expect("bash");
    assert!(out.status.success(), "{out:?}");
    // Bounded wait for the errors to be translated.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let d = |name: &str| {
        let after = stats(control);
        total(&after, name) - total(&before, name)
    };
    while d("icmp_error_nat") < 6 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let after = stats(control);
    eprintln!(
        "UDP: conn_new {:?} icmp_error_nat {:?} handoff_out {:?}",
        per_worker(&after, "conn_new"),
        per_worker(&after, "icmp_error_nat"),
        per_worker(&after, "handoff_out")
    );
    assert_eq!(d("conn_new"), 6, "one UDP connection per datagram");
    assert_eq!(
        d("icmp_error_nat"),
        6,
        "every port unreachable translated (the real server's burst allows 6)"
    );
    assert_eq!(d("drop_icmp_no_conn"), 0);
    assert_eq!(d("drop_no_conn"), 0);
}

/// The XDP programs redirect every frame of the flood from the moment they
/// are attached until they are detached: none is passed to the kernel, as
/// one was while a program waited, attached, for its sockets to enter the
/// map (start) or outlived them (stop). Before the attach and after the
/// detach the kernel gets every frame, as without ringvs: veth does not
/// count those as the program's. The client floods the external NIC with
/// UDP (through the director's start and stop); veth counts, per RX queue,
/// the frames its native XDP program ran on, those it redirected and those
/// a socket refused (its ring full): what is left is what the program
/// passed (it drops none and sends none back).
#[test]
fn no_frame_reaches_the_kernel_while_the_xdp_program_is_attached() {
    let _serial = one_at_a_time();
    let Some(d) = Scenario::new("xdpord")
        .log_to_file()
        .queues(2)
        .workers(2)
        .needs(&["ethtool"])
        .director_args(&["--io", "xdp", "--xdp-mode", "native"])
        .before_director(|lab| {
            let mac = mac_of(&lab.ns_director(), "ext0")
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            #[rustfmt::skip]
            let args = [
                "udp", "--tx-if", "c0", "--rx-if", "c0", "--dst-mac", &mac,
                "--dst", "198.18.0.110:9", "--flows", "64", "--rate", "20000",
                "--secs", "8", "--warmup-ms", "0",
            ];
            lab.spawn_in(&lab.ns_client(), &generator(), &args)
                .expect("ringvs-gen udp");
            // Flooding before the director starts.
            std::thread::sleep(std::time::Duration::from_millis(300));
        })
        .start()
    else {
        return;
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    // Stopped under a flood, the UMEM's frames still add up.
    assert_umem_adds_up(&stop_director(&d));
    // The flood goes on past the stop.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = lab::ns_run(&d.lab.ns_director(), "ethtool", &["-S", "ext0"]).expect("ethtool -S");
    // Each queue's `rx_queue_N_WHAT` summed over the queues.
    let sum = |what: &str| -> u64 {
        out.lines()
            .filter_map(|l| l.trim().split_once(": "))
            .filter(|(k, _)| {
                k.strip_prefix("rx_queue_")
                    .and_then(|k| k.split_once('_'))
                    .is_some_and(|(n, w)| n.parse::<u32>().is_ok() && w == what)
            })
            .map(|(_, v)| v.trim().parse::<u64>().expect("a count"))
            .sum()
    };
    let (ran, redirected) = (sum("xdp_packets"), sum("xdp_redirect"));
    let (dropped, sent_back) = (sum("xdp_drops"), sum("xdp_tx"));
    // A redirect the socket refused (its RX ring full, its fill ring empty:
    // a worker late on a loaded machine) is counted in `drops`, not passed
    // to the kernel (`veth_xdp_rcv_skb`, drivers/net/veth.c).
    let refused = sum("drops");
    eprintln!("XDP ran on {ran} frames, redirected {redirected}, refused {refused}");
    assert!(redirected > 1000, "the flood reached the sockets: {out}");
    assert_eq!(dropped + sent_back, 0, "{out}");
    // veth clears its queue's program before it stops the queue's NAPI
    // (`veth_disable_xdp`): a poll running across the detach counts a frame
    // or two the program never saw. The old order passed over a thousand.
    let passed = ran.saturating_sub(redirected + refused);
    assert!(passed <= 4, "{passed} frames passed to the kernel: {out}");
}

/// Start a second `--io xdp` director on the lab's NICs with `extra` options
/// (control socket `<first's>.<tag>`), for refusals; at most 20 s.
fn second_director(d: &NsDirector, tag: &str, extra: &[&str]) -> std::process::Output {
    second_director_on(d, tag, "xdp", extra)
}

/// [`second_director`] with `--io IO`.
fn second_director_on(d: &NsDirector, tag: &str, io: &str, extra: &[&str]) -> std::process::Output {
    let control = format!("{}.{tag}", d.control.display());
    let mut args = vec![
        "20",
        EXE,
        "run",
        "--ext",
        "ext0",
        "--ext-addr",
        lab::EXT_ADDR_CIDR,
        "--int",
        "int0",
        "--int-addr",
        lab::INT_ADDR_CIDR,
        "--control",
        &control,
        "--io",
        io,
    ];
    args.extend_from_slice(extra);
    lab::ns_command(&d.lab.ns_director(), std::path::Path::new("timeout"), &args)
        .output()
        .expect("run a second director")
}

/// `ringvs demo --io xdp`: the seed's walk-through through two AF_XDP
/// workers on two-queue veths, as a user first meets issue 12. Every request
/// answered, the real servers taking turns, both workers owning connections
/// and handing frames over, and the lab gone afterwards.
#[test]
fn demo_over_af_xdp_runs_two_workers() {
    let _serial = one_at_a_time();
    if !lab::lab_available_with(&["ethtool"]) {
        return;
    }
    const REQUESTS: usize = 40;
    let n = REQUESTS.to_string();
    let run = run_demo(
        &["--io", "xdp", "--stats", "--requests", &n],
        std::time::Duration::from_secs(120),
    );
    let text = run.out;
    assert!(run.left.is_empty(), "the demo left {:?} behind", run.left);
    assert!(
        run.status.success(),
        "ringvs demo --io xdp failed: {}\n{text}",
        run.err
    );
    assert!(
        text.contains("with 2 worker(s) on xdp I/O"),
        "not two AF_XDP workers: {text}"
    );
    let bodies: Vec<&str> = text.lines().filter(|l| l.starts_with("i am rs")).collect();
    assert_eq!(bodies.len(), REQUESTS, "every request answered: {text}");
    // Round robin over both servers, whichever worker scheduled.
    assert!(
        bodies.windows(2).all(|w| w[0] != w[1]),
        "the servers did not take turns: {bodies:?}"
    );
    // `--stats`: a row per counter, one column per worker, then the total.
    let row = |name: &str| -> Vec<u64> {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} row: {text}"))
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().expect("a count"))
            .collect()
    };
    let conn_new = row("conn_new");
    assert_eq!(conn_new.len(), 3, "two workers and the total: {conn_new:?}");
    assert_eq!(conn_new[2], REQUESTS as u64, "{conn_new:?}");
    assert!(
        conn_new[..2].iter().all(|&n| n > 0),
        "one worker owns no connection: {conn_new:?}"
    );
    assert!(
        row("handoff_in")[2] > 0,
        "no frame handed to its owner: {text}"
    );
    assert_eq!(row("drop_no_conn")[2], 0, "{text}");
    assert_eq!(row("drop_handoff_full")[2], 0, "{text}");
}
