//! A tiny HTTP server and client, so the demo needs no curl, nginx or python.
//!
//! The server answers every request with `200 OK` and a fixed text body.
//! HTTP/1.0 requests (or HTTP/1.1 with `Connection: close`) get one answer
//! and the connection is closed; other HTTP/1.1 requests keep the connection
//! open for more (at most [`MAX_REQUESTS_PER_CONN`]). Everything is bounded:
//! concurrent connections, header size, timeouts, server lifetime.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Most connections served at once; more are answered 503 and closed.
pub const MAX_CONNS: usize = 64;
/// Most requests served on one keep-alive connection.
pub const MAX_REQUESTS_PER_CONN: usize = 10_000;
/// Largest request or response head (request line + headers).
pub const MAX_HEAD: usize = 8 * 1024;
/// Largest response body a client accepts.
pub const MAX_BODY: usize = 1024 * 1024;
/// Server-side read/write timeout on a connection.
pub const CONN_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Read into `buf` until it holds a full head; returns the head's length
/// (including the blank line). `Ok(None)` on a clean EOF before any byte.
fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find_head_end(buf) {
            return Ok(Some(end));
        }
        if buf.len() > MAX_HEAD {
            return Err(invalid(format!("head larger than {MAX_HEAD} bytes")));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The value of header `name` (case-insensitive) in a head's text.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn content_length(head: &str) -> io::Result<Option<usize>> {
    header(head, "content-length")
        .map(|v| v.parse().map_err(|_| invalid("bad Content-Length")))
        .transpose()
}

/// Serve `body` on `listen` for at most `max_secs` seconds. `[::]:PORT`
/// serves both families (see [`bind`]).
pub fn serve(listen: SocketAddr, body: &str, max_secs: u64) -> io::Result<()> {
    serve_listener(bind(listen)?, body, max_secs)
}

/// A listener on `listen`. The IPv6 wildcard `[::]` is bound dual stack
/// (`IPV6_V6ONLY` off, whatever `net.ipv6.bindv6only` says), so that one
/// server answers IPv4 clients (as `::ffff:a.b.c.d`) and IPv6 clients alike;
/// every other address binds as `TcpListener::bind` would.
pub fn bind(listen: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    if !(listen.is_ipv6() && listen.ip().is_unspecified()) {
        return TcpListener::bind(listen);
    }
    let s = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    s.set_only_v6(false)?;
    // As `TcpListener::bind` does on Unix: a restarted server may rebind at
    // once although connections of the last one are in TIME_WAIT.
    s.set_reuse_address(true)?;
    s.bind(&listen.into())?;
    s.listen(128)?;
    Ok(s.into())
}

