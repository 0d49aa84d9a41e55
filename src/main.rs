//! `ringvs`: the command line.

use clap::{Parser, Subcommand};
use ringvs::proto::{self, Command};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

mod demo;
mod genhash;
mod run;

use run::{IoArg, RunArgs, cmd_run};

#[derive(Parser)]
#[command(
    name = "ringvs",
    version,
    about = "A userspace LVS-NAT load-balancing director on AF_PACKET rings",
    long_about = "ringvs does what `ipvsadm -m` (LVS in NAT mode) does in the kernel, in pinned \
worker threads that own two NICs through AF_PACKET mmap rings.\n\n\
Quick start (as root): `ringvs demo` builds two real servers behind a VIP in network \
namespaces and shows requests alternating between them."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the director in the foreground (Ctrl-C or SIGTERM stops it).
    Run(Box<RunArgs>),
    /// Configure a running director with ipvsadm's syntax, e.g.
    /// `ringvs adm -A -t 198.18.0.110:80 -s rr`.
    #[command(
        disable_help_flag = true,
        after_help = "Everything after the options above is an ipvsadm command line: \
-A/-E/-D -t|-u VIP:PORT [-s SCHED] [-p [T]] [-M MASK] [-b FLAGS], \
-a/-e/-d -t|-u VIP:PORT -r RIP[:PORT] -m [-w N] [-x U] [-y L], -C, -R, -S [-n], \
-L|-l [-n] [--stats|--rate|--thresholds|--persistent-conn|-c|--timeout] [--exact], \
-Z [SERVICE], --set TCP TCPFIN UDP. `ringvs adm -h` prints ipvsadm's own help."
    )]
    Adm {
        /// The director's control socket.
        #[arg(long, default_value = proto::DEFAULT_SOCKET)]
        control: PathBuf,
        /// The ipvsadm command line.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        argv: Vec<String>,
    },
    /// Print every worker's counters (packets, drops by reason, connections).
    Stats {
        #[arg(long, default_value = proto::DEFAULT_SOCKET)]
        control: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Write a pcap of the frames a running director receives or sends, e.g.
    /// `ringvs capture -w - --filter 'tcp and port 80' | tcpdump -nr -`.
    Capture {
        #[arg(long, default_value = proto::DEFAULT_SOCKET)]
        control: PathBuf,
        /// Which NIC: ext (clients, VIPs), int (real servers) or both.
        #[arg(long, default_value = "both")]
        nic: String,
        /// rx: as received (before NAT); tx: as sent (after NAT); or both.
        #[arg(long, default_value = "both")]
        dir: String,
        /// Filter: `tcp|udp|sctp|icmp|icmp6|arp|ip|ip6`, `[src|dst] [host] ADDR`, `[src|dst] net
        /// ADDR/LEN`, `[src|dst] port N`, each optionally preceded by `not`, joined
        /// by `and` (see docs/debugging.md).
        #[arg(long, default_value = "")]
        filter: String,
        /// Stop after COUNT frames (0: until interrupted).
        #[arg(short = 'c', default_value_t = 0)]
        count: u64,
        /// The pcap file to write (`-` for standard output).
        #[arg(short = 'w')]
        write: PathBuf,
    },
    /// Print, for each received packet matching FILTER, what the director decided:
    /// service, connection, scheduler choice, state, rewrite, neighbor, drop reason.
    Trace {
        #[arg(long, default_value = proto::DEFAULT_SOCKET)]
        control: PathBuf,
        /// Filter words, as for `capture --filter` (may be given unquoted).
        #[arg(num_args = 0.., trailing_var_arg = true)]
        filter: Vec<String>,
        /// Stop after COUNT packets (0: until interrupted).
        #[arg(short = 'c', default_value_t = 0)]
        count: u64,
    },
    /// Live view of per-service and per-real-server rates (`adm -L -n --rate`) and
    /// drops per second by reason, refreshed every second.
    Top {
        #[arg(long, default_value = proto::DEFAULT_SOCKET)]
        control: PathBuf,
        /// Print one frame (rates over one second) and exit.
        #[arg(long)]
        once: bool,
    },
    /// Build the seed's LVS-NAT scenario in network namespaces and show it working
    /// (root; needs iproute2 and ethtool).
    Demo {
        /// Requests the client makes.
        #[arg(long, default_value_t = 6)]
        requests: usize,
        /// Also print the director's per-worker counters at the end.
        #[arg(long)]
        stats: bool,
        /// The director's packet I/O (`xdp`: two AF_XDP workers, one per queue of the lab's two-queue veths).
        #[arg(long, value_enum, default_value = "packet")]
        io: IoArg,
        /// The same scenario over IPv6: VIP [2001:2:0:1::110]:80, real servers
        /// [2001:2:0:2::2]:80 and [2001:2:0:2::3]:80 (a dual-stack lab).
        #[arg(long)]
        ipv6: bool,
    },
    /// keepalived's genhash: the MD5 of a real server's answer body, the value
    /// of `--check-digest` (connects through this host's own network stack).
    Genhash(genhash::GenhashArgs),
    /// (lab) A tiny HTTP server answering every request with BODY.
    #[command(hide = true)]
    ServeHttp {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        body: String,
        #[arg(long, default_value_t = 600)]
        max_secs: u64,
    },
    /// (lab) Fetch http://ADDR/ and print the body.
    #[command(hide = true)]
    HttpGet {
        addr: SocketAddr,
        #[arg(long, default_value_t = 1)]
        count: usize,
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
        /// All requests on one HTTP/1.1 keep-alive connection.
        #[arg(long)]
        keepalive: bool,
        /// Pause between requests.
        #[arg(long, default_value_t = 0)]
        interval_ms: u64,
        /// Retry a failed request (on a new connection) up to N times; each
        /// failed try that is retried prints `retried: ERROR`.
        #[arg(long, default_value_t = 0)]
        retries: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run(a) => cmd_run(*a),
        Cmd::Adm { control, argv } => cmd_adm(&control, argv),
        Cmd::Stats { control, json } => client("ringvs stats", &control, Command::Stats { json }),
        Cmd::Capture {
            control,
            nic,
            dir,
            filter,
            count,
            write,
        } => cmd_capture(&control, nic, dir, filter, count, &write),
        Cmd::Trace {
            control,
            filter,
            count,
        } => cmd_trace(&control, filter.join(" "), count),
        Cmd::Top { control, once } => cmd_top(&control, once),
        Cmd::Demo {
            requests,
            stats,
            io,
            ipv6,
        } => demo::run(requests, stats, matches!(io, IoArg::Xdp), ipv6),
        Cmd::Genhash(a) => genhash::run(a),
        Cmd::ServeHttp {
            listen,
            body,
            max_secs,
        } => demo::serve_http(listen, &body, max_secs),
        Cmd::HttpGet {
            addr,
            count,
            timeout_ms,
            keepalive,
            interval_ms,
            retries,
        } => demo::http_get(addr, count, timeout_ms, keepalive, interval_ms, retries),
    }
}

