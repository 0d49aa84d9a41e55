//! End to end through real AF_PACKET rings: the seed's scenario in network
//! namespaces, with kernel TCP clients and servers on both sides of the director.
//!
//! Needs root and `ip netns`. Under `CI=true` a missing capability fails the test;
//! elsewhere the test says why it did not run.

mod nslab;
use nslab::{
    DemoChild, EXE, NsDirector, Scenario, adm, assert_umem_adds_up, http_bodies, ping,
    seed_service, stats, stop_director,
};
use ringvs::lab::lab_available;
use ringvs::lab::{self, Lab};
use serde_json::Value;
use std::path::Path;
use std::process::Command as Process;

fn counter(workers: &[Value], name: &str) -> Vec<u64> {
    workers
        .iter()
        .map(|w| {
            w[name]
                .as_u64()
                .unwrap_or_else(|| panic!("no counter {name}"))
        })
        .collect()
}

fn alternates(bodies: &[String], a: &str, b: &str) -> bool {
    let first = bodies.first().map(String::as_str);
    let (x, y) = if first == Some(a) { (a, b) } else { (b, a) };
    bodies
        .iter()
        .enumerate()
        .all(|(i, s)| s == if i % 2 == 0 { x } else { y })
}

#[test]
fn seed_scenario_through_the_rings() {
    // Client TX checksum offload stays on: its segments reach the director with
    // partial checksums (TP_STATUS_CSUMNOTREADY).
    let Some(NsDirector { lab, control }) = Scenario::new("netns")
        .before_director(|lab| {
            for n in 1..=2 {
                let body = format!("i am rs{n}:8080");
                nslab::spawn_http_server(lab, n, "0.0.0.0:8080", &body, "300");
            }
        })
        // The port-mapped service comes from a rules file in `ipvsadm -S` format,
        // as a kernel director would save it: VIP:8000 → RIP:8080.
        .rules(
            "-A -t 198.18.0.110:8000 -s rr\n\
             -a -t 198.18.0.110:8000 -r 198.19.0.2:8080 -m -w 1\n\
             -a -t 198.18.0.110:8000 -r 198.19.0.3:8080 -m -w 1\n",
        )
        .start()
    else {
        return;
    };
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&control)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "control socket mode {mode:o}");

    // The seed's commands, through the control socket.
    let vip80 = format!("{}:80", lab::VIP);
    let vip8000 = format!("{}:8000", lab::VIP);
    seed_service(&control, &vip80);

    // Round robin alternates, connection after connection.
    let bodies = http_bodies(&lab, &vip80, 20);
    assert_eq!(bodies.len(), 20, "{bodies:?}");
    assert!(alternates(&bodies, "i am rs1", "i am rs2"), "{bodies:?}");
    let bodies = http_bodies(&lab, &vip8000, 10);
    assert_eq!(bodies.len(), 10, "{bodies:?}");
    assert!(
        alternates(&bodies, "i am rs1:8080", "i am rs2:8080"),
        "{bodies:?}"
    );

    // The director answers ping for the VIP (client side) and the DIP (server side).
    let p = ping(&lab.ns_client(), &lab::VIP.to_string());
    assert!(
        p.status.success(),
        "ping VIP: {}",
        String::from_utf8_lossy(&p.stdout)
    );
    let p = ping(&lab.ns_rs(1), &lab::DIP.to_string());
    assert!(
        p.status.success(),
        "ping DIP: {}",
        String::from_utf8_lossy(&p.stdout)
    );

    // ipvsadm's listing, with the 30 connections (all closed: InActConn).
    let list = adm(&control, &["-L", "-n"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines[0], "IP Virtual Server version 1.2.1 (size=4096)");
    assert_eq!(lines[1], "Prot LocalAddress:Port Scheduler Flags");
    assert_eq!(
        lines[2],
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"
    );
    assert_eq!(lines[3], "TCP  198.18.0.110:80 rr");
    assert!(
        lines[4].starts_with("  -> 198.19.0.2:80                Masq    1      0          10"),
        "{list}"
    );
    assert!(
        lines[5].starts_with("  -> 198.19.0.3:80                Masq    1      0          10"),
        "{list}"
    );
    assert_eq!(lines[6], "TCP  198.18.0.110:8000 rr");
    assert!(
        lines[7].starts_with("  -> 198.19.0.2:8080              Masq    1      0          5"),
        "{list}"
    );

    let s = stats(&control);
    let workers = s["workers"].as_array().expect("workers").clone();
    assert_eq!(workers.len(), 2);
    let conn_new = counter(&workers, "conn_new");
    assert_eq!(conn_new.iter().sum::<u64>(), 30, "{conn_new:?}");
    // Both workers carried connections...
    assert!(
        conn_new.iter().all(|&n| n > 0),
        "one worker idle: {conn_new:?}"
    );
    // ...and each saw both directions of its own: no reply ever landed on a worker
    // without the connection, and nothing TCP was handed off.
    assert_eq!(counter(&workers, "drop_no_conn"), [0, 0]);
    assert_eq!(counter(&workers, "handoff_out"), [0, 0]);
    let fwd_in = counter(&workers, "fwd_in");
    let fwd_out = counter(&workers, "fwd_out");
    for w in 0..2 {
        assert!(
            fwd_in[w] > 0 && fwd_out[w] > 0,
            "in {fwd_in:?} out {fwd_out:?}"
        );
    }
    // The client's segments arrived with partial checksums and were completed: the
    // real servers' kernels verified every one (the requests above succeeded).
    let partial: u64 = counter(&workers, "rx_csum_partial").iter().sum();
    assert!(partial > 0, "no partial-checksum frame seen");
    assert!(counter(&workers, "icmp_echo_reply").iter().sum::<u64>() >= 6);
    drop(lab);
    assert!(!control.exists(), "control socket left behind");
}

