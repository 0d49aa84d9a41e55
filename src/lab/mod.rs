//! A throw-away LVS-NAT test bench in network namespaces.
//!
//! [`Lab::build`] creates five (or more) namespaces, all named `rv{tag}-…` so
//! that two labs with different tags can coexist on one host:
//!
//! ```text
//!  rv{tag}-cli          rv{tag}-dir  (ringvs runs here)        rv{tag}-sw
//! +------------+       +-----------------------------+       +--------------+
//! | c0         | veth  | ext0                   int0 | veth  | d0           |
//! | 198.18.0.1 |-------| no kernel IPv4; ringvs owns |-------|  |           |
//! |   /24      |       | both NICs via AF_PACKET and |       | br0 (bridge) |
//! +------------+       | plays VIP 198.18.0.110 and  |       |  |       |   |
//!                      | DIP 198.19.0.1 itself       |       | rs1     rs2  |
//!                      +-----------------------------+       +--|-------|---+
//!                                                          veth |  veth |
//!            rv{tag}-rs1 +------------------------+             |       |
//!                        | eth0 198.19.0.2/24     |-------------+       |
//!                        | default via 198.19.0.1 |                     |
//!                        +------------------------+                     |
//!            rv{tag}-rs2 +------------------------+                     |
//!                        | eth0 198.19.0.3/24     |---------------------+
//!                        | default via 198.19.0.1 |    (rsN: 198.19.0.(1+N))
//!                        +------------------------+
//! ```
//!
//! * The client reaches the VIP on-link (198.18.0.0/24), so it ARPs for it:
//!   the director must answer ARP on `ext0` itself.
//! * The director's kernel has no IPv4 address and IPv6 is disabled, so it
//!   stays silent; only the ringvs process talks on `ext0`/`int0`.
//! * The switch is a plain Linux bridge with STP off and `forward_delay 0`
//!   (forwards at once). Its ageing time is left at the default: ageing 0
//!   would turn it into a hub that floods every frame to the director.
//! * Every veth end has GRO/GSO/TSO off (no super-frames). TX checksum
//!   offload stays on for the client's `c0` and the real servers' `eth0`
//!   unless [`LabOptions`] says otherwise, so the director sees frames with
//!   partial checksums, as on real veth traffic.
//! * IPv6 is disabled in every namespace to keep the wire quiet.
//!
//! Every namespace (hence every veth) is deleted when the [`Lab`] is dropped,
//! after the processes started through [`Lab::spawn_in`] are killed.
//! All addresses are in 198.18.0.0/15 (RFC 2544 benchmarking space).

pub mod http;

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The virtual IP the client connects to (on the client's subnet).
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 110);
/// The client's address, on `c0`.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The director's address on the real servers' subnet (their gateway).
pub const DIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// The director's external address; used by ringvs only, never configured
/// in the kernel.
pub const EXT_ADDR_CIDR: &str = "198.18.0.2/24";
/// The director's internal address (the DIP with its prefix); used by ringvs
/// only, never configured in the kernel.
pub const INT_ADDR_CIDR: &str = "198.19.0.1/24";
/// The client's address with its prefix, as configured on `c0`.
pub const CLIENT_CIDR: &str = "198.18.0.1/24";

/// The most real servers a lab can have (addresses 198.19.0.2 ..= .201).
pub const MAX_REAL_SERVERS: usize = 200;
/// The most queues [`LabOptions::queues`] gives a veth.
pub const MAX_QUEUES: usize = 16;
/// The longest tag accepted: `rv{tag}-rs200` must stay a short name.
pub const MAX_TAG_LEN: usize = 8;
/// How long [`Lab::start_http_servers`] waits for port 80 to listen.
pub const HTTP_READY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a spawned process gets to exit after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// How long [`Lab::start_director`] waits for the control socket.
pub const DIRECTOR_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Address of real server `n` (1-based): 198.19.0.(1 + n).
///
/// `n` must be in `1..=MAX_REAL_SERVERS`; other values are clamped into it.
pub fn rs_addr(n: usize) -> Ipv4Addr {
    let n = n.clamp(1, MAX_REAL_SERVERS);
    // n <= 200, so 1 + n fits in a u8.
    Ipv4Addr::new(198, 19, 0, 1 + n as u8)
}

