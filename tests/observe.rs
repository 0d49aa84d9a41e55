//! `ringvs capture` and `ringvs trace` against a director in network namespaces.
//!
//! Needs root and `ip netns` (and tcpdump for the pipe check). Under `CI=true` a
//! missing capability fails the test; elsewhere the test says why it did not run.

mod nslab;
use nslab::{EXE, NsDirector, Scenario, http_bodies};
use ringvs::lab::{self, Lab, Spawned};
use ringvs::observe::filter::{Summary, summarize};
use ringvs::observe::pcap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

const DONE: Duration = Duration::from_secs(10);

/// Both real servers serving HTTP on port 80 and a two-worker director with
/// VIP:80 → both (rr); tcpdump is needed too.
fn scenario(name: &'static str) -> Scenario {
    Scenario::new(name).needs(&["tcpdump"]).seed_service()
}

fn ping_vip(lab: &Lab, n: usize) {
    let out = Process::new("ip")
        .args(["netns", "exec", &lab.ns_client(), "ping", "-c"])
        .arg(n.to_string())
        .args(["-i", "0.2", "-W", "2", &lab::VIP.to_string()])
        .output()
        .expect("run ping");
    assert!(out.status.success(), "ping VIP failed");
}

fn spawn(args: &[&str], stdout: Stdio) -> Spawned {
    Spawned(
        Process::new(EXE)
            .args(args)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ringvs"),
    )
}

/// Wait (at most 10 s) until `c`, a `ringvs capture` or `trace` (or a
/// shell running one), says it listens on its stderr, as tcpdump does: the
/// director answers once every worker taps, so the next frame is seen.
/// The rest of its stderr goes to the test's.
fn listening(c: &mut Spawned) {
    let err = c.0.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let lines = std::io::BufRead::lines(std::io::BufReader::new(err));
        for line in lines.map_while(Result::ok) {
            if line.contains(": listening on ") {
                let _ = tx.send(());
            } else {
                eprintln!("{line}");
            }
        }
    });
    let said = rx.recv_timeout(Duration::from_secs(10));
    assert!(said.is_ok(), "no \"listening on\" line within 10 s");
}

/// Wait (bounded) for a child to exit by itself; its status.
fn wait_exit(c: &mut Spawned, within: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Ok(Some(s)) = c.0.try_wait() {
            if !s.success() {
                let mut err = String::new();
                if let Some(e) = c.0.stderr.as_mut() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                eprintln!("ringvs exited with {s}: {err}");
            }
            return s;
        }
        assert!(
            start.elapsed() < within,
            "ringvs did not exit within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn tmp(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ringvs-observe-{}-{tag}.pcap", std::process::id()))
}

/// Removes the file when dropped (also when the test fails).
struct TmpFile(PathBuf);
impl Drop for TmpFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn read_pcap(p: &Path) -> Vec<(Summary, Vec<u8>)> {
    let mut f = std::fs::File::open(p).expect("pcap written");
    pcap::read_all(&mut f)
        .expect("pcap parses")
        .into_iter()
        .map(|r| (summarize(&r.data), r.data))
        .collect()
}