/// With every real server at weight 0, `curl` is refused at once
/// ("Couldn't connect", exit 7) by the ICMP port unreachable the director
/// sends from the VIP, as IPVS's `ip_vs_leave` does, where before it resent
/// its SYN until its `--max-time` (exit 28).
#[test]
fn curl_is_refused_when_no_server_can_take_it() {
    let Some(NsDirector { lab, control }) = Scenario::new("netns")
        .needs(&["curl"])
        .seed_service()
        .start()
    else {
        return;
    };
    let vip = format!("{}:80", lab::VIP);
    for n in [1, 2] {
        let rs = format!("{}:80", lab::rs_addr(n));
        adm(&control, &["-e", "-t", &vip, "-r", &rs, "-m", "-w", "0"]);
    }
    let url = format!("http://{vip}/");
    let out = lab::ns_command(
        &lab.ns_client(),
        Path::new("curl"),
        &["-sS", "--max-time", "10", &url],
    )
    .output()
    .expect("run curl");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "refused, not timed out: {err}");
    let s = stats(&control);
    assert!(nslab::total(&s, "icmp_port_unreach") >= 1);
    assert!(nslab::total(&s, "drop_no_dest") >= 1);
}

/// A real server that never answers ARP (gone from the wire): the client's
/// SYN waits for it, is given up after 3 s, and the client is told with
/// host unreachable, as the kernel's neighbor layer tells it for IPVS
/// (`arp_error_report`), so curl fails to connect (exit 7, after the 3 s)
/// instead of retrying its SYN until its own timeout (28).
#[test]
fn curl_is_told_no_route_when_its_server_never_answers_arp() {
    let Some(NsDirector { lab, control }) = Scenario::new("netns").needs(&["curl"]).start() else {
        return;
    };
    let vip = format!("{}:80", lab::VIP);
    // On the real servers' segment, nobody's address.
    let ghost = "198.19.0.99:80";
    adm(&control, &["-A", "-t", &vip, "-s", "rr"]);
    adm(&control, &["-a", "-t", &vip, "-r", ghost, "-m"]);
    let url = format!("http://{vip}/");
    let out = lab::ns_command(
        &lab.ns_client(),
        Path::new("curl"),
        &["-sS", "--max-time", "20", &url],
    )
    .output()
    .expect("run curl");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "no route, not timed out: {err}");
    let s = stats(&control);
    assert!(nslab::total(&s, "icmp_host_unreach") >= 1);
    assert!(nslab::total(&s, "drop_neigh_unresolved") >= 1);
}

