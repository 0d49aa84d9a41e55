//! The control-socket side of `capture` and `trace`.
//!
//! The client sends one request line as for every command; the director answers
//! with one response line and, if it attached, turns the connection into a stream
//! of messages, each `[type: u8][length: u32 LE][payload]`:
//!
//! | type | payload |
//! |------|---------|
//! | `F`  | a frame: `ts_ns: u64 LE, worker: u16 LE, point: u8, orig_len: u32 LE, bytes` |
//! | `T`  | a trace line (UTF-8, no newline) |
//! | `E`  | the end: JSON `{"packets":N,"dropped":N,"end":"count"\|"client"\|"stopping"}`; the director closes |
//!
//! The director detaches when the count is reached, when the client closes its end
//! (checked every 100 ms, frames coming or not), or when it stops.

use super::filter::{Filter, Summary};
use super::{CAPTURE_SLOTS, Capture, TRACE_SLOTS, Trace, TraceRec};
use crate::config::Forward;
use crate::proto::Response;
use crate::stats::Ctr;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What a capture or trace session needs of the director it attaches to: the
/// tap slot the workers read, a way to make them re-read it, and whether the
/// director is stopping. (`dataplane::Shared` provides it; defined here so that
/// observation depends on no part of the packet path.)
pub trait TapHost {
    fn tap(&self) -> &super::TapSlot;
    /// Tell the workers to re-read the tap slot; the epoch that makes them.
    fn republish(&self) -> u64;
    /// Whether every worker has re-read it since `epoch`.
    fn loaded(&self, epoch: u64) -> bool;
    fn stopping(&self) -> bool;
    /// How long an attach, and the end of a session, wait for every worker
    /// to take the tap: [`LOAD_WAIT`] (a test's host sets a longer one, so
    /// that its outcome never hangs on the scheduling of its threads).
    fn load_wait(&self) -> Duration {
        LOAD_WAIT
    }
    /// How long a trace whose count is reached waits for the other record
    /// of a packet counted: [`HANDOFF_WAIT`] (as [`TapHost::load_wait`]).
    fn handoff_wait(&self) -> Duration {
        HANDOFF_WAIT
    }
}

/// How long an attach waits for every worker to take the new tap before it
/// answers (a worker asleep is woken by the republish; one busy takes it
/// at its next pass).
pub const LOAD_WAIT: Duration = Duration::from_secs(1);

/// Republish the tap slot and wait (at most [`LOAD_WAIT`]) until every
/// worker has taken it, so that the client's "listening" means that the
/// next frame is seen, as tcpdump's does. The answer: OK, with a warning
/// for the client to print if a worker had not taken it in time.
fn republish_and_wait(host: &dyn TapHost) -> Response {
    let mut r = Response::ok(String::new());
    if !republish_wait(host, || {}) {
        r.err = format!(
            "warning: a worker had not taken the tap after {} s; its first frames may be missing\n",
            host.load_wait().as_secs()
        );
    }
    r
}

/// Republish the tap slot and wait (at most [`LOAD_WAIT`]) until every
/// worker has taken it, calling `meanwhile` every millisecond; false if one
/// had not (and the director is not stopping).
fn republish_wait(host: &dyn TapHost, mut meanwhile: impl FnMut()) -> bool {
    let e = host.republish();
    let until = Instant::now() + host.load_wait();
    meanwhile();
    while !host.loaded(e) && !host.stopping() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(1));
        meanwhile();
    }
    host.loaded(e) || host.stopping()
}

