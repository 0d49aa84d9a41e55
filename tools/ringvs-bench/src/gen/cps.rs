//! `tcp-cps`: new kernel TCP connections per second through the director.
//!
//! Each thread loops until the deadline: connect, send `GET / HTTP/1.0`, read
//! to EOF (the server closes first, so TIME_WAIT stays on the server and the
//! client never runs out of ports), close.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

pub const REQUEST: &[u8] = b"GET / HTTP/1.0\r\n\r\n";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause after a failure, so that a refused port is not hammered.
const FAIL_PAUSE: Duration = Duration::from_millis(1);
pub const MAX_THREADS: usize = 256;

#[derive(Debug, Serialize)]
pub struct CpsReport {
    pub mode: &'static str,
    /// Completed transactions (connect, request, response to EOF, close).
    pub connections: u64,
    pub failures: u64,
    pub secs: f64,
    /// Completed connections per second.
    pub cps: f64,
    pub threads: usize,
    /// Response bytes read, in total.
    pub bytes: u64,
    /// One whole transaction, microseconds.
    pub lat_us: crate::blast::Latency,
    /// The first failure's message, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

struct ThreadResult {
    ok: u64,
    failed: u64,
    bytes: u64,
    hist: Histogram<u64>,
    first_error: Option<String>,
}

fn once(dst: SocketAddr, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut s = TcpStream::connect_timeout(&dst, CONNECT_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    s.set_nodelay(true)?;
    s.write_all(REQUEST)?;
    buf.clear();
    s.read_to_end(buf)
}

pub fn run(dst: SocketAddr, threads: usize, secs: f64) -> Result<CpsReport, String> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let h = thread::Builder::new()
            .name(format!("cps-{t}"))
            .spawn(move || -> Result<ThreadResult, String> {
                let mut r = ThreadResult {
                    ok: 0,
                    failed: 0,
                    bytes: 0,
                    hist: Histogram::new_with_bounds(1, 60_000_000, 3)
                        .map_err(|e| e.to_string())?,
                    first_error: None,
                };
                let mut buf = Vec::with_capacity(4096);
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    match once(dst, &mut buf) {
                        Ok(n) => {
                            r.ok += 1;
                            r.bytes += n as u64;
                            let us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
                            r.hist.saturating_record(us.max(1));
                        }
                        Err(e) => {
                            r.failed += 1;
                            r.first_error.get_or_insert_with(|| e.to_string());
                            thread::sleep(FAIL_PAUSE);
                        }
                    }
                }
                Ok(r)
            })
            .map_err(|e| format!("starting a client thread: {e}"))?;
        handles.push(h);
    }
    let mut total =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?;
    let (mut ok, mut failed, mut bytes, mut first_error) = (0, 0, 0, None);
    for h in handles {
        let r = h
            .join()
            .map_err(|_| "a client thread panicked".to_string())??;
        ok += r.ok;
        failed += r.failed;
        bytes += r.bytes;
        if first_error.is_none() {
            first_error = r.first_error;
        }
        total.add(&r.hist).map_err(|e| e.to_string())?;
    }
    let secs = start.elapsed().as_secs_f64();
    let q = |p: f64| total.value_at_quantile(p) as f64;
    let lat_us = if total.is_empty() {
        crate::blast::Latency::default()
    } else {
        crate::blast::Latency {
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: total.max() as f64,
        }
    };
    Ok(CpsReport {
        mode: "tcp-cps",
        connections: ok,
        failures: failed,
        secs: (secs * 1000.0).round() / 1000.0,
        cps: (ok as f64 / secs).round(),
        threads,
        bytes,
        lat_us,
        first_error,
    })
}
