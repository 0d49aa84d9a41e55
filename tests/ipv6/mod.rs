//! The IPv6 rig of `tests/ipv6_netns.rs` (issue 15, item 7): a dual-stack
//! `ringvs::lab::Lab` (`LabOptions::ipv6`), a director started on it, and the
//! clients, servers and captures the tests drive.
//!
//! ```text
//!  client c0 2001:2:0:1::1/64 ── ext0 [director] int0 ── br0 ── rs1 2001:2:0:2::2/64
//!  VIP6 2001:2:0:1::110 on-link    ringvs only,            └── rs2 2001:2:0:2::3/64
//!                                  no kernel IPv6          default via 2001:2:0:2::1
//! ```
//!
//! * [`rig`] checks that the lab can run here (under `CI=true` a missing
//!   capability or tool panics; elsewhere the test prints why and returns),
//!   takes the lock that runs one IPv6 lab at a time (captures and counters
//!   want a quiet machine), builds the lab and starts `i am rsN` HTTP servers
//!   on `[::]:80` of both real servers.
//! * [`V6::start_ringvs`] starts the director with the lab's addresses of both
//!   families (`Lab::start_director`: `--ext-addr 198.18.0.2/24 --ext-addr
//!   2001:2:0:1::2/64 --int-addr 198.19.0.1/24 --int-addr 2001:2:0:2::1/64`).
//! * [`V6::kernel_director`] is the self-check's stand-in: the director
//!   namespace's kernel routes and NATs IPv6 (nftables) the way ringvs must,
//!   so the rig's checks are known to pass against a working IPv6 director.
//!
//! Every wait is bounded (requests 3 s, UDP answers 1.5 s, captures 30 s), so
//! a director that does not forward IPv6 fails the tests in seconds. Dropping
//! the [`V6`] stops every process and deletes the namespaces, also on panic.
#![allow(dead_code)] // the tests use different subsets

pub mod frames;

use ringvs::lab::{self, Lab, LabOptions, Spawned, VIP6, ns_command, rs_addr6};
use ringvs::proto::{self, Command as Ctl, Response};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The `ringvs` binary under test.
pub const EXE: &str = env!("CARGO_BIN_EXE_ringvs");
/// The helper scripts (`udp6.py`) and golden listings.
pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ipv6");
/// Each HTTP request's bound (`http-get --timeout-ms`, `curl -m 3`).
pub const REQUEST_TIMEOUT_MS: &str = "3000";
/// Every helper process of a test exits by itself after this long.
pub const MAX_SECS: &str = "120";

/// `[VIP6]:port`.
pub fn vip(port: u16) -> String {
    format!("[{VIP6}]:{port}")
}

/// `[rs N's address]:port`.
pub fn rip(n: usize, port: u16) -> String {
    format!("[{}]:{port}", rs_addr6(n))
}

/// What real server `n`'s HTTP and UDP servers answer.
pub fn rs_name(n: usize) -> String {
    format!("i am rs{n}")
}

/// Whether `bodies` alternate between `a` and `b`, whichever comes first.
pub fn alternates(bodies: &[String], a: &str, b: &str) -> bool {
    let first = bodies.first().map(String::as_str);
    let (x, y) = if first == Some(a) { (a, b) } else { (b, a) };
    !bodies.is_empty()
        && bodies
            .iter()
            .enumerate()
            .all(|(i, s)| s == if i % 2 == 0 { x } else { y })
}

pub use ringvs::lab::wait_for;

/// A dual-stack lab, its director's control socket, and the lock that keeps
/// it the only IPv6 lab running (see the module docs).
pub struct V6 {
    pub lab: Lab,
    pub control: PathBuf,
    _serial: MutexGuard<'static, ()>,
}

/// The lock that runs one IPv6 lab (or demo) at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// See the module docs. `tools`: programs the test runs besides `ip`
/// (`--version` must work). `before`: a step on the lab before the caller
/// starts a director (e.g. an MTU, more servers).
pub fn rig(name: &str, tools: &[&str], before: impl FnOnce(&mut Lab)) -> Option<V6> {
    let mut all = vec!["ethtool", "ss"];
    all.extend_from_slice(tools);
    if !lab::lab_available_with(&all) {
        return None;
    }
    let serial = serial();
    let tag = Lab::unique_tag();
    let opts = LabOptions {
        ipv6: true,
        ..LabOptions::default()
    };
    let mut lab = Lab::build_with(&tag, opts).expect("build the dual-stack lab");
    lab.start_http_servers(Path::new(EXE))
        .expect("HTTP servers on [::]:80");
    before(&mut lab);
    let control = PathBuf::from(format!("/run/ringvs-{name}-{tag}.sock"));
    Some(V6 {
        lab,
        control,
        _serial: serial,
    })
}