/// How long the director waits to write the end of a stream (what was
/// pending and the end message) once the session is over. While it runs it
/// never gives up on a slow reader (see [`pump`]).
pub const STREAM_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of messages the director holds for a reader whose socket is full;
/// past them it takes nothing more from the workers, who drop and count.
const OUT_BUF: usize = 64 * 1024;
const IDLE_SLEEP: Duration = Duration::from_millis(2);
const PEER_CHECK: Duration = Duration::from_millis(100);
/// How long an attach waits for the previous session of its kind to go.
pub const BUSY_WAIT: Duration = Duration::from_secs(1);
/// How long a trace whose count is reached waits for the owner's record of
/// a packet counted but handed to another worker (it is there within a pass
/// unless the queue was full and it was dropped).
pub const HANDOFF_WAIT: Duration = Duration::from_secs(1);
/// Most messages [`pump`] takes before it looks again at the client, the
/// director and the time: records past a trace's count add nothing to
/// write, so without a bound a busy filter kept it taking them.
const PASS_RECORDS: usize = 256;
/// Most packets a trace keeps counted with their other record (a handoff's)
/// still to come; past them the oldest is forgotten, and its other record
/// counts as a packet of its own.
const OPEN_PACKETS: usize = 32;

pub(super) fn write_msg(w: &mut impl Write, ty: u8, parts: &[&[u8]]) -> io::Result<()> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    w.write_all(&[ty])?;
    w.write_all(&(len as u32).to_le_bytes())?;
    for p in parts {
        w.write_all(p)?;
    }
    Ok(())
}

/// Read one message; `None` at a clean end of stream.
pub fn read_msg(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut h = [0u8; 5];
    match r.read_exact(&mut h) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize;
    if len > 1 << 20 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "message too long",
        ));
    }
    let mut p = vec![0; len];
    r.read_exact(&mut p)?;
    Ok(Some((h[0], p)))
}

fn respond(stream: &UnixStream, r: &Response) -> bool {
    let Ok(mut line) = serde_json::to_string(r) else {
        return false;
    };
    line.push('\n');
    (&*stream).write_all(line.as_bytes()).is_ok()
}

/// Whether the client closed its end or its sending half (a read of the
/// non-blocking stream sees EOF).
fn peer_gone(stream: &UnixStream) -> bool {
    let mut b = [0u8; 64];
    match (&*stream).read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
        ),
    }
}

/// What a session's `next` took: messages for `packets` more packets (0:
/// the second record of a packet handed between workers, or a record not
/// shown), and whether a packet counted still waits for its other record
/// ([`Pairs`]).
struct Took {
    packets: u64,
    open: bool,
}

/// A packet one worker hands to another (`--steer hash`, an ICMP error, a
/// fragment) gives two records: the sender's (`handoff_out`) and its
/// owner's (`handed`), in either order (the owner may push its record
/// before the sender pushes its own). `Pairs` counts such a packet once, at
/// the first of the two, and keeps it open (by `nic` and `id`, the
/// packet's CRC: not `len`, as a short frame's padding is not handed on)
/// until its other record comes. A fragment handed on twice (to its
/// datagram's tracker, then on to the connection's owner) gives a third
/// record between them, the tracker's, both `handed` and `handoff_out`: a
/// relay, which counts nothing and neither opens nor closes the packet.
#[derive(Default)]
struct Pairs {
    open: [Option<(Half, Instant)>; OPEN_PACKETS],
}

/// A packet's record seen (kept with when), its other to come: `(nic, id,
/// whether it is the sender's)`.
type Half = (u8, u32, bool);

impl Pairs {
    /// Whether to show `r` (`None`: a packet past the count, once it is
    /// `reached`), and the packets it counts (0: the second record of a
    /// packet counted, or a relay's). Once the count is reached only the other record of
    /// an open packet is shown.
    fn take(&mut self, r: &TraceRec, reached: bool) -> Option<u64> {
        let out = r.moved & (1u128 << Ctr::HandoffOut as usize) != 0;
        if !r.handed && !out {
            // Handled by this worker alone.
            return (!reached).then_some(1);
        }
        if r.handed && out {
            // A relay: shown with its packet, counted by the other two.
            let open = self
                .open
                .iter()
                .any(|e| e.is_some_and(|((nic, id, _), _)| (nic, id) == (r.nic, r.id)));
            return (open || !reached).then_some(0);
        }
        let sender = out;
        let other = (r.nic, r.id, !sender);
        if let Some(e) = self
            .open
            .iter_mut()
            .find(|e| e.is_some_and(|(h, _)| h == other))
        {
            *e = None;
            return Some(0);
        }
        if reached {
            return None;
        }
        // A free entry (`None` is least), else the oldest.
        if let Some(e) = self.open.iter_mut().min_by_key(|e| e.map(|(_, t)| t)) {
            *e = Some(((r.nic, r.id, sender), Instant::now()));
        }
        Some(1)
    }