/// Errors while building, using or tearing down a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(
        "invalid lab tag {tag:?}: {reason} (use 1..={MAX_TAG_LEN} ASCII letters/digits, e.g. Lab::unique_tag())"
    )]
    InvalidTag { tag: String, reason: &'static str },
    #[error("invalid lab options: {0}")]
    InvalidOptions(String),
    #[error("could not run `{cmd}`: {source} (is iproute2/ethtool installed and in PATH?)")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "`{cmd}` failed ({status}): {stderr} (the lab needs root and `ip netns`; \
         leftovers of an earlier run can be removed with Lab::cleanup_stale)"
    )]
    Command {
        cmd: String,
        status: ExitStatus,
        stderr: String,
    },
    #[error("`{cmd}` exited early ({status}) before becoming ready")]
    ExitedEarly { cmd: String, status: ExitStatus },
    #[error("{what} was not ready after {waited:?}")]
    NotReady { what: String, waited: Duration },
}

/// Knobs for [`Lab::build_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabOptions {
    /// Keep TX checksum offload on the client's `c0` (frames reach the
    /// director with partial checksums). Default `true`.
    pub client_tx_csum: bool,
    /// Keep TX checksum offload on the real servers' `eth0`. Default `true`.
    pub rs_tx_csum: bool,
    /// Number of real servers, `1..=MAX_REAL_SERVERS`. Default 2.
    pub n_real_servers: usize,
    /// RX and TX queues of the director's two veths and their peers (`c0`,
    /// `d0`), `1..=MAX_QUEUES`, for multi-queue AF_XDP. A frame lands on the RX
    /// queue numbered like the peer's TX queue it was sent from. Default 1.
    pub queues: usize,
}

impl Default for LabOptions {
    fn default() -> Self {
        Self {
            client_tx_csum: true,
            rs_tx_csum: true,
            n_real_servers: 2,
            queues: 1,
        }
    }
}

/// A child process that is killed and reaped when dropped.
#[derive(Debug)]
pub struct Spawned(pub Child);

impl Spawned {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // Ask politely first (a director removes its control socket on SIGTERM),
        // then kill. Errors mean the child is already gone; nothing more to do.
        let asked = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if asked {
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `ip netns exec NS PROGRAM ARGS...`
pub fn ns_command(ns: &str, program: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).arg(program).args(args);
    cmd
}

/// Render a command line for error messages.
fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let _ = write!(s, " {}", a.to_string_lossy());
    }
    s
}

