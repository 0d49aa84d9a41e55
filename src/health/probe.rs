//! One real server's checks: the state of its probe, one step of a check in
//! flight ([`drive`]) and what an outcome does to the probe ([`verdict`]).

use super::http::Exchange;
use super::smtp;
use super::{Target, hop_mac, resolve};
use crate::config::{CheckKind, HttpCheck, UdpCheck, dns_rcode};
use crate::dataplane::Shared;
use crate::neigh::NeighEvent;
use crossbeam_channel::Sender;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::{icmp, tcp, udp};
use smoltcp::wire::{IpAddress, IpEndpoint};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Whether a probe made for `t` starts up: a new server does (as in
/// keepalived), or starts down with `alpha`; one whose check changed
/// (`prev`) keeps its state until the new check says.
pub(super) fn starts_up(t: &Target, prev: Option<&Probe>) -> bool {
    prev.map_or(!t.check.alpha, |p| p.up)
}

/// When a new probe's first check is due: `draw` (random) taken to 0 to its
/// `warmup` seconds after `now`, as keepalived's `register_checkers_thread`
/// (`check_api.c`) starts a checker. Later checks wait `delay_loop` and
/// `delay_before_retry` ([`verdict`]); a passive hint still comes at once.
pub(super) fn first_due(
    check: &crate::config::HealthCheck,
    now: std::time::Instant,
    draw: u64,
) -> std::time::Instant {
    let span = u64::from(check.warmup) * 1_000_000;
    now + std::time::Duration::from_micros(draw % (span + 1))
}

/// Least time between the start of a check and one a passive hint asks for.
const SUSPECT_GAP: Duration = Duration::from_secs(1);

/// How one check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Ok,
    /// No connection within `connect_timeout`.
    Timeout,
    Refused,
    /// Closed (by the server, or reset) after it was established, before
    /// what decides the check came.
    Closed,
    /// Established, but what decides the check did not come within
    /// `connect_timeout` (keepalived's "Timeout HTTP read", `check_http.c`
    /// `http_read_thread`; "Read timeout", `check_smtp.c`).
    ReadTimeout,
    Status(u16),
    /// An ICMP (ICMPv6) error about the check's datagram.
    Unreachable,
    /// No answer (`UDP_CHECK` with `require_reply`, `PING_CHECK`).
    NoReply,
    /// An answer that is not the one `require_reply` asks for.
    BadReply,
    /// A datagram that could not be sent: no ARP or NDP answer.
    NoNeighbor,
    /// A DNS answer with this error code (RCODE).
    DnsRcode(u8),
    /// The TLS handshake (or session) of an `SSL_GET` failed.
    Tls,
    /// The body's MD5 is not the digest.
    Digest,
    /// An HTTP answer whose header does not end within `HEAD_MAX` bytes.
    Header,
    /// An SMTP greeting other than 220 (`helo`: an answer to `HELO` other
    /// than 250); code 0: not a code.
    Smtp {
        helo: bool,
        code: u16,
    },
    /// `MISC_CHECK`'s command exited with this status (a failure).
    Exit(i32),
    /// `MISC_CHECK`'s command was killed by this signal, not by us.
    Signal(i32),
    /// `MISC_CHECK`'s command ran past its time and was ended.
    ScriptTimeout,
    /// `MISC_CHECK` with `misc_dynamic` passed, setting the server's weight.
    Weight(u16),
}