    fn any(&self) -> bool {
        self.open.iter().any(Option::is_some)
    }
}

/// What [`pump`] ended with: the packets taken, why it ended (the end
/// message's `end`), and the bytes not written yet.
struct Pumped {
    n: u64,
    why: &'static str,
    rest: Vec<u8>,
}

/// Pump messages from `next` (which appends one to the buffer, or says
/// there is none) until `count` (0: no limit) packets are written, the
/// client leaves, or the director stops. Once `count` is reached, `next` is
/// told so (`true`) and, while it says a packet counted is open, asked
/// for its other record (see [`Pairs`]), for at most [`HANDOFF_WAIT`].
/// Each pass takes at most [`PASS_RECORDS`] messages before it checks the
/// client, the director and the time again. A slow reader never ends the
/// session, as a slow tcpdump never ends its capture: with [`OUT_BUF`]
/// bytes waiting for the socket, nothing more is taken from the workers,
/// who drop and count (`capture_dropped`, `trace_dropped`) until the
/// reader catches up or goes.
fn pump(
    host: &dyn TapHost,
    stream: &UnixStream,
    count: u64,
    mut next: impl FnMut(&mut Vec<u8>, bool) -> Option<Took>,
) -> Pumped {
    let _ = stream.set_nonblocking(true);
    let mut buf = Vec::with_capacity(2 * OUT_BUF);
    let mut sent = 0;
    let mut n = 0u64;
    let mut checked = Instant::now();
    let mut open = false;
    let mut reached: Option<Instant> = None;
    let wait = host.handoff_wait();
    let why = loop {
        if host.stopping() {
            break "stopping";
        }
        let settled = !open || reached.is_some_and(|t| t.elapsed() >= wait);
        if reached.is_some() && settled && sent == buf.len() {
            break "count";
        }
        // Also while frames keep coming: a client interrupted (Ctrl-C) closes
        // its sending half and waits for the end message.
        if checked.elapsed() >= PEER_CHECK {
            checked = Instant::now();
            if peer_gone(stream) {
                break "client";
            }
        }
        let mut busy = false;
        let mut took = 0;
        while buf.len() < OUT_BUF
            && took < PASS_RECORDS
            && reached.is_none_or(|t| open && t.elapsed() < wait)
            && let Some(t) = next(&mut buf, reached.is_some())
        {
            took += 1;
            n += t.packets;
            open = t.open;
            busy = true;
            if count != 0 && n >= count && reached.is_none() {
                reached = Some(Instant::now());
            }
        }
        if sent < buf.len() {
            match (&*stream).write(&buf[sent..]) {
                Ok(k) => {
                    sent += k;
                    busy |= k > 0;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => break "client",
            }
            if sent == buf.len() || sent >= OUT_BUF / 2 {
                buf.drain(..sent);
                sent = 0;
            }
        }
        if !busy {
            std::thread::sleep(IDLE_SLEEP);
        }
    };
    buf.drain(..sent);
    Pumped { n, why, rest: buf }
}

/// Once a session is detached: republish and wait (at most [`LOAD_WAIT`],
/// as an attach does) until every worker has let it go, so that the end
/// message's `dropped` holds every drop the workers counted for it (their
/// `capture_dropped`/`trace_dropped`), none still to come. Meanwhile
/// `discard` empties the session's queue: what matched past the count
/// (or after the client left) is thrown away, not left to fill the queue
/// and count as dropped.
fn detach_and_wait(host: &dyn TapHost, discard: impl FnMut()) {
    let _ = republish_wait(host, discard);
}

/// Attach, giving a reader that just left [`BUSY_WAIT`] to be noticed and
/// detached (its thread checks every [`PEER_CHECK`] while idle).
fn attach(mut f: impl FnMut() -> Result<(), String>) -> Result<(), String> {
    let start = Instant::now();
    loop {
        match f() {
            Err(_) if start.elapsed() < BUSY_WAIT => std::thread::sleep(IDLE_SLEEP * 5),
            r => return r,
        }
    }
}

/// Write what `p` left and the end message, all by one deadline
/// [`STREAM_WRITE_TIMEOUT`] from now.
fn end(stream: &UnixStream, p: Pumped, dropped: u64) {
    end_by(stream, p, dropped, STREAM_WRITE_TIMEOUT);
}

fn end_by(stream: &UnixStream, p: Pumped, dropped: u64, timeout: Duration) {
    let _ = stream.set_nonblocking(false);
    let v = serde_json::json!({ "packets": p.n, "dropped": dropped, "end": p.why });
    let mut rest = p.rest;
    let _ = write_msg(&mut rest, b'E', &[v.to_string().as_bytes()]);
    let _ = crate::proto::write_by_deadline(stream, &rest, timeout);
}

/// Serve a `capture` request on `stream` (from a control client thread).
pub fn serve_capture(
    host: &dyn TapHost,
    stream: &UnixStream,
    nic: &str,
    dir: &str,
    filter: &str,
    count: u64,
) {
    let setup = super::points(nic, dir).and_then(|p| Ok((p, Filter::parse(filter)?)));
    let (points, filter) = match setup {
        Ok(x) => x,
        Err(e) => {
            respond(stream, &Response::fail(2, e));
            return;
        }
    };
    let cap = Arc::new(Capture::new(filter, points, CAPTURE_SLOTS));
    if let Err(e) = attach(|| host.tap().attach(Some(Arc::clone(&cap)), None)) {
        respond(stream, &Response::fail(1, e));
        return;
    }
    let ok = republish_and_wait(host);
    let p = if respond(stream, &ok) {
        Some(pump(host, stream, count, |w, _| {
            let b = cap.full_rx.try_recv().ok()?;
            let _ = write_msg(
                w,
                b'F',
                &[
                    &b.ts_ns.to_le_bytes(),
                    &b.worker.to_le_bytes(),
                    &[b.point],
                    &b.orig_len.to_le_bytes(),
                    &b.data[..usize::from(b.len)],
                ],
            );
            let _ = cap.free_tx.try_send(b);
            Some(Took {
                packets: 1,
                open: false,
            })
        }))
    } else {
        None
    };
    host.tap().detach(Some(&cap), None);
    detach_and_wait(host, || {
        while let Ok(b) = cap.full_rx.try_recv() {
            let _ = cap.free_tx.try_send(b);
        }
    });
    let Some(p) = p else {
        return;
    };
    end(stream, p, cap.dropped.load(Ordering::Relaxed));
}

/// Serve a `trace` request. `sched` names the scheduler of a service
/// (protocol, VIP, port), if there is one.
pub fn serve_trace(
    host: &dyn TapHost,
    stream: &UnixStream,
    filter: &str,
    count: u64,
    sched: &dyn Fn(u8, IpAddr, u16) -> Option<&'static str>,
) {
    let filter = match Filter::parse(filter) {
        Ok(f) => f,
        Err(e) => {
            respond(stream, &Response::fail(2, e));
            return;
        }
    };
    let tr = Arc::new(Trace::new(filter, TRACE_SLOTS));
    if let Err(e) = attach(|| host.tap().attach(None, Some(Arc::clone(&tr)))) {
        respond(stream, &Response::fail(1, e));
        return;
    }
    let ok = republish_and_wait(host);
    let mut seq = 0u64;
    let mut pairs = Pairs::default();
    let p = if respond(stream, &ok) {
        Some(pump(host, stream, count, |w, reached| {
            let r = tr.rx.try_recv().ok()?;
            // None: a packet past the count, not shown, as tcpdump -c.
            if let Some(packets) = pairs.take(&r, reached) {
                seq += 1;
                for line in format_trace(seq, &r, sched) {
                    let _ = write_msg(w, b'T', &[line.as_bytes()]);
                }
                return Some(Took {
                    packets,
                    open: pairs.any(),
                });
            }
            Some(Took {
                packets: 0,
                open: pairs.any(),
            })
        }))
    } else {
        None
    };
    host.tap().detach(None, Some(&tr));
    detach_and_wait(host, || while tr.rx.try_recv().is_ok() {});
    let Some(p) = p else {
        return;
    };
    end(stream, p, tr.dropped.load(Ordering::Relaxed));
}

fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        132 => "sctp".into(),
        p => format!("proto{p}"),
    }
}

