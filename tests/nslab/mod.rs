//! The namespace helper: a real `ringvs run` in a `ringvs::lab::Lab` (network
//! namespaces, veths, a bridge, kernel TCP clients and servers) and the calls a
//! test makes to it.
//!
//! Use it for what only a director process on real NICs shows: AF_PACKET and
//! AF_XDP rings, checksum offload, ARP on the wire, the control socket, signals.
//! It needs root and `ip netns` and takes seconds per test. For what the packet
//! path does to a frame, use the in-memory harness `tests/inmem` (no root, no
//! processes, milliseconds).
//!
//! Every namespace test starts the same way, with [`Scenario`]:
//!
//! ```ignore
//! let Some(NsDirector { lab, control }) = Scenario::new("flood")
//!     .director_args(&["--max-conns", "256"])
//!     .seed_service()
//!     .start()
//! else {
//!     return; // not root or no `ip netns`, and not under CI: it said why
//! };
//! ```
//!
//! [`Scenario::start`] checks that the lab can run here: under `CI=true` a
//! missing capability panics, so that a test never passes by skipping;
//! elsewhere it prints why and returns `None`. Then it builds the lab under a
//! tag of its own, starts an HTTP server (`i am rsN`) on port 80 of every real
//! server, runs the [`Scenario::before_director`] steps if any, starts the
//! director (`--workers`, `--rules`, the extra arguments) with its control socket
//! at `/run/ringvs-{name}-{tag}.sock`, waits until the socket answers, and adds
//! the seed's service if asked.
//!
//! The [`NsDirector`] it returns owns the lab: when the lab is dropped (whole
//! or after destructuring), the director and every process started in the lab
//! are stopped, the control socket is removed and the namespaces are deleted.
#![allow(dead_code)] // each test binary uses its own subset

#[path = "../common/udp_client.rs"]
mod udp_common;

use ringvs::lab::{self, Lab, LabOptions};
use ringvs::proto::{self, Command, Response};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The `ringvs` binary under test.
pub const EXE: &str = env!("CARGO_BIN_EXE_ringvs");

/// A step of the test's own on the lab before the director starts.
type LabStep = Box<dyn FnOnce(&mut Lab)>;

/// A director about to run in a fresh lab; [`Scenario::start`] makes it so.
#[must_use = "a scenario does nothing until start()"]
pub struct Scenario {
    name: &'static str,
    tools: Vec<&'static str>,
    lab: LabOptions,
    workers: usize,
    args: Vec<String>,
    rules: Option<String>,
    seed: Option<Vec<String>>,
    before_director: Vec<LabStep>,
    /// The director's standard error to a file ([`Scenario::log_to_file`]).
    log: bool,
}

/// A running director in its lab (see the module docs).
pub struct NsDirector {
    /// The namespaces, the HTTP servers and the director; dropping it ends them.
    pub lab: Lab,
    /// The director's control socket.
    pub control: PathBuf,
}