fn ip(a: Ipv4Addr) -> u32 {
    u32::from(a)
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

#[test]
fn capture_on_both_nics_shows_nat_and_honours_count_and_filter() {
    let Some(NsDirector { lab, control }) = scenario("observe").start() else {
        return;
    };
    let ctl = control.display().to_string();
    let vip80 = format!("{}:80", lab::VIP);
    let (client, vip) = (ip("198.18.0.1".parse().expect("addr")), ip(lab::VIP));
    let rss = [ip(lab::rs_addr(1)), ip(lab::rs_addr(2))];

    // 1. Everything TCP port 80 on both NICs, both directions, while a ping to the
    // VIP (excluded by the filter) and one HTTP request pass.
    let all = TmpFile(tmp("all"));
    let all_s = all.0.display().to_string();
    let mut cap = spawn(
        &[
            "capture",
            "--control",
            &ctl,
            "--nic",
            "both",
            "--dir",
            "both",
            "--filter",
            "tcp and port 80",
            "-w",
            &all_s,
        ],
        Stdio::null(),
    );
    listening(&mut cap);
    ping_vip(&lab, 2);
    let bodies = http_bodies(&lab, &vip80, 1);
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    std::thread::sleep(Duration::from_millis(200));
    drop(cap); // the reader goes away: the director detaches
    let frames = read_pcap(&all.0);
    assert!(frames.len() >= 8, "only {} frames", frames.len());
    assert!(
        frames
            .iter()
            .all(|(s, _)| s.ip && s.proto == 6 && s.ports.is_some_and(|(a, b)| a == 80 || b == 80)),
        "a frame outside the filter was captured"
    );
    // The client's SYN as received on ext: to the VIP.
    let syn_in = frames
        .iter()
        .find(|(s, _)| s.flags == SYN && s.src == client && s.dst == vip)
        .expect("client SYN to the VIP (ext rx)");
    let cport = syn_in.0.ports.expect("ports").0;
    assert_eq!(syn_in.0.ports, Some((cport, 80)));
    // The same SYN after NAT as sent on int: to a real server, same client port,
    // from the director's internal MAC.
    let syn_out = frames
        .iter()
        .find(|(s, _)| s.flags == SYN && s.src == client && rss.contains(&s.dst))
        .expect("the SYN after NAT (int tx)");
    assert_eq!(syn_out.0.ports, Some((cport, 80)));
    let rs = syn_out.0.dst;
    assert_ne!(
        syn_in.1[6..12],
        syn_out.1[6..12],
        "same source MAC on both NICs?"
    );
    // The reply: SYN-ACK from the real server (int rx) and from the VIP (ext tx).
    let synack = |src: u32| {
        frames.iter().any(|(s, _)| {
            s.flags & (SYN | ACK) == SYN | ACK
                && s.src == src
                && s.dst == client
                && s.ports == Some((80, cport))
        })
    };
    assert!(synack(rs), "SYN-ACK from the real server (int rx)");
    assert!(synack(vip), "SYN-ACK from the VIP (ext tx)");
    // tcpdump reads the file.
    let td = Process::new("tcpdump")
        .args(["-nr", &all_s])
        .output()
        .expect("run tcpdump");
    let text = String::from_utf8_lossy(&td.stdout);
    assert!(
        td.status.success(),
        "tcpdump -r: {}",
        String::from_utf8_lossy(&td.stderr)
    );
    assert!(
        text.contains(&format!("198.18.0.1.{cport} > 198.18.0.110.80")),
        "{text}"
    );
    assert!(
        text.contains(&format!("198.18.0.1.{cport} > {}.80", Ipv4Addr::from(rs))),
        "{text}"
    );

    // 2. -c: the first 3 frames, then the client exits by itself (and the capture
    // is detached, or the next attach would fail).
    let three = TmpFile(tmp("three"));
    let three_s = three.0.display().to_string();
    let mut cap = spawn(
        &[
            "capture",
            "--control",
            &ctl,
            "--filter",
            "tcp",
            "-c",
            "3",
            "-w",
            &three_s,
        ],
        Stdio::null(),
    );
    listening(&mut cap);
    assert_eq!(http_bodies(&lab, &vip80, 2).len(), 2);
    assert!(wait_exit(&mut cap, DONE).success());
    assert_eq!(read_pcap(&three.0).len(), 3);

    // 3. A filter of one NIC, one direction: only the echo requests as received.
    let icmp = TmpFile(tmp("icmp"));
    let icmp_s = icmp.0.display().to_string();
    let mut cap = spawn(
        &[
            "capture",
            "--control",
            &ctl,
            "--nic",
            "ext",
            "--dir",
            "rx",
            "--filter",
            "icmp and dst host 198.18.0.110",
            "-c",
            "2",
            "-w",
            &icmp_s,
        ],
        Stdio::null(),
    );
    listening(&mut cap);
    assert_eq!(http_bodies(&lab, &vip80, 1).len(), 1);
    ping_vip(&lab, 2);
    assert!(wait_exit(&mut cap, DONE).success());
    let f = read_pcap(&icmp.0);
    assert_eq!(f.len(), 2);
    for (s, d) in &f {
        assert!(
            s.ip && s.proto == 1 && s.src == client && s.dst == vip,
            "{s:?}"
        );
        assert_eq!(d[14 + 20], 8, "not an echo request (a reply is tx, not rx)");
    }

    // 4. `-w -` into tcpdump through a pipe.
    let pipe = format!(
        "{EXE} capture --control {ctl} --nic ext --dir rx --filter 'tcp and dst port 80' -c 1 -w - | tcpdump -nr - 2>/dev/null"
    );
    let mut sh = Spawned(
        Process::new("sh")
            .args(["-c", &pipe])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh"),
    );
    listening(&mut sh);
    assert_eq!(http_bodies(&lab, &vip80, 1).len(), 1);
    assert!(wait_exit(&mut sh, DONE).success());
    let mut out = String::new();
    use std::io::Read;
    if let Some(o) = sh.0.stdout.as_mut() {
        let _ = o.read_to_string(&mut out);
    }
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("198.18.0.110.80: Flags [S]"), "{out}");

    // Nothing stays attached: stats show no capture drops, and a bad filter is
    // refused before anything is attached.
    let bad = Process::new(EXE)
        .args([
            "capture",
            "--control",
            &ctl,
            "--filter",
            "tcp or udp",
            "-w",
            "-",
        ])
        .output()
        .expect("run capture");
    assert_eq!(bad.status.code(), Some(2));
    drop(lab);
}

