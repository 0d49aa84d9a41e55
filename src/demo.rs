//! `ringvs demo`: the seed's LVS-NAT walk-through, in network namespaces; and
//! the lab's own HTTP server and client (`ringvs serve-http`, `ringvs
//! http-get`), which the demo and the namespace tests run in their hosts.
//!
//! Builds client, director and two real servers (each running ringvs's own tiny
//! HTTP server), starts the director with two workers (AF_PACKET fanout, or with `--io xdp`
//! one AF_XDP socket per queue of each NIC), configures it with the
//! seed's ipvsadm commands through `ringvs adm`, makes HTTP requests from the
//! client to the VIP and prints the bodies and `ipvsadm -L -n`. Everything it made
//! is deleted on the way out, also on error or Ctrl-C.
//!
//! `--ipv6` runs the same scenario over IPv6 (issue 15) in a dual-stack lab:
//! VIP `[2001:2:0:1::110]:80`, real servers `[2001:2:0:2::2]:80` and
//! `[2001:2:0:2::3]:80`.

use ringvs::lab::{self, Lab, LabOptions};
use ringvs::proto::{self, Command};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The addresses of the demo's address family.
struct Family {
    client: IpAddr,
    vip: IpAddr,
    dip: IpAddr,
    /// rs1 and rs2.
    rs: [IpAddr; 2],
}

impl Family {
    fn new(ipv6: bool) -> Self {
        if ipv6 {
            Self {
                client: lab::CLIENT6.into(),
                vip: lab::VIP6.into(),
                dip: lab::DIP6.into(),
                rs: [lab::rs_addr6(1).into(), lab::rs_addr6(2).into()],
            }
        } else {
            Self {
                client: lab::CLIENT.into(),
                vip: lab::VIP.into(),
                dip: lab::DIP.into(),
                rs: [lab::rs_addr(1).into(), lab::rs_addr(2).into()],
            }
        }
    }

    /// `ADDR:80`, or `[ADDR]:80` for IPv6 (as ipvsadm and `http-get` take it).
    fn port80(ip: IpAddr) -> String {
        SocketAddr::new(ip, 80).to_string()
    }
}

/// `println!` that returns an error instead of panicking ([`crate::out`]):
/// when the reader goes away (`ringvs demo | head -3`), the demo stops and
/// cleans up its lab on the way out, where a panic (the release profile
/// aborts) would leave the namespaces and the director running.
macro_rules! say {
    ($($t:tt)*) => { say(&format!("{}\n", format_args!($($t)*))) };
}

/// Write `text` to standard output, or the error that ends the demo.
fn say(text: &str) -> Result<(), String> {
    if crate::out(text) {
        Ok(())
    } else {
        Err("standard output closed; cleaning up".into())
    }
}

pub fn run(requests: usize, show_stats: bool, xdp: bool, ipv6: bool) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    // SIGHUP too: a terminal or SSH session that goes away must not kill
    // the demo and leave its namespaces, and a director that takes SIGHUP
    // as a reload, behind. The lab's own commands are out of reach of the
    // terminal's signals (`lab::cmd::run_cmd`), so a second Ctrl-C does
    // not stop the cleanup halfway.
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            ringvs::log!("demo: cannot install signal handler: {e}");
            return ExitCode::FAILURE;
        }
    }
    match demo(requests, show_stats, xdp, ipv6, &stop) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            ringvs::log!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn step(stop: &AtomicBool) -> Result<(), String> {
    if stop.load(Ordering::Relaxed) {
        Err("interrupted; cleaning up".into())
    } else {
        Ok(())
    }
}

fn adm(control: &Path, args: &[&str]) -> Result<String, String> {
    say!("# ringvs adm {}", args.join(" "))?;
    proto::adm(control, args)
}