impl Scenario {
    /// A scenario named `name` (in the control socket's and rules file's names):
    /// two real servers, a director with two workers, no service.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            tools: Vec::new(),
            lab: LabOptions::default(),
            workers: 2,
            args: Vec::new(),
            rules: None,
            seed: None,
            before_director: Vec::new(),
            log: false,
        }
    }

    /// Write the director's standard error (its log) to a file instead of
    /// the test's, for [`stop_director`] to return (the file is
    /// `/run/ringvs-{name}-{tag}.log`, beside the control socket).
    pub fn log_to_file(mut self) -> Self {
        self.log = true;
        self
    }

    /// Tools the test runs besides `ip` (e.g. `tcpdump`): like root and
    /// `ip netns`, a missing one fails under CI and skips elsewhere.
    pub fn needs(mut self, tools: &[&'static str]) -> Self {
        self.tools.extend_from_slice(tools);
        self
    }

    /// How many real servers the lab has (default 2).
    pub fn real_servers(mut self, n: usize) -> Self {
        self.lab.n_real_servers = n;
        self
    }

    /// RX/TX queues of the director's veths and their peers (default 1; see
    /// `LabOptions::queues`).
    pub fn queues(mut self, n: usize) -> Self {
        self.lab.queues = n;
        self
    }

    /// A dual-stack lab (`LabOptions::ipv6`): the director gets IPv6
    /// addresses on both NICs too.
    pub fn ipv6(mut self) -> Self {
        self.lab.ipv6 = true;
        self
    }

    /// The director's `--workers` (default 2).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// More arguments for `ringvs run`, after `--workers`.
    pub fn director_args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Start the director with `--rules FILE`, FILE holding `text`
    /// (`ipvsadm -S` format); the file is removed once the director started.
    pub fn rules(mut self, text: &str) -> Self {
        self.rules = Some(text.to_owned());
        self
    }

    /// Once the director runs, add the seed's service (see [`seed_service`]).
    pub fn seed_service(self) -> Self {
        self.seed_service_with(&[])
    }

    /// [`Scenario::seed_service`] with more options for its `-A` (e.g. `-p 60`).
    pub fn seed_service_with(mut self, service_opts: &[&str]) -> Self {
        self.seed = Some(service_opts.iter().map(|a| a.to_string()).collect());
        self
    }

    /// A step of the test's own between the HTTP servers and the director
    /// (e.g. more servers the director's rules point at); steps run in the
    /// order given.
    pub fn before_director(mut self, step: impl FnOnce(&mut Lab) + 'static) -> Self {
        self.before_director.push(Box::new(step));
        self
    }

    /// Build the lab and start the director; `None` where the lab cannot run
    /// here and this is not CI (the reason is printed; under `CI=true` it
    /// panics instead). Panics, naming the step, if a step fails.
    pub fn start(self) -> Option<NsDirector> {
        if !lab::lab_available_with(&self.tools) {
            return None;
        }
        let tag = Lab::unique_tag();
        let mut lab = Lab::build_with(&tag, self.lab).expect("build lab");
        lab.start_http_servers(Path::new(EXE))
            .expect("http servers");
        for step in self.before_director {
            step(&mut lab);
        }
        let control = PathBuf::from(format!("/run/ringvs-{}-{tag}.sock", self.name));
        let workers = self.workers.to_string();
        let mut args = vec!["--workers", &workers];
        args.extend(self.args.iter().map(String::as_str));
        let rules_file = self.rules.map(|text| {
            let file = std::env::temp_dir().join(format!("ringvs-{}-{tag}.rules", self.name));
            std::fs::write(&file, text).expect("write rules");
            file
        });
        let rules_arg = rules_file.as_ref().map(|f| f.display().to_string());
        if let Some(f) = &rules_arg {
            args.extend(["--rules", f]);
        }
        let started = if self.log {
            lab.start_director_logged(Path::new(EXE), &control, &args, &log_path(&control))
        } else {
            lab.start_director(Path::new(EXE), &control, &args)
        };
        if let Some(f) = &rules_file {
            let _ = std::fs::remove_file(f);
        }
        if let Err(e) = started {
            let log = std::fs::read_to_string(log_path(&control)).unwrap_or_default();
            let _ = std::fs::remove_file(log_path(&control));
            panic!("director: {e}\n{log}");
        }
        if let Some(opts) = &self.seed {
            let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
            seed_service_with(&control, &format!("{}:80", lab::VIP), &opts);
        }
        Some(NsDirector { lab, control })
    }

    /// [`Scenario::start`] with `udp_echo.py` on both real servers on `port`
    /// of every address of `any`'s family ([`spawn_udp_echo`]), over IPv6 if
    /// `v6`; returns once they listen.
    pub fn start_with_udp_echo(self, any: &'static str, port: u16, v6: bool) -> Option<NsDirector> {
        let mut s = self
            .needs(&["python3", "ss"])
            .before_director(move |lab| spawn_udp_echo(lab, any, port));
        if v6 {
            s = s.ipv6();
        }
        let d = s.start()?;
        wait_udp_bound(&d.lab, port);
        Some(d)
    }
}

/// Where a director started with [`Scenario::log_to_file`] writes its log.
fn log_path(control: &Path) -> PathBuf {
    control.with_extension("log")
}