#[test]
fn trace_explains_one_http_request_line_by_line() {
    let Some(NsDirector { lab, control }) = scenario("trace").start() else {
        return;
    };
    let ctl = control.display().to_string();
    let vip80 = format!("{}:80", lab::VIP);
    let mut tr = spawn(
        &[
            "trace",
            "--control",
            &ctl,
            "tcp",
            "and",
            "host",
            "198.18.0.1",
        ],
        Stdio::piped(),
    );
    listening(&mut tr);
    assert_eq!(http_bodies(&lab, &vip80, 1).len(), 1);
    // And one packet for a port without a service: dropped, with its reason.
    let _ = http_bodies(&lab, "198.18.0.110:81", 1);
    std::thread::sleep(Duration::from_millis(300));
    // SIGTERM: the client exits; read what it printed.
    let _ = Process::new("kill")
        .args(["-TERM", &tr.id().to_string()])
        .status();
    wait_exit(&mut tr, DONE);
    let mut out = String::new();
    use std::io::Read;
    if let Some(o) = tr.0.stdout.as_mut() {
        let _ = o.read_to_string(&mut out);
    }
    let lines: Vec<&str> = out.lines().collect();
    eprintln!("{out}");
    let of = |seq: &str| -> Vec<&str> {
        let p = format!("{seq} ");
        lines
            .iter()
            .filter(|l| l.starts_with(&p))
            .map(|l| &l[p.len()..])
            .collect()
    };
    // #1: the client's SYN — new connection, scheduled, NAT'd towards a real server.
    let first = of("#1");
    assert!(
        first[0].starts_with("rx worker ") && first[0].contains(" nic ext tcp 198.18.0.1:"),
        "{first:?}"
    );
    assert!(
        first[0].contains(" > 198.18.0.110:80 flags S len "),
        "{first:?}"
    );
    let cport = first[0]
        .split("198.18.0.1:")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .expect("client port");
    assert_eq!(first[1], "service tcp 198.18.0.110:80 sched rr");
    let rs = first[2]
        .strip_prefix("conn created, scheduled by rr to ")
        .and_then(|s| s.split(' ').next())
        .unwrap_or_else(|| panic!("{first:?}"));
    assert!(rs == "198.19.0.2:80" || rs == "198.19.0.3:80", "{rs}");
    assert_eq!(
        first[2],
        format!("conn created, scheduled by rr to {rs} (client 198.18.0.1:{cport})")
    );
    assert_eq!(first[3], "state NONE -> SYN_RECV");
    assert_eq!(
        first[4],
        format!(
            "rewrite tcp 198.18.0.1:{cport} > 198.18.0.110:80 => tcp 198.18.0.1:{cport} > {rs}"
        )
    );
    // A fresh director has not resolved the real server yet: the SYN waits for
    // ARP (and is sent when the answer comes), or goes out at once.
    let rs_ip = rs.trim_end_matches(":80");
    let queued = first[5] == format!("neighbor int {rs_ip} unknown: queued waiting for ARP");
    if !queued {
        assert!(
            first[5].starts_with(&format!("neighbor int {rs_ip} at ")),
            "{first:?}"
        );
        assert_eq!(
            first[6],
            format!("tx nic int tcp 198.18.0.1:{cport} > {rs}")
        );
    }
    let counted: Vec<&str> = first.last().expect("lines").split(' ').collect();
    assert_eq!(counted[..2], ["counted", "rx_ext"], "{first:?}");
    // A queued SYN counts as forwarded when it goes, after this line.
    let sent = if queued { "neigh_queued" } else { "fwd_in" };
    assert!(
        counted.contains(&sent) && counted.contains(&"conn_new"),
        "{first:?}"
    );
    assert_eq!(counted.contains(&"fwd_in"), !queued, "{first:?}");

    // #2: the real server's SYN-ACK — found, state moves on, NAT'd back from the VIP.
    let second = of("#2");
    assert!(
        second[0].contains(&format!(" nic int tcp {rs} > 198.18.0.1:{cport} flags S.")),
        "{second:?}"
    );
    assert_eq!(second[1], "service tcp 198.18.0.110:80 sched rr");
    assert_eq!(
        second[2],
        format!("conn found, real server {rs} (client 198.18.0.1:{cport})")
    );
    assert!(second[3].starts_with("state SYN_RECV -> "), "{second:?}");
    assert_eq!(
        second[4],
        format!(
            "rewrite tcp {rs} > 198.18.0.1:{cport} => tcp 198.18.0.110:80 > 198.18.0.1:{cport}"
        )
    );
    assert!(
        second[5].starts_with("neighbor ext 198.18.0.1 "),
        "{second:?}"
    );
    let queued = second[5] == "neighbor ext 198.18.0.1 unknown: queued waiting for ARP";
    let counted: Vec<&str> = second.last().expect("lines").split(' ').collect();
    assert_eq!(counted[..2], ["counted", "rx_int"], "{second:?}");
    let sent = if queued { "neigh_queued" } else { "fwd_out" };
    assert!(
        counted.contains(&sent) && !counted.contains(&"conn_new"),
        "{second:?}"
    );
    assert_eq!(counted.contains(&"fwd_out"), !queued, "{second:?}");
    // Later packets of the connection reach ESTABLISHED.
    assert!(lines.iter().any(|l| l.ends_with("-> ESTABLISHED")), "{out}");

    // The SYN to port 81: no service, dropped with the counter's name.
    let to81 = lines
        .iter()
        .position(|l| l.contains("> 198.18.0.110:81 flags S "))
        .expect("SYN to :81 traced");
    let seq = lines[to81].split(' ').next().expect("seq");
    let rest = of(seq);
    assert!(rest.contains(&"drop drop_no_service"), "{rest:?}");
    assert!(!rest.iter().any(|l| l.starts_with("tx ")), "{rest:?}");
    drop(lab);
}