fn demo(
    requests: usize,
    show_stats: bool,
    xdp: bool,
    ipv6: bool,
    stop: &AtomicBool,
) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
    let tag = Lab::unique_tag();
    let f = Family::new(ipv6);
    let [rs1, rs2] = f.rs;
    say!(
        "Building the lab (namespaces rv{tag}-*): client {}, VIP {},",
        f.client,
        f.vip
    )?;
    say!(
        "director DIP {}, real servers rs1 {rs1} and rs2 {rs2}.",
        f.dip
    )?;
    // Two workers either way; AF_XDP gives each a queue of each NIC, so
    // its veths get two (issue 12: a connection's frames go to the worker
    // owning its client key, handed over when RSS put them elsewhere).
    let opts = LabOptions {
        ipv6,
        queues: if xdp { 2 } else { 1 },
        ..LabOptions::default()
    };
    let mut lab = Lab::build_with(&tag, opts).map_err(|e| e.to_string())?;
    step(stop)?;
    lab.start_http_servers(&exe).map_err(|e| e.to_string())?;
    step(stop)?;
    let control = PathBuf::from(format!("/run/ringvs-demo-{tag}.sock"));
    let (workers, io) = ("2", if xdp { "xdp" } else { "packet" });
    lab.start_director(&exe, &control, &["--workers", workers, "--io", io])
        .map_err(|e| e.to_string())?;
    say!(
        "Director running in rv{tag}-dir with {workers} worker(s) on {io} I/O; control socket {}",
        control.display()
    )?;
    step(stop)?;

    let vip = Family::port80(f.vip);
    adm(&control, &["-A", "-t", &vip, "-s", "rr"])?;
    for rs in f.rs {
        let rip = Family::port80(rs);
        adm(&control, &["-a", "-t", &vip, "-r", &rip, "-m"])?;
    }
    step(stop)?;

    say!("# from the client namespace: {requests} x GET http://{vip}/")?;
    let count = requests.to_string();
    let mut client = lab::ns_command(
        &lab.ns_client(),
        &exe,
        &["http-get", &vip, "--count", &count],
    )
    .stdout(Stdio::piped())
    .spawn()
    .map_err(|e| format!("running the client: {e}"))?;
    // Print the bodies as they come; stop the client if we are interrupted
    // or nobody reads our output any more.
    let stdout = client.stdout.take();
    let printer = std::thread::spawn(move || -> Result<(), String> {
        if let Some(out) = stdout {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                say!("{line}")?;
            }
        }
        Ok(())
    });
    let join = |p: std::thread::JoinHandle<Result<(), String>>| {
        p.join()
            .unwrap_or_else(|_| Err("the output thread failed".into()))
    };
    let mut printer = Some(printer);
    let status = loop {
        if let Some(st) = client.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        let failed = if stop.load(Ordering::Relaxed) {
            Some("interrupted; cleaning up".to_owned())
        } else if printer.as_ref().is_some_and(|p| p.is_finished()) {
            // Done with the client's output: an error only if ours failed.
            printer.take().map(join).and_then(Result::err)
        } else {
            None
        };
        if let Some(why) = failed {
            let _ = client.kill();
            let _ = client.wait();
            if let Some(p) = printer.take() {
                let _ = join(p);
            }
            return Err(why);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if let Some(p) = printer.take() {
        join(p)?;
    }
    step(stop)?;
    say(&adm(&control, &["-L", "-n"])?)?;
    if show_stats {
        say!("# ringvs stats")?;
        let r = proto::call(&control, Command::Stats { json: false })?;
        say(&r.out)?;
    }
    if !status.success() {
        return Err("some requests failed".into());
    }
    say!("Cleaning up the lab.")?;
    Ok(())
}

/// `ringvs serve-http` (lab).
pub fn serve_http(listen: SocketAddr, body: &str, max_secs: u64) -> ExitCode {
    match ringvs::lab::http::serve(listen, body, max_secs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            ringvs::log!("serve-http: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `ringvs http-get` (lab): one body (or `error: ...`) per line.
pub fn http_get(
    addr: SocketAddr,
    count: usize,
    timeout_ms: u64,
    keepalive: bool,
    interval_ms: u64,
    retries: usize,
) -> ExitCode {
    use ringvs::lab::http;
    let timeout = Duration::from_millis(timeout_ms);
    let mut conn = None;
    let mut ok = true;
    for i in 0..count {
        if i > 0 && interval_ms > 0 {
            std::thread::sleep(Duration::from_millis(interval_ms));
        }
        let r = if keepalive {
            match &mut conn {
                Some(c) => http::KeepAliveClient::get(c, "/"),
                None => http::KeepAliveClient::connect(addr, timeout).and_then(|mut c| {
                    let r = c.get("/");
                    conn = Some(c);
                    r
                }),
            }
        } else {
            let mut r = http::get(addr, "/", timeout);
            for _ in 0..retries {
                let Err(e) = &r else { break };
                if !crate::out(&format!("retried: {e}\n")) {
                    return ExitCode::FAILURE;
                }
                r = http::get(addr, "/", timeout);
            }
            r
        };
        let line = match r {
            Ok(r) => format!("{}\n", r.body.trim_end()),
            Err(e) => {
                ok = false;
                format!("error: {e}\n")
            }
        };
        if !crate::out(&line) {
            return ExitCode::FAILURE;
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