impl Outcome {
    /// The reason the log line gives, in the words of a check of `kind`.
    pub(super) fn reason(self, kind: &CheckKind) -> String {
        // What a connection of this kind waits for once established.
        let talk = match kind {
            CheckKind::Http(h) if h.tls => "HTTPS",
            CheckKind::Http(_) => "HTTP",
            CheckKind::Smtp(_) => "SMTP",
            _ => "",
        };
        match self {
            Outcome::Ok => "check passed".into(),
            Outcome::Timeout => "connect timeout".into(),
            Outcome::Refused => "connection refused".into(),
            Outcome::Closed if talk == "SMTP" => "closed before an SMTP reply".into(),
            Outcome::Closed if !talk.is_empty() => {
                format!("closed before a complete {talk} answer")
            }
            Outcome::Closed => "closed by the server".into(),
            Outcome::ReadTimeout if talk.is_empty() => "read timeout".into(),
            Outcome::ReadTimeout => format!("{talk} read timeout"),
            Outcome::Status(s) => format!("HTTP status {s}"),
            Outcome::Unreachable => "ICMP destination unreachable".into(),
            Outcome::NoReply => "no reply".into(),
            Outcome::BadReply => "reply mismatch".into(),
            Outcome::NoNeighbor => "no ARP/NDP answer".into(),
            Outcome::DnsRcode(rc) => format!("DNS rcode {rc}"),
            Outcome::Tls => "TLS handshake failed".into(),
            Outcome::Digest => "MD5 digest mismatch".into(),
            Outcome::Header => "HTTP header too long".into(),
            Outcome::Smtp { helo: false, code } => format!("SMTP greeting {code}"),
            Outcome::Smtp { helo: true, code } => format!("SMTP HELO answered {code}"),
            Outcome::Exit(c) => format!("command exited with status {c}"),
            Outcome::Signal(s) => format!("command killed by signal {s}"),
            Outcome::ScriptTimeout => "command timed out".into(),
            Outcome::Weight(w) => format!("check passed, weight {w}"),
        }
    }

    /// Whether the check passed.
    fn passed(self) -> bool {
        matches!(self, Outcome::Ok | Outcome::Weight(_))
    }
}

/// A check in flight: its local port (or echo identifier) and its sockets
/// in the health thread's smoltcp set.
pub(super) struct InFlight {
    pub(super) started: Instant,
    pub(super) port: u16,
    pub(super) sock: Sock,
}

/// The sockets of a check in flight, by the check's kind.
pub(super) enum Sock {
    /// `TCP_CHECK`, `HTTP_GET`, `SSL_GET` and `SMTP_CHECK`: the
    /// connection, what is said over it, and whether it was established.
    Tcp {
        handle: SocketHandle,
        talk: Talk,
        connected: bool,
    },
    /// `UDP_CHECK` and `DNS_CHECK`: the datagram's socket, whether the
    /// datagram could leave (its next hop's MAC known when it was sent),
    /// and the DNS query's identifier.
    Udp {
        handle: SocketHandle,
        resolved: bool,
        id: u16,
    },
    /// `PING_CHECK`: an ICMP socket bound to the echo's identifier.
    Ping { handle: SocketHandle },
    /// `MISC_CHECK`: its command, running.
    Script(super::misc::Run),
}

/// What a check says over its TCP connection.
pub(super) enum Talk {
    /// `TCP_CHECK`: nothing, the handshake is the check.
    Nothing,
    /// `HTTP_GET`, `SSL_GET`: the exchange over url `url` of the check,
    /// and that url's check alone where it is not the first.
    Http {
        x: Box<Exchange>,
        url: usize,
        view: Option<Box<HttpCheck>>,
    },
    Smtp(Box<smtp::Talk>),
}

/// The state of one target's checks.
pub(super) struct Probe {
    pub(super) t: Target,
    pub(super) up: bool,
    /// Failed tries in a row.
    /// Failures in a row; 64 bits, so that `retry` 4294967295 (keepalived's
    /// largest) plus the one that takes the server down still counts.
    pub(super) fails: u64,
    pub(super) next: Instant,
    pub(super) flight: Option<InFlight>,
    /// Since when a due check waits for the server's MAC (at most
    /// `connect_timeout`, then it runs anyway and fails if ARP or NDP does).
    pub(super) arp_wait: Option<Instant>,
    /// When the last check started.
    pub(super) last_start: Option<Instant>,
    /// Whether a check has given a result (keepalived's `has_run`).
    pub(super) ran: bool,
    /// An `HTTP_GET`/`SSL_GET` whose url failed (keepalived's `failed_url`,
    /// `check_http.c`): set when the server goes down, cleared by the
    /// url's next pass, which brings it up only on the pass after.
    pub(super) failed_url: bool,
    /// The weight `MISC_CHECK`'s `misc_dynamic` last set (`None`: the
    /// configured one).
    pub(super) weight: Option<u32>,
}