impl V6 {
    /// Start ringvs in the director namespace with `workers` workers and the
    /// lab's addresses of both families; panics if it does not start.
    pub fn start_ringvs(&mut self, workers: usize) {
        let w = workers.to_string();
        let started = self
            .lab
            .start_director(Path::new(EXE), &self.control, &["--workers", &w]);
        if let Err(e) = started {
            panic!(
                "ringvs run with IPv6 addresses ({} and {}) did not start: {e}",
                lab::EXT_ADDR6_CIDR,
                lab::INT_ADDR6_CIDR
            );
        }
    }

    /// The self-check's stand-in for ringvs (module docs): IPv6 on in the
    /// director namespace, the lab's IPv6 addresses and the VIP on its NICs,
    /// forwarding on, and nftables DNAT from `[VIP6]:80` and `[VIP6]:53/udp`
    /// to the two real servers in turn (`numgen inc`), `[VIP6]:8080` to rs1.
    pub fn kernel_director(&self) {
        let d = self.lab.ns_director();
        // `all` last: it turns IPv6 on for both NICs, which must be quiet by then
        // (a tentative link-local address would hold the neighbor solicitations
        // of forwarded packets back for a second).
        for key in ["default", "ext0", "int0", "all"] {
            lab::enable_quiet_ipv6(&d, key).expect("IPv6 on in the director");
        }
        lab::ns_run(&d, "sysctl", &["-qw", "net.ipv6.conf.all.forwarding=1"]).expect("forward");
        let vip128 = format!("{VIP6}/128");
        for (nic, cidr) in [
            ("ext0", lab::EXT_ADDR6_CIDR),
            ("ext0", vip128.as_str()),
            ("int0", lab::INT_ADDR6_CIDR),
        ] {
            lab::ip(&["-n", &d, "-6", "addr", "add", cidr, "dev", nic, "nodad"]).expect("addr");
        }
        let (rs1, rs2) = (rs_addr6(1), rs_addr6(2));
        let rules = format!(
            "table ip6 lab {{\n\
             \x20 chain pre {{\n\
             \x20   type nat hook prerouting priority -100;\n\
             \x20   ip6 daddr {VIP6} tcp dport 80 dnat to numgen inc mod 2 map {{ 0 : {rs1}, 1 : {rs2} }}\n\
             \x20   ip6 daddr {VIP6} udp dport 53 dnat to numgen inc mod 2 map {{ 0 : {rs1}, 1 : {rs2} }}\n\
             \x20   ip6 daddr {VIP6} tcp dport 8080 dnat to {rs1}\n\
             \x20 }}\n\
             }}\n"
        );
        let file = std::env::temp_dir().join(format!("ringvs-v6-{}.nft", self.lab.tag()));
        std::fs::write(&file, rules).expect("write nft rules");
        let loaded = lab::ns_run(&d, "nft", &["-f", &file.display().to_string()]);
        let _ = std::fs::remove_file(&file);
        loaded.expect("nft -f");
    }

    /// `ringvs adm ARGS` through the control socket, whatever it answers.
    pub fn call(&self, args: &[&str]) -> Response {
        let argv = args.iter().map(|s| s.to_string()).collect();
        proto::call(&self.control, Ctl::Adm { argv }).expect("control socket answers")
    }

    /// `ringvs adm ARGS`; asserts it succeeded, returns its output.
    pub fn adm(&self, args: &[&str]) -> String {
        let r = self.call(args);
        assert_eq!(r.code, 0, "ringvs adm {args:?}: {}", r.err);
        r.out
    }

    /// `ringvs stats --json`.
    pub fn stats(&self) -> Value {
        let r = proto::call(&self.control, Ctl::Stats { json: true }).expect("stats");
        serde_json::from_str(&r.out).expect("stats --json is JSON")
    }

    /// The seed's service over IPv6: `-A -t [VIP6]:80 -s rr`, both real
    /// servers `-m` (and the same for `-u [VIP6]:53` when `udp`).
    pub fn seed_service(&self, proto: &str, port: u16) {
        let v = vip(port);
        self.adm(&["-A", proto, &v, "-s", "rr"]);
        for n in 1..=2 {
            self.adm(&["-a", proto, &v, "-r", &rip(n, port), "-m"]);
        }
    }

