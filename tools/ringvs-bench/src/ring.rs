//! Measurement tools for the namespace lab (`ringvs-bench latency`, `udp-sink`,
//! `udp-blast`): HTTP round-trip latency into an [`hdrhistogram::Histogram`], and
//! a UDP blaster and sink for throughput.
//!
//! [`ring_bench`] (`ringvs-bench ring`, driven by `tools/ring-versions`) puts
//! them together: one lab, one director with a chosen RX ring format, a latency
//! probe (keep-alive and one connection per request) and a UDP blast through a
//! `-u` service, all from the client namespace. It answers ARCHITECTURE trap 2:
//! how much latency do `TPACKET_V3` blocks add?
//!
//! Every load is bounded in count and in wall-clock time.

use hdrhistogram::Histogram;
use ringvs::lab::http;
use ringvs::lab::{Lab, Spawned, VIP, ns_command, ns_run, rs_addr};
use ringvs::proto::{self, Command};
use serde::Serialize;
use std::io::{self, Read};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Most requests one latency probe makes.
pub const MAX_REQUESTS: usize = 100_000;
/// Wall-clock cap of one latency probe; it stops early (with fewer samples).
pub const LATENCY_WALL_CAP: Duration = Duration::from_secs(60);
/// Longest UDP blast or sink run.
pub const MAX_UDP_SECS: u64 = 60;
/// Most datagrams one blast sends, whatever the rate.
pub const MAX_DATAGRAMS: u64 = 200_000_000;
/// Most flows (sending sockets) of one blast.
pub const MAX_FLOWS: usize = 256;
/// UDP payload making a 64-byte Ethernet frame (14 + 20 + 8 + 18 + 4 FCS).
pub const PAYLOAD_64B_FRAME: usize = 18;
/// Largest round trip the histograms hold, in microseconds (60 s).
const HIST_MAX_US: u64 = 60_000_000;

fn new_histogram() -> io::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).map_err(|e| io::Error::other(e.to_string()))
}

fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    h.saturating_record(us);
}

fn check_count(n: usize) -> io::Result<()> {
    if n == 0 || n > MAX_REQUESTS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("request count {n} not in 1..={MAX_REQUESTS}"),
        ));
    }
    Ok(())
}