/// Whether a check's result is told to the notifier (keepalived's
/// `update_svr_checker_state`, `check_api.c`): when it changed the server's
/// state (`changed`, from [`verdict`]), and for the first result of an
/// `alpha` server that stays down (it started down without being told).
pub(super) fn to_tell(p: &mut Probe, changed: bool) -> bool {
    let first = !p.ran;
    p.ran = true;
    changed || (first && !p.up && p.t.check.alpha)
}

impl Probe {
    /// Passive checks: a suspect that is up and not already being retried is
    /// checked now (a retry keeps its delay_before_retry).
    pub(super) fn take_suspect(&mut self, shared: &Shared, now: Instant) {
        // At most one such check per SUSPECT_GAP: clients cannot make the
        // director check in a loop.
        if self.flight.is_none()
            && self.up
            && self.fails == 0
            && self
                .last_start
                .is_none_or(|t| now.duration_since(t) >= SUSPECT_GAP)
            && shared.health.take_suspect(self.t.id)
        {
            self.next = now;
        }
    }

    /// Whether a due check still waits for the server's MAC (asking the control
    /// thread for it the first time). Resolve the server first, so that a check
    /// does not spend its connect_timeout on ARP or NDP (smoltcp would only
    /// resend the SYN later). A `MISC_CHECK` sends nothing and never waits.
    pub(super) fn waits_for_mac(
        &mut self,
        shared: &Shared,
        neigh_tx: &Sender<NeighEvent>,
        now: Instant,
        route: super::Route,
    ) -> bool {
        // The next hop: the server, or the internal router for a server off
        // the segment (none: the check fails on its own, it has no way out).
        let Some(hop) = route
            .hop(self.t.addr)
            .filter(|_| !self.t.check.kind.is_command())
        else {
            return false;
        };
        if hop_mac(shared, hop).is_none() {
            let since = *self.arp_wait.get_or_insert(now);
            let limit = Duration::from_secs(u64::from(self.t.check.connect_timeout));
            if now.duration_since(since) < limit {
                if since == now {
                    resolve(neigh_tx, hop);
                }
                return true;
            }
        }
        false
    }
}

/// One step of a TCP, HTTP or SMTP check (`connected`: its connection
/// was established, kept across steps): its outcome once it has one.
pub(super) fn drive(
    s: &mut tcp::Socket,
    (talk, connected): (&mut Talk, &mut bool),
    kind: &CheckKind,
    timed_out: bool,
) -> Option<Outcome> {
    let state = s.state();
    let established = matches!(
        state,
        tcp::State::Established
            | tcp::State::CloseWait
            | tcp::State::FinWait1
            | tcp::State::FinWait2
    );
    // Closed already, with what the server sent still buffered (its answer
    // and a reset in one poll): it was established too. A connection that
    // was is closed, not refused, when it goes.
    *connected |= established || s.can_recv();
    let said = match (kind, talk) {
        (CheckKind::Http(c), Talk::Http { x, view, .. }) if *connected => {
            x.step(s, view.as_deref().unwrap_or(c))
        }
        (CheckKind::Smtp(c), Talk::Smtp(t)) if *connected => t.step(s, &c.helo),
        (_, Talk::Nothing) if established => Some(Outcome::Ok),
        _ => None,
    };
    if said.is_some() {
        return said;
    }
    if state == tcp::State::Closed {
        // Reset while connecting, or the socket's own timeout.
        return Some(if *connected {
            Outcome::Closed
        } else if timed_out {
            Outcome::Timeout
        } else {
            Outcome::Refused
        });
    }
    // Past the handshake, the time ran out waiting for the answer.
    timed_out.then_some(if *connected {
        Outcome::ReadTimeout
    } else {
        Outcome::Timeout
    })
}

/// Queues `bytes` on `s` if they fit whole (a request or a command is never
/// sent in parts); true once queued.
pub(super) fn send_whole(s: &mut tcp::Socket, bytes: &[u8]) -> bool {
    s.may_send() && s.send_capacity() - s.send_queue() >= bytes.len() && s.send_slice(bytes).is_ok()
}