    /// `count` HTTP/1.0 requests to `addr` (`[ADDR]:PORT`) from the client
    /// with the lab's own client, each on a new connection: the bodies, or
    /// `error: …` lines.
    pub fn http_bodies(&self, addr: &str, count: usize) -> Vec<String> {
        self.http_bodies_from(&self.lab.ns_client(), addr, count)
    }

    /// [`V6::http_bodies`] from namespace `ns`.
    pub fn http_bodies_from(&self, ns: &str, addr: &str, count: usize) -> Vec<String> {
        #[rustfmt::skip]
        let args = ["http-get", addr, "--count", &count.to_string(), "--timeout-ms", REQUEST_TIMEOUT_MS];
        let out = ns_command(ns, Path::new(EXE), &args)
            .stdin(Stdio::null())
            .output()
            .expect("run ringvs http-get");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// `count` times `curl -6 -s http://[VIP6]/` from the client (3 s each):
    /// the bodies, or `curl error: …`.
    pub fn curl(&self, count: usize) -> Vec<String> {
        let url = format!("http://[{VIP6}]/");
        (0..count)
            .map(|_| {
                let args = ["-6", "-sS", "-m", "3", &url];
                let out = ns_command(&self.lab.ns_client(), Path::new("curl"), &args)
                    .stdin(Stdio::null())
                    .output()
                    .expect("run curl");
                if out.status.success() {
                    String::from_utf8_lossy(&out.stdout).trim().to_owned()
                } else {
                    let err = String::from_utf8_lossy(&out.stderr);
                    format!("curl error: {}", err.trim())
                }
            })
            .collect()
    }

    /// `ping -6 -c 3` from `ns` to `dst` (2 s per reply): whether all three
    /// answered, and ping's output.
    pub fn ping6(&self, ns: &str, dst: &str) -> (bool, String) {
        #[rustfmt::skip]
        let args = ["-6", "-c", "3", "-i", "0.2", "-W", "2", "-w", "5", dst];
        let out = ns_command(ns, Path::new("ping"), &args)
            .stdin(Stdio::null())
            .output()
            .expect("run ping");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let all = out.status.success() && text.contains("3 packets transmitted, 3 received");
        (all, text)
    }

    /// Start `tests/data/dr/udp_echo.py` (the DR rig's) on `[::]:port` of both
    /// real servers (answers `i am rsN LEN`); returns once both are bound.
    pub fn start_udp_echo(&mut self, port: u16) {
        let script = Path::new(DATA)
            .join("../dr/udp_echo.py")
            .display()
            .to_string();
        for n in 1..=2 {
            let (port, name) = (port.to_string(), rs_name(n));
            let args = ["-u", script.as_str(), "::", &port, &name, MAX_SECS];
            let mut child = ns_command(&self.lab.ns_rs(n), Path::new("python3"), &args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()
                .expect("start udp_echo.py");
            let out = child.stdout.take().expect("piped stdout");
            self.lab.adopt(child);
            let mut line = String::new();
            // The script prints `ready` at once; EOF means it died.
            BufReader::new(out)
                .read_line(&mut line)
                .expect("udp_echo.py");
            assert_eq!(line.trim(), "ready", "udp_echo.py on rs{n}");
        }
    }

    /// `udp6.py ask VIP6 port count` from the client: one line per request,
    /// `i am rsN 32 from ADDR PORT` or `timeout`.
    pub fn udp_ask(&self, port: u16, count: usize) -> Vec<String> {
        let script = Path::new(DATA).join("udp6.py").display().to_string();
        let (v, port, count) = (VIP6.to_string(), port.to_string(), count.to_string());
        let args = [script.as_str(), "ask", &v, &port, &count];
        let out = ns_command(&self.lab.ns_client(), Path::new("python3"), &args)
            .stdin(Stdio::null())
            .output()
            .expect("run udp6.py ask");
        assert!(
            out.status.success(),
            "udp6.py ask: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The MAC address of `ifname` in `ns`.
    pub fn mac(&self, ns: &str, ifname: &str) -> [u8; 6] {
        let path = format!("/sys/class/net/{ifname}/address");
        let s = lab::ns_run(ns, "cat", &[&path]).expect("read MAC");
        let v: Vec<u8> = s
            .trim()
            .split(':')
            .map(|h| u8::from_str_radix(h, 16).expect("hex MAC"))
            .collect();
        v.try_into().expect("6 bytes")
    }

    /// Send `frames` raw on `ifname` in `ns` with `ringvs-gen inject` (from
    /// tools/ringvs-bench, built next to `ringvs` by `cargo test --workspace`).
    pub fn inject(&self, ns: &str, ifname: &str, frames: &[Vec<u8>]) {
        let gen_exe = Path::new(EXE).with_file_name("ringvs-gen");
        assert!(
            gen_exe.is_file(),
            "no {} (cargo test --workspace builds it)",
            gen_exe.display()
        );
        let hex: String = frames
            .iter()
            .map(|f| f.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
            .collect();
        let file = std::env::temp_dir().join(format!("ringvs-v6-{}-{ifname}.hex", self.lab.tag()));
        std::fs::write(&file, hex).expect("write frames");
        let f = file.display().to_string();
        let out = ns_command(ns, &gen_exe, &["inject", "--if", ifname, "--file", &f])
            .stdin(Stdio::null())
            .output()
            .expect("run ringvs-gen inject");
        let _ = std::fs::remove_file(&file);
        assert!(
            out.status.success(),
            "inject: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("inject prints JSON");
        assert_eq!(v["sent"].as_u64(), Some(frames.len() as u64), "{v}");
    }

    /// Start `tcpdump --immediate-mode -l -n -vv -i IFNAME FILTER` in `ns`
    /// (bounded by `timeout 30`); returns once it listens.
    pub fn tcpdump(&self, ns: &str, ifname: &str, filter: &str) -> Tcpdump {
        #[rustfmt::skip]
        let args = ["30", "tcpdump", "--immediate-mode", "-l", "-n", "-vv", "-i", ifname, filter];
        let mut child = ns_command(ns, Path::new("timeout"), &args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tcpdump");
        let err = child.stderr.take().expect("tcpdump stderr");
        let mut reader = BufReader::new(err);
        let mut said = String::new();
        let listening = loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break false,
                Ok(_) if line.contains("listening on") => break true,
                Ok(_) => said.push_str(&line),
            }
        };
        // Keep draining its stderr so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in reader.lines() {});
        let dump = Tcpdump {
            child: Some(Spawned(child)),
        };
        assert!(
            listening,
            "tcpdump on {ifname} in {ns} did not start: {said}"
        );
        dump
    }
}

/// A running tcpdump (see [`V6::tcpdump`]); stopped when dropped.
pub struct Tcpdump {
    child: Option<Spawned>,
}

impl Tcpdump {
    /// Wait `settle` for frames still on their way, stop tcpdump and return
    /// the lines it printed (one per packet, `-vv` continuation lines joined).
    pub fn finish(mut self, settle: Duration) -> Vec<String> {
        std::thread::sleep(settle);
        let Some(mut sp) = self.child.take() else {
            return Vec::new();
        };
        let out = sp.0.stdout.take();
        // `timeout` passes the TERM on to tcpdump, which flushes and exits.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &sp.id().to_string()])
            .status();
        let mut text = String::new();
        if let Some(mut o) = out {
            let _ = std::io::Read::read_to_string(&mut o, &mut text);
        }
        drop(sp); // reaps it
        join_continuations(&text)
    }
}

/// tcpdump's `-vv` packets, each with its indented continuation lines.
pub fn join_continuations(text: &str) -> Vec<String> {
    let mut packets: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match packets.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => packets.push(line.to_owned()),
        }
    }
    packets
}

/// A counter of `stats --json`, summed over the workers (panics, naming it,
/// if a worker lacks it).
pub fn total(s: &Value, name: &str) -> u64 {
    s["workers"]
        .as_array()
        .unwrap_or_else(|| panic!("stats --json has no workers: {s}"))
        .iter()
        .map(|w| {
            w[name]
                .as_u64()
                .unwrap_or_else(|| panic!("no counter {name} in {w}"))
        })
        .sum()
}

/// The names of the counters of the first worker of `stats --json` that
/// `keep` selects (IPv6's counters are found by name, whatever they are).
pub fn counter_names(s: &Value, keep: impl Fn(&str) -> bool) -> Vec<String> {
    s["workers"][0]
        .as_object()
        .map(|w| {
            w.iter()
                .filter(|(k, v)| v.is_u64() && keep(k))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// How much each counter of `names` grew from `before` to `after`.
pub fn deltas(before: &Value, after: &Value, names: &[String]) -> Vec<(String, u64)> {
    names
        .iter()
        .map(|n| (n.clone(), total(after, n).saturating_sub(total(before, n))))
        .collect()
}

/// The golden file `name` of `tests/data/ipv6`.
pub fn golden(name: &str) -> String {
    let path = Path::new(DATA).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