/// `n` sequential `GET /` over one HTTP/1.1 keep-alive connection (a new one
/// when the server ends it), each round trip recorded in microseconds.
/// `timeout` bounds each request; the whole probe stops after
/// [`LATENCY_WALL_CAP`].
pub fn latency(addr: SocketAddr, n: usize, timeout: Duration) -> io::Result<Histogram<u64>> {
    check_count(n)?;
    let mut h = new_histogram()?;
    let start = Instant::now();
    let mut client = http::KeepAliveClient::connect(addr, timeout)?;
    // Warm-up request: ARP and connection set-up are not part of the numbers.
    client.get("/")?;
    while (h.len() as usize) < n && start.elapsed() < LATENCY_WALL_CAP {
        let t = Instant::now();
        match client.get("/") {
            Ok(r) if r.status == 200 => record(&mut h, t.elapsed()),
            Ok(r) => return Err(io::Error::other(format!("HTTP status {}", r.status))),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                client = http::KeepAliveClient::connect(addr, timeout)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(h)
}

/// Like [`latency`], but each request on a new TCP connection (HTTP/1.0):
/// the round trip includes the handshake and the server's close.
pub fn latency_new_conn(
    addr: SocketAddr,
    n: usize,
    timeout: Duration,
) -> io::Result<Histogram<u64>> {
    check_count(n)?;
    let mut h = new_histogram()?;
    let start = Instant::now();
    http::get(addr, "/", timeout)?; // warm-up
    while (h.len() as usize) < n && start.elapsed() < LATENCY_WALL_CAP {
        let t = Instant::now();
        let r = http::get(addr, "/", timeout)?;
        if r.status != 200 {
            return Err(io::Error::other(format!("HTTP status {}", r.status)));
        }
        record(&mut h, t.elapsed());
    }
    Ok(h)
}

/// Percentiles of a latency histogram, in microseconds.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct LatencySummary {
    pub n: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> Self {
        Self {
            n: h.len(),
            mean: (h.mean() * 10.0).round() / 10.0,
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

fn check_secs(secs: u64) -> io::Result<()> {
    if secs == 0 || secs > MAX_UDP_SECS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("seconds {secs} not in 1..={MAX_UDP_SECS}"),
        ));
    }
    Ok(())
}

/// Count datagrams arriving on `listen` for `secs` seconds.
pub fn udp_sink(listen: SocketAddr, secs: u64) -> io::Result<u64> {
    check_secs(secs)?;
    let sock = UdpSocket::bind(listen)?;
    sock.set_read_timeout(Some(Duration::from_millis(50)))?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut buf = [0u8; 2048];
    let mut count = 0u64;
    while Instant::now() < deadline {
        match sock.recv(&mut buf) {
            Ok(_) => count += 1,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(count)
}

/// Send `payload_len`-byte datagrams to `dst` from `flows` sockets (one source
/// port each, round robin) for `secs` seconds, as fast as possible or at most
/// `rate_cap` datagrams per second. Returns the datagrams the kernel accepted
/// (a full queue, `ENOBUFS`/`EAGAIN`, is not counted as sent).
pub fn udp_blast(
    dst: SocketAddr,
    payload_len: usize,
    flows: usize,
    secs: u64,
    rate_cap: Option<u64>,
) -> io::Result<u64> {
    check_secs(secs)?;
    if flows == 0 || flows > MAX_FLOWS || payload_len > 1472 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("flows {flows} not in 1..={MAX_FLOWS} or payload {payload_len} > 1472"),
        ));
    }
    let bind: SocketAddr = if dst.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
        .parse()
        .map_err(|_| io::Error::other("bad bind address"))?;
    let socks = (0..flows)
        .map(|_| {
            let s = UdpSocket::bind(bind)?;
            s.connect(dst)?;
            s.set_nonblocking(true)?;
            Ok(s)
        })
        .collect::<io::Result<Vec<_>>>()?;
    let payload = vec![0x5au8; payload_len];
    let start = Instant::now();
    let wall = Duration::from_secs(secs);
    let mut sent = 0u64;
    let mut i = 0usize;
    'outer: loop {
        // Check the clock (and the pacing) once per small batch.
        let elapsed = start.elapsed();
        if elapsed >= wall || sent >= MAX_DATAGRAMS {
            break;
        }
        if let Some(rate) = rate_cap {
            let allowed = (elapsed.as_secs_f64() * rate as f64) as u64;
            if sent >= allowed {
                std::thread::sleep(Duration::from_micros(100));
                continue;
            }
        }
        for _ in 0..32 {
            match socks[i].send(&payload) {
                Ok(_) => sent += 1,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) || e.raw_os_error() == Some(libc::ENOBUFS) =>
                {
                    std::thread::yield_now();
                }
                // ICMP port unreachable from an earlier datagram: keep going.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e),
            }
            i = (i + 1) % socks.len();
            if rate_cap.is_some() || sent >= MAX_DATAGRAMS {
                continue 'outer;
            }
        }
    }
    Ok(sent)
}

/// Which RX ring the director under test uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ring {
    V2,
    V3 { timeout_ms: u32 },
}

/// What [`ring_bench`] does.
#[derive(Clone, Debug)]
pub struct RingBenchOptions {
    pub ring: Ring,
    /// Requests per latency probe (each of keep-alive and new-connection).
    pub requests: usize,
    /// Seconds of UDP blast.
    pub secs: u64,
    pub workers: usize,
    /// UDP flows (source ports) of the blast.
    pub flows: usize,
    /// Cap on the blast's datagrams per second (none: as fast as it can).
    pub udp_rate: Option<u64>,
    /// Let the director's workers spin instead of sleeping in poll().
    pub busy_poll: bool,
}

/// One [`ring_bench`] result, printed as one JSON line.
#[derive(Clone, Debug, Serialize)]
pub struct RingBenchResult {
    pub ring: &'static str,
    pub v3_timeout_ms: Option<u32>,
    pub workers: usize,
    pub busy_poll: bool,
    pub lat_keepalive: LatencySummary,
    pub lat_newconn: LatencySummary,
    pub udp_secs: u64,
    pub udp_flows: usize,
    pub udp_sent: u64,
    pub udp_received: u64,
    pub udp_pps: u64,
    /// Datagrams per second the director forwarded: received by the sinks or
    /// dropped by the real servers' full socket buffers.
    pub udp_fwd_pps: u64,
    pub udp_loss: u64,
    /// Part of the loss the real servers' kernels counted: UDP `RcvbufErrors`
    /// (the sink did not keep up), summed over real servers.
    pub udp_rs_rcvbuf_errors: u64,
    /// Director counters summed over workers: `kernel_drop`, `handoff_out`,
    /// `neigh_queued` and every non-zero `drop_*`.
    pub director: serde_json::Map<String, serde_json::Value>,
}