/// One step of a `UDP_CHECK`, as keepalived's `udp_check_thread` and
/// `udp_socket_state` (`check_udp.c`, `core/layer4.c`) judge it: an ICMP
/// destination unreachable about the datagram fails it (other ICMP errors,
/// as there, do not); an answer from the server passes it, if it is the
/// one `require_reply` asks for; silence until `connect_timeout` passes it
/// without `require_reply`, if the datagram could leave (`resolved`: the
/// next hop's MAC was known when it was sent; keepalived's kernel reports a
/// failed ARP as an error on the socket). `unreachable`: a destination
/// unreachable came about the datagram (`ports.rs`).
pub(super) fn drive_udp(
    s: &mut udp::Socket,
    check: &UdpCheck,
    server: (IpAddr, u16),
    (unreachable, timed_out, resolved): (bool, bool, bool),
) -> Option<Outcome> {
    if unreachable {
        return Some(Outcome::Unreachable);
    }
    let from = IpEndpoint::new(IpAddress::from(server.0), server.1);
    while let Ok((data, meta)) = s.recv() {
        if meta.endpoint != from {
            continue;
        }
        return Some(match &check.reply {
            Some(r) if !r.matches(data) => Outcome::BadReply,
            _ => Outcome::Ok,
        });
    }
    if !timed_out {
        return None;
    }
    Some(match (&check.reply, resolved) {
        (Some(_), _) => Outcome::NoReply,
        (None, false) => Outcome::NoNeighbor,
        (None, true) => Outcome::Ok,
    })
}

/// One step of a `DNS_CHECK` (`check_dns.c` `dns_recv_thread`): the
/// server's answer to query `id` passes it with RCODE 0 and fails it with
/// another; other datagrams are passed over; a destination unreachable
/// (an error on keepalived's connected socket) or no answer within
/// `connect_timeout` fails it.
pub(super) fn drive_dns(
    s: &mut udp::Socket,
    id: u16,
    server: (IpAddr, u16),
    (unreachable, timed_out): (bool, bool),
) -> Option<Outcome> {
    if unreachable {
        return Some(Outcome::Unreachable);
    }
    let from = IpEndpoint::new(IpAddress::from(server.0), server.1);
    while let Ok((data, meta)) = s.recv() {
        match dns_rcode(id, data) {
            Some(rc) if meta.endpoint == from => {
                return Some(if rc == 0 {
                    Outcome::Ok
                } else {
                    Outcome::DnsRcode(rc)
                });
            }
            _ => {}
        }
    }
    timed_out.then_some(Outcome::NoReply)
}

/// One step of a `PING_CHECK` (`check_ping.c` `icmp_check_thread`): an
/// echo reply from the server passes it, none within `connect_timeout`
/// fails it. The socket is bound to the request's identifier, so only
/// echoes of this check reach it.
pub(super) fn drive_ping(s: &mut icmp::Socket, addr: IpAddr, timed_out: bool) -> Option<Outcome> {
    let reply = match addr {
        IpAddr::V4(_) => crate::wire::icmpv4::msg::ECHO_REPLY,
        IpAddr::V6(_) => crate::wire::icmpv6::msg::ECHO_REPLY,
    };
    while let Ok((msg, from)) = s.recv() {
        if from == IpAddress::from(addr) && msg.first() == Some(&reply) {
            return Some(Outcome::Ok);
        }
    }
    timed_out.then_some(Outcome::NoReply)
}

/// Applies a check's outcome to its probe; true if the server went down or
/// up. The next check is due `delay_loop` (or `delay_before_retry`) after
/// `now`: the outcome's time, or for a command its start (keepalived's
/// `last_ran`). Its log lines go to stderr ([`verdict_to`]).
pub(super) fn verdict(p: &mut Probe, o: Outcome, now: Instant) -> bool {
    verdict_to(&mut std::io::stderr(), p, o, now)
}