/// `ringvs adm`: send an ipvsadm command line (for `-R`, the rules read from
/// standard input) to the director.
fn cmd_adm(control: &std::path::Path, argv: Vec<String>) -> ExitCode {
    // Check the syntax here so a typo is reported even with no director.
    let names = ringvs::config::names::Names::system();
    match ringvs::config::ipvsadm::parse_with(&argv, &names) {
        Err(ringvs::config::AdmError::Help(text)) => {
            if out(&text) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            ringvs::log!("{e}");
            ExitCode::from(u8::try_from(e.exit_code() & 0xff).unwrap_or(1))
        }
        Ok(ringvs::config::ipvsadm::AdmCommand::Restore) => {
            use std::io::Read;
            // Bounded as the control socket bounds a request: more could
            // never be sent.
            let limit = ringvs::proto::MAX_REQUEST as u64;
            let mut rules = String::new();
            if let Err(e) = std::io::stdin().take(limit + 1).read_to_string(&mut rules) {
                ringvs::log!("ringvs adm -R: reading standard input: {e}");
                return ExitCode::from(2);
            }
            if rules.len() as u64 > limit {
                ringvs::log!("ringvs adm -R: standard input: larger than {limit} bytes");
                return ExitCode::from(2);
            }
            // A syntax error is reported here, before anything is sent.
            if let Err(e) = ringvs::config::ipvsadm::check_rules(&rules, &names, &mut |_| {}) {
                ringvs::log!("{e}");
                return ExitCode::from(u8::try_from(e.exit_code() & 0xff).unwrap_or(1));
            }
            // The director bounds the request, not the file: JSON writes a
            // newline in two bytes, so a file under the limit may make a
            // request over it, which the director would refuse as too large.
            let req = ringvs::proto::Request {
                v: ringvs::proto::VERSION,
                cmd: Command::Restore { rules },
            };
            let size = req.encoded_len();
            if size > ringvs::proto::MAX_REQUEST {
                ringvs::log!(
                    "ringvs adm -R: standard input makes a request of {size} bytes, more than \
                     the director reads ({limit} bytes; each newline, tab, quote or backslash \
                     counts twice)"
                );
                return ExitCode::from(2);
            }
            client("ringvs adm", control, req.cmd)
        }
        Ok(_) => client("ringvs adm", control, Command::Adm { argv }),
    }
}

/// `ringvs top`.
fn cmd_top(control: &std::path::Path, once: bool) -> ExitCode {
    match ringvs::observe::top::run(control, once, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            ringvs::log!("ringvs top: {e}");
            ExitCode::from(2)
        }
    }
}

