//! `ringvs run --metrics ADDR`: the figures of `ringvs stats`, the per-server
//! counters of `ipvsadm -L --stats` and node_exporter's `node_ipvs_*` metrics in
//! Prometheus' text exposition format, served over plain HTTP/1.0 (any path).
//!
//! Each scrape is answered on its own thread, up to [`MAX_SCRAPES`] at once (more
//! get a 503 at once), and each has [`REQUEST_DEADLINE`] in all to send its
//! request and read the answer: a slow or silent client never holds up another.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Scrapes answered at once.
pub const MAX_SCRAPES: usize = 8;
/// Time a scrape has in all, to send its request head and to read the answer.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
const ACCEPT_POLL: Duration = Duration::from_millis(50);
const HEAD_MAX: usize = 8192;

/// Serve `render()` to every scrape on `listener` until `stop` is set. The
/// caller binds it (`TcpListener::bind`), so that a port in use fails the
/// director's start before anything runs.
pub fn serve(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    render: impl Fn() -> String + Send + Sync + 'static,
) -> io::Result<std::thread::JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let render = Arc::new(render);
    let active = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("ringvs-metrics".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => scrape(s, &render, &active),
                    Err(_) => std::thread::sleep(ACCEPT_POLL),
                }
            }
        })
}

/// Answer one scrape on its own thread, or 503 if too many are being answered.
fn scrape<F: Fn() -> String + Send + Sync + 'static>(
    s: TcpStream,
    render: &Arc<F>,
    active: &Arc<AtomicUsize>,
) {
    if active.fetch_add(1, Ordering::AcqRel) >= MAX_SCRAPES {
        active.fetch_sub(1, Ordering::AcqRel);
        busy(s);
        return;
    }
    let (r, a) = (Arc::clone(render), Arc::clone(active));
    let spawned = std::thread::Builder::new()
        .name("ringvs-scrape".into())
        .spawn(move || {
            let _ = answer(s, &*r, Instant::now() + REQUEST_DEADLINE);
            a.fetch_sub(1, Ordering::AcqRel);
        });
    if spawned.is_err() {
        active.fetch_sub(1, Ordering::AcqRel);
    }
}

fn busy(mut s: TcpStream) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = s.write_all(
        b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
}

/// Time left before `deadline`, or a timeout error.
fn left(deadline: Instant) -> io::Result<Duration> {
    let d = deadline.saturating_duration_since(Instant::now());
    if d.is_zero() {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "scrape deadline"));
    }
    Ok(d)
}