/// The value of the sample `name{labels}` in a Prometheus text page.
fn sample(page: &str, name_labels: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name_labels)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name_labels} in:\n{page}"))
        .parse()
        .expect("a number")
}

fn sum(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `--metrics` on a port already in use fails the start before any worker
/// runs: a clear error, exit 1, no "started" line, and no control socket
/// left behind (it used to print the start line and leave a dead socket).
#[test]
fn a_metrics_port_in_use_fails_the_start_and_leaves_no_socket() {
    if !lab::lab_available_with(&["ss"]) {
        return;
    }
    let tag = Lab::unique_tag();
    let mut lab = Lab::build(&tag).expect("build lab");
    let ns = lab.ns_director();
    lab.spawn_in(
        &ns,
        Path::new(EXE),
        &[
            "serve-http",
            "--listen",
            "127.0.0.1:9189",
            "--body",
            "x",
            "--max-secs",
            "60",
        ],
    )
    .expect("start the port's holder");
    let held = lab::wait_for(DONE, || lab::listens_on(&ns, 9189).ok()?.then_some(()));
    assert!(held.is_some(), "nothing listens on 127.0.0.1:9189");
    let control = PathBuf::from(format!("/run/ringvs-metrics-busy-{tag}.sock"));
    let out = Process::new("ip")
        .args(["netns", "exec", &ns, "timeout", "30", EXE, "run"])
        .args(["--ext", lab.ext_if(), "--ext-addr", lab::EXT_ADDR_CIDR])
        .args(["--int", lab.int_if(), "--int-addr", lab::INT_ADDR_CIDR])
        .args(["--workers", "1", "--metrics", "127.0.0.1:9189", "--control"])
        .arg(&control)
        .output()
        .expect("run the director");
    let err = String::from_utf8_lossy(&out.stderr);
    let left = control.exists();
    let _ = std::fs::remove_file(&control);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--metrics 127.0.0.1:9189: "), "{err}");
    assert!(!err.contains("worker(s)"), "said it started: {err}");
    assert!(
        !left,
        "the control socket was left at {}",
        control.display()
    );
}

#[test]
fn metrics_match_the_traffic_sent() {
    // --metrics 127.0.0.1:PORT: the lab brings loopback up in every namespace.
    let Some(NsDirector { lab, control }) = scenario("metrics")
        .director_args(&["--metrics", "127.0.0.1:9188"])
        .start()
    else {
        return;
    };
    let vip80 = format!("{}:80", lab::VIP);
    assert_eq!(http_bodies(&lab, &vip80, 4).len(), 4);
    let out = Process::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns_director(),
            "curl",
            "-sS",
            "--max-time",
            "5",
        ])
        .arg("http://127.0.0.1:9188/metrics")
        .output()
        .expect("run curl");
    let page = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        page.contains("# TYPE ringvs_fwd_in_total counter\n"),
        "{page}"
    );
    assert_eq!(sum(&page, "ringvs_conn_new_total"), 4.0);
    let mut in_pkts = 0.0;
    let mut out_pkts = 0.0;
    for n in 1..=2 {
        let l = format!(
            "{{proto=\"tcp\",service=\"198.18.0.110:80\",server=\"{}:80\"}}",
            lab::rs_addr(n)
        );
        // Round robin: two connections each, all closed or closing by now.
        assert_eq!(sample(&page, &format!("ringvs_server_conns_total{l}")), 2.0);
        let a = sample(&page, &format!("ringvs_server_active_conns{l}"));
        let i = sample(&page, &format!("ringvs_server_inactive_conns{l}"));
        assert_eq!(a + i, 2.0, "{page}");
        let (pi, po) = (
            sample(&page, &format!("ringvs_server_in_packets_total{l}")),
            sample(&page, &format!("ringvs_server_out_packets_total{l}")),
        );
        // SYN, ACK, request, FIN/ACK at least, per connection.
        assert!(pi >= 8.0 && po >= 6.0, "{pi} {po}");
        assert!(sample(&page, &format!("ringvs_server_in_bytes_total{l}")) >= pi * 40.0);
        in_pkts += pi;
        out_pkts += po;
    }
    // node_exporter's IPVS totals are the per-server counters summed.
    assert_eq!(sample(&page, "node_ipvs_connections_total"), 4.0);
    assert_eq!(sample(&page, "node_ipvs_incoming_packets_total"), in_pkts);
    assert_eq!(sample(&page, "node_ipvs_outgoing_packets_total"), out_pkts);
    assert_eq!(
        sample(&page, "node_ipvs_incoming_bytes_total"),
        sum(&page, "ringvs_server_in_bytes_total")
    );
    assert_eq!(sum(&page, "node_ipvs_backend_weight"), 2.0, "{page}");
    // Every packet forwarded went to one of the two servers, and the per-worker
    // counters agree with the per-server ones.
    assert_eq!(sum(&page, "ringvs_fwd_in_total"), in_pkts);
    assert_eq!(sum(&page, "ringvs_fwd_out_total"), out_pkts);
    assert!(sum(&page, "ringvs_rx_ext_total") >= in_pkts);
    // Bytes per NIC: what went out on int is at least what was forwarded inbound
    // (IP bytes per server + 14 bytes of Ethernet header per packet).
    let in_bytes = sum(&page, "ringvs_server_in_bytes_total");
    assert!(sum(&page, "ringvs_tx_int_bytes_total") >= in_bytes + 14.0 * in_pkts);
    assert!(sum(&page, "ringvs_rx_ext_bytes_total") >= in_bytes + 14.0 * in_pkts);
    assert!(
        page.contains("ringvs_batch_seconds{worker=\"0\",quantile=\"0.99\"}"),
        "{page}"
    );

    // `ringvs top --once`: the services and servers, and the drops by reason
    // (a SYN to a port without a service is one).
    let _ = http_bodies(&lab, "198.18.0.110:81", 1);
    let ctl = control.display().to_string();
    let top = Process::new(EXE)
        .args(["top", "--once", "--control", &ctl])
        .output()
        .expect("run top");
    let text = String::from_utf8_lossy(&top.stdout);
    assert!(
        top.status.success(),
        "{}",
        String::from_utf8_lossy(&top.stderr)
    );
    assert!(text.contains("TCP  198.18.0.110:80 "), "{text}");
    assert!(text.contains("CPS    InPPS   OutPPS"), "{text}");
    assert!(text.contains("  -> 198.19.0.2:80"), "{text}");
    assert!(text.contains("  -> 198.19.0.3:80"), "{text}");
    assert!(text.contains("drops/s by reason"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("drop_no_service ")),
        "{text}"
    );
    drop(lab);
}