/// Stop the lab's director: SIGTERM to every `ringvs` process in its
/// namespace, then wait (at most 5 s) until they have exited. Returns what
/// the director logged if it was started with [`Scenario::log_to_file`]
/// (its file removed; nothing is left to write it), else an empty string.
pub fn stop_director(d: &NsDirector) -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", &d.lab.ns_director()])
        .output()
        .expect("ip netns pids");
    let pids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "ringvs")
        })
        .map(str::to_string)
        .collect();
    assert!(!pids.is_empty(), "no director running");
    for p in &pids {
        let st = std::process::Command::new("kill")
            .args(["-TERM", p])
            .status()
            .expect("kill");
        assert!(st.success(), "kill -TERM {p}");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    // A child of this test stays a zombie until the lab reaps it.
    while pids.iter().any(|p| {
        std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| !s.contains(") Z "))
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "director {pids:?} still running"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let path = log_path(&d.control);
    let log = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    log
}

/// An `--io xdp` director's log at exit says nothing of its UMEMs: their
/// frames added up when the last queue of each went (the pool's check, which
/// logs `AF_XDP UMEM bookkeeping: ...` if a frame was lost or doubled).
pub fn assert_umem_adds_up(log: &str) {
    assert!(
        log.contains("ringvs"),
        "no director log captured (log_to_file?): {log:?}"
    );
    assert!(
        !log.contains("AF_XDP UMEM bookkeeping"),
        "the UMEM's frames did not add up at exit:\n{log}"
    );
}

/// The traffic generator `ringvs-gen`, from the dev-only workspace member
/// tools/ringvs-bench: cargo puts it next to `ringvs` (`cargo test --workspace`
/// builds it).
pub fn generator() -> PathBuf {
    let exe = Path::new(EXE);
    let generator = exe.with_file_name("ringvs-gen");
    assert!(
        generator.is_file(),
        "no {} (build it: cargo build --release -p ringvs-bench --bins, or run \
         cargo test --release --workspace)",
        generator.display()
    );
    generator
}

/// `ringvs adm ARGS` through the control socket, whatever it answers.
pub fn call(control: &Path, args: &[&str]) -> Response {
    proto::call(
        control,
        Command::Adm {
            argv: args.iter().map(|s| s.to_string()).collect(),
        },
    )
    .expect("control socket answers")
}

/// `ringvs adm ARGS` through the control socket; asserts it succeeded.
pub fn adm(control: &Path, args: &[&str]) -> String {
    let r = call(control, args);
    assert_eq!(r.code, 0, "ringvs adm {args:?}: {}", r.err);
    r.out
}

/// `ringvs stats --json`.
pub fn stats(control: &Path) -> Value {
    let r = proto::call(control, Command::Stats { json: true }).expect("stats");
    serde_json::from_str(&r.out).expect("stats --json is JSON")
}

pub mod settle;

/// [`stats`] once no frame is in flight ([`settle::settled`]).
pub fn settled_stats(control: &Path) -> Value {
    settle::settled(|| stats(control))
}

/// A counter of `stats --json`, worker by worker.
pub fn per_worker(s: &Value, name: &str) -> Vec<u64> {
    s["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| {
            w[name]
                .as_u64()
                .unwrap_or_else(|| panic!("no counter {name}"))
        })
        .collect()
}

/// The MAC address of `ifname` in `ns` (from sysfs), for hand-built frames.
pub fn mac_of(ns: &str, ifname: &str) -> [u8; 6] {
    let s =
        lab::ns_run(ns, "cat", &[&format!("/sys/class/net/{ifname}/address")]).expect("read MAC");
    let v: Vec<u8> = s
        .trim()
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).expect("hex"))
        .collect();
    v.try_into().expect("6 bytes")
}

