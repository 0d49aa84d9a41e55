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
//! * IPv6 is disabled in every namespace to keep the wire quiet, unless
//!   [`LabOptions::ipv6`] asks for a dual-stack lab: then the client and the
//!   real servers also have the IPv6 addresses of the `ipv6` module (VIP6
//!   2001:2:0:1::110 on-link for the client, real servers 2001:2:0:2::(1+N)
//!   with default route via the DIP6 2001:2:0:2::1), with DAD, router
//!   solicitations and advertisements off; the director's kernel keeps IPv6
//!   disabled, so only ringvs answers neighbor solicitations.
//!
//! Every namespace (hence every veth) is deleted when the [`Lab`] is dropped,
//! after the processes started through [`Lab::spawn_in`] are killed.
//! All addresses are in 198.18.0.0/15 (RFC 2544 benchmarking space) and
//! 2001:2::/48 (RFC 5180's IPv6 benchmarking prefix).

mod cmd;
pub mod http;
mod ipv6;

use cmd::describe;
pub use cmd::{
    Spawned, add_bridge, add_host_ns, ip, kill_and_delete_ns, lab_available, lab_available_with,
    list_namespaces, listens_on, ns_command, ns_run, plug_veth, plug_veth_queues, wait_for,
};
pub use ipv6::{
    CLIENT6, CLIENT6_CIDR, DIP6, EXT_ADDR6, EXT_ADDR6_CIDR, INT_ADDR6_CIDR, PREFIX6_LEN, VIP6,
    add_addr6, default_route6, enable_quiet_ipv6, quiet_ipv6_sysctls, rs_addr6,
};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
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
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
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
    /// Dual stack (issue 15): IPv6 on in the client and the real servers, with
    /// the addresses of the `ipv6` module beside the IPv4 ones, HTTP servers on
    /// `[::]:80` (both families), and the director given `--ext-addr
    /// EXT_ADDR6_CIDR --int-addr INT_ADDR6_CIDR` too. Default `false`: IPv6 off
    /// in every namespace.
    pub ipv6: bool,
}