/// Run `cmd` to completion; a non-zero exit is an error carrying stderr.
fn run_cmd(mut cmd: Command) -> Result<Output, LabError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LabError::Spawn {
            cmd: describe(&cmd),
            source,
        })?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(LabError::Command {
            cmd: describe(&cmd),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Run `ip ARGS...`, returning its stdout.
pub fn ip(args: &[&str]) -> Result<String, LabError> {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    Ok(String::from_utf8_lossy(&run_cmd(cmd)?.stdout).into_owned())
}

/// Run `ip netns exec NS PROGRAM ARGS...`, returning its stdout.
pub fn ns_run(ns: &str, program: &str, args: &[&str]) -> Result<String, LabError> {
    let out = run_cmd(ns_command(ns, Path::new(program), args))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A new host namespace for a multi-namespace test lab: IPv6 off (no
/// router solicitations or DAD on the wire), loopback up.
pub fn add_host_ns(ns: &str) -> Result<(), LabError> {
    ip(&["netns", "add", ns])?;
    for key in ["all", "default"] {
        let kv = format!("net.ipv6.conf.{key}.disable_ipv6=1");
        ns_run(ns, "sysctl", &["-qw", &kv])?;
    }
    ip(&["-n", ns, "link", "set", "lo", "up"])?;
    Ok(())
}

/// A bridge `br` in the switch namespace `sw`: no STP, no forwarding delay.
pub fn add_bridge(sw: &str, br: &str) -> Result<(), LabError> {
    #[rustfmt::skip]
    ip(&["-n", sw, "link", "add", br, "type", "bridge", "stp_state", "0", "forward_delay", "0"])?;
    ip(&["-n", sw, "link", "set", br, "up"])?;
    Ok(())
}

/// A veth from `ifname` in `ns` to port `port` of bridge `br` in the switch
/// namespace `sw`, both ends up, with the `ethtool -K` features in `off`
/// turned off on both (offloads that would hide the frames' real sizes or
/// checksums from the director and the captures).
pub fn plug_veth(
    (ns, ifname): (&str, &str),
    (sw, port, br): (&str, &str, &str),
    off: &[&str],
) -> Result<(), LabError> {
    #[rustfmt::skip]
    ip(&["-n", ns, "link", "add", ifname, "type", "veth", "peer", "name", port, "netns", sw])?;
    ip(&["-n", sw, "link", "set", port, "master", br])?;
    let mut args = vec!["-K"];
    for (n, i) in [(ns, ifname), (sw, port)] {
        args.truncate(1);
        args.push(i);
        for f in off {
            args.extend([*f, "off"]);
        }
        ns_run(n, "ethtool", &args)?;
        ip(&["-n", n, "link", "set", i, "up"])?;
    }
    Ok(())
}

/// Names of the existing network namespaces (`ip netns list`).
pub fn list_namespaces() -> Result<Vec<String>, LabError> {
    Ok(ip(&["netns", "list"])?
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

/// Kill every process still inside `ns`, then delete it (best effort).
pub fn kill_and_delete_ns(ns: &str) -> Result<(), LabError> {
    if let Ok(pids) = ip(&["netns", "pids", ns]) {
        for pid in pids.split_whitespace() {
            let mut kill = Command::new("kill");
            kill.args(["-KILL", pid]);
            // The process may exit on its own meanwhile: ignore failures.
            let _ = run_cmd(kill);
        }
    }
    ip(&["netns", "del", ns]).map(drop)
}

fn check_tag(tag: &str) -> Result<(), LabError> {
    let reason = if tag.is_empty() {
        "empty"
    } else if tag.len() > MAX_TAG_LEN {
        "too long"
    } else if !tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
        "not alphanumeric"
    } else {
        return Ok(());
    };
    Err(LabError::InvalidTag {
        tag: tag.to_owned(),
        reason,
    })
}

/// The LVS-NAT topology of the module docs, alive until dropped.
#[derive(Debug)]
pub struct Lab {
    tag: String,
    n_rs: usize,
    /// Namespaces made so far, in creation order (deleted in reverse).
    namespaces: Vec<String>,
    /// Processes to kill before the namespaces go.
    children: Vec<Spawned>,
    /// Control sockets of directors started here, removed at the end.
    sockets: Vec<std::path::PathBuf>,
}

impl Lab {
    /// Build the lab with default [`LabOptions`].
    pub fn build(tag: &str) -> Result<Lab, LabError> {
        Self::build_with(tag, LabOptions::default())
    }

    /// A 5-character tag unique to this process and call: 4 hex digits of
    /// the pid and a per-process counter.
    pub fn unique_tag() -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        format!("{:04x}{:x}", std::process::id() & 0xffff, n & 0xf)
    }

    /// Build the lab. On failure, whatever was already made is removed.
    pub fn build_with(tag: &str, opts: LabOptions) -> Result<Lab, LabError> {
        check_tag(tag)?;
        if !(1..=MAX_REAL_SERVERS).contains(&opts.n_real_servers) {
            return Err(LabError::InvalidOptions(format!(
                "n_real_servers = {}, must be in 1..={MAX_REAL_SERVERS}",
                opts.n_real_servers
            )));
        }
        if !(1..=MAX_QUEUES).contains(&opts.queues) {
            return Err(LabError::InvalidOptions(format!(
                "queues = {}, must be in 1..={MAX_QUEUES}",
                opts.queues
            )));
        }
        let mut lab = Lab {
            tag: tag.to_owned(),
            n_rs: opts.n_real_servers,
            namespaces: Vec::new(),
            children: Vec::new(),
            sockets: Vec::new(),
        };
        // On error `lab` is dropped here, which deletes what was made.
        lab.populate(&opts)?;
        Ok(lab)
    }

    fn add_ns(&mut self, ns: &str) -> Result<(), LabError> {
        ip(&["netns", "add", ns])?;
        self.namespaces.push(ns.to_owned());
        // Set `default` too: veths created in the namespace later inherit it.
        for key in ["all", "default"] {
            let kv = format!("net.ipv6.conf.{key}.disable_ipv6=1");
            ns_run(ns, "sysctl", &["-qw", &kv])?;
        }
        ip(&["-n", ns, "link", "set", "lo", "up"]).map(drop)
    }

    /// Offloads off on a veth end; TX checksum offload off unless `tx_csum`.
    fn offloads(ns: &str, ifname: &str, tx_csum: bool) -> Result<(), LabError> {
        let mut args = vec!["-K", ifname, "gro", "off", "gso", "off", "tso", "off"];
        if !tx_csum {
            args.extend(["tx", "off"]);
        }
        ns_run(ns, "ethtool", &args).map(drop)
    }

    fn populate(&mut self, opts: &LabOptions) -> Result<(), LabError> {
        let (cli, dir, sw) = (self.ns_client(), self.ns_director(), self.ns_switch());
        for ns in [&cli, &dir, &sw] {
            self.add_ns(ns)?;
        }
        for n in 1..=self.n_rs {
            self.add_ns(&self.ns_rs(n))?;
        }

        // Director <-> client, director <-> switch.
        let q = opts.queues.to_string();
        for (ours, peer, ns) in [("ext0", "c0", &cli), ("int0", "d0", &sw)] {
            #[rustfmt::skip]
            ip(&[
                "-n", &dir, "link", "add", ours, "numrxqueues", &q, "numtxqueues", &q,
                "type", "veth", "peer", "name", peer, "numrxqueues", &q, "numtxqueues", &q,
                "netns", ns,
            ])?;
        }
        ip(&[
            "-n",
            &sw,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])?;
        ip(&["-n", &sw, "link", "set", "d0", "master", "br0"])?;

        Self::offloads(&cli, "c0", opts.client_tx_csum)?;
        Self::offloads(&dir, "ext0", true)?;
        Self::offloads(&dir, "int0", true)?;
        Self::offloads(&sw, "d0", true)?;
        ip(&["-n", &cli, "addr", "add", CLIENT_CIDR, "dev", "c0"])?;
        for (ns, ifname) in [(&cli, "c0"), (&dir, "ext0"), (&dir, "int0"), (&sw, "d0")] {
            ip(&["-n", ns, "link", "set", ifname, "up"])?;
        }

        // Real servers hang off the bridge.
        let dip = DIP.to_string();
        for n in 1..=self.n_rs {
            let rs = self.ns_rs(n);
            let port = format!("rs{n}");
            let cidr = format!("{}/24", rs_addr(n));
            ip(&[
                "-n", &rs, "link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns",
                &sw,
            ])?;
            ip(&["-n", &sw, "link", "set", &port, "master", "br0"])?;
            Self::offloads(&rs, "eth0", opts.rs_tx_csum)?;
            Self::offloads(&sw, &port, true)?;
            ip(&["-n", &rs, "addr", "add", &cidr, "dev", "eth0"])?;
            ip(&["-n", &rs, "link", "set", "eth0", "up"])?;
            ip(&["-n", &sw, "link", "set", &port, "up"])?;
            ip(&["-n", &rs, "route", "add", "default", "via", &dip])?;
        }
        ip(&["-n", &sw, "link", "set", "br0", "up"]).map(drop)
    }

    /// Remove every namespace named `rv{tag}-*` (killing processes left in
    /// them), e.g. after a run that was killed before its `Lab` dropped.
    pub fn cleanup_stale(tag: &str) -> Result<(), LabError> {
        check_tag(tag)?;
        let prefix = format!("rv{tag}-");
        for ns in list_namespaces()? {
            if ns.starts_with(&prefix) {
                kill_and_delete_ns(&ns)?;
            }
        }
        Ok(())
    }

    /// The tag given to [`Lab::build`].
    pub fn tag(&self) -> &str {
        &self.tag
    }
    /// Number of real servers.
    pub fn n_real_servers(&self) -> usize {
        self.n_rs
    }
    /// The client's namespace (`rv{tag}-cli`).
    pub fn ns_client(&self) -> String {
        format!("rv{}-cli", self.tag)
    }
    /// The director's namespace (`rv{tag}-dir`), where ringvs runs.
    pub fn ns_director(&self) -> String {
        format!("rv{}-dir", self.tag)
    }
    /// The switch's namespace (`rv{tag}-sw`).
    pub fn ns_switch(&self) -> String {
        format!("rv{}-sw", self.tag)
    }
    /// Real server `n`'s namespace (`rv{tag}-rs{n}`), `n` 1-based.
    pub fn ns_rs(&self, n: usize) -> String {
        format!("rv{}-rs{n}", self.tag)
    }
    /// All namespaces of this lab, in creation order.
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }
    /// The director's external NIC (client side).
    pub fn ext_if(&self) -> &'static str {
        "ext0"
    }
    /// The director's internal NIC (real-server side).
    pub fn int_if(&self) -> &'static str {
        "int0"
    }

    /// Start `PROGRAM ARGS...` inside `ns`; it is killed when the lab drops.
    /// stdin is null; stdout and stderr are inherited.
    pub fn spawn_in(&mut self, ns: &str, program: &Path, args: &[&str]) -> Result<(), LabError> {
        let mut cmd = ns_command(ns, program, args);
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .map_err(|source| LabError::Spawn {
                cmd: describe(&cmd),
                source,
            })?;
        self.children.push(Spawned(child));
        Ok(())
    }

    /// Keep a child started elsewhere (e.g. from [`ns_command`]) so it is
    /// killed when the lab drops.
    pub fn adopt(&mut self, child: Child) {
        self.children.push(Spawned(child));
    }

    /// In every real server start `PROGRAM serve-http --listen 0.0.0.0:80
    /// --body "i am rsN" --max-secs 600`, then wait (at most
    /// [`HTTP_READY_TIMEOUT`]) until each listens on TCP port 80.
    pub fn start_http_servers(&mut self, program: &Path) -> Result<(), LabError> {
        let first = self.children.len();
        for n in 1..=self.n_rs {
            let body = format!("i am rs{n}");
            let args = [
                "serve-http",
                "--listen",
                "0.0.0.0:80",
                "--body",
                &body,
                "--max-secs",
                "600",
            ];
            self.spawn_in(&self.ns_rs(n), program, &args)?;
        }
        let start = Instant::now();
        for n in 1..=self.n_rs {
            let ns = self.ns_rs(n);
            loop {
                if listens_on(&ns, 80)? {
                    break;
                }
                let child = &mut self.children[first + n - 1].0;
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(LabError::ExitedEarly {
                        cmd: format!("{} serve-http in {ns}", program.display()),
                        status,
                    });
                }
                if start.elapsed() >= HTTP_READY_TIMEOUT {
                    return Err(LabError::NotReady {
                        what: format!("HTTP server on port 80 in {ns}"),
                        waited: start.elapsed(),
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }
}

impl Lab {
    /// Start `PROGRAM run` in the director namespace on `ext0`/`int0` with the lab's
    /// addresses, control socket `control` and `extra` options, and wait (at most
    /// [`DIRECTOR_READY_TIMEOUT`]) until its control socket answers.
    pub fn start_director(
        &mut self,
        program: &Path,
        control: &Path,
        extra: &[&str],
    ) -> Result<(), LabError> {
        let control_s = control.display().to_string();
        let mut args = vec![
            "run",
            "--ext",
            self.ext_if(),
            "--ext-addr",
            EXT_ADDR_CIDR,
            "--int",
            self.int_if(),
            "--int-addr",
            INT_ADDR_CIDR,
            "--control",
            &control_s,
        ];
        args.extend_from_slice(extra);
        let first = self.children.len();
        self.spawn_in(&self.ns_director(), program, &args)?;
        self.sockets.push(control.to_path_buf());
        let start = Instant::now();
        loop {
            if std::os::unix::net::UnixStream::connect(control).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.children[first].0.try_wait() {
                return Err(LabError::ExitedEarly {
                    cmd: format!("{} run in {}", program.display(), self.ns_director()),
                    status,
                });
            }
            if start.elapsed() >= DIRECTOR_READY_TIMEOUT {
                return Err(LabError::NotReady {
                    what: format!("director control socket {control_s}"),
                    waited: start.elapsed(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Whether the namespace tests can run here: root, `ip netns`, and each of
/// `tools` (run with `--version`). Under `CI=true` a missing one panics, so a test
/// never passes by skipping; elsewhere the test prints why it did not run.
pub fn lab_available_with(tools: &[&str]) -> bool {
    let ok = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let netns = ok("ip", &["netns", "list"]);
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| !ok(t, &["--version"]))
        .collect();
    if root && netns && missing.is_empty() {
        return true;
    }
    let why = format!(
        "needs root, `ip netns` and {tools:?} (root: {root}, ip netns: {netns}, missing: {missing:?})"
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("namespace test cannot run under CI: {why}");
    }
    eprintln!("SKIPPED (not CI): {why}");
    false
}

/// [`lab_available_with`] no extra tools.
pub fn lab_available() -> bool {
    lab_available_with(&[])
}

/// Whether something listens on TCP `port` inside `ns` (per `ss -ltn`).
pub fn listens_on(ns: &str, port: u16) -> Result<bool, LabError> {
    let out = ns_run(ns, "ss", &["-Hltn"])?;
    let suffix = format!(":{port}");
    Ok(out.lines().any(|l| {
        l.split_whitespace()
            .nth(3)
            .is_some_and(|local| local.ends_with(&suffix))
    }))
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.children.clear(); // stops and reaps each child
        for s in self.sockets.drain(..) {
            let _ = std::fs::remove_file(s);
        }
        while let Some(ns) = self.namespaces.pop() {
            if let Err(e) = kill_and_delete_ns(&ns) {
                eprintln!("ringvs lab: could not delete namespace {ns}: {e}");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (crate rule)
mod tests;