#[test]
fn rule_changes_apply_to_new_connections_only() {
    let Some(NsDirector { lab, control }) = Scenario::new("netns").seed_service().start() else {
        return;
    };
    let vip = format!("{}:80", lab::VIP);

    // One keep-alive connection making a request every 200 ms.
    let mut client = lab::ns_command(
        &lab.ns_client(),
        Path::new(EXE),
        &[
            "http-get",
            &vip,
            "--keepalive",
            "--count",
            "8",
            "--interval-ms",
            "200",
        ],
    )
    .stdout(std::process::Stdio::piped())
    .spawn()
    .expect("keep-alive client");
    let mut out = std::io::BufReader::new(client.stdout.take().expect("stdout"));
    let mut first = String::new();
    std::io::BufRead::read_line(&mut out, &mut first).expect("first answer");
    let first = first.trim().to_string();
    let (kept, other) = match first.as_str() {
        "i am rs1" => (1, 2),
        "i am rs2" => (2, 1),
        x => panic!("unexpected answer {x:?}"),
    };

    // The open connection is ESTABLISHED: ActiveConn 1 on its real server.
    let list = adm(&control, &["-L", "-n"]);
    let row = |n: usize| {
        list.lines()
            .find(|l| l.contains(&format!("{}:80 ", lab::rs_addr(n))))
            .unwrap_or_else(|| panic!("no row for rs{n} in {list}"))
            .to_string()
    };
    assert!(row(kept).contains("Masq    1      1"), "{list}");

    // Quiesce its real server (weight 0): new connections go elsewhere...
    adm(
        &control,
        &[
            "-e",
            "-t",
            &vip,
            "-r",
            &format!("{}:80", lab::rs_addr(kept)),
            "-m",
            "-w",
            "0",
        ],
    );
    let bodies = http_bodies(&lab, &vip, 4);
    assert_eq!(bodies, vec![format!("i am rs{other}"); 4]);
    // ...while the established connection keeps its real server, which is still
    // available in IPVS's sense (`ip_vs_in_hook`, `ip_vs_core.c`). (A server
    // deleted with `-d` is not: its connections' packets would be dropped, see
    // tests/pipeline.rs; this test used `-d` before issue 11.)
    let rest: Vec<String> = std::io::BufRead::lines(out)
        .map(|l| l.expect("line"))
        .collect();
    assert!(client.wait().expect("client exits").success(), "{rest:?}");
    assert_eq!(rest, vec![first.clone(); 7]);

    // Adding a VIP announces it with gratuitous ARP on the client segment.
    let dump = Process::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns_client(),
            "timeout",
            "5",
            "tcpdump",
            "-l",
            "-n",
            "-c",
            "1",
            "-i",
            "c0",
            "arp",
            "and",
            "src",
            "host",
            "198.18.0.111",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tcpdump");
    // Wait until tcpdump says it listens (`timeout 5` bounds the wait), so the
    // announcement cannot go out before the capture is open.
    let mut dump = dump;
    if let Some(err) = dump.stderr.take() {
        use std::io::BufRead;
        let ready = std::io::BufReader::new(err)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("listening on"));
        assert!(ready, "tcpdump did not start listening");
    }
    adm(&control, &["-A", "-u", "198.18.0.111:53", "-s", "rr"]);
    let seen = dump.wait_with_output().expect("tcpdump output");
    let text = String::from_utf8_lossy(&seen.stdout);
    assert!(
        text.contains("Request who-has 198.18.0.111 tell 198.18.0.111"),
        "no gratuitous ARP seen: {text:?}"
    );
}

