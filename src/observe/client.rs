//! The client side of `ringvs capture` and `ringvs trace`: send the request,
//! read the director's stream (see [`super::stream`] for its messages) into a
//! pcap file or trace lines, and stop on SIGINT/SIGTERM or a reader gone.

use super::pcap;
use super::stream::read_msg;
use crate::proto::{self, Command};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Connect, send `cmd` and read the response line. On success the stream that
/// follows is returned.
fn open(socket: &Path, cmd: Command) -> Result<BufReader<UnixStream>, String> {
    let s = UnixStream::connect(socket).map_err(|e| {
        format!(
            "cannot reach the director at {}: {e} (is `ringvs run` running, as root, with this --control?)",
            socket.display()
        )
    })?;
    exchange(s, socket, cmd)
}

/// [`open`] on the connected `s` to the director at `socket`: the request
/// written and answered as [`proto::exchange`] does it.
fn exchange(s: UnixStream, socket: &Path, cmd: Command) -> Result<BufReader<UnixStream>, String> {
    let (r, resp) = proto::exchange(s, socket, cmd)?;
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
/// SIGTERM, a reader gone), the client closes its sending half, which the
/// director takes as the client leaving: it detaches and sends the end
/// message, which the client waits for (at most [`INTERRUPT_WAIT`]) as
/// tcpdump, interrupted, still prints its counts. The flag is looked at
/// before every read, so a steady stream (a read never waits) cannot hide
/// it, and a read that waits looks again every [`CLIENT_POLL`].
struct Interruptible<'a> {
    r: BufReader<UnixStream>,
    stop: &'a AtomicBool,
    deadline: Option<Instant>,
}

impl Read for Interruptible<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
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
    capture_into(&mut r, &mut *out, stop).map_err(Unreached::Stream)
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

/// A client's output. Once its reader is gone (EPIPE: `| tcpdump -c 3`,
/// `| head`), the session ends as on Ctrl-C (`stop`: see [`Interruptible`])
/// and nothing more is written (`gone`), so that the counts are still
/// printed; as the reader chose to stop, the exit is 0, not a failure to
/// write. After a Ctrl-C what still comes is written, up to the end
/// message, so the file holds the frames the printed count counts.
struct Output<'a> {
    out: &'a mut dyn Write,
    stop: &'a AtomicBool,
    gone: bool,
}

impl<'a> Output<'a> {
    fn new(out: &'a mut dyn Write, stop: &'a AtomicBool) -> Self {
        Self {
            out,
            stop,
            gone: false,
        }
    }

    fn put(&mut self, f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
        if self.gone {
            return Ok(());
        }
        match f(&mut *self.out) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.gone = true;
                self.stop.store(true, Ordering::Relaxed);
                Ok(())
            }
            r => r,
        }
    }
}

