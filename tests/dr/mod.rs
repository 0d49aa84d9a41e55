//! The lab of direct routing (`-g`) and tunnelling (`-i`), in network
//! namespaces (issue 14), for `tests/dr_netns.rs`.
//!
//! `ringvs::lab::Lab` is a NAT lab: the real servers' gateway is the DIP, so
//! every reply crosses the director. Here a router joins the client segment
//! and the real-server segments, and is the real servers' default gateway:
//! replies go from the real servers through the router to the client and
//! never reach the director.
//!
//! ```text
//!                          rd{tag}-sw: three bridges
//!  rd{tag}-cli           +-----------------------------+
//!  c0 198.18.0.1/24 -----| brx   (client segment)      |
//!  rd{tag}-dir  ext0 ----|  |  (pdx)                   |  198.18.0.0/24
//!  rd{tag}-rtr  r0 ------|  |  198.18.0.254            |
//!                        |                             |
//!  rd{tag}-dir  int0 ----| bri   (real servers)  (pdi) |  198.19.0.0/24
//!  rd{tag}-rtr  r1 ------|  |  198.19.0.254            |
//!  rd{tag}-rs1  eth0 ----|  |  198.19.0.2       (prs1) |
//!  rd{tag}-rs2  eth0 ----|  |  198.19.0.3       (prs2) |
//!                        |                             |
//!  rd{tag}-rtr  r2 ------| brf   (far segment)         |  198.19.1.0/24
//!  rd{tag}-rs3  eth0 ----|  |  198.19.1.2       (prs3) |
//!                        +-----------------------------+
//! ```
//!
//! * The director (`ringvs run --ext ext0 --ext-addr 198.18.0.2/24 --int int0
//!   --int-addr 198.19.0.1/24 --gateway 198.18.0.254 --workers 1`, plus
//!   `--int-gateway 198.19.0.254` where a test reaches rs3) owns `ext0` and
//!   `int0`; they have no kernel address. It answers ARP for the VIP on the
//!   client segment, so the client's route to the VIP is on-link, through it.
//! * The router forwards between the three segments, reverse-path filter off
//!   (replies from the VIP arrive on its real-server side).
//! * Every real server is set up as a DR/TUN real server should be
//!   (docs/operations.md, "Real servers for DR and TUN"): the VIP on `lo`,
//!   `arp_ignore=1`, `arp_announce=2`, default route via the router. rs3 is
//!   off-link from the director: only a tunnel reaches it.
//! * TUN real servers run `tests/data/dr/tun_decap.py` (this kernel has no
//!   ipip, gre or fou): it reads the tunnel from a raw or UDP socket and writes
//!   the inner packet into a TUN device, [`TUN_DEV`].
//!
//! Switch ports are named `p` + the host's short name (`pdx`, `pdi`, `prs1`,
//! …): a capture there sees what that host sends and receives. Dropping the
//! [`DrLab`] stops its processes and deletes its namespaces, also on panic.
#![allow(dead_code)] // the tests use different subsets

#[path = "../nslab/settle.rs"]
mod settle;
#[path = "../common/udp_client.rs"]
mod udp_common;

use ringvs::lab::{self, Spawned, ip, kill_and_delete_ns, ns_command};
use ringvs::proto::{self, Command as Ctl};
use serde_json::Value;
use std::io::BufRead;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The `ringvs` binary under test.
pub const EXE: &str = env!("CARGO_BIN_EXE_ringvs");
/// The scripts of this module.
pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dr");

pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 110);
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The director's address on the client segment (`--ext-addr`).
pub const EXT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The DIP (`--int-addr`): the outer source of tunnelled packets.
pub const DIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// The router on the client segment (`--gateway`).
pub const ROUTER_EXT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
/// The router on the real-server segment (`--int-gateway`, the real servers'
/// default gateway).
pub const ROUTER_INT: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 254);
/// The router on the far segment (rs3's gateway).
pub const ROUTER_FAR: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 254);
/// The TUN device `tun_decap.py` creates on a TUN real server.
pub const TUN_DEV: &str = "tunl9";
/// The UDP port of the GUE tests (`--tun-port`).
pub const GUE_PORT: u16 = 6080;
/// How long a started director gets to open its control socket.
pub const DIRECTOR_READY: Duration = Duration::from_secs(10);
/// Every helper process of a test exits by itself after this long.
pub const MAX_SECS: &str = "120";

/// Real server `n`'s address: rs1 and rs2 on the director's segment, rs3
/// behind the router.
pub fn rs_addr(n: usize) -> Ipv4Addr {
    match n {
        1 => Ipv4Addr::new(198, 19, 0, 2),
        2 => Ipv4Addr::new(198, 19, 0, 3),
        3 => Ipv4Addr::new(198, 19, 1, 2),
        _ => panic!("the DR lab has real servers 1 to 3, not {n}"),
    }
}

