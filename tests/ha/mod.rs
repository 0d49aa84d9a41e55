//! An active/standby pair of ringvs directors driven by keepalived, in network
//! namespaces (issue 13), for `tests/ha_netns.rs`.
//!
//! `ringvs::lab::Lab` has one director; this builds two on shared segments:
//!
//! ```text
//!                    rv{tag}-sw: three bridges
//!  rv{tag}-cli      +--------------------------+      rv{tag}-rs1, -rs2
//!  c0 198.18.0.1 ---| brx (ext)    bri (int)   |--- eth0 198.19.0.(1+n)/24
//!                   |  |   |        |   |      |    default via 198.19.0.1
//!            +------|--+   |  +-----+   |      |
//!            |      |      |  |         |      |
//!  rv{tag}-dA: ext0 int0   |  |         |      |   (both directors: ext-addr
//!            sync0 ---+    |  |         |      |    198.18.0.2/24, DIP
//!  rv{tag}-dB: ext0 ---|---+  |  int0 --+      |    198.19.0.1/24, owned by
//!            sync0 ---+-------|--- brs (sync)  |    ringvs, no kernel address)
//!                   |         |        |       |
//!  rv{tag}-syn      |         +--------|-------|--- s0 198.19.200.9/24
//!                   +--------------------------+
//! ```
//!
//! * `sync0` is a kernel interface with an address (A 198.19.200.1, B .2):
//!   VRRP (keepalived) and the connection sync (224.0.0.81:8848) run over it.
//! * `rv{tag}-syn` is a third host on the sync link, for forged messages.
//! * Each director runs `ringvs run … --ha standby`, both sync daemons and
//!   `keepalived --vrrp` rendered from `tests/data/ha/keepalived.conf.in`;
//!   the notify script switches the role, the track script demotes a director
//!   whose ringvs is gone.
//! * The real servers run `tests/data/ha/http_server.py` (keep-alive, 60 s
//!   idle): the lab's server closes idle connections after 5 s, shorter than
//!   a takeover plus TCP's retransmission backoff.
//!
//! Every file the pair writes (rules, rendered configurations, the two scripts,
//! logs, pid files) is in `/run/ringvs-ha-{tag}/`. Dropping the [`Pair`] stops
//! its processes, deletes its namespaces and that directory, also on panic.
#![allow(dead_code)] // the tests use different subsets

use crate::nslab;
use ringvs::lab::{self, Spawned, ip, kill_and_delete_ns, ns_command};
use serde_json::Value;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `ringvs` binary under test.
pub const EXE: &str = env!("CARGO_BIN_EXE_ringvs");
/// The scripts and templates of this module.
pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ha");

/// The service's virtual IP (on the client's segment).
pub const VIP: Ipv4Addr = lab::VIP;
/// The client's address.
pub const CLIENT: Ipv4Addr = lab::CLIENT;
/// The DIP, the real servers' gateway: both directors' `--int-addr`.
pub const DIP: Ipv4Addr = lab::DIP;
/// The directors' address on the client segment (`--ext-addr`), shared too.
pub const EXT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The forging host's address on the sync link.
pub const FORGER: Ipv4Addr = Ipv4Addr::new(198, 19, 200, 9);
/// The sync daemons' syncid.
pub const SYNCID: u8 = 7;
/// IPVS's sync group and port (the defaults of `--start-daemon`).
pub const SYNC_GROUP: &str = "224.0.0.81";
pub const SYNC_PORT: u16 = 8848;
/// keepalived's `advert_int`, seconds.
pub const ADVERT_INT: u64 = 1;
/// keepalived's `preempt_delay`, seconds: time a restarted director has to
/// relearn the connections (from the active's master daemon) before it
/// takes the active role back.
pub const PREEMPT_DELAY: u64 = 8;
/// How long a started director gets to open its control socket.
pub const DIRECTOR_READY: Duration = Duration::from_secs(10);

/// Where `ringvs stats --json` keeps what these tests read (JSON pointers).
/// The names are fixed by the director side of issue 13: adapt them here only.
pub mod stat {
    /// The role, `"active"` or `"standby"`.
    pub const ROLE: &str = "/role";
    /// The sync daemons' counters; those named `drop_REASON` are the
    /// messages or entries received and dropped, by reason: their sum must
    /// grow by one per forged or malformed message.
    pub const SYNC_COUNTERS: &str = "/sync/counters";
}