/// UDP port of the benchmark's `-u` service (on the VIP and the real servers).
pub const UDP_PORT: u16 = 9000;
/// How long the sinks outlive the blast (start-up of the blaster, drain).
const SINK_EXTRA_SECS: u64 = 3;

fn adm(control: &Path, args: &[&str]) -> Result<(), String> {
    proto::adm(control, args).map(drop)
}

/// Run `exe ARGS` in `ns` to completion (at most `cap`), returning stdout.
fn run_in_ns(ns: &str, exe: &Path, args: &[&str], cap: Duration) -> Result<String, String> {
    let child = ns_command(ns, exe, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", args.join(" ")))?;
    wait_output(Spawned(child), cap).map_err(|e| format!("{} in {ns}: {e}", args.join(" ")))
}

/// Read a child's stdout to EOF and wait for it, killing it after `cap`.
fn wait_output(mut child: Spawned, cap: Duration) -> Result<String, String> {
    let mut stdout = child.0.stdout.take().ok_or("no stdout pipe")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let deadline = Instant::now() + cap;
    let status = loop {
        if let Some(st) = child.0.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if Instant::now() >= deadline {
            // Dropping `child` stops it.
            return Err(format!("still running after {cap:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = reader
        .join()
        .map_err(|_| "stdout reader panicked".to_string())?
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("exited with {status}; stdout: {}", out.trim()));
    }
    Ok(out)
}

fn udp_listens(ns: &str, port: u16) -> bool {
    let suffix = format!(":{port}");
    ns_run(ns, "ss", &["-Hlun"]).is_ok_and(|out| {
        out.lines().any(|l| {
            l.split_whitespace()
                .nth(3)
                .is_some_and(|a| a.ends_with(&suffix))
        })
    })
}

fn last_u64(out: &str) -> Result<u64, String> {
    out.lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| format!("no count in output {out:?}"))
}

/// Build a lab, run the director with `opts.ring`, measure, tear down (also on
/// error: the [`Lab`] drops). `ringvs` is the director's binary (also the real
/// servers' `serve-http`); `probes` the one with the `latency`, `udp-sink` and
/// `udp-blast` subcommands (this program).
pub fn ring_bench(
    ringvs: &Path,
    probes: &Path,
    opts: &RingBenchOptions,
) -> Result<RingBenchResult, String> {
    check_count(opts.requests).map_err(|e| e.to_string())?;
    check_secs(opts.secs).map_err(|e| e.to_string())?;
    let tag = Lab::unique_tag();
    let mut lab = Lab::build(&tag).map_err(|e| e.to_string())?;
    lab.start_http_servers(ringvs).map_err(|e| e.to_string())?;

    let control = PathBuf::from(format!("/run/ringvs-bench-{tag}.sock"));
    start_director(&mut lab, ringvs, &control, opts)?;
    add_services(&lab, &control)?;

    // Latency, from the client namespace, one probe at a time.
    let ns_cli = lab.ns_client();
    let (lat_keepalive, lat_newconn) = latency_probes(&ns_cli, probes, opts)?;

    // UDP: a sink per real server, then the blast.
    let sinks = start_sinks(&lab, probes, opts)?;
    let sent = blast(&ns_cli, probes, opts)?;
    let mut received = 0;
    for sink in sinks {
        let out = wait_output(sink, Duration::from_secs(opts.secs + SINK_EXTRA_SECS + 5))?;
        received += last_u64(&out)?;
    }

    let rcvbuf_errors = rcvbuf_errors(&lab)?;
    let stats = proto::call(&control, Command::Stats { json: true })?;
    let director = counters(&stats.out);

    Ok(RingBenchResult {
        ring: match opts.ring {
            Ring::V2 => "v2",
            Ring::V3 { .. } => "v3",
        },
        v3_timeout_ms: match opts.ring {
            Ring::V2 => None,
            Ring::V3 { timeout_ms } => Some(timeout_ms),
        },
        workers: opts.workers,
        busy_poll: opts.busy_poll,
        lat_keepalive,
        lat_newconn,
        udp_secs: opts.secs,
        udp_flows: opts.flows,
        udp_sent: sent,
        udp_received: received,
        udp_pps: received / opts.secs,
        udp_fwd_pps: (received + rcvbuf_errors) / opts.secs,
        udp_loss: sent.saturating_sub(received),
        udp_rs_rcvbuf_errors: rcvbuf_errors,
        director,
    })
}

/// Start the director in `lab` with `opts`' workers, RX ring and polling, its
/// control socket at `control`.
fn start_director(
    lab: &mut Lab,
    ringvs: &Path,
    control: &Path,
    opts: &RingBenchOptions,
) -> Result<(), String> {
    let workers = opts.workers.to_string();
    let timeout = match opts.ring {
        Ring::V2 => String::new(),
        Ring::V3 { timeout_ms } => timeout_ms.to_string(),
    };
    let mut extra = vec!["--workers", &workers];
    match opts.ring {
        Ring::V2 => extra.extend(["--rx-ring", "v2"]),
        Ring::V3 { .. } => extra.extend(["--rx-ring", "v3", "--v3-timeout-ms", &timeout]),
    }
    if opts.busy_poll {
        extra.push("--busy-poll");
    }
    lab.start_director(ringvs, control, &extra)
        .map_err(|e| e.to_string())
}

/// The services: TCP VIP:80 and UDP VIP:9000, round robin over every real
/// server of `lab` (masquerading).
fn add_services(lab: &Lab, control: &Path) -> Result<(), String> {
    let tvip = format!("{VIP}:80");
    let uvip = format!("{VIP}:{UDP_PORT}");
    adm(control, &["-A", "-t", &tvip, "-s", "rr"])?;
    adm(control, &["-A", "-u", &uvip, "-s", "rr"])?;
    for n in 1..=lab.n_real_servers() {
        let trip = format!("{}:80", rs_addr(n));
        let urip = format!("{}:{UDP_PORT}", rs_addr(n));
        adm(control, &["-a", "-t", &tvip, "-r", &trip, "-m"])?;
        adm(control, &["-a", "-u", &uvip, "-r", &urip, "-m"])?;
    }
    Ok(())
}

/// The latency probes to TCP VIP:80 from namespace `ns_cli`, one after the
/// other: keep-alive, then a new connection per request.
fn latency_probes(
    ns_cli: &str,
    probes: &Path,
    opts: &RingBenchOptions,
) -> Result<(LatencySummary, LatencySummary), String> {
    let tvip = format!("{VIP}:80");
    let count = opts.requests.to_string();
    let lat_cap = LATENCY_WALL_CAP + Duration::from_secs(10);
    let mut lat = Vec::new();
    for new_conn in [false, true] {
        let mut args = vec!["latency", "--addr", &tvip, "--count", &count];
        if new_conn {
            args.push("--new-conn");
        }
        let out = run_in_ns(ns_cli, probes, &args, lat_cap)?;
        let line = out.lines().last().unwrap_or("");
        let s: LatencySummary =
            serde_json::from_str(line).map_err(|e| format!("latency output {line:?}: {e}"))?;
        lat.push(s);
    }
    let lat_newconn = lat.pop().ok_or("no latency")?;
    let lat_keepalive = lat.pop().ok_or("no latency")?;
    Ok((lat_keepalive, lat_newconn))
}

/// A `udp-sink` on port 9000 in each real server of `lab`, listening, for the
/// blast's seconds and [`SINK_EXTRA_SECS`]; stopped when dropped.
fn start_sinks(lab: &Lab, probes: &Path, opts: &RingBenchOptions) -> Result<Vec<Spawned>, String> {
    let sink_secs = (opts.secs + SINK_EXTRA_SECS).to_string();
    let listen = format!("0.0.0.0:{UDP_PORT}");
    let mut sinks = Vec::new();
    for n in 1..=lab.n_real_servers() {
        let child: Child = ns_command(
            &lab.ns_rs(n),
            probes,
            &["udp-sink", "--listen", &listen, "--secs", &sink_secs],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawning udp-sink: {e}"))?;
        sinks.push(Spawned(child));
    }
    let ready = Instant::now();
    for n in 1..=lab.n_real_servers() {
        while !udp_listens(&lab.ns_rs(n), UDP_PORT) {
            if ready.elapsed() > Duration::from_secs(3) {
                return Err(format!("udp-sink in {} not listening", lab.ns_rs(n)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(sinks)
}

/// `udp-blast` to UDP VIP:9000 from namespace `ns_cli`; the datagrams it sent.
fn blast(ns_cli: &str, probes: &Path, opts: &RingBenchOptions) -> Result<u64, String> {
    let uvip = format!("{VIP}:{UDP_PORT}");
    let secs = opts.secs.to_string();
    let flows = opts.flows.to_string();
    let rate = opts.udp_rate.map(|r| r.to_string());
    let mut args = vec![
        "udp-blast",
        "--dst",
        &uvip,
        "--secs",
        &secs,
        "--flows",
        &flows,
    ];
    if let Some(r) = &rate {
        args.extend(["--rate", r]);
    }
    let blast_cap = Duration::from_secs(opts.secs + 10);
    last_u64(&run_in_ns(ns_cli, probes, &args, blast_cap)?)
}

/// UDP `RcvbufErrors` summed over the real servers of `lab`.
fn rcvbuf_errors(lab: &Lab) -> Result<u64, String> {
    let mut rcvbuf_errors = 0;
    for n in 1..=lab.n_real_servers() {
        let snmp = ns_run(&lab.ns_rs(n), "cat", &["/proc/net/snmp"]).map_err(|e| e.to_string())?;
        rcvbuf_errors += udp_snmp(&snmp, "RcvbufErrors").unwrap_or(0);
    }
    Ok(rcvbuf_errors)
}

/// The `Udp:` counter `name` of a `/proc/net/snmp` text.
fn udp_snmp(snmp: &str, name: &str) -> Option<u64> {
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next()?, udp.next()?);
    let i = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// Counters always reported by [`counters`].
const ALWAYS: [&str; 3] = ["kernel_drop", "handoff_out", "neigh_queued"];

/// [`ALWAYS`] and the non-zero `drop_*` counters of a `stats --json` answer,
/// summed over workers.
fn counters(json: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut sums: std::collections::BTreeMap<String, u64> =
        ALWAYS.iter().map(|k| (k.to_string(), 0)).collect();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(json)
        && let Some(ws) = v.get("workers").and_then(|w| w.as_array())
    {
        for w in ws.iter().filter_map(|w| w.as_object()) {
            for (k, v) in w {
                if ALWAYS.contains(&k.as_str()) || k.starts_with("drop_") {
                    *sums.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
                }
            }
        }
    }
    sums.into_iter()
        .filter(|(k, v)| *v > 0 || ALWAYS.contains(&k.as_str()))
        .map(|(k, v)| (k, v.into()))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (crate rule)
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn latency_probes_on_loopback() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || http::serve_listener(listener, "x", 20));
        let t = Duration::from_secs(5);
        let h = latency(addr, 50, t).unwrap();
        assert_eq!(h.len(), 50);
        let h = latency_new_conn(addr, 20, t).unwrap();
        assert_eq!(h.len(), 20);
        let s = LatencySummary::of(&h);
        assert!(s.p50 <= s.p99 && s.p99 <= s.max && s.p50 >= 1);
        assert!(latency(addr, 0, t).is_err());
        assert!(latency(addr, MAX_REQUESTS + 1, t).is_err());
    }

    #[test]
    fn blast_and_sink_on_loopback() {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let sink = std::thread::spawn(move || udp_sink(addr, 2).unwrap());
        std::thread::sleep(Duration::from_millis(200));
        let sent = udp_blast(addr, PAYLOAD_64B_FRAME, 4, 1, Some(1000)).unwrap();
        let got = sink.join().unwrap();
        assert!((500..=1100).contains(&sent), "sent {sent}");
        assert!(got <= sent && got + 50 >= sent, "sent {sent} got {got}");
        assert!(udp_blast(addr, 18, 0, 1, None).is_err());
        assert!(udp_sink(addr, 0).is_err());
    }

    #[test]
    fn snmp_udp_counter() {
        let t = "Ip: Forwarding\nIp: 1\nUdp: InDatagrams NoPorts RcvbufErrors\nUdp: 5 0 42\n";
        assert_eq!(udp_snmp(t, "RcvbufErrors"), Some(42));
        assert_eq!(udp_snmp(t, "Nope"), None);
    }

    #[test]
    fn drop_sums() {
        let j = r#"{"workers":[{"worker":0,"kernel_drop":1,"drop_ttl":0,"rx":5},
                    {"worker":1,"kernel_drop":2,"drop_ttl":3}],"neighbors":2}"#;
        let m = counters(j);
        assert_eq!(m.get("kernel_drop").unwrap(), 3);
        assert_eq!(m.get("drop_ttl").unwrap(), 3);
        assert_eq!(m.get("handoff_out").unwrap(), 0);
        assert_eq!(m.len(), 4);
    }
}