/// [`serve`] on an already bound listener (lets tests bind port 0).
pub fn serve_listener(listener: TcpListener, body: &str, max_secs: u64) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(max_secs);
    let stop = Arc::new(AtomicBool::new(false));
    let mut wake = listener.local_addr()?;
    if wake.ip().is_unspecified() {
        wake.set_ip(match wake.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    {
        // At the deadline, raise `stop` and unblock accept() with a connection.
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            thread::sleep(deadline.saturating_duration_since(Instant::now()));
            stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        });
    }
    let body: Arc<str> = Arc::from(body);
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(mut stream) = stream else { continue };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNS {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
            let _ = stream.write_all(
                b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            continue;
        }
        let (body, conn_active) = (Arc::clone(&body), Arc::clone(&active));
        let spawned = thread::Builder::new().spawn(move || {
            // Errors only end this connection.
            let _ = handle_conn(stream, &body, deadline);
            conn_active.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
    Ok(())
}

fn handle_conn(mut stream: TcpStream, body: &str, deadline: Instant) -> io::Result<()> {
    stream.set_read_timeout(Some(CONN_TIMEOUT))?;
    stream.set_write_timeout(Some(CONN_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(1024);
    for served in 1..=MAX_REQUESTS_PER_CONN {
        let Some(end) = read_head(&mut stream, &mut buf)? else {
            return Ok(());
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let mut parts = head.split("\r\n").next().unwrap_or("").split(' ');
        let (Some(_method), Some(_path), Some(version)) =
            (parts.next(), parts.next(), parts.next())
        else {
            stream.write_all(
                b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return Ok(());
        };
        // Skip a request body, if any (bounded).
        let body_len = content_length(&head)?.unwrap_or(0);
        if body_len > MAX_HEAD {
            return Err(invalid("request body too large"));
        }
        while buf.len() < end + body_len {
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.drain(..end + body_len);

        let keep_alive = version == "HTTP/1.1"
            && !header(&head, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
            && served < MAX_REQUESTS_PER_CONN
            && Instant::now() < deadline;
        let response = format!(
            "{} 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{body}\n",
            if keep_alive { "HTTP/1.1" } else { "HTTP/1.0" },
            body.len() + 1,
            if keep_alive {
                ""
            } else {
                "Connection: close\r\n"
            },
        );
        stream.write_all(response.as_bytes())?;
        if !keep_alive {
            break;
        }
    }
    Ok(())
}

/// The status code of a response head.
fn parse_status(head: &str) -> io::Result<u16> {
    let line = head.split("\r\n").next().unwrap_or("");
    let mut parts = line.split(' ');
    match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => code
            .parse()
            .map_err(|_| invalid(format!("bad status line {line:?}"))),
        _ => Err(invalid(format!("bad status line {line:?}"))),
    }
}

fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// One `GET path` over HTTP/1.0 on a fresh connection. `timeout` bounds
/// the connect and the whole exchange.
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> io::Result<HttpResponse> {
    let deadline = Instant::now() + timeout;
    let mut stream = connect(addr, timeout)?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_HEAD + MAX_BODY {
            return Err(invalid("response too large"));
        }
    }
    let end = find_head_end(&buf).ok_or_else(|| invalid("response without a complete head"))?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let status = parse_status(&head)?;
    let body = &buf[end..];
    if let Some(len) = content_length(&head)?
        && len != body.len()
    {
        return Err(invalid(format!(
            "Content-Length {len} but {} body bytes",
            body.len()
        )));
    }
    Ok(HttpResponse {
        status,
        body: String::from_utf8_lossy(body).into_owned(),
    })
}

/// An HTTP/1.1 client that sends all its requests on one connection.
#[derive(Debug)]
pub struct KeepAliveClient {
    stream: TcpStream,
    addr: SocketAddr,
    buf: Vec<u8>,
    closed: bool,
}

impl KeepAliveClient {
    /// Connect; `timeout` bounds the connect and each later read/write.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<Self> {
        Ok(Self {
            stream: connect(addr, timeout)?,
            addr,
            buf: Vec::new(),
            closed: false,
        })
    }

    /// The client's own address (source port of the connection).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// `GET path` on the kept connection. Fails with `NotConnected` once the
    /// server has announced `Connection: close` (no silent reconnect).
    pub fn get(&mut self, path: &str) -> io::Result<HttpResponse> {
        if self.closed {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "server closed the keep-alive connection",
            ));
        }
        let req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr);
        self.stream.write_all(req.as_bytes())?;
        let end = read_head(&mut self.stream, &mut self.buf)?
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        let status = parse_status(&head)?;
        let len = content_length(&head)?.ok_or_else(|| invalid("no Content-Length"))?;
        if len > MAX_BODY {
            return Err(invalid(format!("body of {len} bytes is too large")));
        }
        let mut chunk = [0u8; 4096];
        while self.buf.len() < end + len {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8_lossy(&self.buf[end..end + len]).into_owned();
        self.buf.drain(..end + len);
        self.closed = !head.starts_with("HTTP/1.1")
            || header(&head, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        Ok(HttpResponse { status, body })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (crate rule)
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(5);

    fn server(body: &str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let body = body.to_owned();
        thread::spawn(move || serve_listener(listener, &body, 20));
        addr
    }

    #[test]
    fn get_one_shot() {
        let addr = server("hello");
        let r = get(addr, "/", T).unwrap();
        assert_eq!(
            r,
            HttpResponse {
                status: 200,
                body: "hello\n".into()
            }
        );
    }

    #[test]
    fn keep_alive_many_requests_one_connection() {
        let addr = server("ka");
        let mut c = KeepAliveClient::connect(addr, T).unwrap();
        for _ in 0..100 {
            let r = c.get("/x").unwrap();
            assert_eq!((r.status, r.body.as_str()), (200, "ka\n"));
        }
    }

    #[test]
    fn http10_closes_and_connection_close_honoured() {
        let addr = server("b");
        let mut s = connect(addr, T).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap(); // EOF proves the close
        assert!(out.starts_with("HTTP/1.0 200 OK\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\nb\n"), "{out}");
    }

    #[test]
    fn oversized_head_is_dropped() {
        let addr = server("b");
        let mut s = connect(addr, T).unwrap();
        let junk = vec![b'a'; MAX_HEAD + 5000];
        let _ = s.write_all(&junk);
        let mut out = Vec::new();
        // The server gives up: EOF or reset, never a 200.
        let _ = s.read_to_end(&mut out);
        assert!(!out.starts_with(b"HTTP/1.0 200"));
    }

    #[test]
    fn server_exits_after_max_secs() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let start = Instant::now();
        serve_listener(listener, "x", 1).unwrap();
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn ipv6_wildcard_serves_both_families() {
        let listener = bind("[::]:0".parse().unwrap()).unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || serve_listener(listener, "both", 20));
        for host in ["127.0.0.1", "[::1]"] {
            let addr: SocketAddr = format!("{host}:{port}").parse().unwrap();
            let r = get(addr, "/", T).unwrap();
            assert_eq!((r.status, r.body.as_str()), (200, "both\n"), "via {addr}");
            let mut c = KeepAliveClient::connect(addr, T).unwrap();
            assert_eq!(c.get("/").unwrap().body, "both\n", "keep-alive via {addr}");
            assert_eq!(c.local_addr().unwrap().is_ipv6(), host.starts_with('['));
        }
    }

    #[test]
    fn get_times_out_on_silent_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let start = Instant::now();
        let err = get(addr, "/", Duration::from_millis(300)).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{err}"
        );
        assert!(start.elapsed() < Duration::from_secs(2));
        drop(listener);
    }
}