/// One of the two directors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The preferred director (keepalived priority 150).
    A,
    /// The other one (priority 100).
    B,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::A => "A",
            Side::B => "B",
        }
    }
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
    fn priority(self) -> u32 {
        match self {
            Side::A => 150,
            Side::B => 100,
        }
    }
    /// Its kernel address on the sync link.
    pub fn sync_addr(self) -> Ipv4Addr {
        match self {
            Side::A => Ipv4Addr::new(198, 19, 200, 1),
            Side::B => Ipv4Addr::new(198, 19, 200, 2),
        }
    }
}

/// Seconds since the epoch (the clock the scripts' lines use too).
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub use ringvs::lab::wait_for;

/// One pair test at a time in this process: the takeover times are measured
/// and the machine has two cores.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A line the notify script wrote: `START EVENT ROLE rc=N`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notify {
    /// When the script started (before `ringvs adm --ha`), epoch seconds.
    pub at: f64,
    /// keepalived's event: master, backup, fault, stop or
    /// master_rx_lower_pri.
    pub event: String,
    /// `ringvs adm --ha`'s exit code.
    pub rc: i32,
}

/// Lines a process printed, each with the time it was read.
pub type Lines = Arc<Mutex<Vec<(f64, String)>>>;

/// A snapshot of `lines`.
pub fn lines_of(lines: &Lines) -> Vec<(f64, String)> {
    lines.lock().map(|l| l.clone()).unwrap_or_default()
}

/// Two directors, keepalived, a client and real servers (module docs).
pub struct Pair {
    tag: String,
    namespaces: Vec<String>,
    /// Processes, each with the director it belongs to (none: clients, servers).
    children: Vec<(Option<Side>, Spawned)>,
    dir: PathBuf,
    /// The directors get IPv6 addresses too ([`Pair::add_ipv6`]).
    ipv6: bool,
    /// The directors' service NICs have two queues each and the directors
    /// run `--io xdp` ([`Pair::build_xdp`]); else AF_PACKET.
    xdp: bool,
    /// More `ringvs run` options, for both directors started after they
    /// are set.
    pub run_args: Vec<String>,
}

impl Pair {
    /// Build the namespaces, links and addresses under `tag` (see
    /// `Lab::unique_tag`) and the directory of the pair's files. Panics,
    /// naming the step, if one fails (what was made is removed).
    pub fn build(tag: &str) -> Pair {
        Self::build_io(tag, false)
    }

    /// [`Pair::build`] with the directors on AF_XDP: `--io xdp` with their
    /// two workers each on one queue of two-queue `ext0` and `int0`.
    pub fn build_xdp(tag: &str) -> Pair {
        Self::build_io(tag, true)
    }

    fn build_io(tag: &str, xdp: bool) -> Pair {
        let dir = PathBuf::from(format!("/run/ringvs-ha-{tag}"));
        let mut pair = Pair {
            tag: tag.to_owned(),
            namespaces: Vec::new(),
            children: Vec::new(),
            dir,
            ipv6: false,
            xdp,
            run_args: Vec::new(),
        };
        fs::create_dir_all(&pair.dir).expect("create the pair's directory");
        for script in ["notify.sh", "check.sh"] {
            let to = pair.dir.join(script);
            fs::copy(Path::new(DATA).join(script), &to).expect("copy a keepalived script");
            // keepalived's script security wants root-owned, not world-writable.
            set_mode(&to, 0o755);
        }
        pair.populate().expect("build the pair's namespaces");
        pair
    }