/// [`verdict`], its log lines written to `log`.
pub(super) fn verdict_to(
    log: &mut dyn std::io::Write,
    p: &mut Probe,
    o: Outcome,
    now: Instant,
) -> bool {
    let c = &p.t.check;
    let loop_ = Duration::from_secs(u64::from(c.delay_loop));
    // `198.19.0.2:80` or `[2001:2:0:2::2]:80`, as `-L -n` writes them.
    let name = SocketAddr::new(p.t.rs_addr, p.t.rs_port);
    let svc = &p.t.service;
    if let Outcome::Weight(w) = o {
        // `update_svr_wgt`: the weight changes whether or not the server
        // was up; `-L` shows it, `-S` keeps the configured one.
        if p.weight != Some(u32::from(w)) {
            let line = format_args!("ringvs: health: {name} weight {w} (misc_dynamic) in {svc}");
            crate::log_to(log, line);
        }
        p.weight = Some(u32::from(w));
    }
    // A pass without a weight, or going down, gives the configured weight
    // back (keepalived's `misc_check_child_thread` with `cur_weight`).
    if o == Outcome::Ok && p.weight.take().is_some() {
        let line = format_args!("ringvs: health: {name} back to its own weight in {svc}");
        crate::log_to(log, line);
    }
    let http = matches!(c.kind, CheckKind::Http(_));
    // keepalived's wait while an HTTP url is failed (`epilog`): the longer
    // of `delay_before_retry` and `delay_loop`.
    let failed_wait = loop_.max(Duration::from_secs(u64::from(c.delay_before_retry)));
    if o.passed() {
        p.fails = 0;
        p.next = now + loop_;
        if !p.up {
            // The failed url passed: `epilog` starts the urls over, and
            // only a whole pass brings the server up.
            if std::mem::take(&mut p.failed_url) {
                return false;
            }
            p.up = true;
            let reason = o.reason(&c.kind);
            crate::log_to(
                log,
                format_args!("ringvs: health: {name} UP ({reason}) in {svc}"),
            );
            return true;
        }
        return false;
    }
    // A check that has never given a result takes the server down at its
    // first failure: keepalived's `validate_check_config` (`check_data.c`)
    // starts a checker's `retry_it` at `retry` ("For non alpha mode, one
    // failure is enough initially"); but `SMTP_CHECK` starts every round at
    // 0 (`smtp_start_check_thread`). A changed check keeps `ran` from the
    // one it replaces (`Checker::update_targets`), so its first failure is
    // retried once the old one had run, as keepalived's `migrate_checkers`
    // (`check/ipwrapper.c`) leaves a live server's new checker its retries.
    let first = !p.ran;
    let no_retry = first && !matches!(c.kind, CheckKind::Smtp(_));
    // The tries of this server's check that failed in a row, this one
    // included: one for a first check that is not retried.
    let tries = p.fails + 1;
    // The line of a server that goes down (or, `alpha`, is told down at its
    // first result, as `to_tell` tells it: keepalived's `tcp_epilog` logs
    // "failed." when `!has_run`): the tries it took, as keepalived says
    // "after N retries" only of a checker that has run.
    let down_line = |log: &mut dyn std::io::Write| {
        let reason = o.reason(&c.kind);
        let s = if tries == 1 { "try" } else { "tries" };
        let note = if first { ", its first check" } else { "" };
        let line =
            format_args!("ringvs: health: {name} DOWN ({reason} after {tries} {s}{note}) in {svc}");
        crate::log_to(log, line);
    };
    if !p.up {
        // An `alpha` server's first result, told down by `to_tell`.
        if first && c.alpha {
            down_line(log);
        }
        // `TCP_CHECK` and `SMTP_CHECK` retry a down server as an up one
        // (`tcp_epilog`, `smtp_final`); the others do not retry it
        // (`check_http.c`: "do not retry if server is already known as
        // dead"; `udp_epilog`, `icmp_epilog`, `dns_final`,
        // `misc_check_child_thread`) and wait `delay_loop`, an HTTP check
        // its failed url's wait.
        if matches!(c.kind, CheckKind::Tcp | CheckKind::Smtp(_))
            && !no_retry
            && tries <= u64::from(c.retry)
        {
            p.fails = tries;
            p.next = now + Duration::from_secs(u64::from(c.delay_before_retry));
            return false;
        }
        p.fails = 0;
        p.failed_url = http;
        p.next = now + if http { failed_wait } else { loop_ };
        return false;
    }
    if !no_retry && tries <= u64::from(c.retry) {
        p.fails = tries;
        p.next = now + Duration::from_secs(u64::from(c.delay_before_retry));
        return false;
    }
    down_line(log);
    p.fails = 0;
    p.next = now + if http { failed_wait } else { loop_ };
    p.failed_url = http;
    p.up = false;
    p.weight = None;
    true
}