/// Issue 15 item 6 on a real director: over IPv6, `ringvs trace ip6 and host
/// CLIENT6` names the IPv6 service (and its scheduler, looked up by the IPv6
/// VIP), the connection created in the IPv6 table and the rewrite, and
/// `ringvs capture --filter ip6` writes the IPv6 frames on both sides of NAT
/// (and no IPv4 one) to the pcap.
#[test]
fn ipv6_trace_and_capture_over_one_http_request() {
    let Some(NsDirector { lab, control }) = scenario("trace6").ipv6().start() else {
        return;
    };
    let ctl = control.display().to_string();
    let vip6 = format!("[{}]:80", lab::VIP6);
    nslab::adm(&control, &["-A", "-t", &vip6, "-s", "rr"]);
    for n in [1, 2] {
        let rip = format!("[{}]:80", lab::rs_addr6(n));
        nslab::adm(&control, &["-a", "-t", &vip6, "-r", &rip, "-m"]);
    }
    let pcap_file = TmpFile(tmp("ip6"));
    let pcap_s = pcap_file.0.display().to_string();
    let mut cap = spawn(
        &[
            "capture",
            "--control",
            &ctl,
            "--nic",
            "both",
            "--dir",
            "both",
            "--filter",
            "ip6",
            "-w",
            &pcap_s,
        ],
        Stdio::null(),
    );
    let client6 = lab::CLIENT6.to_string();
    let mut tr = spawn(
        &["trace", "--control", &ctl, "ip6", "and", "host", &client6],
        Stdio::piped(),
    );
    listening(&mut cap);
    listening(&mut tr);
    // IPv4 traffic meanwhile: in neither.
    ping_vip(&lab, 1);
    assert_eq!(http_bodies(&lab, &vip6, 1).len(), 1);
    std::thread::sleep(Duration::from_millis(300));
    drop(cap);
    let _ = Process::new("kill")
        .args(["-TERM", &tr.id().to_string()])
        .status();
    wait_exit(&mut tr, DONE);
    let mut out = String::new();
    use std::io::Read;
    if let Some(o) = tr.0.stdout.as_mut() {
        let _ = o.read_to_string(&mut out);
    }
    eprintln!("{out}");
    // The client's SYN (the client's solicitation for the VIP may come first).
    let syn = out
        .lines()
        .find(|l| l.contains(&format!(" nic ext IP6 {client6}.")) && l.contains("Flags [S],"))
        .unwrap_or_else(|| panic!("SYN traced: {out}"));
    let seq = format!("{} ", syn.split(' ').next().expect("seq"));
    let first: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix(&seq)).collect();
    assert_eq!(first[1], "service tcp [2001:2:0:1::110]:80 sched rr");
    assert!(
        first[2].starts_with("conn created, scheduled by rr to [2001:2:0:2::"),
        "{first:?}"
    );
    assert_eq!(first[3], "state NONE -> SYN_RECV");
    assert!(
        first[4].contains(" => tcp [2001:2:0:1::1]:") && first[4].contains(" > [2001:2:0:2::"),
        "{first:?}"
    );
    assert!(out.contains("-> ESTABLISHED"), "{out}");
    assert!(!out.contains("198.18."), "no IPv4 traced: {out}");

    let frames = read_pcap(&pcap_file.0);
    assert!(frames.iter().all(|(s, _)| s.ip6), "only IPv6 captured");
    let vip = lab::VIP6.to_bits();
    let to_vip = frames.iter().filter(|(s, _)| s.dst6 == vip).count();
    let to_rs = frames
        .iter()
        .filter(|(s, _)| s.ports.is_some_and(|p| p.1 == 80) && s.dst6 != vip)
        .count();
    assert!(to_vip >= 3 && to_rs >= 3, "{to_vip} {to_rs}: {frames:?}");
    drop(lab);
}