    fn ns(&self, name: &str) -> String {
        format!("rv{}-{name}", self.tag)
    }
    /// The client's namespace.
    pub fn ns_client(&self) -> String {
        self.ns("cli")
    }
    /// Director `side`'s namespace.
    pub fn ns_director(&self, side: Side) -> String {
        self.ns(&format!("d{}", side.name()))
    }
    /// Real server `n`'s namespace (1-based).
    pub fn ns_rs(&self, n: usize) -> String {
        self.ns(&format!("rs{n}"))
    }
    /// The switch's namespace (the three bridges and their ports).
    pub fn ns_switch(&self) -> String {
        self.ns("sw")
    }
    /// The forging host's namespace, on the sync link.
    pub fn ns_forger(&self) -> String {
        self.ns("syn")
    }
    /// The switch port facing director `side`'s `ext0` or `int0` (`nic`
    /// "x" or "i"): a capture there sees what the director puts on the wire.
    pub fn switch_port(&self, side: Side, nic: &str) -> String {
        format!("p{}{nic}", side.name())
    }
    /// Director `side`'s control socket.
    pub fn control(&self, side: Side) -> PathBuf {
        self.dir.join(format!("ringvs-{}.sock", side.name()))
    }
    /// The pair's directory (logs of ringvs and keepalived are there).
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
        self.plug_queues(ns, ifname, port, br, 1)
    }

    fn plug_queues(
        &self,
        ns: &str,
        ifname: &str,
        port: &str,
        br: &str,
        queues: u32,
    ) -> Result<(), lab::LabError> {
        let sw = self.ns_switch();
        let off = ["gro", "gso", "tso"];
        lab::plug_veth_queues((ns, ifname), (&sw, port, br), &off, queues)
    }

    fn populate(&mut self) -> Result<(), lab::LabError> {
        let sw = self.add_ns("sw")?;
        for br in ["brx", "bri", "brs"] {
            lab::add_bridge(&sw, br)?;
        }
        let cli = self.add_ns("cli")?;
        self.plug(&cli, "c0", "pcli", "brx")?;
        ip(&["-n", &cli, "addr", "add", lab::CLIENT_CIDR, "dev", "c0"])?;
        for side in [Side::A, Side::B] {
            let d = self.add_ns(&format!("d{}", side.name()))?;
            let queues = if self.xdp { 2 } else { 1 };
            self.plug_queues(&d, "ext0", &self.switch_port(side, "x"), "brx", queues)?;
            self.plug_queues(&d, "int0", &self.switch_port(side, "i"), "bri", queues)?;
            self.plug(&d, "sync0", &self.switch_port(side, "s"), "brs")?;
            let cidr = format!("{}/24", side.sync_addr());
            ip(&["-n", &d, "addr", "add", &cidr, "dev", "sync0"])?;
        }
        let dip = DIP.to_string();
        for n in 1..=2 {
            let rs = self.add_ns(&format!("rs{n}"))?;
            self.plug(&rs, "eth0", &format!("prs{n}"), "bri")?;
            let cidr = format!("{}/24", lab::rs_addr(n));
            ip(&["-n", &rs, "addr", "add", &cidr, "dev", "eth0"])?;
            ip(&["-n", &rs, "route", "add", "default", "via", &dip])?;
        }
        let syn = self.add_ns("syn")?;
        self.plug(&syn, "s0", "psyn", "brs")?;
        let cidr = format!("{FORGER}/24");
        ip(&["-n", &syn, "addr", "add", &cidr, "dev", "s0"]).map(drop)
    }

    /// IPv6 beside IPv4, on the lab's IPv6 plan (`ringvs::lab::ipv6`): the
    /// client and real servers get their addresses (the real servers a
    /// default route via the DIP6), the directors started after this their
    /// IPv6 `--ext-addr` and `--int-addr`. The bridges stop snooping
    /// multicast, so that a solicitation for the VIP6 reaches the directors
    /// (ringvs sends no MLD report).
    pub fn add_ipv6(&mut self) {
        let sw = self.ns_switch();
        for br in ["brx", "bri"] {
            #[rustfmt::skip]
            ip(&["-n", &sw, "link", "set", br, "type", "bridge", "mcast_snooping", "0"])
                .expect("bridge without snooping");
        }
        lab::add_addr6(&self.ns_client(), "c0", lab::CLIENT6_CIDR).expect("client IPv6");
        for n in 1..=2 {
            let (rs, cidr) = (self.ns_rs(n), format!("{}/64", lab::rs_addr6(n)));
            lab::add_addr6(&rs, "eth0", &cidr).expect("real server IPv6");
            lab::default_route6(&rs, lab::DIP6, "eth0").expect("real server IPv6 route");
        }
        self.ipv6 = true;
    }

    /// The MAC address of `ifname` in `ns`.
    pub fn mac(&self, ns: &str, ifname: &str) -> String {
        let out = ip(&["-n", ns, "-br", "link", "show", ifname]).expect("ip link show");
        out.split_whitespace()
            .nth(2)
            .unwrap_or_else(|| panic!("no MAC in {out:?}"))
            .to_owned()
    }

    /// The MAC `ns`'s kernel has for `addr` (`ip neigh`), if any.
    pub fn neighbour(&self, ns: &str, addr: Ipv4Addr) -> Option<String> {
        let out = ip(&["-n", ns, "neigh", "show", &addr.to_string()]).ok()?;
        let words: Vec<&str> = out.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "lladdr")?;
        words.get(at + 1).map(|m| m.to_string())
    }

    fn spawn(&mut self, owner: Option<Side>, mut cmd: Command, log: Option<&str>) -> u32 {
        cmd.stdin(Stdio::null());
        if let Some(name) = log {
            let f = fs::File::options()
                .create(true)
                .append(true)
                .open(self.dir.join(name))
                .expect("open a log file");
            let g = f.try_clone().expect("clone a log file");
            cmd.stdout(f).stderr(g);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let pid = child.id();
        self.children.push((owner, Spawned(child)));
        pid
    }

    /// Start `exe ARGS` in `ns` (a server: stopped with the pair), its
    /// output in the pair's file `log`.
    pub fn spawn_in(&mut self, ns: &str, exe: &str, args: &[&str], log: &str) {
        let cmd = ns_command(ns, Path::new(exe), args);
        self.spawn(None, cmd, Some(log));
    }

    /// Start `python3 SCRIPT ARGS` (a file of `tests/data/ha`) in `ns`; its
    /// standard output is collected line by line with the time each arrived.
    pub fn spawn_python(&mut self, ns: &str, script: &str, args: &[&str]) -> Lines {
        use std::io::BufRead;
        let path = Path::new(DATA).join(script);
        let path = path.display().to_string();
        let mut all = vec!["-u", path.as_str()];
        all.extend_from_slice(args);
        let mut cmd = ns_command(ns, Path::new("python3"), &all);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {script}: {e}"));
        let out = child.stdout.take().expect("piped stdout");
        self.children.push((None, Spawned(child)));
        let lines: Lines = Default::default();
        let l = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut v) = l.lock() {
                    v.push((now(), line));
                }
            }
        });
        lines
    }

    /// Run `python3 SCRIPT ARGS` in `ns` to completion; its standard output.
    pub fn run_python(&self, ns: &str, script: &str, args: &[&str]) -> String {
        let path = Path::new(DATA).join(script);
        let path = path.display().to_string();
        let mut all = vec!["-u", path.as_str()];
        all.extend_from_slice(args);
        let out = ns_command(ns, Path::new("python3"), &all)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {script}: {e}"));
        assert!(
            out.status.success(),
            "{script} {args:?} in {ns}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Start the keep-alive HTTP server (`i am rsN`) on port 80 of both real
    /// servers and wait until they listen.
    pub fn start_http_servers(&mut self) {
        self.start_http_servers_on("0.0.0.0");
    }

    /// [`Pair::start_http_servers`] on IPv6 (`[::]:80`, IPv4 too).
    pub fn start_http_servers6(&mut self) {
        self.start_http_servers_on("::");
    }

    fn start_http_servers_on(&mut self, bind: &str) {
        for n in 1..=2 {
            let (ns, body) = (self.ns_rs(n), format!("i am rs{n}"));
            let script = Path::new(DATA).join("http_server.py");
            let script = script.display().to_string();
            let args = [script.as_str(), "80", &body, "600", bind];
            let cmd = ns_command(&ns, Path::new("python3"), &args);
            self.spawn(None, cmd, Some(&format!("http-rs{n}.log")));
        }
        for n in 1..=2 {
            let ns = self.ns_rs(n);
            let up = wait_for(Duration::from_secs(5), || {
                lab::listens_on(&ns, 80).ok()?.then_some(())
            });
            assert!(up.is_some(), "no HTTP server on port 80 in {ns}");
        }
    }

    /// Start director `side`: `ringvs run … --ha standby` with its rules
    /// from the `virtual_server` block of the keepalived.conf its keepalived
    /// reads (`--keepalived`), wait for its control socket, then start its
    /// master and backup sync daemons on `sync0`.
    pub fn start_director(&mut self, side: Side) {
        let name = side.name();
        let rules_file = self.write_keepalived_conf(side);
        let control = self.control(side);
        let _ = fs::remove_file(&control);
        let (control_s, rules_s) = (
            control.display().to_string(),
            rules_file.display().to_string(),
        );
        #[rustfmt::skip]
        let args = [
            "run", "--ext", "ext0", "--ext-addr", lab::EXT_ADDR_CIDR,
            "--int", "int0", "--int-addr", lab::INT_ADDR_CIDR,
            "--control", &control_s, "--keepalived", &rules_s, "--workers", "2",
            "--ha", "standby",
        ];
        let mut args = args.to_vec();
        if self.xdp {
            args.extend(["--io", "xdp"]);
        }
        if self.ipv6 {
            #[rustfmt::skip]
            args.extend(["--ext-addr", lab::EXT_ADDR6_CIDR, "--int-addr", lab::INT_ADDR6_CIDR]);
        }
        args.extend(self.run_args.iter().map(String::as_str));
        let cmd = ns_command(&self.ns_director(side), Path::new(EXE), &args);
        self.spawn(Some(side), cmd, Some(&format!("ringvs-{name}.log")));
        let at = self.children.len() - 1;
        let ready = wait_for(DIRECTOR_READY, || {
            if let Ok(Some(status)) = self.children[at].1.0.try_wait() {
                return Some(Err(status));
            }
            std::os::unix::net::UnixStream::connect(&control)
                .ok()
                .map(|_| Ok(()))
        });
        if ready != Some(Ok(())) {
            panic!(
                "director {name}: no control socket after {DIRECTOR_READY:?} ({ready:?}); its log:\n{}",
                self.log(&format!("ringvs-{name}.log"))
            );
        }
        let syncid = SYNCID.to_string();
        for role in ["master", "backup"] {
            #[rustfmt::skip]
            nslab::adm(&control, &[
                "--start-daemon", role, "--mcast-interface", "sync0", "--syncid", &syncid,
            ]);
        }
    }

    /// Render `keepalived.conf.in` for `side` (see the template's header).
    pub fn keepalived_conf(&self, side: Side) -> String {
        let template = fs::read_to_string(Path::new(DATA).join("keepalived.conf.in"))
            .expect("read keepalived.conf.in");
        let name = side.name();
        let vars: [(&str, String); 17] = [
            ("ROUTER_ID", format!("ringvs_{}_{name}", self.tag)),
            ("PRIORITY", side.priority().to_string()),
            ("SYNC_IF", "sync0".into()),
            ("EXT_IF", "ext0".into()),
            ("INT_IF", "int0".into()),
            ("VRID_EXT", "51".into()),
            ("VRID_INT", "52".into()),
            ("ADVERT_INT", ADVERT_INT.to_string()),
            ("PREEMPT_DELAY", PREEMPT_DELAY.to_string()),
            ("CHECK", self.dir.join("check.sh").display().to_string()),
            ("NOTIFY", self.dir.join("notify.sh").display().to_string()),
            ("RINGVS", EXE.into()),
            ("CONTROL", self.control(side).display().to_string()),
            ("LOG", self.notify_log_path(side).display().to_string()),
            ("VIP", lab::VIP.to_string()),
            ("RS1", lab::rs_addr(1).to_string()),
            ("RS2", lab::rs_addr(2).to_string()),
        ];
        let mut conf = template;
        for (k, v) in vars {
            conf = conf.replace(&format!("{{{{{k}}}}}"), &v);
        }
        assert!(!conf.contains("{{"), "unrendered placeholder in:\n{conf}");
        conf
    }

    fn notify_log_path(&self, side: Side) -> PathBuf {
        self.dir.join(format!("notify-{}.log", side.name()))
    }

    /// Write director `side`'s keepalived.conf; returns its path.
    fn write_keepalived_conf(&self, side: Side) -> PathBuf {
        let conf = self.dir.join(format!("keepalived-{}.conf", side.name()));
        fs::write(&conf, self.keepalived_conf(side)).expect("write keepalived.conf");
        conf
    }

    /// Start keepalived (VRRP only) in director `side`'s namespace, on the
    /// same keepalived.conf its ringvs read.
    pub fn start_keepalived(&mut self, side: Side) {
        let name = side.name();
        let conf = self.write_keepalived_conf(side);
        let pid = |what: &str| {
            self.dir
                .join(format!("keepalived-{name}{what}.pid"))
                .display()
                .to_string()
        };
        let (main_pid, vrrp_pid) = (pid(""), pid("-vrrp"));
        let conf_s = conf.display().to_string();
        #[rustfmt::skip]
        let args = ["-n", "-l", "-D", "--vrrp", "-f", &conf_s, "-p", &main_pid, "-r", &vrrp_pid];
        let cmd = ns_command(&self.ns_director(side), Path::new("keepalived"), &args);
        self.spawn(Some(side), cmd, Some(&format!("keepalived-{name}.log")));
    }

    /// SIGKILL every process in director `side`'s namespace (its ringvs and its
    /// keepalived with keepalived's VRRP child): a crash, no goodbye advert.
    /// Returns when it was done (epoch seconds) and how many died.
    pub fn crash(&mut self, side: Side) -> (f64, usize) {
        let ns = self.ns_director(side);
        let pids = ip(&["netns", "pids", &ns]).unwrap_or_default();
        let pids: Vec<&str> = pids.split_whitespace().collect();
        let at = now();
        if !pids.is_empty() {
            let _ = Command::new("kill").arg("-KILL").args(&pids).status();
        }
        // Reap the director's processes we started: a zombie keeps its pid,
        // and a restarted keepalived would take its pid file's pid for a
        // running daemon ("daemon is already running").
        for (s, child) in &mut self.children {
            if *s == Some(side) {
                let _ = child.0.wait();
            }
        }
        (at, pids.len())
    }

    /// SIGKILL director `side`'s ringvs only (keepalived stays). Returns when.
    pub fn kill_ringvs(&mut self, side: Side) -> f64 {
        let ns = self.ns_director(side);
        let out = ip(&["netns", "pids", &ns]).unwrap_or_default();
        let ringvs: Vec<&str> = out
            .split_whitespace()
            .filter(|pid| {
                fs::read_link(format!("/proc/{pid}/exe"))
                    .is_ok_and(|exe| exe.file_name() == Path::new(EXE).file_name())
            })
            .collect();
        assert_eq!(ringvs.len(), 1, "one ringvs in {ns}, found {ringvs:?}");
        let at = now();
        let _ = Command::new("kill").args(["-KILL", ringvs[0]]).status();
        at
    }

    /// Cut director `side` off the sync link (VRRP and connection sync):
    /// its switch port leaves the bridge, while both ends of the veth keep
    /// their carrier, so no tracked interface goes down and each director
    /// only stops hearing the other, as with a failed switch between them.
    pub fn cut_sync(&self, side: Side) {
        let port = self.switch_port(side, "s");
        ip(&["-n", &self.ns_switch(), "link", "set", &port, "nomaster"])
            .expect("cut the sync link");
    }

    /// Put director `side` back on the sync link ([`Pair::cut_sync`]).
    pub fn restore_sync(&self, side: Side) {
        let port = self.switch_port(side, "s");
        #[rustfmt::skip]
        ip(&["-n", &self.ns_switch(), "link", "set", &port, "master", "brs"])
            .expect("restore the sync link");
    }

    /// The notify script's lines for director `side`, in order.
    pub fn notifications(&self, side: Side) -> Vec<Notify> {
        let text = fs::read_to_string(self.notify_log_path(side)).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                Some(Notify {
                    at: w.first()?.parse().ok()?,
                    event: w.get(1)?.to_string(),
                    rc: w.get(3)?.strip_prefix("rc=")?.parse().ok()?,
                })
            })
            .collect()
    }

    /// Waits (at most `limit`) for `side`'s notify script to run for `event`
    /// at or after `since`; the notification.
    pub fn wait_notify(&self, side: Side, event: &str, since: f64, limit: Duration) -> Notify {
        wait_for(limit, || {
            self.notifications(side)
                .into_iter()
                .find(|n| n.event == event && n.at >= since)
        })
        .unwrap_or_else(|| {
            panic!(
                "director {}: no notify {event} within {limit:?}; notifications {:?}\n\
                 keepalived's log:\n{}",
                side.name(),
                self.notifications(side),
                self.log(&format!("keepalived-{}.log", side.name()))
            )
        })
    }

    /// The tail of a log file of the pair's directory (for failure messages).
    pub fn log(&self, name: &str) -> String {
        let text = fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Start both directors (standby), then A's keepalived; once A is master
    /// (active), B's. Returns when both roles are as expected.
    pub fn start_both(&mut self) {
        self.start_director(Side::A);
        self.start_director(Side::B);
        let t0 = now();
        self.start_keepalived(Side::A);
        let limit = Duration::from_secs(3 * ADVERT_INT + 5);
        let a = self.wait_notify(Side::A, "master", t0, limit);
        assert_eq!(a.rc, 0, "ringvs adm --ha active on A failed");
        let t1 = now();
        self.start_keepalived(Side::B);
        let b = self.wait_notify(Side::B, "backup", t1, limit);
        assert_eq!(b.rc, 0, "ringvs adm --ha standby on B failed");
        assert_eq!(role(&nslab::stats(&self.control(Side::A))), "active");
        assert_eq!(role(&nslab::stats(&self.control(Side::B))), "standby");
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

impl Drop for Pair {
    fn drop(&mut self) {
        // The directors' processes (ringvs, keepalived) first, then clients and
        // servers; each is asked to stop (SIGTERM), then killed, and reaped.
        let (directors, rest): (Vec<_>, Vec<_>) = self
            .children
            .drain(..)
            .partition(|(side, _)| side.is_some());
        drop(directors);
        drop(rest);
        while let Some(ns) = self.namespaces.pop() {
            if let Err(e) = kill_and_delete_ns(&ns) {
                eprintln!("ha pair: could not delete namespace {ns}: {e}");
            }
        }
        if std::env::var_os("RINGVS_HA_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("ha pair: kept {}", self.dir.display());
        }
    }
}

/// A number of `ringvs stats --json` at a JSON pointer of [`stat`].
pub fn stat_u64(s: &Value, pointer: &str) -> u64 {
    s.pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("stats --json has no number at {pointer}: {s}"))
}

/// The role `ringvs stats --json` reports.
pub fn role(s: &Value) -> String {
    s.pointer(stat::ROLE)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("stats --json has no role at {}: {s}", stat::ROLE))
        .to_owned()
}

