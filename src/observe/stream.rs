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
//! | `E`  | the end: JSON `{"packets":N,"dropped":N}`; the director closes |
//!
//! The director detaches when the count is reached, when the client closes its end
//! (checked every 100 ms while idle, and on every failed write), or when it stops.

use super::filter::{Filter, Summary};
use super::{CAPTURE_SLOTS, Capture, TRACE_SLOTS, Trace, TraceRec, pcap};
use crate::config::Forward;
use crate::proto::{self, Command, Request, Response};
use crate::stats::Ctr;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    let e = host.republish();
    let until = Instant::now() + LOAD_WAIT;
    while !host.loaded(e) && !host.stopping() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut r = Response::ok(String::new());
    if !host.loaded(e) && !host.stopping() {
        r.err = format!(
            "warning: a worker had not taken the tap after {} s; its first frames may be missing\n",
            LOAD_WAIT.as_secs()
        );
    }
    r
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

fn write_msg(w: &mut impl Write, ty: u8, parts: &[&[u8]]) -> io::Result<()> {
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

/// What [`pump`] ended with: the packets taken, why it ended (the end
/// message's `end`), and the bytes not written yet.
struct Pumped {
    n: u64,
    why: &'static str,
    rest: Vec<u8>,
}

/// Pump messages from `next` (which appends one to the buffer, or says
/// there is none) until `count` (0: no limit) packets are written, the
/// client leaves, or the director stops. A slow reader never ends the
/// session, as a slow tcpdump never ends its capture: with [`OUT_BUF`]
/// bytes waiting for the socket, nothing more is taken from the workers,
/// who drop and count (`capture_dropped`, `trace_dropped`) until the
/// reader catches up or goes.
fn pump(
    host: &dyn TapHost,
    stream: &UnixStream,
    count: u64,
    mut next: impl FnMut(&mut Vec<u8>) -> bool,
) -> Pumped {
    let _ = stream.set_nonblocking(true);
    let mut buf = Vec::with_capacity(2 * OUT_BUF);
    let mut sent = 0;
    let mut n = 0u64;
    let mut checked = Instant::now();
    let why = loop {
        if host.stopping() {
            break "stopping";
        }
        if count != 0 && n >= count && sent == buf.len() {
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
        while buf.len() < OUT_BUF && (count == 0 || n < count) && next(&mut buf) {
            n += 1;
            busy = true;
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

/// Write what `p` left and the end message (bounded by
/// [`STREAM_WRITE_TIMEOUT`]).
fn end(stream: &UnixStream, p: Pumped, dropped: u64) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(STREAM_WRITE_TIMEOUT));
    let v = serde_json::json!({ "packets": p.n, "dropped": dropped, "end": p.why });
    let mut rest = p.rest;
    let _ = write_msg(&mut rest, b'E', &[v.to_string().as_bytes()]);
    let _ = (&*stream).write_all(&rest);
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
        Some(pump(host, stream, count, |w| {
            let Ok(b) = cap.full_rx.try_recv() else {
                return false;
            };
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
            true
        }))
    } else {
        None
    };
    host.tap().detach(Some(&cap), None);
    let _ = host.republish();
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
    let p = if respond(stream, &ok) {
        Some(pump(host, stream, count, |w| {
            let Ok(r) = tr.rx.try_recv() else {
                return false;
            };
            seq += 1;
            for line in format_trace(seq, &r, sched) {
                let _ = write_msg(w, b'T', &[line.as_bytes()]);
            }
            true
        }))
    } else {
        None
    };
    host.tap().detach(None, Some(&tr));
    let _ = host.republish();
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
/// `counted` (see `docs/debugging.md`).
pub fn format_trace(
    seq: u64,
    r: &TraceRec,
    sched: &dyn Fn(u8, IpAddr, u16) -> Option<&'static str>,
) -> Vec<String> {
    let nic = if r.nic == 0 { "ext" } else { "int" };
    let mut v = Vec::new();
    let mut flags = String::new();
    if r.sum.ip && r.sum.proto == 6 {
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
        if c.name().starts_with("drop_") {
            v.push(format!("#{seq} drop {}", c.name()));
        } else {
            counted.push(c.name());
        }
    }
    v.push(format!("#{seq} counted {}", counted.join(" ")));
    v
}

/// Connect, send `cmd` and read the response line. On success the stream that
/// follows is returned.
fn open(socket: &Path, cmd: Command) -> Result<BufReader<UnixStream>, String> {
    let mut s = UnixStream::connect(socket).map_err(|e| {
        format!(
            "cannot reach the director at {}: {e} (is `ringvs run` running, as root, with this --control?)",
            socket.display()
        )
    })?;
    let _ = s.set_write_timeout(Some(proto::IO_TIMEOUT));
    let _ = s.set_read_timeout(Some(proto::IO_TIMEOUT * 2));
    let mut line = serde_json::to_string(&Request {
        v: proto::VERSION,
        cmd,
    })
    .map_err(|e| e.to_string())?;
    line.push('\n');
    s.write_all(line.as_bytes())
        .map_err(|e| format!("writing to {}: {e}", socket.display()))?;
    let mut r = BufReader::new(s);
    let mut answer = String::new();
    r.read_line(&mut answer)
        .map_err(|e| format!("reading from {}: {e}", socket.display()))?;
    let resp: Response =
        serde_json::from_str(&answer).map_err(|e| format!("bad answer from the director: {e}"))?;
    if resp.code != 0 {
        return Err(resp.err.trim_end().to_string());
    }
    // A warning with the OK (a worker slow to tap): the user's to read.
    if !resp.err.is_empty() {
        let _ = write!(io::stderr(), "{}", resp.err);
    }
    let _ = r.get_ref().set_read_timeout(Some(CLIENT_POLL));
    Ok(r)
}

/// How often a client waiting for the director looks at its stop flag.
const CLIENT_POLL: Duration = Duration::from_millis(100);
/// How long an interrupted client waits for the director's end message.
pub const INTERRUPT_WAIT: Duration = Duration::from_secs(2);

/// The director's stream as a client reads it. Once `stop` is set (SIGINT,
/// SIGTERM), the client closes its sending half, which the director takes
/// as the client leaving: it detaches and sends the end message, which the
/// client waits for (at most [`INTERRUPT_WAIT`]) as tcpdump, interrupted,
/// still prints its counts.
struct Interruptible<'a> {
    r: BufReader<UnixStream>,
    stop: &'a AtomicBool,
    deadline: Option<Instant>,
}

impl Read for Interruptible<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.r.read(buf) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                r => return r,
            }
            if !self.stop.load(Ordering::Relaxed) {
                continue;
            }
            match self.deadline {
                None => {
                    let _ = self.r.get_ref().shutdown(std::net::Shutdown::Write);
                    self.deadline = Some(Instant::now() + INTERRUPT_WAIT);
                }
                Some(d) if Instant::now() >= d => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "interrupted, and the director did not end the stream",
                    ));
                }
                Some(_) => {}
            }
        }
    }
}