/// A body of `len` bytes, the alphabet over and over (a transfer that must
/// arrive whole).
pub fn alphabet(len: usize) -> String {
    (0..len)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

/// What real server `n`'s HTTP and UDP servers answer.
pub fn rs_name(n: usize) -> String {
    format!("i am rs{n}")
}

/// Whether this lab can run here: root, `ip netns`, python3, tcpdump and
/// ethtool (under `CI=true` a missing one fails the test; elsewhere it says
/// why and the test returns). Then the lock that runs one lab at a time (the
/// captures and the measured rates want a quiet machine) and a built lab.
pub fn lab() -> Option<(MutexGuard<'static, ()>, DrLab)> {
    if !lab::lab_available_with(&["python3", "tcpdump", "ethtool"]) {
        return None;
    }
    static SERIAL: Mutex<()> = Mutex::new(());
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    Some((guard, DrLab::build(&lab::Lab::unique_tag())))
}

pub use ringvs::lab::wait_for;

/// A counter of `stats --json`, summed over the workers.
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

/// Lines a helper printed, in order.
pub type Lines = Arc<Mutex<Vec<String>>>;

/// A snapshot of `lines`.
pub fn lines_of(lines: &Lines) -> Vec<String> {
    lines.lock().map(|l| l.clone()).unwrap_or_default()
}

/// The namespaces, links and helper processes of the module docs.
pub struct DrLab {
    tag: String,
    namespaces: Vec<String>,
    /// Helper processes by name (`http-rs1`, `director`, …); dropped = stopped.
    children: Vec<(String, Spawned)>,
    control: PathBuf,
    dir: PathBuf,
}

impl DrLab {
    /// Build the namespaces, links, addresses, routes and sysctls under
    /// `tag`. Panics, naming the step, if one fails (what was made is removed).
    pub fn build(tag: &str) -> DrLab {
        let dir = PathBuf::from(format!("/run/ringvs-dr-{tag}"));
        std::fs::create_dir_all(&dir).expect("create the lab's directory");
        let mut l = DrLab {
            tag: tag.to_owned(),
            namespaces: Vec::new(),
            children: Vec::new(),
            control: dir.join("ringvs.sock"),
            dir,
        };
        if let Err(e) = l.populate() {
            panic!("build the DR lab: {e}");
        }
        l
    }

    fn ns(&self, name: &str) -> String {
        format!("rd{}-{name}", self.tag)
    }
    pub fn ns_client(&self) -> String {
        self.ns("cli")
    }
    pub fn ns_director(&self) -> String {
        self.ns("dir")
    }
    pub fn ns_router(&self) -> String {
        self.ns("rtr")
    }
    pub fn ns_switch(&self) -> String {
        self.ns("sw")
    }
    /// Real server `n`'s namespace (1 to 3).
    pub fn ns_rs(&self, n: usize) -> String {
        self.ns(&format!("rs{n}"))
    }
    /// The director's control socket.
    pub fn control(&self) -> &Path {
        &self.control
    }
    /// The lab's directory (logs, captures).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn add_ns(&mut self, name: &str) -> Result<String, lab::LabError> {
        let ns = self.ns(name);
        lab::add_host_ns(&ns)?;
        self.namespaces.push(ns.clone());
        Ok(ns)
    }

    fn plug(&self, ns: &str, ifname: &str, port: &str, br: &str) -> Result<(), lab::LabError> {
        let sw = self.ns_switch();
        lab::plug_veth((ns, ifname), (&sw, port, br), &["gro", "gso", "tso", "tx"])
    }

    fn sysctl(ns: &str, settings: &[String]) -> Result<(), lab::LabError> {
        for kv in settings {
            lab::ns_run(ns, "sysctl", &["-qw", kv])?;
        }
        Ok(())
    }

    fn populate(&mut self) -> Result<(), lab::LabError> {
        let sw = self.add_ns("sw")?;
        for br in ["brx", "bri", "brf"] {
            lab::add_bridge(&sw, br)?;
        }
        let cli = self.add_ns("cli")?;
        self.plug(&cli, "c0", "pcli", "brx")?;
        ip(&[
            "-n",
            &cli,
            "addr",
            "add",
            &format!("{CLIENT}/24"),
            "dev",
            "c0",
        ])?;
        #[rustfmt::skip]
        ip(&["-n", &cli, "route", "add", "default", "via", &ROUTER_EXT.to_string()])?;

        let d = self.add_ns("dir")?;
        self.plug(&d, "ext0", "pdx", "brx")?;
        self.plug(&d, "int0", "pdi", "bri")?;

        let r = self.add_ns("rtr")?;
        for (ifname, port, br, addr) in [
            ("r0", "prx", "brx", ROUTER_EXT),
            ("r1", "pri", "bri", ROUTER_INT),
            ("r2", "prf", "brf", ROUTER_FAR),
        ] {
            self.plug(&r, ifname, port, br)?;
            ip(&[
                "-n",
                &r,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                ifname,
            ])?;
        }
        let mut kv = vec!["net.ipv4.ip_forward=1".to_owned()];
        for key in ["all", "default", "r0", "r1", "r2"] {
            kv.push(format!("net.ipv4.conf.{key}.rp_filter=0"));
        }
        Self::sysctl(&r, &kv)?;

        for n in 1..=3 {
            let rs = self.add_ns(&format!("rs{n}"))?;
            let (br, gw) = if n == 3 {
                ("brf", ROUTER_FAR)
            } else {
                ("bri", ROUTER_INT)
            };
            self.plug(&rs, "eth0", &format!("prs{n}"), br)?;
            let cidr = format!("{}/24", rs_addr(n));
            ip(&["-n", &rs, "addr", "add", &cidr, "dev", "eth0"])?;
            ip(&["-n", &rs, "route", "add", "default", "via", &gw.to_string()])?;
            // The real server's side of DR and TUN (docs/operations.md).
            ip(&["-n", &rs, "addr", "add", &format!("{VIP}/32"), "dev", "lo"])?;
            let mut kv = Vec::new();
            for key in ["all", "eth0"] {
                kv.push(format!("net.ipv4.conf.{key}.arp_ignore=1"));
                kv.push(format!("net.ipv4.conf.{key}.arp_announce=2"));
                kv.push(format!("net.ipv4.conf.{key}.rp_filter=0"));
            }
            Self::sysctl(&rs, &kv)?;
        }
        Ok(())
    }

    /// The MAC address of `ifname` in `ns`.
    pub fn mac(&self, ns: &str, ifname: &str) -> [u8; 6] {
        let out = ip(&["-n", ns, "-br", "link", "show", ifname]).expect("ip link show");
        let text = out.split_whitespace().nth(2).unwrap_or_default();
        parse_mac(text).unwrap_or_else(|| panic!("no MAC in {out:?}"))
    }

    /// Start `program args` in `ns` under `name`, its output in `name.log`.
    pub fn spawn(&mut self, name: &str, ns: &str, program: &str, args: &[&str]) {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).expect("log file");
        let err = log.try_clone().expect("clone log file");
        let child = ns_command(ns, Path::new(program), args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program} in {ns}: {e}"));
        self.children.push((name.to_owned(), Spawned(child)));
    }

    /// Start `python3 SCRIPT ARGS` (a file of `tests/data/dr`) in `ns` under
    /// `name`; its lines are collected. Waits (at most 5 s) for its `ready`.
    pub fn spawn_python(&mut self, name: &str, ns: &str, script: &str, args: &[&str]) -> Lines {
        let path = Path::new(DATA).join(script).display().to_string();
        let mut all = vec!["-u", path.as_str()];
        all.extend_from_slice(args);
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).expect("log file");
        let mut child = ns_command(ns, Path::new("python3"), &all)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {script} in {ns}: {e}"));
        let out = child.stdout.take().expect("piped stdout");
        self.children.push((name.to_owned(), Spawned(child)));
        let lines: Lines = Default::default();
        let l = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut v) = l.lock() {
                    v.push(line);
                }
            }
        });
        let ready = wait_for(Duration::from_secs(5), || {
            lines_of(&lines).iter().any(|l| l == "ready").then_some(())
        });
        if ready.is_none() {
            panic!("{script} in {ns} is not ready: {}", self.log(name));
        }
        lines
    }

    /// Stop the helper `name` (SIGTERM, then SIGKILL) and wait for it.
    pub fn stop(&mut self, name: &str) {
        let at = self.children.iter().position(|(n, _)| n == name);
        let at = at.unwrap_or_else(|| panic!("no helper {name}"));
        drop(self.children.remove(at));
    }

    /// The tail of a helper's log (for failure messages).
    pub fn log(&self, name: &str) -> String {
        let text =
            std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Start `ringvs serve-http` (`i am rsN`) on port 80 of real servers
    /// `ns` and wait until they listen.
    pub fn start_http(&mut self, rss: &[usize]) {
        self.start_http_with(rss, rs_name);
    }

    /// [`DrLab::start_http`] with real server `n` answering `body(n)`.
    pub fn start_http_with(&mut self, rss: &[usize], body: impl Fn(usize) -> String) {
        for &n in rss {
            #[rustfmt::skip]
            let args = ["serve-http", "--listen", "0.0.0.0:80", "--body", &body(n), "--max-secs", MAX_SECS];
            self.spawn(&format!("http-rs{n}"), &self.ns_rs(n), EXE, &args);
        }
        for &n in rss {
            let ns = self.ns_rs(n);
            let up = wait_for(Duration::from_secs(5), || {
                lab::listens_on(&ns, 80).ok()?.then_some(())
            });
            assert!(up.is_some(), "no HTTP server on port 80 in {ns}");
        }
    }

    /// Start `udp_echo.py` on VIP:`port` of real servers `rss`.
    pub fn start_udp_echo(&mut self, rss: &[usize], port: u16) {
        for &n in rss {
            let (vip, port) = (VIP.to_string(), port.to_string());
            let args = [vip.as_str(), &port, &rs_name(n), MAX_SECS];
            self.spawn_python(&format!("udp-rs{n}"), &self.ns_rs(n), "udp_echo.py", &args);
        }
    }

    /// Start `tun_decap.py` on real server `n` with `kinds` (`--ipip`,
    /// `--gre`, `--gue PORT`); its lines (`decap …`, `drop …`).
    pub fn start_decap(&mut self, n: usize, kinds: &[&str]) -> Lines {
        self.start_decap_for(n, MAX_SECS, kinds)
    }

    /// [`DrLab::start_decap`] bounded by `max_secs` instead of [`MAX_SECS`].
    pub fn start_decap_for(&mut self, n: usize, max_secs: &str, kinds: &[&str]) -> Lines {
        let mut args = vec![TUN_DEV, max_secs];
        args.extend_from_slice(kinds);
        self.spawn_python(
            &format!("decap-rs{n}"),
            &self.ns_rs(n),
            "tun_decap.py",
            &args,
        )
    }

    /// Start the director (module docs) with `extra` arguments and wait for
    /// its control socket.
    pub fn start_director(&mut self, extra: &[&str]) {
        let control = self.control.display().to_string();
        let (ext, int, gw) = (
            format!("{EXT_ADDR}/24"),
            format!("{DIP}/24"),
            ROUTER_EXT.to_string(),
        );
        #[rustfmt::skip]
        let mut args = vec![
            "run", "--ext", "ext0", "--ext-addr", &ext, "--int", "int0", "--int-addr", &int,
            "--gateway", &gw, "--control", &control, "--workers", "1",
        ];
        args.extend_from_slice(extra);
        self.spawn("director", &self.ns_director(), EXE, &args);
        let at = self.children.len() - 1;
        let ready = wait_for(DIRECTOR_READY, || {
            if let Ok(Some(status)) = self.children[at].1.0.try_wait() {
                return Some(Err(status));
            }
            std::os::unix::net::UnixStream::connect(&self.control)
                .ok()
                .map(|_| Ok(()))
        });
        if ready != Some(Ok(())) {
            panic!(
                "director: no control socket after {DIRECTOR_READY:?} ({ready:?}); its log:\n{}",
                self.log("director")
            );
        }
    }

    /// `ringvs adm ARGS`; asserts it succeeded, returns its output.
    pub fn adm(&self, args: &[&str]) -> String {
        let argv = args.iter().map(|s| s.to_string()).collect();
        let r = proto::call(&self.control, Ctl::Adm { argv }).expect("control socket answers");
        assert_eq!(r.code, 0, "ringvs adm {args:?}: {}", r.err);
        r.out
    }

    /// `ringvs stats --json`.
    pub fn stats(&self) -> Value {
        let r = proto::call(&self.control, Ctl::Stats { json: true }).expect("stats");
        serde_json::from_str(&r.out).expect("stats --json is JSON")
    }

    /// [`DrLab::stats`] once no frame is in flight ([`settle::settled`]).
    pub fn settled_stats(&self) -> Value {
        settle::settled(|| self.stats())
    }

    /// `count` HTTP/1.0 requests to VIP:80 from the client, each on a new
    /// connection: the bodies (or errors), one a line.
    pub fn http_bodies(&self, count: usize) -> Vec<String> {
        #[rustfmt::skip]
        let args = ["http-get", &format!("{VIP}:80"), "--count", &count.to_string(), "--timeout-ms", "3000"];
        let out = ns_command(&self.ns_client(), Path::new(EXE), &args)
            .stdin(Stdio::null())
            .output()
            .expect("run ringvs http-get");
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        if !out.status.success() {
            lines.push(format!(
                "error: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        lines
    }

    /// `curl http://VIP/` from the client: the body, or curl's error.
    pub fn curl(&self) -> String {
        self.curl_url(&format!("http://{VIP}/"))
    }

    /// `curl URL` from the client (`-g`: an IPv6 URL's brackets are not a
    /// glob): the body, or curl's error.
    pub fn curl_url(&self, url: &str) -> String {
        match self.fetch(url, 3) {
            Ok(body) => body.trim().to_owned(),
            Err(e) => format!("curl error: {e}"),
        }
    }

    /// `curl URL` from the client, given `secs` seconds: the body, or what
    /// curl said.
    pub fn fetch(&self, url: &str, secs: u32) -> Result<String, String> {
        let secs = secs.to_string();
        let out = ns_command(
            &self.ns_client(),
            Path::new("curl"),
            &["-sS", "-g", "-m", &secs, url],
        )
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    /// `udp_client.py MODE VIP PORT N` from the client: its lines.
    pub fn udp_client(&self, mode: &str, port: u16, n: usize) -> Vec<String> {
        let path = Path::new(DATA).join("udp_client.py");
        let vip = VIP.to_string();
        udp_common::lines(&self.ns_client(), &path, (mode, &vip), port, n)
    }

    /// The PMTU probe (`udp_client.py pmtu`): a DF datagram of `size` bytes
    /// of payload to VIP:`port`; the ICMP error the client's kernel got.
    pub fn pmtu_probe(&self, port: u16, size: usize) -> Value {
        let lines = self.udp_client("pmtu", port, size);
        let line = lines.last().cloned().unwrap_or_default();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("pmtu probe said {line:?}: {e}"))
    }

    /// Start tcpdump on switch port `port` with `filter`, writing to
    /// `NAME.pcap` in the lab's directory; returns once it listens.
    pub fn capture(&mut self, name: &str, port: &str, filter: &str) -> Capture {
        let file = self.dir.join(format!("{name}.pcap"));
        let file_s = file.display().to_string();
        #[rustfmt::skip]
        let args = ["60", "tcpdump", "--immediate-mode", "-U", "-n", "-s", "0", "-i", port, "-w", &file_s, filter];
        let mut child = ns_command(&self.ns_switch(), Path::new("timeout"), &args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tcpdump");
        let err = child.stderr.take().expect("tcpdump stderr");
        let mut first = String::new();
        let mut reader = std::io::BufReader::new(err);
        let listening = loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break false,
                Ok(_) if line.contains("listening on") => break true,
                Ok(_) => first.push_str(&line),
            }
        };
        assert!(listening, "tcpdump on {port} did not start: {first}");
        // Keep draining its stderr so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in reader.lines() {});
        Capture {
            file,
            child: Some(Spawned(child)),
        }
    }

    /// IPv4 datagrams the router's kernel has forwarded (`ForwDatagrams` of
    /// its `/proc/net/snmp`): the replies of real servers to the client.
    pub fn router_forwarded(&self) -> u64 {
        let snmp = lab::ns_run(&self.ns_router(), "cat", &["/proc/net/snmp"]).expect("snmp");
        let mut ip_lines = snmp.lines().filter(|l| l.starts_with("Ip:"));
        let (names, values) = (ip_lines.next(), ip_lines.next());
        let names = names.unwrap_or_default().split_whitespace();
        let at = names.clone().position(|n| n == "ForwDatagrams");
        let values: Vec<&str> = values.unwrap_or_default().split_whitespace().collect();
        at.and_then(|i| values.get(i)?.parse().ok())
            .unwrap_or_else(|| panic!("no Ip ForwDatagrams in the router's snmp: {snmp}"))
    }

    /// The kernel stand-in of the self-check: gives the director's NICs
    /// kernel addresses and makes its kernel route (`ringvs` must not run).
    pub fn kernel_director(&self) {
        let d = self.ns_director();
        ip(&[
            "-n",
            &d,
            "addr",
            "add",
            &format!("{EXT_ADDR}/24"),
            "dev",
            "ext0",
        ])
        .expect("ext addr");
        ip(&["-n", &d, "addr", "add", &format!("{DIP}/24"), "dev", "int0"]).expect("int addr");
        #[rustfmt::skip]
        ip(&["-n", &d, "route", "add", "198.19.1.0/24", "via", &ROUTER_INT.to_string()]).expect("far route");
        let mut kv = vec!["net.ipv4.ip_forward=1".to_owned()];
        for key in ["all", "default", "ext0", "int0"] {
            kv.push(format!("net.ipv4.conf.{key}.rp_filter=0"));
        }
        Self::sysctl(&d, &kv).expect("director sysctls");
        // The client finds the VIP at the director's MAC, as ringvs answers.
        let mac = fmt_mac(&self.mac(&d, "ext0"));
        #[rustfmt::skip]
        ip(&["-n", &self.ns_client(), "neigh", "replace", &VIP.to_string(), "lladdr", &mac, "dev", "c0", "nud", "permanent"])
            .expect("client neighbour for the VIP");
    }
}

/// How long nginx may live (`timeout`), past the longest measurement.
pub const NGINX_MAX_SECS: &str = "900";

/// The wrk measurement's programs (`apt-get install wrk nginx-light`); a
/// missing one fails it with that hint, under CI or not (it is run by hand).
pub fn require_wrk_and_nginx() {
    // `wrk -v` prints its version and exits 1: that it starts is enough.
    let starts = |program: &str| {
        std::process::Command::new(program)
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    let missing: Vec<&str> = ["wrk", "nginx"]
        .into_iter()
        .filter(|p| !starts(p))
        .collect();
    assert!(
        missing.is_empty(),
        "the wrk measurement needs {missing:?}, not found: apt-get install wrk nginx-light"
    );
}

/// nginx's configuration for real server `n` under `root`: one worker, no
/// access log, a fixed body (`i am rsN`), keep-alive for a million
/// requests, on RIP:80 (NAT) and VIP:80 (DR, TUN: the VIP is on `lo`).
fn nginx_conf(root: &Path, n: usize) -> String {
    let r = root.display();
    let (rip, name) = (rs_addr(n), rs_name(n));
    format!(
        "daemon off;\nmaster_process on;\nworker_processes 1;\nuser root;\n\
         pid {r}/nginx.pid;\nerror_log {r}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n\
         \x20 client_body_temp_path {r}/body;\n  proxy_temp_path {r}/proxy;\n\
         \x20 fastcgi_temp_path {r}/fastcgi;\n  uwsgi_temp_path {r}/uwsgi;\n\
         \x20 scgi_temp_path {r}/scgi;\n\
         \x20 keepalive_requests 1000000;\n  keepalive_timeout 60s;\n\
         \x20 server {{\n    listen {rip}:80 backlog=4096;\n    listen {VIP}:80 backlog=4096;\n\
         \x20   location / {{ default_type text/plain; return 200 \"{name}\\n\"; }}\n  }}\n}}\n"
    )
}

/// What one wrk run printed.
#[derive(Debug, Clone)]
pub struct WrkRun {
    pub requests: u64,
    /// wrk's own measured duration.
    pub secs: f64,
    /// wrk's `Requests/sec`.
    pub rps: f64,
    /// connect + read + write + timeout of `Socket errors` (0 when absent).
    pub socket_errors: u64,
    /// `Non-2xx or 3xx responses` (0 when absent).
    pub non_2xx: u64,
    /// The average latency as wrk wrote it (`1.23ms`).
    pub latency_avg: String,
    /// wrk's CPU time, user + system (the shell's `times`).
    pub cpu_secs: f64,
}

/// The children's user and system times of `times`'s output (its second
/// line, `0m1.230000s 0m0.450000s`), summed, in seconds.
fn times_children(text: &str) -> Option<f64> {
    let line = text.lines().rfind(|l| !l.trim().is_empty())?;
    let secs = |v: &str| -> Option<f64> {
        let (m, s) = v.strip_suffix('s')?.split_once('m')?;
        Some(m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
    };
    let mut words = line.split_whitespace();
    Some(secs(words.next()?)? + secs(words.next()?)?)
}

/// `5.00s`, `1.00m`, `900.00ms` in seconds.
fn wrk_secs(text: &str) -> Option<f64> {
    let text = text.trim_end_matches(',');
    if let Some(v) = text.strip_suffix("ms") {
        return Some(v.parse::<f64>().ok()? / 1000.0);
    }
    if let Some(v) = text.strip_suffix('s') {
        return v.parse().ok();
    }
    Some(text.strip_suffix('m')?.parse::<f64>().ok()? * 60.0)
}

/// The figures of wrk's report (`None` if a required line is missing).
pub fn parse_wrk(text: &str) -> Option<WrkRun> {
    let mut requests = None;
    let mut secs = None;
    let mut rps = None;
    let mut socket_errors = 0;
    let mut non_2xx = 0;
    let mut latency_avg = String::new();
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if line.contains(" requests in ") {
            requests = words.first()?.parse().ok();
            secs = wrk_secs(words.get(3)?);
        } else if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            socket_errors = v
                .split(',')
                .filter_map(|kv| kv.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx = v.trim().parse().ok()?;
        } else if words.first() == Some(&"Latency") {
            latency_avg = words.get(1)?.to_string();
        }
    }
    Some(WrkRun {
        requests: requests?,
        secs: secs?,
        rps: rps?,
        socket_errors,
        non_2xx,
        latency_avg,
        cpu_secs: 0.0,
    })
}

/// utime + stime of process `pid`, all its threads, in clock ticks
/// (`/proc/PID/stat`, fields 14 and 15).
pub fn cpu_ticks(pid: u32) -> u64 {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> u64 {
        fields
            .get(n - 3)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no field {n} in {path}: {stat}"))
    };
    field(14) + field(15)
}

/// Process `pid` and its descendants, as far as they are still there
/// (`/proc/PID/task/TID/children`).
pub fn with_descendants(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut at = 0;
    while at < all.len() {
        let p = all[at];
        at += 1;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children = std::fs::read_to_string(task.path().join("children"));
            let children = children.unwrap_or_default();
            all.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    all
}

/// Busy clock ticks of the whole machine, every CPU (`/proc/stat`'s `cpu`
/// line less idle and iowait).
pub fn machine_busy_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_else(|e| panic!("/proc/stat: {e}"));
    let line = stat.lines().find(|l| l.starts_with("cpu "));
    let v: Vec<u64> = line
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    assert!(v.len() >= 5, "no cpu line in /proc/stat: {stat}");
    // user nice system idle iowait irq softirq steal (guest is in user).
    v.iter().take(8).sum::<u64>() - v[3] - v[4]
}

/// Clock ticks a second (`getconf CLK_TCK`).
pub fn clk_tck() -> f64 {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("run getconf CLK_TCK");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("getconf CLK_TCK said {text:?}"))
}

impl DrLab {
    /// The process id of helper `name` (`ip netns exec` execs the program,
    /// so the director's is ringvs's own).
    pub fn pid(&self, name: &str) -> u32 {
        let child = self.children.iter().find(|(n, _)| n == name);
        child
            .map(|(_, c)| c.id())
            .unwrap_or_else(|| panic!("no helper {name}"))
    }

    /// Real servers `rss` route by default via `gw`: the router for DR and
    /// TUN, the DIP for NAT.
    pub fn set_rs_gateway(&self, rss: &[usize], gw: Ipv4Addr) {
        for &n in rss {
            let ns = self.ns_rs(n);
            #[rustfmt::skip]
            ip(&["-n", &ns, "route", "replace", "default", "via", &gw.to_string()])
                .unwrap_or_else(|e| panic!("default route of rs{n} via {gw}: {e}"));
        }
    }

    /// The client opens tens of thousands of connections a run when each
    /// request has its own: every port from 1024, and a port in TIME_WAIT
    /// reused after a second (`tcp_tw_reuse`; timestamps keep it safe).
    pub fn client_for_many_connections(&self) {
        let kv = [
            "net.ipv4.ip_local_port_range=1024 65535".to_owned(),
            "net.ipv4.tcp_tw_reuse=1".to_owned(),
        ];
        Self::sysctl(&self.ns_client(), &kv).expect("client sysctls");
    }

    /// Source ports of the client's sockets from window `round` (0..=13) of
    /// 2000 (`ip_local_port_range`), apart from every other window. A test
    /// that flushes the services (`-C`) and adds them again each round keeps
    /// the director's connections of earlier rounds (a UDP one 300 s): a new
    /// request from a port of an earlier round would belong to one of them
    /// (dropped for a removed server, or sent to its old real server), not be
    /// scheduled anew.
    pub fn client_ports(&self, round: usize) {
        assert!(round <= 13, "client port window {round}");
        let lo = 32768 + 2000 * round;
        let kv = [format!("net.ipv4.ip_local_port_range={lo} {}", lo + 1999)];
        Self::sysctl(&self.ns_client(), &kv).expect("client port range");
    }

    /// RPS on every receive queue of `ifname` in `ns`: the kernel's receive
    /// work for the frames sent into it runs on the CPUs of `mask` (hex).
    /// On a veth it would otherwise run in the sender's context, charged to
    /// the sending process.
    pub fn rps(&self, ns: &str, ifname: &str, mask: &str) {
        let script = format!(
            "for q in /sys/class/net/{ifname}/queues/rx-*; do echo {mask} > $q/rps_cpus; done"
        );
        lab::ns_run(ns, "sh", &["-c", &script])
            .unwrap_or_else(|e| panic!("rps_cpus {mask} on {ifname} in {ns}: {e}"));
    }

    /// Start nginx ([`nginx_conf`]) on real servers `rss`, each in its own
    /// directory under the lab's, bounded by [`NGINX_MAX_SECS`]; waits until
    /// each listens on RIP:80 and VIP:80.
    pub fn start_nginx(&mut self, rss: &[usize]) {
        for &n in rss {
            let root = self.dir.join(format!("nginx-rs{n}"));
            std::fs::create_dir_all(&root).expect("create nginx's directory");
            let conf = root.join("nginx.conf");
            std::fs::write(&conf, nginx_conf(&root, n)).expect("write nginx.conf");
            let (r, c) = (root.display().to_string(), conf.display().to_string());
            let err = root.join("startup.log").display().to_string();
            let ns = self.ns_rs(n);
            // Checked first, so that a bad configuration fails with nginx's words.
            if let Err(e) = lab::ns_run(&ns, "nginx", &["-t", "-q", "-p", &r, "-e", &err, "-c", &c])
            {
                panic!("nginx -t on rs{n}: {e}");
            }
            #[rustfmt::skip]
            let args = [NGINX_MAX_SECS, "nginx", "-p", &r, "-e", &err, "-c", &c];
            self.spawn(&format!("nginx-rs{n}"), &ns, "timeout", &args);
        }
        for &n in rss {
            let ns = self.ns_rs(n);
            let want = [format!("{}:80", rs_addr(n)), format!("{VIP}:80")];
            let up = wait_for(Duration::from_secs(5), || {
                let out = lab::ns_run(&ns, "ss", &["-Hltn"]).ok()?;
                let local: Vec<&str> = out
                    .lines()
                    .filter_map(|l| l.split_whitespace().nth(3))
                    .collect();
                want.iter()
                    .all(|w| local.contains(&w.as_str()))
                    .then_some(())
            });
            if up.is_none() {
                panic!(
                    "nginx on rs{n} does not listen on {want:?}: {}",
                    self.log(&format!("nginx-rs{n}"))
                );
            }
        }
    }

    /// `wrk -t1 -c CONNECTIONS -d SECS` to `http://VIP/` from the client,
    /// with `Connection: close` (a new connection a request) when `close`;
    /// bounded by `timeout`. Panics with wrk's output if it fails.
    /// wrk's CPU time comes from the shell's `times` after it.
    pub fn wrk(&self, connections: u32, secs: u32, close: bool) -> WrkRun {
        let url = format!("http://{VIP}/");
        let (c, d) = (connections.to_string(), format!("{secs}s"));
        let limit = (secs + 15).to_string();
        let script = r#"timeout "$0" wrk "$@"; r=$?; times >&2; exit $r"#;
        #[rustfmt::skip]
        let mut args = vec!["-c", script, limit.as_str(), "-t1", "-c", &c, "-d", &d, "--timeout", "2s"];
        if close {
            args.extend(["-H", "Connection: close"]);
        }
        args.push(&url);
        let out = ns_command(&self.ns_client(), Path::new("sh"), &args)
            .stdin(Stdio::null())
            .output()
            .expect("run wrk");
        let (text, err) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            out.status.success(),
            "wrk {:?}: {}\n{text}{err}",
            &args[2..],
            out.status
        );
        let mut run =
            parse_wrk(&text).unwrap_or_else(|| panic!("wrk's report not understood:\n{text}"));
        run.cpu_secs =
            times_children(&err).unwrap_or_else(|| panic!("no `times` after wrk: {err}"));
        run
    }

    /// CPU ticks (utime + stime) of helper `name` and its descendants
    /// (nginx's master and worker under `timeout`).
    pub fn helper_cpu_ticks(&self, name: &str) -> u64 {
        with_descendants(self.pid(name))
            .into_iter()
            .filter(|p| Path::new(&format!("/proc/{p}/stat")).exists())
            .map(cpu_ticks)
            .sum()
    }
}

impl Drop for DrLab {
    fn drop(&mut self) {
        // The director first, then the helpers (each asked, then killed).
        if let Some(at) = self.children.iter().position(|(n, _)| n == "director") {
            drop(self.children.remove(at));
        }
        self.children.clear();
        let _ = std::fs::remove_file(&self.control);
        while let Some(ns) = self.namespaces.pop() {
            if let Err(e) = kill_and_delete_ns(&ns) {
                eprintln!("dr lab: could not delete namespace {ns}: {e}");
            }
        }
        if std::env::var_os("RINGVS_DR_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("dr lab: kept {}", self.dir.display());
        }
    }
}

/// A running tcpdump writing a pcap file.
pub struct Capture {
    file: PathBuf,
    child: Option<Spawned>,
}

impl Capture {
    /// The frames captured so far.
    pub fn frames(&self) -> Vec<Vec<u8>> {
        let data = std::fs::read(&self.file).unwrap_or_default();
        parse_pcap(&data)
    }

    /// Waits (at most `limit`) until `done(frames)` holds, then stops the
    /// capture; all the frames it got.
    pub fn finish(mut self, limit: Duration, done: impl Fn(&[Vec<u8>]) -> bool) -> Vec<Vec<u8>> {
        let _ = wait_for(limit, || done(&self.frames()).then_some(()));
        self.child = None; // SIGTERM: tcpdump flushes and exits
        self.frames()
    }
}

/// The frames of a pcap file (either byte order, micro- or nanoseconds);
/// a truncated last record is left out.
pub fn parse_pcap(data: &[u8]) -> Vec<Vec<u8>> {
    let Some(magic) = data.get(..4) else {
        return Vec::new();
    };
    let le = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => return Vec::new(),
    };
    let u32_at = |at: usize| {
        let b: [u8; 4] = data[at..at + 4].try_into().unwrap_or_default();
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let len = u32_at(at + 8) as usize;
        let Some(frame) = data.get(at + 16..at + 16 + len) else {
            break;
        };
        frames.push(frame.to_vec());
        at += 16 + len;
    }
    frames
}

pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let parts: Vec<u8> = text
        .split(':')
        .map(|h| u8::from_str_radix(h, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    parts.try_into().ok()
}

pub fn fmt_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The Internet checksum of `data` (0 when `data` holds a correct one).
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet frame's parts this lab looks at.
#[derive(Debug, Clone)]
pub struct Eth<'a> {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub ethertype: u16,
    pub payload: &'a [u8],
}

pub fn eth(frame: &[u8]) -> Option<Eth<'_>> {
    Some(Eth {
        dst: frame.get(0..6)?.try_into().ok()?,
        src: frame.get(6..12)?.try_into().ok()?,
        ethertype: u16::from_be_bytes(frame.get(12..14)?.try_into().ok()?),
        payload: frame.get(14..)?,
    })
}

/// An IPv4 packet's header fields, checked for length.
#[derive(Debug, Clone)]
pub struct Ip4<'a> {
    /// The whole packet, header and payload (trailing Ethernet padding cut).
    pub packet: &'a [u8],
    pub ihl: usize,
    pub tos: u8,
    pub total_len: usize,
    pub df: bool,
    pub frag: u16,
    pub ttl: u8,
    pub proto: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// The header checksum verifies.
    pub csum_ok: bool,
    pub payload: &'a [u8],
}

pub fn ip4(data: &[u8]) -> Option<Ip4<'_>> {
    let b0 = *data.first()?;
    if b0 >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(b0 & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes(data.get(2..4)?.try_into().ok()?));
    if ihl < 20 || total_len < ihl || total_len > data.len() {
        return None;
    }
    let packet = &data[..total_len];
    let flags = u16::from_be_bytes([packet[6], packet[7]]);
    let addr =
        |at: usize| Ipv4Addr::new(packet[at], packet[at + 1], packet[at + 2], packet[at + 3]);
    Some(Ip4 {
        packet,
        ihl,
        tos: packet[1],
        total_len,
        df: flags & 0x4000 != 0,
        frag: flags & 0x3fff,
        ttl: packet[8],
        proto: packet[9],
        src: addr(12),
        dst: addr(16),
        csum_ok: checksum(&packet[..ihl]) == 0,
        payload: &packet[ihl..],
    })
}