/// `tcp 198.18.0.1:40000 > 198.18.0.110:80`; IPv6 frames as tcpdump -n writes
/// them (`Summary::tcpdump6`).
pub fn tuple(s: &Summary) -> String {
    if let Some(line) = s.tcpdump6() {
        return line;
    }
    let (a, b) = (Ipv4Addr::from(s.src), Ipv4Addr::from(s.dst));
    if s.arp {
        return format!("arp {a} > {b}");
    }
    if !s.ip {
        return "non-ip".into();
    }
    match s.ports {
        Some((sp, dp)) => format!("{} {a}:{sp} > {b}:{dp}", proto_name(s.proto)),
        None => format!("{} {a} > {b}", proto_name(s.proto)),
    }
}

/// `198.18.0.110:80`, `[2001:2:0:1::110]:80` (as ipvsadm writes them).
fn ep((a, p): (IpAddr, u16)) -> String {
    match a {
        IpAddr::V4(a) => format!("{a}:{p}"),
        IpAddr::V6(a) => format!("[{a}]:{p}"),
    }
}

/// A summarized frame's source and destination addresses, of its family.
fn addrs(s: &Summary) -> (IpAddr, IpAddr) {
    if s.ip6 {
        (
            Ipv6Addr::from_bits(s.src6).into(),
            Ipv6Addr::from_bits(s.dst6).into(),
        )
    } else {
        (Ipv4Addr::from(s.src).into(), Ipv4Addr::from(s.dst).into())
    }
}