/// The capture stream of `r` written to `out` as a pcap file.
fn capture_into(
    r: &mut impl Read,
    out: &mut dyn Write,
    stop: &AtomicBool,
) -> Result<Ended, String> {
    let werr = |e: io::Error| format!("writing the capture: {e}");
    let mut out = Output::new(out, stop);
    out.put(|o| pcap::write_header(o).and_then(|()| o.flush()))
        .map_err(werr)?;
    let mut n = 0;
    loop {
        let msg = read_msg(r).map_err(|e| format!("reading from the director: {e}"))?;
        match msg {
            Some((b'F', p)) if p.len() >= 15 => {
                let ts = u64::from_le_bytes(p[0..8].try_into().unwrap_or_default());
                let orig = u32::from_le_bytes(p[11..15].try_into().unwrap_or_default());
                out.put(|o| pcap::write_record(o, ts, &p[15..], orig).and_then(|()| o.flush()))
                    .map_err(werr)?;
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
/// ends the stream (also when `stop` is set: see [`Interruptible`]). Fails
/// as [`capture`] does: [`Unreached::Director`] if the director could not
/// be reached or refused the trace, [`Unreached::Stream`] if the stream
/// broke off.
pub fn trace(
    socket: &Path,
    cmd: Command,
    attached: impl FnOnce(),
    out: &mut dyn Write,
    stop: &AtomicBool,
) -> Result<Ended, Unreached> {
    let r = open(socket, cmd).map_err(Unreached::Director)?;
    attached();
    trace_from(r, out, stop).map_err(Unreached::Stream)
}

/// The stream of a trace the director took.
fn trace_from(
    r: BufReader<UnixStream>,
    out: &mut dyn Write,
    stop: &AtomicBool,
) -> Result<Ended, String> {
    let mut r = Interruptible {
        r,
        stop,
        deadline: None,
    };
    let werr = |e: io::Error| format!("writing the trace: {e}");
    let mut out = Output::new(out, stop);
    loop {
        match read_msg(&mut r).map_err(|e| format!("reading from the director: {e}"))? {
            Some((b'T', p)) => {
                out.put(|o| {
                    o.write_all(&p)?;
                    o.write_all(b"\n")?;
                    o.flush()
                })
                .map_err(werr)?;
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
    use crate::observe::stream::write_msg;
    use std::sync::atomic::AtomicU32;

    /// A director that refused the client (too many clients) wrote its
    /// reason and closed before the client wrote its request: the user
    /// reads the reason, not the broken pipe of the write.
    #[test]
    fn a_refusal_before_the_request_is_read_not_the_broken_pipe() {
        let (client, mut director) = UnixStream::pair().expect("pair");
        let refusal = crate::proto::Response::fail(1, "director busy: too many control clients");
        let mut line = serde_json::to_string(&refusal).expect("json");
        line.push('\n');
        director.write_all(line.as_bytes()).expect("refusal");
        drop(director);
        let cmd = Command::Trace {
            filter: String::new(),
            count: 1,
        };
        let Err(e) = exchange(client, Path::new("/run/ringvs.sock"), cmd) else {
            panic!("a refused client was served");
        };
        assert!(e.contains("busy"), "{e}");
    }

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

    /// A director streaming frames every 10 ms, as `pump` would, until the
    /// client's sending half closes; then 5 more frames and the end
    /// message, as `end` writes out what it holds. Returns the frames sent
    /// before it saw the close.
    fn director(peer: UnixStream, frames: &AtomicU32) -> u32 {
        let mut w = peer.try_clone().expect("clone");
        let mut r = peer;
        r.set_read_timeout(Some(Duration::from_millis(10)))
            .expect("timeout");
        let frame = |w: &mut UnixStream| {
            let mut p = vec![0u8; 15];
            p[11..15].copy_from_slice(&60u32.to_le_bytes());
            p.extend_from_slice(&[0xab; 60]);
            write_msg(w, b'F', &[&p]).expect("frame");
            frames.fetch_add(1, Ordering::Relaxed);
        };
        let mut before = 0;
        loop {
            frame(&mut w);
            before += 1;
            let mut b = [0u8; 1];
            if matches!(r.read(&mut b), Ok(0)) || before >= 300 {
                break;
            }
        }
        for _ in 0..5 {
            frame(&mut w);
        }
        let end = format!(
            r#"{{"packets":{},"dropped":0,"end":"client"}}"#,
            frames.load(Ordering::Relaxed)
        );
        write_msg(&mut w, b'E', &[end.as_bytes()]).expect("end");
        before
    }

    /// A capture of [`director`]'s stream into `out`, Ctrl-C'd once 20
    /// frames came if `interrupt`: the frames it sent before it saw the
    /// client close, how the capture ended, and the frames it sent in all.
    fn streamed(out: &mut dyn Write, interrupt: bool) -> (u32, Result<Ended, String>, u32) {
        let (client, peer) = UnixStream::pair().expect("pair");
        client.set_read_timeout(Some(CLIENT_POLL)).expect("timeout");
        let frames = AtomicU32::new(0);
        let stop = AtomicBool::new(false);
        let (before, got) = std::thread::scope(|s| {
            let d = s.spawn(|| director(peer, &frames));
            let mut r = Interruptible {
                r: BufReader::new(client),
                stop: &stop,
                deadline: None,
            };
            if interrupt {
                while frames.load(Ordering::Relaxed) < 20 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                stop.store(true, Ordering::Relaxed);
            }
            let got = capture_into(&mut r, out, &stop);
            (d.join().expect("director"), got)
        });
        (before, got, frames.load(Ordering::Relaxed))
    }

    /// Records in a pcap file.
    fn records(mut pcap: &[u8]) -> usize {
        pcap = &pcap[24..];
        let mut n = 0;
        while pcap.len() >= 16 {
            let caplen = u32::from_le_bytes(pcap[8..12].try_into().unwrap()) as usize;
            pcap = &pcap[16 + caplen..];
            n += 1;
        }
        n
    }

    /// A Ctrl-C under a steady stream (no read ever waits) is seen at the
    /// next read: the client closes its half at once, and what the director
    /// sends until its end message is still written, so the file holds as
    /// many frames as the printed count. Looked at only when a read waited,
    /// the stop went unseen while the frames came.
    #[test]
    fn a_stop_under_a_steady_stream_ends_it_and_keeps_what_follows() {
        let mut pcap = Vec::new();
        let (before, got, frames) = streamed(&mut pcap, true);
        assert!(before < 100, "the close came after {before} frames");
        let got = got.expect("ended");
        assert_eq!(got.packets as u32, frames);
        assert_eq!(records(&pcap) as u64, got.packets, "every frame written");
    }

    /// A reader gone (EPIPE) ends the session too, writing nothing more.
    #[test]
    fn a_reader_gone_under_a_steady_stream_ends_it() {
        struct Gone;
        impl Write for Gone {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (before, got, _) = streamed(&mut Gone, false);
        assert!(before < 100, "the close came after {before} frames");
        assert!(got.is_ok(), "{got:?}");
    }

    /// A stream cut off without its end message is an error, never a
    /// finished capture (exit 0), and the `end` of the message is read.
    #[test]
    fn only_the_end_message_ends_a_capture() {
        let mut pcap = Vec::new();
        let stop = AtomicBool::new(false);
        let got = capture_into(&mut &[][..], &mut pcap, &stop);
        assert!(got.is_err_and(|e| e.contains("without its end message")));
        let mut msg = Vec::new();
        write_msg(
            &mut msg,
            b'E',
            &[br#"{"packets":3,"dropped":1,"end":"stopping"}"#],
        )
        .unwrap();
        let got = capture_into(&mut &msg[..], &mut pcap, &stop);
        let want = Ended {
            packets: 3,
            dropped: 1,
            stopped: true,
        };
        assert_eq!(got, Ok(want));
    }
}