/// A check's connection over smoltcp's loopback device, with a server
/// socket the test drives by hand: the harness of `http.rs`'s and
/// `smtp.rs`'s conversation tests.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(super) mod loopback {
    use super::{Outcome, Talk, drive};
    use crate::config::CheckKind;
    use smoltcp::iface::{Config as IfConfig, Interface, SocketHandle, SocketSet};
    use smoltcp::phy::{Loopback, Medium};
    use smoltcp::socket::tcp;
    use smoltcp::time::Instant as At;
    use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

    /// The server listening on 127.0.0.1:`port`, the check's socket
    /// (buffers of `rx` and `tx` bytes) connecting to it.
    pub(in super::super) struct Pair {
        dev: Loopback,
        iface: Interface,
        sockets: SocketSet<'static>,
        server: SocketHandle,
        client: SocketHandle,
        /// The simulated millisecond from which the check's time is out.
        timeout_ms: Option<i64>,
    }

    impl Pair {
        pub(in super::super) fn new(port: u16, (rx, tx): (usize, usize)) -> Self {
            let mut dev = Loopback::new(Medium::Ip);
            let mut iface = Interface::new(IfConfig::new(HardwareAddress::Ip), &mut dev, At::ZERO);
            iface.update_ip_addrs(|a| {
                a.push(IpCidr::new(IpAddress::v4(127, 0, 0, 1), 8)).unwrap();
            });
            let mut sockets = SocketSet::new(Vec::new());
            let buf = |n: usize| tcp::SocketBuffer::new(vec![0; n]);
            let mut listener = tcp::Socket::new(buf(65536), buf(65536));
            listener.listen(port).unwrap();
            let server = sockets.add(listener);
            let mut cli = tcp::Socket::new(buf(rx), buf(tx));
            let to = (IpAddress::v4(127, 0, 0, 1), port);
            cli.connect(iface.context(), to, 50000).unwrap();
            let client = sockets.add(cli);
            Pair {
                dev,
                iface,
                sockets,
                server,
                client,
                timeout_ms: None,
            }
        }

        /// The check's time (its `connect_timeout`) runs out at `ms`.
        pub(in super::super) fn timeout_at(mut self, ms: i64) -> Self {
            self.timeout_ms = Some(ms);
            self
        }

        /// Up to `max_ms` simulated milliseconds, each: packets move,
        /// `serve` acts on the server's socket, packets move, one step of
        /// the check (`talk` of kind `kind`), timed out from
        /// [`Pair::timeout_at`]. Its outcome, if any.
        pub(in super::super) fn run(
            &mut self,
            max_ms: i64,
            (talk, kind): (&mut Talk, &CheckKind),
            mut serve: impl FnMut(&mut tcp::Socket),
        ) -> Option<Outcome> {
            let mut connected = false;
            for ms in 0..max_ms {
                let now = At::from_millis(ms);
                self.iface.poll(now, &mut self.dev, &mut self.sockets);
                serve(self.sockets.get_mut::<tcp::Socket>(self.server));
                self.iface.poll(now, &mut self.dev, &mut self.sockets);
                let s = self.sockets.get_mut::<tcp::Socket>(self.client);
                let timed_out = self.timeout_ms.is_some_and(|t| ms >= t);
                if let Some(o) = drive(s, (&mut *talk, &mut connected), kind, timed_out) {
                    return Some(o);
                }
            }
            None
        }
    }
}