/// What resolves a neighbor of the family of `a`.
fn resolver(a: IpAddr) -> &'static str {
    if a.is_ipv6() { "NDP" } else { "ARP" }
}

fn mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// One line per decision, each starting with `#SEQ`:
/// `rx`, `service`, `conn`, `state`, `rewrite`, `neighbor`, `tx`, `drop`,
/// `queue full`,
/// `counted` (see `docs/debugging.md`).
pub fn format_trace(
    seq: u64,
    r: &TraceRec,
    sched: &dyn Fn(u8, IpAddr, u16) -> Option<&'static str>,
) -> Vec<String> {
    let nic = if r.nic == 0 { "ext" } else { "int" };
    let mut v = Vec::new();
    let mut flags = String::new();
    // Read with the ports, from the TCP header: a later fragment has neither
    // and shows no flags, as tcpdump writes it (`ip-proto-6`, no flags).
    if r.sum.ip && r.sum.proto == 6 && r.sum.ports.is_some() {
        flags = format!(" flags {}", super::filter::tcpdump_flags(r.sum.flags));
    }
    v.push(format!(
        "#{seq} rx worker {} nic {nic}{} {}{flags} len {}",
        r.worker,
        if r.handed { " (handed off)" } else { "" },
        tuple(&r.sum),
        r.len
    ));
    let moved = |c: Ctr| r.moved & (1u128 << c as usize) != 0;
    let conn = r.after.or(r.before);
    if let Some(c) = conn {
        let s = sched(c.proto, c.vip.0, c.vip.1).unwrap_or("?");
        v.push(format!(
            "#{seq} service {} {} sched {s}",
            proto_name(c.proto),
            ep(c.vip)
        ));
        let how = if r.before.is_none() && moved(Ctr::ConnNew) {
            format!("created, scheduled by {s} to")
        } else {
            "found, real server".into()
        };
        v.push(format!(
            "#{seq} conn {how} {} (client {})",
            ep(c.rip),
            ep(c.client)
        ));
        let from = r.before.map_or("NONE", |b| b.state.name());
        let to = r.after.map_or("GONE", |a| a.state.name());
        v.push(format!("#{seq} state {from} -> {to}"));
    }
    // The rewrite the connection applies (also when the frame waits for a
    // neighbor); DR and TUN rewrite nothing: the client's packet goes to the
    // real server as it came, or inside a tunnel.
    // A packet parked for ARP counts as forwarded only when it goes, later.
    let queued = moved(Ctr::NeighQueued);
    let fwd = moved(Ctr::FwdIn) || moved(Ctr::FwdOut) || moved(Ctr::IcmpErrorNat) || queued;
    let direct =
        conn.filter(|c| r.nic == 0 && c.forward != Forward::Masq && (moved(Ctr::FwdIn) || queued));
    let (rx_src, rx_dst) = addrs(&r.sum);
    if let Some(c) = direct {
        let how = match c.forward {
            Forward::Tunnel(t) => format!("tunnel {} to {}, encapsulated", t.kind.name(), c.rip.0),
            _ => format!("route to {}, not rewritten", ep(c.rip)),
        };
        v.push(format!("#{seq} direct {how}"));
        if moved(Ctr::NeighQueued) {
            v.push(format!("#{seq} queued waiting for {}", resolver(c.rip.0)));
        }
    } else if let (Some(c), true, Some((sp, dp))) = (conn, fwd, r.sum.ports) {
        let (src, dst, hop_nic, hop) = if r.nic == 0 {
            ((rx_src, sp), c.rip, "int", c.rip.0)
        } else {
            (c.vip, (rx_dst, dp), "ext", c.client.0)
        };
        v.push(format!(
            "#{seq} rewrite {} => {} {} > {}",
            tuple(&r.sum),
            proto_name(r.sum.proto),
            ep(src),
            ep(dst)
        ));
        if moved(Ctr::NeighQueued) {
            v.push(format!(
                "#{seq} neighbor {hop_nic} {hop} unknown: queued waiting for {}",
                resolver(hop)
            ));
        }
    } else if moved(Ctr::NeighQueued) {
        v.push(format!("#{seq} queued waiting for {}", resolver(rx_dst)));
    }
    for t in r.tx.iter().flatten() {
        let tnic = if t.nic == 0 { "ext" } else { "int" };
        v.push(format!(
            "#{seq} neighbor {tnic} {} at {}",
            addrs(&t.sum).1,
            mac(&t.dst_mac)
        ));
        v.push(format!("#{seq} tx nic {tnic} {}", tuple(&t.sum)));
    }
    let mut counted = Vec::new();
    for c in Ctr::ALL {
        if !moved(*c) {
            continue;
        }
        // A frame queued for its next hop that pushed older ones out of a
        // full queue moves `drop_neigh_queue` for them, not itself.
        if *c == Ctr::DropNeighQueue && moved(Ctr::NeighEvicted) {
            v.push(format!("#{seq} queue full: older frames dropped for it"));
        } else if c.name().starts_with("drop_") {
            v.push(format!("#{seq} drop {}", c.name()));
        } else {
            counted.push(c.name());
        }
    }
    v.push(format!("#{seq} counted {}", counted.join(" ")));
    v
}