#[test]
fn demo_cleans_up_when_interrupted() {
    if !lab_available() {
        return;
    }
    // Enough requests that the demo is still busy when the signal comes.
    // Its guard removes what a failed assertion would leave.
    let mut demo = DemoChild::spawn(
        &["--requests", "5000"],
        std::process::Stdio::piped(),
        std::process::Stdio::null(),
    );
    let out = demo.child.stdout.take().expect("stdout");
    // Interrupt once the director runs (bounded: the read is on a thread,
    // and a demo that never gets there is given up on after 60 s).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = std::io::BufReader::new(out);
        let mut line = String::new();
        loop {
            line.clear();
            match std::io::BufRead::read_line(&mut out, &mut line) {
                Ok(n) if n > 0 => {
                    if line.starts_with("Director running") {
                        let _ = tx.send(true);
                    }
                }
                _ => break,
            }
        }
        let _ = tx.send(false);
    });
    let running = rx.recv_timeout(std::time::Duration::from_secs(60));
    assert_eq!(running, Ok(true), "the demo's director did not start");
    assert_eq!(
        demo.namespaces().len(),
        5,
        "the demo's namespaces exist while it runs"
    );
    let status = demo.interrupt(std::time::Duration::from_secs(30));
    let status = status.expect("the demo did not exit within 30 s of SIGINT");
    assert!(!status.success(), "an interrupted demo reports failure");
    let left = demo.namespaces();
    assert!(left.is_empty(), "namespaces {left:?} left behind");
    let socket = format!("/run/ringvs-demo-{}.sock", demo.tag);
    assert!(!Path::new(&socket).exists(), "{socket} left behind");
}

/// `ringvs demo | head -3`: the reader goes away while the demo still writes.
/// The demo stops, cleans up its lab and says why; nothing panics (the
/// release profile aborts on a panic, which would leave the lab behind).
#[test]
fn demo_cleans_up_when_its_reader_goes_away() {
    if !lab_available() {
        return;
    }
    let mut demo = DemoChild::spawn(
        &["--requests", "50"],
        std::process::Stdio::piped(),
        std::process::Stdio::piped(),
    );
    let err = demo.child.stderr.take().expect("stderr");
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut { err }, &mut text);
        text
    });
    {
        // Three lines, then the pipe is closed, as `head -3` does.
        let mut out = std::io::BufReader::new(demo.child.stdout.take().expect("stdout"));
        let mut line = String::new();
        for _ in 0..3 {
            line.clear();
            let n = std::io::BufRead::read_line(&mut out, &mut line).expect("read demo");
            assert!(n > 0, "demo ended early");
        }
    }
    // Bounded: a demo that kept going is interrupted (and the test fails).
    let status = demo.wait_within(std::time::Duration::from_secs(60));
    let err = err.join().unwrap_or_default();
    let left = demo.namespaces();
    assert!(left.is_empty(), "the demo left {left:?} behind: {err}");
    let status = status.expect("the demo went on writing to a closed pipe");
    assert!(!status.success(), "a demo cut short reports failure: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("demo: standard output"), "{err}");
}