/// Wait (at most 10 s) until `c` says it listens, as [`listening`] does, and
/// give back a channel of its other stderr lines.
fn listening_lines(c: &mut Spawned) -> std::sync::mpsc::Receiver<String> {
    let err = c.0.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let lines = std::io::BufRead::lines(std::io::BufReader::new(err));
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let start = Instant::now();
    loop {
        let left = Duration::from_secs(10).saturating_sub(start.elapsed());
        let line = rx
            .recv_timeout(left)
            .expect("no \"listening on\" line within 10 s");
        if line.contains(": listening on ") {
            return rx;
        }
        eprintln!("{line}");
    }
}

/// Send `sig` to `c`, wait for it to exit; its status and the rest of its
/// stderr.
fn signal_and_wait(
    c: &mut Spawned,
    rest: &std::sync::mpsc::Receiver<String>,
    sig: &str,
) -> (std::process::ExitStatus, String) {
    let killed = Process::new("kill")
        .args([sig, &c.0.id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success(), "kill {sig}");
    let status = wait_exit(c, DONE);
    // The reader thread ends with the child's stderr.
    let err: Vec<String> = rest.iter().collect();
    (status, err.join("\n"))
}

/// Interrupted (Ctrl-C, or SIGTERM from a supervisor), a capture or a
/// trace detaches and prints its counts before exiting 0, as tcpdump's
/// `cleanup` does on SIGINT/SIGTERM; the pcap written so far is whole.
#[test]
fn an_interrupted_capture_or_trace_prints_its_counts_and_exits_0() {
    let Some(NsDirector { lab, control }) = scenario("sigint").start() else {
        return;
    };
    let ctl = control.display().to_string();
    let vip80 = format!("{}:80", lab::VIP);
    let file = TmpFile(tmp("sigint"));
    let file_s = file.0.display().to_string();
    let mut cap = spawn(
        &[
            "capture",
            "--control",
            &ctl,
            "--filter",
            "tcp and port 80",
            "-w",
            &file_s,
        ],
        Stdio::null(),
    );
    let rest = listening_lines(&mut cap);
    assert_eq!(http_bodies(&lab, &vip80, 1).len(), 1);
    std::thread::sleep(Duration::from_millis(300));
    let (status, err) = signal_and_wait(&mut cap, &rest, "-INT");
    assert!(status.success(), "{status}: {err}");
    let frames = read_pcap(&file.0);
    assert!(frames.len() >= 8, "only {} frames", frames.len());
    assert!(
        err.contains(&format!("{} frames captured, 0 dropped", frames.len())),
        "{err}"
    );

    // A trace, stopped by SIGTERM; and the director took both off (a new
    // capture attaches at once).
    let mut tr = spawn(
        &["trace", "--control", &ctl, "tcp", "and", "port", "80"],
        Stdio::null(),
    );
    let rest = listening_lines(&mut tr);
    assert_eq!(http_bodies(&lab, &vip80, 1).len(), 1);
    std::thread::sleep(Duration::from_millis(300));
    let (status, err) = signal_and_wait(&mut tr, &rest, "-TERM");
    assert!(status.success(), "{status}: {err}");
    assert!(err.contains(" packets traced, 0 dropped"), "{err}");
    assert!(!err.contains("ringvs trace: 0 packets traced"), "{err}");
    let mut again = spawn(
        &["capture", "--control", &ctl, "-c", "1", "-w", "/dev/null"],
        Stdio::null(),
    );
    let rest = listening_lines(&mut again);
    let (status, err) = signal_and_wait(&mut again, &rest, "-INT");
    assert!(status.success(), "{status}: {err}");
    assert!(err.contains("0 frames captured"), "{err}");
    drop(lab);
}

/// `capture -w - | tcpdump -c 3 -nr -`: once tcpdump has its 3 frames and
/// goes, the capture (EPIPE) ends as on Ctrl-C, with its counts and exit 0,
/// so the pipeline succeeds even under `set -o pipefail`.
#[test]
fn a_capture_whose_reader_goes_prints_its_counts_and_exits_0() {
    let Some(NsDirector { lab, control }) = scenario("epipe").start() else {
        return;
    };
    let ctl = control.display().to_string();
    let vip80 = format!("{}:80", lab::VIP);
    let pipe = format!(
        "set -o pipefail; {EXE} capture --control {ctl} --filter tcp -w - | tcpdump -c 3 -nr - >/dev/null 2>&1"
    );
    let mut sh = Spawned(
        Process::new("bash")
            .args(["-c", &pipe])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bash"),
    );
    let rest = listening_lines(&mut sh);
    // Enough frames for tcpdump to go, then more for ringvs to find it gone.
    assert_eq!(http_bodies(&lab, &vip80, 1).len(), 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(http_bodies(&lab, &vip80, 1).len(), 1);
    let status = wait_exit(&mut sh, DONE);
    let err: Vec<String> = rest.iter().collect();
    let err = err.join("\n");
    assert!(status.success(), "{status}: {err}");
    assert!(err.contains(" frames captured, 0 dropped"), "{err}");
    assert!(!err.contains("Broken pipe"), "{err}");
    drop(lab);
}