/// How a capture or trace ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ended {
    pub packets: u64,
    pub dropped: u64,
    /// The director stopped (rather than `-c` reached or the client leaving).
    pub stopped: bool,
}

fn ended(p: &[u8]) -> Ended {
    let v: serde_json::Value = serde_json::from_slice(p).unwrap_or_default();
    Ended {
        packets: v["packets"].as_u64().unwrap_or(0),
        dropped: v["dropped"].as_u64().unwrap_or(0),
        stopped: v["end"] == "stopping",
    }
}

/// A stream closed without its end message: cut off, not finished.
const CUT: &str = "the director closed the stream without its end message";

/// `ringvs capture`: write a pcap of the frames to `out`, flushing after each,
/// until the director ends the stream (also when `stop` is set: see
/// [`Interruptible`]).
pub fn capture(
    socket: &Path,
    cmd: Command,
    out: impl FnOnce() -> Result<Box<dyn Write>, String>,
    stop: &AtomicBool,
) -> Result<Ended, Unreached> {
    let r = open(socket, cmd).map_err(Unreached::Director)?;
    // The output is opened (`-w FILE` created, so emptied) only once the
    // director has taken the capture.
    let mut out = out().map_err(Unreached::Output)?;
    let mut r = Interruptible {
        r,
        stop,
        deadline: None,
    };
    capture_into(&mut r, &mut *out).map_err(Unreached::Stream)
}