impl Default for LabOptions {
    fn default() -> Self {
        Self {
            client_tx_csum: true,
            rs_tx_csum: true,
            n_real_servers: 2,
            queues: 1,
            ipv6: false,
        }
    }
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
    /// Dual stack ([`LabOptions::ipv6`]).
    ipv6: bool,
    /// Namespaces made so far, in creation order (deleted in reverse).
    namespaces: Vec<String>,
    /// Processes to kill before the namespaces go.
    children: Vec<Spawned>,
    /// Control sockets of directors started here, removed at the end.
    sockets: Vec<std::path::PathBuf>,
    /// Files the directors log to ([`Lab::start_director_logged`]).
    logs: Vec<std::path::PathBuf>,
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
            ipv6: opts.ipv6,
            namespaces: Vec::new(),
            children: Vec::new(),
            sockets: Vec::new(),
            logs: Vec::new(),
        };
        // On error `lab` is dropped here, which deletes what was made.
        lab.populate(&opts)?;
        Ok(lab)
    }

    /// A namespace of the lab, loopback up. IPv6 is off unless `v6`, when it is
    /// on and quiet (see the `ipv6` module). `default` is set too: veths
    /// created in the namespace later inherit it.
    fn add_ns(&mut self, ns: &str, v6: bool) -> Result<(), LabError> {
        ip(&["netns", "add", ns])?;
        self.namespaces.push(ns.to_owned());
        for key in ["all", "default"] {
            if v6 {
                enable_quiet_ipv6(ns, key)?;
            } else {
                let kv = format!("net.ipv6.conf.{key}.disable_ipv6=1");
                ns_run(ns, "sysctl", &["-qw", &kv])?;
            }
        }
        ip(&["-n", ns, "link", "set", "lo", "up"]).map(drop)
    }

    /// Offloads off on a veth end; TX checksum offload off unless `tx_csum`.
    /// SCTP's segmentation too: a kernel with SCTP would otherwise send
    /// super-packets of many chunks, longer than the MTU, as TCP's TSO does.
    fn offloads(ns: &str, ifname: &str, tx_csum: bool) -> Result<(), LabError> {
        let mut args = vec![
            "-K",
            ifname,
            "gro",
            "off",
            "gso",
            "off",
            "tso",
            "off",
            "tx-sctp-segmentation",
            "off",
        ];
        if !tx_csum {
            args.extend(["tx", "off"]);
        }
        ns_run(ns, "ethtool", &args).map(drop)
    }

    fn populate(&mut self, opts: &LabOptions) -> Result<(), LabError> {
        let (cli, dir, sw) = (self.ns_client(), self.ns_director(), self.ns_switch());
        let v6 = opts.ipv6;
        // The director's kernel keeps IPv6 off in every mode: only ringvs talks.
        for (ns, hosts_v6) in [(&cli, v6), (&dir, false), (&sw, false)] {
            self.add_ns(ns, hosts_v6)?;
        }
        for n in 1..=self.n_rs {
            self.add_ns(&self.ns_rs(n), v6)?;
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
        #[rustfmt::skip]
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"])?;
        if v6 {
            // Solicited-node multicast reaches every port: the lab's hosts
            // report their groups at start, before the bridge would know a
            // querier (ringvs reports its own: `ipv6_netns`'s snooping test).
            ip(&[
                "-n",
                &sw,
                "link",
                "set",
                "br0",
                "type",
                "bridge",
                "mcast_snooping",
                "0",
            ])?;
        }
        ip(&["-n", &sw, "link", "set", "d0", "master", "br0"])?;

        Self::offloads(&cli, "c0", opts.client_tx_csum)?;
        Self::offloads(&dir, "ext0", true)?;
        Self::offloads(&dir, "int0", true)?;
        Self::offloads(&sw, "d0", true)?;
        ip(&["-n", &cli, "addr", "add", CLIENT_CIDR, "dev", "c0"])?;
        if v6 {
            add_addr6(&cli, "c0", CLIENT6_CIDR)?;
        }
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
            if v6 {
                let cidr6 = format!("{}/{PREFIX6_LEN}", rs_addr6(n));
                add_addr6(&rs, "eth0", &cidr6)?;
            }
            ip(&["-n", &rs, "link", "set", "eth0", "up"])?;
            ip(&["-n", &sw, "link", "set", &port, "up"])?;
            ip(&["-n", &rs, "route", "add", "default", "via", &dip])?;
            if v6 {
                default_route6(&rs, DIP6, "eth0")?;
            }
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
    /// Whether the lab is dual stack ([`LabOptions::ipv6`]).
    pub fn ipv6(&self) -> bool {
        self.ipv6
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
        self.spawn_in_with(ns, program, args, Stdio::inherit())
    }

    /// [`Lab::spawn_in`] with standard error going to `stderr`.
    fn spawn_in_with(
        &mut self,
        ns: &str,
        program: &Path,
        args: &[&str],
        stderr: Stdio,
    ) -> Result<(), LabError> {
        let mut cmd = ns_command(ns, program, args);
        let child = cmd
            .stdin(Stdio::null())
            .stderr(stderr)
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
    /// --body "i am rsN" --max-secs 600` (`--listen [::]:80`, both families,
    /// in a dual-stack lab), then wait (at most [`HTTP_READY_TIMEOUT`]) until
    /// each listens on TCP port 80.
    pub fn start_http_servers(&mut self, program: &Path) -> Result<(), LabError> {
        let first = self.children.len();
        for n in 1..=self.n_rs {
            let body = format!("i am rs{n}");
            let args = [
                "serve-http",
                "--listen",
                if self.ipv6 { "[::]:80" } else { "0.0.0.0:80" },
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
    /// [`DIRECTOR_READY_TIMEOUT`]) until its control socket answers. A dual-stack
    /// lab gives each NIC its IPv6 address too: `--ext ext0 --ext-addr
    /// 198.18.0.2/24 --ext-addr 2001:2:0:1::2/64 --int int0 --int-addr
    /// 198.19.0.1/24 --int-addr 2001:2:0:2::1/64`.
    pub fn start_director(
        &mut self,
        program: &Path,
        control: &Path,
        extra: &[&str],
    ) -> Result<(), LabError> {
        self.start_director_with(program, control, extra, Stdio::inherit())
    }

    /// [`Lab::start_director`] with the director's standard error (its log)
    /// written to the file `log` instead of inherited, for a caller that
    /// reads what the director said (e.g. at exit). The lab removes the
    /// file when it goes, and shows what it holds first if a test is
    /// failing (the panic unwinding through the lab), as an inherited
    /// standard error would have shown it.
    pub fn start_director_logged(
        &mut self,
        program: &Path,
        control: &Path,
        extra: &[&str],
        log: &Path,
    ) -> Result<(), LabError> {
        let file = std::fs::File::create(log).map_err(|source| LabError::Io {
            what: format!("creating the director's log {}", log.display()),
            source,
        })?;
        self.logs.push(log.to_path_buf());
        self.start_director_with(program, control, extra, Stdio::from(file))
    }

    fn start_director_with(
        &mut self,
        program: &Path,
        control: &Path,
        extra: &[&str],
        stderr: Stdio,
    ) -> Result<(), LabError> {
        let control_s = control.display().to_string();
        let mut args = vec!["run", "--ext", self.ext_if(), "--ext-addr", EXT_ADDR_CIDR];
        if self.ipv6 {
            args.extend(["--ext-addr", EXT_ADDR6_CIDR]);
        }
        args.extend(["--int", self.int_if(), "--int-addr", INT_ADDR_CIDR]);
        if self.ipv6 {
            args.extend(["--int-addr", INT_ADDR6_CIDR]);
        }
        args.extend(["--control", &control_s]);
        args.extend_from_slice(extra);
        let first = self.children.len();
        self.spawn_in_with(&self.ns_director(), program, &args, stderr)?;
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

impl Drop for Lab {
    fn drop(&mut self) {
        self.children.clear(); // stops and reaps each child
        for s in self.sockets.drain(..) {
            let _ = std::fs::remove_file(s);
        }
        for l in self.logs.drain(..) {
            if std::thread::panicking()
                && let Ok(text) = std::fs::read_to_string(&l)
            {
                crate::log!("ringvs lab: the director's log ({}):\n{text}", l.display());
            }
            let _ = std::fs::remove_file(l);
        }
        while let Some(ns) = self.namespaces.pop() {
            if let Err(e) = kill_and_delete_ns(&ns) {
                // `log!`, not `eprintln!`: a closed stderr (`ringvs demo
                // 2>&1 | head`) must not abort the release build with the
                // other namespaces left.
                crate::log!("ringvs lab: could not delete namespace {ns}: {e}");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (crate rule)
mod tests;