/// Send `frames` raw on `ifname` in `ns` with `ringvs-gen inject`, through a
/// hex file named after `file_tag` (unique per test and interface, so tests
/// running at once do not overwrite each other's), and check every frame went.
pub fn inject(ns: &str, ifname: &str, frames: &[Vec<u8>], file_tag: &str) {
    let hex: String = frames
        .iter()
        .map(|f| f.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
        .collect();
    let path = std::env::temp_dir().join(format!("ringvs-{file_tag}.hex"));
    std::fs::write(&path, hex).expect("write frames");
    let out = lab::ns_command(
        ns,
        &generator(),
        &[
            "inject",
            "--if",
            ifname,
            "--file",
            &path.display().to_string(),
        ],
    )
    .output()
    .expect("inject");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "inject: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("inject JSON");
    assert_eq!(v["sent"].as_u64(), Some(frames.len() as u64), "{v}");
}

/// A counter of `stats --json`, summed over the workers.
pub fn total(s: &Value, name: &str) -> u64 {
    per_worker(s, name).iter().sum()
}

/// The seed's service: `VIP` round robin over both real servers, masquerading.
pub fn seed_service(control: &Path, vip: &str) {
    seed_service_with(control, vip, &[]);
}

/// [`seed_service`] with more options for its `-A`.
pub fn seed_service_with(control: &Path, vip: &str, service_opts: &[&str]) {
    let mut add = vec!["-A", "-t", vip, "-s", "rr"];
    add.extend_from_slice(service_opts);
    adm(control, &add);
    for n in 1..=2 {
        let rip = format!("{}:80", lab::rs_addr(n));
        adm(control, &["-a", "-t", vip, "-r", &rip, "-m"]);
    }
}

/// Three pings from `ns` to `dst`.
pub fn ping(ns: &str, dst: &str) -> std::process::Output {
    std::process::Command::new("ip")
        .args([
            "netns", "exec", ns, "ping", "-c", "3", "-i", "0.2", "-W", "2", dst,
        ])
        .output()
        .expect("run ping")
}

/// `count` HTTP/1.0 requests to `addr`, each on a new connection, from the
/// client namespace: the bodies, one a line.
pub fn http_bodies(lab: &Lab, addr: &str, count: usize) -> Vec<String> {
    let out = lab::ns_command(
        &lab.ns_client(),
        Path::new(EXE),
        &["http-get", addr, "--count", &count.to_string()],
    )
    .output()
    .expect("run http-get");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Polls `f` every 50 ms until it holds or `limit` passes; the time it took.
pub fn wait_for(
    limit: std::time::Duration,
    mut f: impl FnMut() -> bool,
) -> Option<std::time::Duration> {
    let start = std::time::Instant::now();
    loop {
        if f() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// SIGKILL every process in namespace `ns` (the server the test started
/// there); how many there were.
pub fn kill_all_in(ns: &str) -> usize {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .expect("ip netns pids");
    let pids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    for p in &pids {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", p])
            .status();
    }
    pids.len()
}

/// The weight `-L -n` lists for real server `rs` (0 while it is down).
pub fn listed_weight(control: &Path, rs: &str) -> Option<u32> {
    adm(control, &["-L", "-n"]).lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        (w.len() >= 4 && w[0] == "->" && w[1] == rs).then(|| w[3].parse().ok())?
    })
}

/// Start `ringvs serve-http` on real server `n` (not waiting for it to listen),
/// stopped with the lab.
pub fn spawn_http_server(lab: &mut Lab, n: usize, listen: &str, body: &str, max_secs: &str) {
    lab.spawn_in(
        &lab.ns_rs(n),
        Path::new(EXE),
        &[
            "serve-http",
            "--listen",
            listen,
            "--body",
            body,
            "--max-secs",
            max_secs,
        ],
    )
    .expect("start http server");
}

/// Real server `n`'s HTTP server again, as the lab started it (after
/// [`kill_all_in`] took it down).
pub fn serve_again(lab: &mut Lab, n: usize) {
    spawn_http_server(lab, n, "0.0.0.0:80", &format!("i am rs{n}"), "600");
}

/// The UDP scripts of the real servers and the client (`tests/data/dr`).
const UDP_SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dr");

/// `udp_echo.py` on both real servers, named rs1 and rs2, on `port` of every
/// address of `any`'s family (`0.0.0.0` or `::`: NAT), stopped with the lab;
/// [`wait_udp_bound`] waits for them.
pub fn spawn_udp_echo(lab: &mut Lab, any: &str, port: u16) {
    let script = Path::new(UDP_SCRIPTS).join("udp_echo.py");
    let (script, port) = (script.display().to_string(), port.to_string());
    for n in 1..=2 {
        let name = format!("rs{n}");
        lab.spawn_in(
            &lab.ns_rs(n),
            Path::new("python3"),
            &[&script, any, &port, &name, "60"],
        )
        .expect("start udp_echo.py");
    }
}

/// Wait (5 s at most) until both real servers listen on UDP `port`.
pub fn wait_udp_bound(lab: &Lab, port: u16) {
    wait_bound(lab, "-Hunl", port);
}

/// Wait (5 s at most) until both real servers listen on TCP `port`.
pub fn wait_tcp_bound(lab: &Lab, port: u16) {
    wait_bound(lab, "-Htln", port);
}

/// Wait (5 s at most) until `ss FLAGS` on both real servers lists `port`.
fn wait_bound(lab: &Lab, flags: &str, port: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    for n in 1..=2 {
        loop {
            let out = lab::ns_command(&lab.ns_rs(n), Path::new("ss"), &[flags])
                .output()
                .expect("ss");
            if String::from_utf8_lossy(&out.stdout).contains(&format!(":{port} ")) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "nothing bound to {port} on rs{n} (ss {flags})"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// `udp_client.py MODE ADDR PORT N` from the client: its lines.
pub fn udp_client(lab: &Lab, mode: &str, addr: &str, port: u16, n: usize) -> Vec<String> {
    let script = Path::new(UDP_SCRIPTS).join("udp_client.py");
    udp_common::lines(&lab.ns_client(), &script, (mode, addr), port, n)
}

/// Lines a program printed, each with a stamp (when it arrived, or what the
/// line itself says).
pub type StampedLines<S> = std::sync::Arc<std::sync::Mutex<Vec<(S, String)>>>;

/// Start `cmd` (built with `lab::ns_command`) under the lab, which kills it at
/// cleanup, and collect its standard output line by line, each stamped by
/// `stamp` as it arrives.
pub fn spawn_collecting<S: Send + 'static>(
    lab: &mut Lab,
    mut cmd: std::process::Command,
    stamp: impl Fn(&str) -> S + Send + 'static,
) -> StampedLines<S> {
    use std::io::BufRead;
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn a lab client");
    let out = child.stdout.take().expect("client stdout");
    lab.adopt(child);
    let lines: StampedLines<S> = Default::default();
    let l = std::sync::Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let s = stamp(&line);
            l.lock().expect("lines").push((s, line));
        }
    });
    lines
}

/// What a bounded run of `ringvs demo …` left behind.
pub struct DemoRun {
    pub status: std::process::ExitStatus,
    pub out: String,
    pub err: String,
    /// Namespaces of its lab still there afterwards (there should be none).
    pub left: Vec<String>,
}

/// A running `ringvs demo`. Dropped (the test done, failed or returned
/// early), it is interrupted if still running and killed if it has not
/// exited 30 s later, and what is left of its lab (`rv{tag}-*`) and its
/// control socket is removed, so a failing test leaves nothing behind.
pub struct DemoChild {
    pub child: std::process::Child,
    /// Its lab's tag, from its pid (`Lab::unique_tag`).
    pub tag: String,
}

impl DemoChild {
    /// Start `ringvs demo ARGS` with its output as `stdout` and `stderr` say.
    pub fn spawn(args: &[&str], stdout: std::process::Stdio, stderr: std::process::Stdio) -> Self {
        let child = std::process::Command::new(EXE)
            .arg("demo")
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start ringvs demo");
        let tag = format!("{:04x}0", child.id() & 0xffff);
        DemoChild { child, tag }
    }

    /// Its namespaces' prefix.
    pub fn prefix(&self) -> String {
        format!("rv{}-", self.tag)
    }

    /// Its lab's namespaces that exist now.
    pub fn namespaces(&self) -> Vec<String> {
        let prefix = self.prefix();
        lab::list_namespaces()
            .expect("ip netns list")
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .collect()
    }

    /// Its exit status once it exits by itself within `limit`, else
    /// `None`: it is then interrupted (SIGINT, on which it cleans up) and,
    /// if still running `limit` later, killed.
    pub fn wait_within(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        if let Some(st) = self.wait_for_exit(limit) {
            return Some(st);
        }
        self.interrupt(limit);
        None
    }

    /// SIGINT, then its exit status if it exits within `limit`; killed
    /// (SIGKILL, status `None`) if not.
    pub fn interrupt(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        // The child is not reaped before the signal, so its pid cannot name
        // another process.
        let _ = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let st = self.wait_for_exit(limit);
        if st.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            // Its director and servers (in its namespaces) hold its output
            // pipes open: they go too, so a reader of them sees the end.
            let _ = lab::Lab::cleanup_stale(&self.tag);
        }
        st
    }

    fn wait_for_exit(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for DemoChild {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.interrupt(std::time::Duration::from_secs(30));
        }
        let _ = lab::Lab::cleanup_stale(&self.tag);
        let _ = std::fs::remove_file(format!("/run/ringvs-demo-{}.sock", self.tag));
    }
}

/// Run `ringvs demo ARGS`, interrupted (SIGINT, on which it cleans up) if it
/// is still running after `limit` (killed if that does not end it); then
/// list what is left of its lab (removed when the run is done).
pub fn run_demo(args: &[&str], limit: std::time::Duration) -> DemoRun {
    let mut demo = DemoChild::spawn(
        args,
        std::process::Stdio::piped(),
        std::process::Stdio::piped(),
    );
    let read = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut text);
            }
            text
        })
    };
    let out = read(demo.child.stdout.take().map(|o| Box::new(o) as _));
    let err = read(demo.child.stderr.take().map(|e| Box::new(e) as _));
    let status = match demo.wait_within(limit) {
        Some(st) => st,
        None => demo
            .child
            .try_wait()
            .ok()
            .flatten()
            .expect("the demo did not exit on SIGINT"),
    };
    let left = demo.namespaces();
    DemoRun {
        status,
        out: out.join().unwrap_or_default(),
        err: err.join().unwrap_or_default(),
        left,
    }
}