fn answer(mut s: TcpStream, render: &impl Fn() -> String, deadline: Instant) -> io::Result<()> {
    s.set_nonblocking(false)?;
    // Read the request head (bounded in size and in time): its end, a blank
    // line (a bare LF ending lines too, as RFC 9112 §2.2 allows), and
    // whether it asks for the head only; nothing else of it matters.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let ended =
        |h: &[u8]| h.windows(4).any(|w| w == b"\r\n\r\n") || h.windows(2).any(|w| w == b"\n\n");
    while !ended(&head) && head.len() < HEAD_MAX {
        s.set_read_timeout(Some(left(deadline)?))?;
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let body = render();
    let mut out = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    // RFC 9110 §9.3.2: HEAD gets the headers of GET, no content.
    if !head.starts_with(b"HEAD ") {
        out.extend_from_slice(body.as_bytes());
    }
    let mut at = 0;
    while at < out.len() {
        s.set_write_timeout(Some(left(deadline)?))?;
        match s.write(&out[at..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Accumulates metric families, written as the text format 0.0.4 wants
/// them: each family's `# HELP` and `# TYPE` once, then all its samples in
/// one group, in the order the families first came; a summary's `_count`
/// and `_sum` samples are the summary's.
#[derive(Default)]
pub struct Text {
    /// Each family's header and samples.
    families: Vec<(String, String)>,
    /// A family's place in `families`, and whether it is a summary.
    index: std::collections::HashMap<String, (usize, bool)>,
}

impl Text {
    pub fn sample(&mut self, name: &str, kind: &str, help: &str, labels: &[(&str, &str)], v: f64) {
        let of_summary = ["_count", "_sum"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .find_map(|base| self.index.get(base).filter(|(_, summary)| *summary));
        let i = match of_summary.or_else(|| self.index.get(name)) {
            Some(&(i, _)) => i,
            None => {
                let header = format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
                self.families.push((header, String::new()));
                let i = self.families.len() - 1;
                self.index.insert(name.to_string(), (i, kind == "summary"));
                i
            }
        };
        let out = &mut self.families[i].1;
        out.push_str(name);
        if !labels.is_empty() {
            let l: Vec<String> = labels
                .iter()
                .map(|(k, v)| {
                    let v = v
                        .replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('\n', "\\n");
                    format!("{k}=\"{v}\"")
                })
                .collect();
            out.push_str(&format!("{{{}}}", l.join(",")));
        }
        out.push_str(&format!(" {v}\n"));
    }

    pub fn finish(self) -> String {
        self.families.into_iter().map(|(h, s)| h + &s).collect()
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn exposition_format() {
        let mut t = Text::default();
        t.sample("a_total", "counter", "A.", &[("worker", "0")], 3.0);
        t.sample("a_total", "counter", "A.", &[("worker", "1")], 4.0);
        t.sample("b", "gauge", "B.", &[("x", "q\"")], 0.5);
        assert_eq!(
            t.finish(),
            "# HELP a_total A.\n# TYPE a_total counter\na_total{worker=\"0\"} 3\n\
             a_total{worker=\"1\"} 4\n# HELP b B.\n# TYPE b gauge\nb{x=\"q\\\"\"} 0.5\n"
        );
    }

    #[test]
    fn serves_over_http() {
        let stop = Arc::new(AtomicBool::new(false));
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = serve(l, Arc::clone(&stop), || "x 1\n".to_string()).unwrap();
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        assert!(r.starts_with("HTTP/1.0 200 OK\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\nx 1\n"), "{r}");
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
    }

    fn get(addr: SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut r = String::new();
        let _ = s.read_to_string(&mut r);
        r
    }

    /// Silent and dripping clients do not hold up other scrapes, and each is cut
    /// off at the request deadline however it drips; past MAX_SCRAPES at once
    /// a scrape gets a 503 at once.
    #[test]
    fn slow_clients_do_not_hold_up_scrapes() {
        let stop = Arc::new(AtomicBool::new(false));
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = serve(l, Arc::clone(&stop), || "x 1\n".to_string()).unwrap();
        let silent = TcpStream::connect(addr).unwrap();
        let mut drip = TcpStream::connect(addr).unwrap();
        let t = Instant::now();
        let r = get(addr);
        assert!(r.starts_with("HTTP/1.0 200 OK\r\n"), "{r}");
        assert!(t.elapsed() < REQUEST_DEADLINE / 2, "{:?}", t.elapsed());
        // A byte every 100 ms never finishes the head: the server closes it by
        // the deadline (a timeout per read would keep it forever).
        let t = Instant::now();
        let mut cut = false;
        while t.elapsed() < REQUEST_DEADLINE * 3 {
            if drip.write_all(b"G").is_err() {
                cut = true;
                break;
            }
            drip.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let mut b = [0u8; 64];
            match drip.read(&mut b) {
                Ok(0) => {
                    cut = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    cut = true;
                    break;
                }
                _ => {}
            }
        }
        assert!(cut, "dripping client still served after {:?}", t.elapsed());
        assert!(t.elapsed() < REQUEST_DEADLINE * 2, "{:?}", t.elapsed());
        drop(silent);
        // More silent clients than scrape threads: the next one hears 503 now.
        let hold: Vec<TcpStream> = (0..MAX_SCRAPES + 1)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        let deadline = Instant::now() + REQUEST_DEADLINE;
        let mut r = get(addr);
        while !r.starts_with("HTTP/1.0 503") && Instant::now() < deadline {
            r = get(addr);
        }
        assert!(r.starts_with("HTTP/1.0 503"), "{r}");
        drop(hold);
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
    }

    fn ask(addr: SocketAddr, req: &[u8]) -> (String, Duration) {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let t = Instant::now();
        s.write_all(req).unwrap();
        let mut r = Vec::new();
        let _ = s.read_to_end(&mut r);
        (String::from_utf8_lossy(&r).into_owned(), t.elapsed())
    }

    /// `req` asked of a metrics server of page `x 1`: the answer, and how
    /// long it took.
    fn asked(req: &[u8]) -> (String, Duration) {
        let stop = Arc::new(AtomicBool::new(false));
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = serve(l, Arc::clone(&stop), || "x 1\n".to_string()).unwrap();
        let got = ask(addr, req);
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
        got
    }

    #[test]
    fn head_gets_the_headers_without_the_body() {
        let (r, _) = asked(b"HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(r.ends_with("\r\n\r\n"), "HEAD answered with a body: {r:?}");
    }

    #[test]
    fn a_request_whose_lines_end_in_a_bare_lf_is_answered() {
        let (r, t) = asked(b"GET /metrics HTTP/1.0\n\n");
        assert!(r.starts_with("HTTP/1.0 200 OK"), "after {t:?}: {r:?}");
    }
}