/// The UDP checksum of `udp` (header and payload) from `src` to `dst` is
/// correct (a zero checksum is "none", and not correct here).
pub fn udp_csum_ok(src: Ipv4Addr, dst: Ipv4Addr, udp: &[u8]) -> bool {
    let mut pseudo = Vec::with_capacity(12 + udp.len());
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&(udp.len() as u16).to_be_bytes());
    pseudo.extend_from_slice(udp);
    udp.get(6..8) != Some(&[0, 0]) && checksum(&pseudo) == 0
}

/// A tunnel encapsulation as the contract of issue 14 has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tun {
    Ipip,
    /// GUE to this UDP port; `csum`: the UDP checksum is set (`--tun-csum`),
    /// else 0 (`--tun-nocsum`, the default).
    Gue {
        port: u16,
        csum: bool,
    },
    Gre,
}

impl Tun {
    /// Bytes the encapsulation adds before the inner packet.
    pub fn overhead(self) -> usize {
        match self {
            Tun::Ipip => 20,
            Tun::Gue { .. } => 20 + 8 + 4,
            Tun::Gre => 24,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Tun::Ipip => "ipip",
            Tun::Gue { .. } => "gue",
            Tun::Gre => "gre",
        }
    }
    /// `ringvs adm -a` options for a real server with this tunnel.
    pub fn adm_opts(self) -> Vec<String> {
        let mut v = vec![
            "-i".to_owned(),
            "--tun-type".to_owned(),
            self.name().to_owned(),
        ];
        if let Tun::Gue { port, csum } = self {
            v.extend(["--tun-port".to_owned(), port.to_string()]);
            v.push(if csum { "--tun-csum" } else { "--tun-nocsum" }.to_owned());
        }
        v
    }
    /// `tun_decap.py` options that receive this tunnel.
    pub fn decap_opts(self) -> Vec<String> {
        match self {
            Tun::Ipip => vec!["--ipip".into()],
            Tun::Gre => vec!["--gre".into()],
            Tun::Gue { port, .. } => vec!["--gue".into(), port.to_string()],
        }
    }
}