/// `ringvs run 2>&1 | logger`, and logger goes: the director's standard
/// error is a pipe nobody reads (EPIPE). Its next log lines (a role change,
/// a sync daemon started and stopped, all asked over the control socket)
/// are lost, and it goes on serving: `eprintln!` panicked there, and the
/// release build's panic aborted the whole director.
#[test]
fn the_director_outlives_its_stderr_reader() {
    use std::io::BufRead as _;
    if !lab_available() {
        return;
    }
    let tag = Lab::unique_tag();
    let mut lab = Lab::build(&tag).expect("build lab");
    let control = format!("/run/ringvs-stderr-{tag}.sock");
    let args = [
        "run",
        "--ext",
        lab.ext_if(),
        "--ext-addr",
        lab::EXT_ADDR_CIDR,
        "--int",
        lab.int_if(),
        "--int-addr",
        lab::INT_ADDR_CIDR,
        "--control",
        &control,
        "--workers",
        "1",
    ];
    let mut child = lab::ns_command(&lab.ns_director(), Path::new(EXE), &args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the director");
    {
        // Read until the director says it runs, then close the pipe.
        let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        while !line.contains("control socket") {
            line.clear();
            let n = err.read_line(&mut line).expect("read the director");
            assert!(n > 0, "the director ended before it started");
        }
    }
    let path = Path::new(&control);
    let up = lab::wait_for(std::time::Duration::from_secs(10), || {
        std::os::unix::net::UnixStream::connect(path).ok()
    });
    assert!(up.is_some(), "no control socket");
    let logged: [&[&str]; 4] = [
        &["--ha", "standby"],
        &["--ha", "active"],
        &["--start-daemon", "master", "--mcast-interface", "int0"],
        &["--stop-daemon", "master"],
    ];
    for argv in logged {
        let r = ringvs::proto::call(
            path,
            ringvs::proto::Command::Adm {
                argv: argv.iter().map(|a| a.to_string()).collect(),
            },
        );
        let r = r.unwrap_or_else(|e| {
            let end = lab::wait_for(std::time::Duration::from_secs(2), || {
                child.try_wait().ok().flatten()
            });
            panic!("adm {argv:?}: {e}; the director ended: {end:?}")
        });
        assert_eq!(r.code, 0, "adm {argv:?}: {}", r.err);
    }
    let listing = adm(path, &["-L", "-n"]);
    assert!(listing.starts_with("IP Virtual Server"), "{listing}");
    assert!(child.try_wait().expect("try_wait").is_none());
    lab.adopt(child);
    let _ = std::fs::remove_file(path);
}

/// The kernel's count of IPv4 datagrams received (`Ip: InReceives`) in `ns`.
fn ip_in_receives(ns: &str) -> u64 {
    let snmp = lab::ns_run(ns, "cat", &["/proc/net/snmp"]).expect("read /proc/net/snmp");
    let mut ip = snmp.lines().filter(|l| l.starts_with("Ip:"));
    let (names, values) = (ip.next().expect("Ip header"), ip.next().expect("Ip values"));
    let at = names
        .split_whitespace()
        .position(|n| n == "InReceives")
        .expect("InReceives column");
    values
        .split_whitespace()
        .nth(at)
        .and_then(|v| v.parse().ok())
        .expect("InReceives value")
}

fn link_details(ns: &str, ifname: &str) -> String {
    lab::ns_run(ns, "ip", &["-d", "link", "show", ifname]).expect("ip link show")
}

#[test]
fn seed_scenario_through_af_xdp() {
    // Client and servers keep TX checksum offload on: AF_XDP carries no checksum
    // status, so the director must recognise the partial checksums by their value.
    let Some(NsDirector { lab, control }) = Scenario::new("netns")
        .workers(1)
        .director_args(&["--io", "xdp", "--xdp-mode", "generic", "--ring-blocks", "2"])
        .seed_service()
        .log_to_file()
        .start()
    else {
        return;
    };
    let dns = lab.ns_director();
    for nic in [lab.ext_if(), lab.int_if()] {
        let d = link_details(&dns, nic);
        assert!(d.contains("xdpgeneric"), "no XDP program on {nic}: {d}");
    }
    let vip80 = format!("{}:80", lab::VIP);
    let kernel_before = ip_in_receives(&dns);

    let bodies = http_bodies(&lab, &vip80, 40);
    assert_eq!(bodies.len(), 40, "{bodies:?}");
    assert!(alternates(&bodies, "i am rs1", "i am rs2"), "{bodies:?}");
    let p = ping(&lab.ns_client(), &lab::VIP.to_string());
    assert!(
        p.status.success(),
        "ping VIP: {}",
        String::from_utf8_lossy(&p.stdout)
    );

    let s = stats(&control);
    let workers = s["workers"].as_array().expect("workers").clone();
    assert_eq!(workers.len(), 1);
    assert_eq!(counter(&workers, "conn_new"), [40]);
    assert_eq!(counter(&workers, "drop_no_conn"), [0]);
    assert_eq!(counter(&workers, "icmp_echo_reply"), [3]);
    // Every client segment of the 40 connections (at least SYN, request, FIN) came
    // with a partial checksum, and was recognised and completed: the real servers'
    // kernels accepted them (the requests succeeded).
    let partial = counter(&workers, "rx_csum_partial")[0];
    assert!(partial >= 60, "partial checksums recognised: {partial}");
    let rx = counter(&workers, "rx_ext")[0] + counter(&workers, "rx_int")[0];
    // The director's kernel never saw those IPv4 frames (with AF_PACKET it runs IP
    // input on every one of them).
    let kernel = ip_in_receives(&dns) - kernel_before;
    assert!(rx >= 200, "frames through ringvs: {rx}");
    // The worker's two sockets share one UMEM: every frame forwarded went out
    // from the buffer it arrived in, but those parked while ARP resolved the
    // next hop (copied into the parking slots).
    let fwd = counter(&workers, "fwd_in")[0] + counter(&workers, "fwd_out")[0];
    let zc = counter(&workers, "tx_zero_copy")[0];
    let parked = counter(&workers, "neigh_queued")[0];
    eprintln!("forwarded {fwd}: {zc} from their own buffers, {parked} parked");
    assert_eq!(zc + parked, fwd, "zero-copy forwarding");
    // The UMEM is 4 x 64 frames (`--ring-blocks 2`): the frames lent to TX
    // came back, or the traffic above (more frames than that) would have
    // starved the fill rings.
    assert!(fwd > 256, "{fwd}");
    assert_eq!(
        kernel, 0,
        "the director's kernel received {kernel} datagrams"
    );

    // A director that stops takes its XDP programs with it, and every
    // frame of its UMEM was back or accounted for as its queues went.
    let d = NsDirector { lab, control };
    assert_umem_adds_up(&stop_director(&d));
    let NsDirector { lab, control } = d;
    assert!(
        !control.exists(),
        "director did not remove its control socket"
    );
    for nic in [lab.ext_if(), lab.int_if()] {
        let d = link_details(&dns, nic);
        assert!(!d.contains("xdp"), "XDP program left on {nic}: {d}");
    }
}

/// Keep-alive HTTP clients started in the client namespace: `n` connections, each
/// making `count` requests `interval_ms` apart.
fn keepalive_clients(
    lab: &Lab,
    vip: &str,
    n: usize,
    count: usize,
    interval_ms: u64,
) -> Vec<std::process::Child> {
    (0..n)
        .map(|_| {
            lab::ns_command(
                &lab.ns_client(),
                Path::new(EXE),
                &[
                    "http-get",
                    vip,
                    "--keepalive",
                    "--count",
                    &count.to_string(),
                    "--interval-ms",
                    &interval_ms.to_string(),
                ],
            )
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("keep-alive client")
        })
        .collect()
}

#[test]
fn rule_edits_under_http_load_keep_established_connections() {
    let Some(NsDirector { lab, control }) = Scenario::new("netns").start() else {
        return;
    };
    let vip = format!("{}:80", lab::VIP);
    let rip = |n: usize| format!("{}:80", lab::rs_addr(n));
    let (rs1, rs2) = ("i am rs1".to_string(), "i am rs2".to_string());
    adm(&control, &["-A", "-t", &vip, "-s", "rr"]);
    adm(&control, &["-a", "-t", &vip, "-r", &rip(1), "-m"]);

    // Load: 6 keep-alive connections, 40 requests each, 100 ms apart (4 s), all
    // opened while rs1 is the only real server, and running across every edit.
    let mut clients = keepalive_clients(&lab, &vip, 6, 40, 100);
    // All six connections ESTABLISHED on rs1 (polled: the clients start at their
    // own pace on a busy machine).
    let want = format!("  -> {}                Masq    1      6          0", rip(1));
    let start = std::time::Instant::now();
    let mut listing = adm(&control, &["-L", "-n"]);
    while !listing.contains(&want) && start.elapsed() < std::time::Duration::from_secs(3) {
        std::thread::sleep(std::time::Duration::from_millis(20));
        listing = adm(&control, &["-L", "-n"]);
    }
    assert!(listing.contains(&want), "{listing}");

    // Add: new connections now alternate over both.
    adm(&control, &["-a", "-t", &vip, "-r", &rip(2), "-m"]);
    let b = http_bodies(&lab, &vip, 4);
    assert!(alternates(&b, &rs1, &rs2), "after -a: {b:?}");

    // Edit: weighted round robin with rs1 at weight 3 gives IPVS's 3:1 order.
    adm(&control, &["-E", "-t", &vip, "-s", "wrr"]);
    adm(
        &control,
        &["-e", "-t", &vip, "-r", &rip(1), "-m", "-w", "3"],
    );
    let b = http_bodies(&lab, &vip, 8);
    let n1 = b.iter().filter(|s| **s == rs1).count();
    assert_eq!((n1, b.len()), (6, 8), "after -e -w 3: {b:?}");

    // Quiesce: weight 0 takes no new connections...
    adm(
        &control,
        &["-e", "-t", &vip, "-r", &rip(1), "-m", "-w", "0"],
    );
    let b = http_bodies(&lab, &vip, 4);
    assert_eq!(b, vec![rs2.clone(); 4], "after -w 0");

    // Every established connection lived through all of it, on rs1 throughout
    // (quiescing keeps a server's connections, as in IPVS).
    for c in clients.drain(..) {
        let out = c.wait_with_output().expect("client output");
        let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        assert!(
            out.status.success(),
            "a keep-alive client failed: {lines:?}"
        );
        assert_eq!(lines, vec![rs1.clone(); 40]);
    }
    // A deleted server takes no new connections either. Its connections' client
    // packets are dropped from then on (the availability check of `ip_vs_core.c`
    // `ip_vs_in_hook`; `drop_nodest_conn`), so this step comes after the
    // keep-alive clients are done.
    adm(&control, &["-d", "-t", &vip, "-r", &rip(1)]);
    let b = http_bodies(&lab, &vip, 4);
    assert_eq!(b, vec![rs2.clone(); 4], "after -d");
    let s = stats(&control);
    let workers = s["workers"].as_array().expect("workers").clone();
    assert_eq!(counter(&workers, "drop_no_conn").iter().sum::<u64>(), 0);
    assert_eq!(counter(&workers, "conn_new").iter().sum::<u64>(), 6 + 20);
}

/// The threads of the process whose command line names `control`, with their
/// `comm` and their scheduling policy and real-time priority (`stat` fields 41
/// and 40).
fn director_threads(control: &Path) -> Vec<(String, u32, u32)> {
    let want = control.display().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if !cmd.contains(" run ") || !cmd.contains(&want) {
            continue;
        }
        for t in std::fs::read_dir(e.path().join("task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            // Fields after the parenthesised comm, which may hold spaces.
            let rest: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, r)| r.split_whitespace().collect())
                .unwrap_or_default();
            // `rest[0]` is field 3 (state): field n is rest[n - 3].
            let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse().ok()).unwrap_or(0);
            out.push((comm.trim().to_owned(), field(41), field(40)));
        }
    }
    out
}

#[test]
fn workers_run_real_time_with_rt_priority() {
    let Some(NsDirector { lab, control }) = Scenario::new("rtprio")
        .workers(2)
        .director_args(&["--rt-priority", "7"])
        .seed_service()
        .start()
    else {
        return;
    };
    let threads = director_threads(&control);
    let workers: Vec<_> = threads
        .iter()
        .filter(|(c, _, _)| c.starts_with("ringvs-w"))
        .collect();
    assert_eq!(workers.len(), 2, "{threads:?}");
    // SCHED_FIFO is policy 1; the other threads stay SCHED_OTHER (0).
    for (comm, policy, prio) in &workers {
        assert_eq!((*policy, *prio), (1, 7), "{comm}: {threads:?}");
    }
    assert!(
        threads
            .iter()
            .filter(|(c, _, _)| !c.starts_with("ringvs-w"))
            .all(|(_, policy, _)| *policy == 0),
        "{threads:?}"
    );
    // And they forward: the seed's alternation.
    let bodies = http_bodies(&lab, &format!("{}:80", lab::VIP), 4);
    assert_eq!(bodies.len(), 4, "{bodies:?}");
    assert!(alternates(&bodies, "i am rs1", "i am rs2"), "{bodies:?}");
}