/// Sync messages and entries dropped, all reasons (the `drop_*` counters at
/// [`stat::SYNC_COUNTERS`]).
pub fn sync_drops(s: &Value) -> u64 {
    s.pointer(stat::SYNC_COUNTERS)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with("drop_"))
                .filter_map(|(_, v)| v.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

/// The client ports of `client`'s connections that `-L -n -c` lists.
pub fn listed_client_ports(control: &Path, client: Ipv4Addr) -> Vec<u16> {
    listed_ports(control, format!("{client}:"))
}

/// [`listed_client_ports`] of an IPv6 client (listed as `[ADDR]:PORT`).
pub fn listed_client_ports6(control: &Path, client: std::net::Ipv6Addr) -> Vec<u16> {
    listed_ports(control, format!("[{client}]:"))
}

fn listed_ports(control: &Path, prefix: String) -> Vec<u16> {
    nslab::adm(control, &["-L", "-n", "-c"])
        .lines()
        .flat_map(|l| l.split_whitespace())
        .filter_map(|w| w.strip_prefix(&prefix)?.parse().ok())
        .collect()
}

/// `count` HTTP/1.0 requests to `addr` from `ns`, each on a new connection
/// (`ringvs http-get`): the bodies, one a line.
pub fn http_bodies(ns: &str, addr: &str, count: usize) -> Vec<String> {
    let out = ns_command(
        ns,
        Path::new(EXE),
        &["http-get", addr, "--count", &count.to_string()],
    )
    .stdin(Stdio::null())
    .output()
    .expect("run ringvs http-get");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