/// Write `text` to standard output; false if nobody reads it any more
/// (`ringvs adm -L -n -c | head`), where `print!` would panic. The caller
/// then stops, as a C tool stops on SIGPIPE.
pub(crate) fn out(text: &str) -> bool {
    use std::io::Write as _;
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|()| o.flush())
        .is_ok()
}

/// Send one command to the director and relay its answer.
fn client(name: &str, socket: &std::path::Path, cmd: Command) -> ExitCode {
    match proto::call(socket, cmd) {
        Ok(r) => {
            if !out(&r.out) {
                return ExitCode::FAILURE;
            }
            use std::io::Write as _;
            let _ = std::io::stderr().lock().write_all(r.err.as_bytes());
            ExitCode::from(u8::try_from(r.code & 0xff).unwrap_or(1))
        }
        Err(e) => {
            ringvs::log!("{name}: {e}");
            ExitCode::from(2)
        }
    }
}

/// `ringvs capture`: check the filter here (a typo is reported without a
/// director), then stream the pcap into the file or standard output.
fn cmd_capture(
    socket: &std::path::Path,
    nic: String,
    dir: String,
    filter: String,
    count: u64,
    write: &std::path::Path,
) -> ExitCode {
    use ringvs::observe::{filter::Filter, points, stream};
    if let Err(e) = points(&nic, &dir).and_then(|_| Filter::parse(&filter)) {
        ringvs::log!("ringvs capture: {e}");
        return ExitCode::from(2);
    }
    // Said, as tcpdump says it, once every worker taps (so that a script
    // may start its traffic on this line).
    let listening = format!(
        "ringvs capture: listening on {nic} ({dir}), link-type EN10MB (Ethernet), snapshot length {} bytes",
        ringvs::observe::pcap::SNAPLEN
    );
    let cmd = Command::Capture {
        nic,
        dir,
        filter,
        count,
    };
    // Created (and so emptied) only once the director has taken the capture.
    let out = || -> Result<Box<dyn std::io::Write>, String> {
        ringvs::log!("{listening}");
        if write == std::path::Path::new("-") {
            return Ok(Box::new(std::io::stdout().lock()));
        }
        let f = std::fs::File::create(write).map_err(|e| format!("{}: {e}", write.display()))?;
        Ok(Box::new(std::io::BufWriter::new(f)))
    };
    let stop = interrupt_flag();
    match stream::capture(socket, cmd, out, &stop) {
        Ok(end) => {
            ringvs::log!(
                "ringvs capture: {} frames captured, {} dropped (reader too slow)",
                end.packets,
                end.dropped
            );
            stopped("ringvs capture", end)
        }
        // As `adm`, `stats` and `top`: 2 for no director or a refusal, and
        // for an output that cannot be written.
        Err(stream::Unreached::Director(e) | stream::Unreached::Output(e)) => {
            ringvs::log!("ringvs capture: {e}");
            ExitCode::from(2)
        }
        Err(stream::Unreached::Stream(e)) => {
            ringvs::log!("ringvs capture: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The exit of a capture or trace that ended: 0, or 1 if the director
/// stopped under it (as tcpdump fails when its interface goes away).
fn stopped(name: &str, end: ringvs::observe::stream::Ended) -> ExitCode {
    if end.stopped {
        ringvs::log!("{name}: the director stopped");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// A flag SIGINT and SIGTERM set, for `capture` and `trace` to stop on as
/// tcpdump does: they detach, print their counts and exit 0.
fn interrupt_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Not registered: the signal kills, as before; nothing to stop.
        let _ = signal_hook::flag::register(sig, std::sync::Arc::clone(&stop));
    }
    stop
}

/// `ringvs trace`.
fn cmd_trace(socket: &std::path::Path, filter: String, count: u64) -> ExitCode {
    use ringvs::observe::{filter::Filter, stream};
    if let Err(e) = Filter::parse(&filter) {
        ringvs::log!("ringvs trace: {e}");
        return ExitCode::from(2);
    }
    let mut out = std::io::stdout().lock();
    let listening = || ringvs::log!("ringvs trace: listening on ext and int");
    let stop = interrupt_flag();
    match stream::trace(
        socket,
        Command::Trace { filter, count },
        listening,
        &mut out,
        &stop,
    ) {
        Ok(end) => {
            ringvs::log!(
                "ringvs trace: {} packets traced, {} dropped (reader too slow)",
                end.packets,
                end.dropped
            );
            stopped("ringvs trace", end)
        }
        // As `capture`: 2 for no director or a refusal, 1 for a stream
        // that broke off.
        Err(stream::Unreached::Director(e) | stream::Unreached::Output(e)) => {
            ringvs::log!("ringvs trace: {e}");
            ExitCode::from(2)
        }
        Err(stream::Unreached::Stream(e)) => {
            ringvs::log!("ringvs trace: {e}");
            ExitCode::FAILURE
        }
    }
}
