//! `ringvs run --metrics ADDR`: the figures of `ringvs stats` and the per-server
//! counters of `ipvsadm -L --stats` in Prometheus' text exposition format, served
//! over plain HTTP/1.0 by one thread (one scrape at a time; any path).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const IO_TIMEOUT: Duration = Duration::from_secs(2);
const ACCEPT_POLL: Duration = Duration::from_millis(50);

/// Bind `addr` and serve `render()` to every scrape until `stop` is set.
pub fn serve(
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    render: impl Fn() -> String + Send + 'static,
) -> io::Result<std::thread::JoinHandle<()>> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("ringvs-metrics".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let _ = answer(s, &render);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(ACCEPT_POLL)
                    }
                    Err(_) => std::thread::sleep(ACCEPT_POLL),
                }
            }
        })
}

fn answer(mut s: TcpStream, render: &impl Fn() -> String) -> io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    // Read the request head (bounded); its content does not matter.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let body = render();
    write!(
        s,
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body.as_bytes())
}

/// Accumulates metric families: `# HELP`/`# TYPE` once per name, then samples.
#[derive(Default)]
pub struct Text {
    out: String,
    seen: std::collections::HashSet<String>,
}

impl Text {
    pub fn sample(&mut self, name: &str, kind: &str, help: &str, labels: &[(&str, &str)], v: f64) {
        if self.seen.insert(name.to_string()) {
            self.out
                .push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        }
        self.out.push_str(name);
        if !labels.is_empty() {
            let l: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            self.out.push_str(&format!("{{{}}}", l.join(",")));
        }
        self.out.push_str(&format!(" {v}\n"));
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod test {
    use super::*;

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
        drop(l);
        let h = serve(addr, Arc::clone(&stop), || "x 1\n".to_string()).unwrap();
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        assert!(r.starts_with("HTTP/1.0 200 OK\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\nx 1\n"), "{r}");
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
    }
}