pub use super::client::{Ended, Unreached, capture, trace};

#[cfg(test)]
mod tests {
    use super::*;

    /// The end of a stream is written by one deadline: a client that reads
    /// a little at a time, each read well within the timeout, is cut off
    /// once the time is up, where a per-write timeout let it go on.
    #[test]
    fn the_end_of_a_stream_is_written_by_one_deadline() {
        let (director, mut client) = UnixStream::pair().expect("socketpair");
        let rest = vec![7u8; 4 << 20];
        let whole = rest.len();
        let p = Pumped {
            n: 1,
            why: "count",
            rest,
        };
        let t = Instant::now();
        let ended = std::thread::spawn(move || {
            end_by(&director, p, 0, Duration::from_millis(500));
        });
        let mut got = 0usize;
        let mut buf = vec![0u8; 4096];
        while t.elapsed() < Duration::from_millis(1500) && !ended.is_finished() {
            if let Ok(n) = client.read(&mut buf) {
                got += n;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(ended.is_finished(), "still writing after {:?}", t.elapsed());
        ended.join().expect("end");
        assert!(got < whole, "all {got} bytes written");
    }

    /// Records a trace never shows once its count is reached add nothing to
    /// write; with a packet counted still open, a pass takes at most
    /// [`PASS_RECORDS`] of them before it looks at the director (and the
    /// client and the time) again, where it took them as long as they came
    /// and never saw the director stopping.
    #[test]
    fn a_pass_takes_a_bounded_number_of_records_while_a_handoff_is_open() {
        #[derive(Default)]
        struct Host {
            slot: super::super::TapSlot,
            checks: std::sync::atomic::AtomicU64,
        }
        impl TapHost for Host {
            fn tap(&self) -> &super::super::TapSlot {
                &self.slot
            }
            fn republish(&self) -> u64 {
                1
            }
            fn loaded(&self, _: u64) -> bool {
                true
            }
            // Stopping at its fourth look.
            fn stopping(&self) -> bool {
                self.checks.fetch_add(1, Ordering::Relaxed) >= 3
            }
        }
        let host = Host::default();
        let (director, _client) = UnixStream::pair().expect("socketpair");
        let mut calls = 0usize;
        let p = pump(&host, &director, 1, |w, _| {
            calls += 1;
            // An end to the records, so that a pump without a bound ends.
            if calls > 1_000_000 {
                return None;
            }
            if calls == 1 {
                w.push(b'T');
            }
            Some(Took {
                packets: u64::from(calls == 1),
                open: true,
            })
        });
        assert_eq!((p.n, p.why), (1, "stopping"));
        assert!(calls <= 3 * PASS_RECORDS, "{calls} records taken");
    }

    fn rec(id: u32, handed: bool, out: bool) -> TraceRec {
        TraceRec {
            id,
            len: 74,
            handed,
            moved: if out {
                1u128 << Ctr::HandoffOut as usize
            } else {
                0
            },
            ..TraceRec::default()
        }
    }

    /// A packet handed to another worker counts once, at its first record,
    /// whichever worker pushed it first; once the count is reached only
    /// the other record of a packet counted is shown, not a record of
    /// another packet, handed off or not.
    #[test]
    fn a_handed_off_packet_counts_at_its_first_record() {
        let (p_out, p_owner) = (rec(1, false, true), rec(1, true, false));
        let mut pairs = Pairs::default();
        assert_eq!(pairs.take(&p_out, false), Some(1));
        assert!(pairs.any());
        assert_eq!(pairs.take(&rec(2, false, false), true), None);
        assert_eq!(pairs.take(&rec(3, false, true), true), None);
        assert_eq!(pairs.take(&rec(3, true, false), true), None);
        assert!(pairs.any());
        assert_eq!(pairs.take(&p_owner, true), Some(0));
        assert!(!pairs.any());
        // The owner's record first.
        assert_eq!(pairs.take(&p_owner, false), Some(1));
        assert_eq!(pairs.take(&p_out, false), Some(0));
        assert!(!pairs.any());
        // Same bytes, other NIC: another packet.
        assert_eq!(pairs.take(&p_out, false), Some(1));
        let other_nic = TraceRec { nic: 1, ..p_owner };
        assert_eq!(pairs.take(&other_nic, true), None);
        // Past OPEN_PACKETS, the oldest is forgotten.
        for id in 10..10 + OPEN_PACKETS as u32 {
            assert_eq!(pairs.take(&rec(id, false, true), false), Some(1));
        }
        assert_eq!(pairs.take(&p_owner, false), Some(1));
        assert_eq!(pairs.take(&rec(11, true, false), false), Some(0));
    }

    /// A fragment handed on twice gives three records: the receiver's
    /// (`handoff_out`), its tracker's (handed and `handoff_out`) and its
    /// owner's (handed). They count one packet, in any order, and with the
    /// count reached at the first the other two are shown, where the
    /// tracker's closed the packet as if the owner's and the owner's then
    /// counted as a packet of its own (not shown past the count).
    #[test]
    fn a_fragment_handed_on_twice_counts_once() {
        let (recv, relay, owner) = (rec(1, false, true), rec(1, true, true), rec(1, true, false));
        for order in [
            [&recv, &relay, &owner],
            [&recv, &owner, &relay],
            [&relay, &recv, &owner],
            [&owner, &relay, &recv],
            [&relay, &owner, &recv],
        ] {
            let mut pairs = Pairs::default();
            let mut n = 0;
            for (k, r) in order.iter().enumerate() {
                // `-c 1`: reached once a packet is counted.
                match pairs.take(r, n >= 1) {
                    Some(p) => n += p,
                    // Only a relay after its packet closed is not shown.
                    None => assert!(k == 2 && std::ptr::eq(*r, &relay), "record {k}"),
                }
            }
            assert_eq!(n, 1);
            assert!(!pairs.any());
        }
        // A relay of another packet past the count is not shown.
        let mut pairs = Pairs::default();
        assert_eq!(pairs.take(&recv, false), Some(1));
        assert_eq!(pairs.take(&rec(2, true, true), true), None);
        assert_eq!(pairs.take(&relay, true), Some(0));
        assert!(pairs.any());
    }

    /// A packet queued for ARP that pushed an older frame out of its full
    /// queue is not reported dropped: the `drop_neigh_queue` it moved is
    /// the older frame's (`neigh_evicted` says so), shown as such.
    #[test]
    fn a_queued_frame_that_evicts_is_not_reported_dropped() {
        let mut r = TraceRec::default();
        r.sum.ip = true;
        r.sum.proto = 17;
        r.sum.ports = Some((5004, 53));
        let bit = |c: Ctr| 1u128 << c as usize;
        r.moved = bit(Ctr::NeighQueued) | bit(Ctr::NeighEvicted) | bit(Ctr::DropNeighQueue);
        let lines = format_trace(5, &r, &|_, _, _| None);
        assert!(!lines.iter().any(|l| l.contains(" drop ")), "{lines:?}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("queue full: older frames dropped for it"))
        );
        // Without an eviction, drop_neigh_queue is the packet's own drop.
        r.moved = bit(Ctr::DropNeighQueue);
        let lines = format_trace(6, &r, &|_, _, _| None);
        assert!(
            lines.iter().any(|l| l == "#6 drop drop_neigh_queue"),
            "{lines:?}"
        );
    }

    /// An IPv4 trace line writes TCP flags as tcpdump (and the IPv6 lines)
    /// do: `P.`, `F.`, `R.`, with URG, ECE and CWR as `U`, `E`, `W`.
    #[test]
    fn ipv4_trace_lines_write_tcp_flags_as_tcpdump() {
        let mut r = TraceRec::default();
        r.sum.ip = true;
        r.sum.proto = 6;
        r.sum.ports = Some((40000, 80));
        let rx = |r: &TraceRec| format_trace(1, r, &|_, _, _| None)[0].clone();
        for (f, want) in [
            (0x18, " flags P. "),
            (0x11, " flags F. "),
            (0x14, " flags R. "),
            (0x12, " flags S. "),
            (0xf9, " flags FP.UEW "),
            (0, " flags none "),
        ] {
            r.sum.flags = f;
            assert!(rx(&r).contains(want), "{f:#x}: {}", rx(&r));
        }
    }

    /// A later IPv4 fragment of a TCP datagram has no TCP header: its `rx`
    /// line shows no flags (not `flags none`), as tcpdump shows none.
    #[test]
    fn a_later_tcp_fragment_shows_no_flags() {
        let mut f = [0u8; 60];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        f[14] = 0x45;
        f[16..18].copy_from_slice(&46u16.to_be_bytes());
        f[20..22].copy_from_slice(&0x0003u16.to_be_bytes()); // offset 24 bytes
        f[23] = 6;
        f[26..30].copy_from_slice(&[198, 18, 0, 1]);
        f[30..34].copy_from_slice(&[198, 18, 0, 110]);
        let r = TraceRec {
            sum: crate::observe::filter::summarize(&f),
            len: 60,
            ..TraceRec::default()
        };
        let line = format_trace(1, &r, &|_, _, _| None)[0].clone();
        assert_eq!(
            line,
            "#1 rx worker 0 nic ext tcp 198.18.0.1 > 198.18.0.110 len 60"
        );
    }
}