/// Checks one frame a director sent toward a tunnel real server: Ethernet
/// IPv4, outer IPv4 from `dip` to `rip` with a valid header checksum, no
/// options, not a fragment, DF as the inner packet's, the encapsulation
/// headers of `tun`, then an inner IPv4 packet from `client` to `vip` with a
/// valid header checksum filling the rest exactly. The inner packet, or what
/// is wrong.
pub fn check_tunnel_frame<'a>(
    frame: &'a [u8],
    tun: Tun,
    dip: Ipv4Addr,
    rip: Ipv4Addr,
    client: Ipv4Addr,
    vip: Ipv4Addr,
) -> Result<Ip4<'a>, String> {
    let e = eth(frame).ok_or("short frame")?;
    if e.ethertype != 0x0800 {
        return Err(format!("ethertype {:#06x}", e.ethertype));
    }
    let o = ip4(e.payload).ok_or("bad outer IPv4")?;
    if (o.src, o.dst) != (dip, rip) {
        return Err(format!(
            "outer {} -> {}, expected {dip} -> {rip}",
            o.src, o.dst
        ));
    }
    if !o.csum_ok {
        return Err("outer header checksum wrong".into());
    }
    if o.ihl != 20 || o.frag != 0 {
        return Err(format!("outer ihl {} frag {:#x}", o.ihl, o.frag));
    }
    let inner_bytes = match tun {
        Tun::Ipip => {
            if o.proto != 4 {
                return Err(format!("outer protocol {} for IPIP", o.proto));
            }
            o.payload
        }
        Tun::Gre => {
            if o.proto != 47 {
                return Err(format!("outer protocol {} for GRE", o.proto));
            }
            let h = o.payload.get(..4).ok_or("short GRE header")?;
            if h != [0, 0, 0x08, 0x00] {
                return Err(format!("GRE header {h:02x?}, expected 00 00 08 00"));
            }
            &o.payload[4..]
        }
        Tun::Gue { port, csum } => {
            if o.proto != 17 {
                return Err(format!("outer protocol {} for GUE", o.proto));
            }
            let u = o.payload;
            let h = u.get(..12).ok_or("short UDP/GUE header")?;
            let (sport, dport) = (
                u16::from_be_bytes([h[0], h[1]]),
                u16::from_be_bytes([h[2], h[3]]),
            );
            let (ulen, ucsum) = (
                usize::from(u16::from_be_bytes([h[4], h[5]])),
                u16::from_be_bytes([h[6], h[7]]),
            );
            if dport != port || sport == 0 {
                return Err(format!(
                    "UDP ports {sport} -> {dport}, expected * -> {port}"
                ));
            }
            if ulen != u.len() {
                return Err(format!("UDP length {ulen}, payload {}", u.len()));
            }
            match (csum, ucsum) {
                (false, 0) => {}
                (false, c) => return Err(format!("UDP checksum {c:#06x} with --tun-nocsum")),
                (true, _) if udp_csum_ok(o.src, o.dst, u) => {}
                (true, c) => return Err(format!("UDP checksum {c:#06x} wrong with --tun-csum")),
            }
            if h[8..12] != [0, 4, 0, 0] {
                return Err(format!(
                    "GUE header {:02x?}, expected 00 04 00 00",
                    &h[8..12]
                ));
            }
            &u[12..]
        }
    };
    let i = ip4(inner_bytes).ok_or("bad inner IPv4")?;
    if i.total_len != inner_bytes.len() {
        return Err(format!(
            "inner length {} in {} bytes",
            i.total_len,
            inner_bytes.len()
        ));
    }
    if o.total_len != i.total_len + tun.overhead() {
        return Err(format!(
            "outer length {} for inner {}",
            o.total_len, i.total_len
        ));
    }
    if (i.src, i.dst) != (client, vip) || !i.csum_ok {
        return Err(format!(
            "inner {} -> {} csum_ok {}",
            i.src, i.dst, i.csum_ok
        ));
    }
    if o.df != i.df {
        return Err(format!("outer DF {} but inner DF {}", o.df, i.df));
    }
    Ok(i)
}