/// Why [`capture`] failed: the director could not be reached or refused
/// the capture (nothing was written), the output could not be opened, or
/// the stream broke off.
#[derive(Debug)]
pub enum Unreached {
    Director(String),
    Output(String),
    Stream(String),
}

/// The capture stream of `r` written to `out` as a pcap file.
fn capture_into(r: &mut impl Read, out: &mut dyn Write) -> Result<Ended, String> {
    let werr = |e: io::Error| format!("writing the capture: {e}");
    pcap::write_header(out).map_err(werr)?;
    out.flush().map_err(werr)?;
    let mut n = 0;
    loop {
        let msg = read_msg(r).map_err(|e| format!("reading from the director: {e}"))?;
        match msg {
            Some((b'F', p)) if p.len() >= 15 => {
                let ts = u64::from_le_bytes(p[0..8].try_into().unwrap_or_default());
                let orig = u32::from_le_bytes(p[11..15].try_into().unwrap_or_default());
                pcap::write_record(out, ts, &p[15..], orig).map_err(werr)?;
                out.flush().map_err(werr)?;
                n += 1;
            }
            Some((b'E', p)) => return Ok(ended(&p)),
            Some(_) => return Err("unexpected message from the director".into()),
            None => return Err(format!("{CUT} ({n} frames written)")),
        }
    }
}

/// `ringvs trace`: write the trace lines to `out`, calling `attached` once
/// the director has taken the trace (every worker taps), until the director
/// ends the stream (also when `stop` is set: see [`Interruptible`]).
pub fn trace(
    socket: &Path,
    cmd: Command,
    attached: impl FnOnce(),
    out: &mut dyn Write,
    stop: &AtomicBool,
) -> Result<Ended, String> {
    let r = open(socket, cmd)?;
    attached();
    let mut r = Interruptible {
        r,
        stop,
        deadline: None,
    };
    let werr = |e: io::Error| format!("writing the trace: {e}");
    loop {
        match read_msg(&mut r).map_err(|e| format!("reading from the director: {e}"))? {
            Some((b'T', p)) => {
                out.write_all(&p).map_err(werr)?;
                out.write_all(b"\n").map_err(werr)?;
                out.flush().map_err(werr)?;
            }
            Some((b'E', p)) => return Ok(ended(&p)),
            Some(_) => return Err("unexpected message from the director".into()),
            None => return Err(CUT.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ringvs capture -w FILE` with no director to take it: the output is
    /// never opened, so an existing FILE is not emptied.
    #[test]
    fn without_a_director_the_output_is_not_opened() {
        let opened = std::cell::Cell::new(false);
        let cmd = Command::Capture {
            nic: "ext".into(),
            dir: "in".into(),
            filter: String::new(),
            count: 1,
        };
        let out = || -> Result<Box<dyn Write>, String> {
            opened.set(true);
            Ok(Box::new(Vec::new()))
        };
        let stop = AtomicBool::new(false);
        let got = capture(Path::new("/nonexistent/ringvs.sock"), cmd, out, &stop);
        assert!(matches!(got, Err(Unreached::Director(_))), "{got:?}");
        assert!(!opened.get());
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

    /// A stream cut off without its end message is an error, never a
    /// finished capture (exit 0), and the `end` of the message is read.
    #[test]
    fn only_the_end_message_ends_a_capture() {
        let mut pcap = Vec::new();
        let got = capture_into(&mut &[][..], &mut pcap);
        assert!(got.is_err_and(|e| e.contains("without its end message")));
        let mut msg = Vec::new();
        write_msg(
            &mut msg,
            b'E',
            &[br#"{"packets":3,"dropped":1,"end":"stopping"}"#],
        )
        .unwrap();
        let got = capture_into(&mut &msg[..], &mut pcap);
        let want = Ended {
            packets: 3,
            dropped: 1,
            stopped: true,
        };
        assert_eq!(got, Ok(want));
    }
}
