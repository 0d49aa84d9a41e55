//! The control socket: binding it, accepting clients, the credential check and
//! refusals, and serving one request per connection on its own thread (its
//! request read, and its reply written, each by a deadline of
//! [`proto::IO_TIMEOUT`]). `ringvs capture` and
//! `ringvs trace` start here too: their connection becomes a stream
//! (`crate::observe::stream`).

use super::{Ctl, RunError};
use crate::proto::{self, Command, Response};
use std::io::{BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Control-socket clients served at once.
pub const MAX_CLIENTS: usize = 16;

/// The request's reads, with one deadline for the whole request: each read
/// waits only for what is left of it, so a client that trickles a byte
/// now and then cannot hold its slot (one of [`MAX_CLIENTS`]) past
/// [`proto::IO_TIMEOUT`], as a per-read timeout let it.
struct Deadline<'a> {
    s: &'a UnixStream,
    until: Instant,
}

impl std::io::Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        self.s.set_read_timeout(Some(left))?;
        (&mut self.s).read(buf)
    }
}

impl Ctl {
    fn serve(&self, stream: UnixStream) {
        let mut reader = BufReader::new(Deadline {
            s: &stream,
            until: Instant::now() + proto::IO_TIMEOUT,
        });
        let resp = match proto::read_request(&mut reader) {
            Ok(req) => match req.cmd {
                Command::Adm { argv } => self.adm(&argv),
                Command::Restore { rules } => self.restore(&rules),
                Command::Stats { json } => self.stats(json),
                Command::Capture {
                    nic,
                    dir,
                    filter,
                    count,
                } => return self.capture(&stream, &nic, &dir, &filter, count),
                Command::Trace { filter, count } => return self.trace(&stream, &filter, count),
            },
            Err(r) => r,
        };
        if let Ok(mut line) = serde_json::to_string(&resp) {
            line.push('\n');
            let _ = proto::write_by_deadline(&stream, line.as_bytes(), proto::IO_TIMEOUT);
        }
    }

    // ---- `ringvs capture` / `ringvs trace`: the connection becomes a stream.

    fn capture(&self, stream: &UnixStream, nic: &str, dir: &str, filter: &str, count: u64) {
        crate::observe::stream::serve_capture(&*self.shared, stream, nic, dir, filter, count);
    }

    fn trace(&self, stream: &UnixStream, filter: &str, count: u64) {
        let sched = |proto: u8, vip: std::net::IpAddr, port: u16| {
            let st = self
                .adm
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // As the workers find it: a mark's rules first (`nat::mark`).
            let marked =
                |s: &&crate::config::Service| s.marks.iter().any(|m| m.matches(proto, vip, port));
            let services = st.cfg.services().iter();
            (services.clone().find(marked))
                .or_else(|| {
                    services.clone().find(|s| {
                        s.key.proto.number() == proto && s.key.addr == vip && s.key.port == port
                    })
                })
                .map(|s| s.sched.name())
        };
        crate::observe::stream::serve_trace(&*self.shared, stream, filter, count, &sched);
    }
}

/// Start serving the control socket on its own thread; each client gets a
/// short-lived thread so a slow one never blocks another or the control loop.
pub(super) fn start(listener: UnixListener, ctl: &Arc<Ctl>) -> Result<(), RunError> {
    let ctl = Arc::clone(ctl);
    std::thread::Builder::new()
        .name("ringvs-ctl".into())
        .spawn(move || accept_loop(listener, ctl))
        .map_err(|e| RunError::Invalid(format!("spawning control thread: {e}")))?;
    Ok(())
}

/// The control socket's file, removed when this is dropped: when the
/// director stops, and when its start fails after the bind (a port in use
/// for `--metrics`, a thread that cannot start), so that no dead socket is
/// left behind for `ringvs adm` to time out on. Only the file bound: not
/// one another director put at the path since.
pub(super) struct SocketFile {
    path: std::path::PathBuf,
    id: Option<(u64, u64)>,
}

impl SocketFile {
    fn id(path: &std::path::Path) -> Option<(u64, u64)> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let m = std::fs::symlink_metadata(path).ok()?;
        m.file_type().is_socket().then(|| (m.dev(), m.ino()))
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if self.id.is_some() && Self::id(&self.path) == self.id {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// How long `bind_control` waits for the lock on the control socket's
/// directory before it goes on without it.
const DIR_LOCK_WAIT: Duration = Duration::from_secs(2);

/// An exclusive lock on `d` (the directory `dir`), tried again every few
/// milliseconds for up to `wait`. Another director holds it only while it
/// places its socket; one held longer is some other process's (an flock
/// on /run), and waiting for it without end hung `ringvs run` at startup
/// without a word. Then, or on a file system without locks, `None`: the
/// lock is best effort, and the link in `bind_control` still refuses a
/// socket placed since the check.
fn lock_dir(d: std::fs::File, dir: &std::path::Path, wait: Duration) -> Option<std::fs::File> {
    let start = Instant::now();
    loop {
        match d.try_lock() {
            Ok(()) => return Some(d),
            Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                crate::log!(
                    "control: {} stays locked by another process after {} ms; placing the socket without the lock",
                    dir.display(),
                    wait.as_millis()
                );
                return None;
            }
            Err(std::fs::TryLockError::Error(_)) => return None,
        }
    }
}

pub(super) fn bind_control(path: &std::path::Path) -> Result<(UnixListener, SocketFile), RunError> {
    let err = |e| RunError::Socket {
        path: path.display().to_string(),
        err: e,
    };
    let taken = || {
        err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "another director is listening there (use --control PATH)",
        ))
    };
    // Two directors starting on one path: each checks, then places its
    // socket, under an exclusive lock on the directory (best effort: a
    // file system without locks still has the link below), so that one
    // never removes as stale the socket the other just placed.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let lock = std::fs::File::open(dir)
        .ok()
        .and_then(|d| lock_dir(d, dir, DIR_LOCK_WAIT));
    // A socket file left by a director that died: replace it, but never steal the
    // socket of one that is alive, and never remove anything that is not a socket
    // (a mistyped --control naming a file or a directory).
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a socket; not removing it (use another --control PATH)",
            )));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(taken());
        }
        std::fs::remove_file(path).map_err(err)?;
    }
    // Bind under a temporary name (of this call: two in one process do not
    // share it), restrict it to root, then link it into place: the socket
    // is never reachable with the umask's looser mode, and the link fails
    // if a socket got there since the check, where a rename would replace
    // it and leave its director listening on a name nobody reaches.
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}.{call}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let l = UnixListener::bind(&tmp).map_err(err)?;
    let placed = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    drop(lock);
    match placed {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(taken()),
        Err(e) => return Err(err(e)),
    }
    let file = SocketFile {
        path: path.to_path_buf(),
        id: SocketFile::id(path),
    };
    Ok((l, file))
}

fn accept_loop(listener: UnixListener, ctl: Arc<Ctl>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            // EMFILE and friends: don't spin.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        // Refused before it takes a client slot or a thread.
        if let Err(why) = check_peer(&stream) {
            refuse(&stream, &why);
            continue;
        }
        if ctl.clients.fetch_add(1, Ordering::AcqRel) >= MAX_CLIENTS {
            ctl.clients.fetch_sub(1, Ordering::AcqRel);
            refuse(&stream, "director busy: too many control clients");
            continue;
        }
        let c = Arc::clone(&ctl);
        let spawned = std::thread::Builder::new()
            .name("ringvs-client".into())
            .spawn(move || {
                c.serve(stream);
                c.clients.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            ctl.clients.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Only root, or the user the director runs as, may use the control socket
/// (its file mode 0600 says the same; this holds even if the mode is loosened
/// or the socket is passed on). Checked by the peer's credentials.
pub fn check_peer(stream: &UnixStream) -> Result<(), String> {
    use crate::io::cred;
    match cred::peer_cred(stream) {
        Ok(c) if c.uid == 0 || c.uid == cred::euid() => Ok(()),
        Ok(c) => Err(format!(
            "permission denied: the control socket is for root only (peer uid {}, pid {})",
            c.uid, c.pid
        )),
        Err(e) => Err(format!("permission denied: no peer credentials: {e}")),
    }
}

/// Answer a refused client with an error line, without waiting on it.
fn refuse(stream: &UnixStream, why: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    if let Ok(mut line) = serde_json::to_string(&Response::fail(1, why)) {
        line.push('\n');
        let _ = (&*stream).write_all(line.as_bytes());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::control::test_ctl as ctl;
    use std::io::{BufRead, Read};
    use std::path::PathBuf;

    /// Several clients at once over a real socket; garbage and oversized
    /// requests get errors and the server keeps serving.
    #[test]
    fn socket_serves_concurrent_clients_and_survives_garbage() {
        let (c, _garp) = ctl(1);
        let dir = std::env::temp_dir().join(format!("ringvs-ctl-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("ctl.sock");
        let (listener, _file) = bind_control(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let c2 = Arc::clone(&c);
        std::thread::spawn(move || accept_loop(listener, c2));

        let raw = |bytes: &[u8]| -> String {
            let mut s = UnixStream::connect(&path).unwrap();
            let _ = s.write_all(bytes);
            let _ = s.shutdown(std::net::Shutdown::Write);
            let mut out = String::new();
            let _ = std::io::BufReader::new(s).read_line(&mut out);
            out
        };
        assert!(raw(b"garbage\n").contains("malformed request"));
        assert!(raw(br#"{"v":2,"cmd":"adm","argv":[]}"#).contains("protocol version 2"));
        assert!(raw(br#"{"v":1,"cmd":"adm","argv":"-L"}"#).contains("malformed request"));
        let mut big = vec![b'x'; proto::MAX_REQUEST + 100];
        big.push(b'\n');
        assert!(raw(&big).contains("request too large"));

        let threads: Vec<_> = (0..8u16)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let svc = format!("198.18.0.110:{}", 1000 + i);
                    proto::adm(&path, &["-A", "-t", &svc, "-s", "rr"]).unwrap();
                    proto::adm(&path, &["-L", "-n"]).unwrap()
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().unwrap().starts_with("IP Virtual Server"));
        }
        let list = proto::adm(&path, &["-S", "-n"]).unwrap();
        assert_eq!(list.lines().count(), 8);
        let r = proto::call(
            &path,
            Command::Restore {
                rules: "-A -u 198.18.0.110:53 -s rr\n".into(),
            },
        )
        .unwrap();
        assert_eq!(r.code, 0);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&dir);
    }

    /// A control socket in a fresh directory, served by `accept_loop`.
    fn serving(name: &str) -> (PathBuf, PathBuf) {
        let (c, _garp) = ctl(1);
        let dir = std::env::temp_dir().join(format!("ringvs-{name}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("ctl.sock");
        let (listener, file) = bind_control(&path).unwrap();
        // The file lives as long as the server (its drop removes it).
        std::thread::spawn(move || {
            let _file = file;
            accept_loop(listener, c)
        });
        (dir, path)
    }

    /// The credential check itself, with the file mode out of the way: a process
    /// running as nobody (uid 65534) connects and is refused, root is served.
    #[test]
    fn non_root_peers_are_refused_by_credentials() {
        use std::os::unix::process::CommandExt;
        let python = std::path::Path::new("/usr/bin/python3");
        let ci = std::env::var("CI").as_deref() == Ok("true");
        if cred_euid() != 0 || !python.exists() {
            let why = "needs root and /usr/bin/python3 (to connect as uid 65534)";
            assert!(!ci, "cannot run under CI: {why}");
            eprintln!("SKIPPED (not CI): {why}");
            return;
        }
        let (dir, path) = serving("cred");
        // Loosen the mode so that only the credential check stands in the way.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let script = "import socket,sys\n\
            s=socket.socket(socket.AF_UNIX)\n\
            s.settimeout(5)\n\
            s.connect(sys.argv[1])\n\
            try: s.sendall(b'{\"v\":1,\"cmd\":\"adm\",\"argv\":[\"-A\",\"-t\",\"198.18.0.110:99\"]}\\n')\n\
            except BrokenPipeError: pass\n\
            print(s.makefile().readline(), end='')\n";
        let out = std::process::Command::new(python)
            .args(["-c", script, &path.display().to_string()])
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        let reply = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            reply.contains("permission denied") && reply.contains("peer uid 65534"),
            "{reply}"
        );
        // Nothing was changed, and root is still served.
        assert_eq!(proto::adm(&path, &["-S", "-n"]).unwrap(), "");
        proto::adm(&path, &["-A", "-t", "198.18.0.110:99", "-s", "rr"]).unwrap();
        assert_eq!(proto::adm(&path, &["-S", "-n"]).unwrap().lines().count(), 1);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&dir);
    }

    fn cred_euid() -> u32 {
        crate::io::cred::euid()
    }

    /// `--control PATH` replaces a stale socket but never removes a file, a
    /// directory or a symlink that is there.
    #[test]
    fn binding_never_removes_a_non_socket() {
        let dir = std::env::temp_dir().join(format!("ringvs-bind-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("rules.txt");
        std::fs::write(&file, "precious\n").unwrap();
        let sub = dir.join("subdir");
        std::fs::create_dir(&sub).unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        for p in [&file, &sub, &link] {
            let e = bind_control(p).map(|_| ()).unwrap_err().to_string();
            assert!(e.contains("not a socket"), "{}: {e}", p.display());
        }
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious\n");
        assert!(sub.is_dir());
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        // A stale socket (nothing listening) is replaced.
        let stale = dir.join("stale.sock");
        drop(UnixListener::bind(&stale).unwrap());
        let l = bind_control(&stale).unwrap();
        assert!(UnixStream::connect(&stale).is_ok());
        // A live one is not.
        let e = bind_control(&stale).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("another director"), "{e}");
        // The socket goes with the director (or its failed start)...
        drop(l);
        assert!(!stale.exists(), "the control socket was left behind");
        // ...but never another's put at the path since.
        let (l, file) = bind_control(&stale).unwrap();
        std::fs::remove_file(&stale).unwrap();
        let other = UnixListener::bind(&stale).unwrap();
        drop((l, file));
        assert!(
            UnixStream::connect(&stale).is_ok(),
            "another's socket was removed"
        );
        drop(other);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Another process holding an flock on the control socket's directory
    /// (any process can take one on /run) does not hang the start: after
    /// `DIR_LOCK_WAIT` the socket is placed without the lock, and works.
    #[test]
    fn a_directory_locked_by_another_process_does_not_hang_the_bind() {
        let dir = std::env::temp_dir().join(format!("ringvs-dirlock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // flock locks belong to the open file: this one conflicts with the
        // one bind_control takes on its own open of the directory.
        let held = std::fs::File::open(&dir).unwrap();
        held.lock().unwrap();
        let path = dir.join("c.sock");
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || {
            let _ = tx.send(bind_control(&p).map_err(|e| e.to_string()));
        });
        let bound = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("bind_control still waits for the directory's lock");
        let (_l, _file) = bound.unwrap();
        assert!(UnixStream::connect(&path).is_ok());
        drop(held);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Two directors starting at once with one `--control PATH`: exactly
    /// one gets it and the other is told another director is there, on a
    /// fresh path and on one holding a stale socket, round after round
    /// (the second placing its socket over the first's left that one
    /// listening on a name nobody reaches).
    #[test]
    fn two_directors_starting_on_one_path_one_wins() {
        let dir = std::env::temp_dir().join(format!("ringvs-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for round in 0..400 {
            let path = dir.join(format!("c{round}.sock"));
            if round % 2 == 1 {
                drop(UnixListener::bind(&path).unwrap());
            }
            let gate = Arc::new(std::sync::Barrier::new(2));
            let racers: Vec<_> = (0..2)
                .map(|_| {
                    let (gate, path) = (Arc::clone(&gate), path.clone());
                    std::thread::spawn(move || {
                        gate.wait();
                        bind_control(&path).map_err(|e| e.to_string())
                    })
                })
                .collect();
            let results: Vec<_> = racers.into_iter().map(|t| t.join().unwrap()).collect();
            let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
            let errs: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
            assert_eq!(won.len(), 1, "round {round}: refused {errs:?}");
            assert!(
                errs[0].contains("another director"),
                "round {round}: {errs:?}"
            );
            // The winner's socket is the one at the path.
            let (l, _file) = won[0];
            l.set_nonblocking(true).unwrap();
            let _c = UnixStream::connect(&path).unwrap();
            assert!(
                l.accept().is_ok(),
                "round {round}: the path is not the winner's"
            );
            drop(results);
            assert!(!path.exists(), "round {round}: left behind");
        }
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(left.is_empty(), "temporary names left: {left:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn our_own_peer_passes_the_check() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert_eq!(check_peer(&a), Ok(()));
    }

    /// Clients that connect and then say nothing, or half a request, hold their
    /// own thread only: others are answered at once.
    #[test]
    fn hanging_clients_do_not_block_others() {
        let (dir, path) = serving("hang");
        let mut hanging: Vec<UnixStream> = (0..4)
            .map(|_| UnixStream::connect(&path).unwrap())
            .collect();
        let mut half = UnixStream::connect(&path).unwrap();
        half.write_all(br#"{"v":1,"cmd":"adm","ar"#).unwrap();
        hanging.push(half);
        for i in 0..5 {
            let t = Instant::now();
            let svc = format!("198.18.0.110:{}", 2000 + i);
            proto::adm(&path, &["-A", "-t", &svc, "-s", "rr"]).unwrap();
            assert!(proto::adm(&path, &["-L", "-n"]).unwrap().contains(&svc));
            assert!(
                t.elapsed() < proto::IO_TIMEOUT / 2,
                "answered after {:?} with hanging clients",
                t.elapsed()
            );
        }
        // The hanging ones are cut off by the server's read timeout, not kept forever.
        let mut line = String::new();
        let mut r = std::io::BufReader::new(hanging.pop().unwrap());
        r.get_ref()
            .set_read_timeout(Some(proto::IO_TIMEOUT * 3))
            .unwrap();
        let t = Instant::now();
        let _ = r.read_line(&mut line);
        assert!(t.elapsed() < proto::IO_TIMEOUT * 2, "{:?}", t.elapsed());
        drop(hanging);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&dir);
    }

    /// A client that trickles its request, a byte every 400 ms (each read
    /// well within the timeout), is answered with an error once the
    /// request's time is up, not held for as long as it trickles.
    #[test]
    fn a_trickling_client_is_cut_off_at_the_requests_deadline() {
        let (dir, path) = serving("trickle");
        let mut s = UnixStream::connect(&path).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(400)))
            .unwrap();
        let t = Instant::now();
        let mut got = Vec::new();
        while t.elapsed() < proto::IO_TIMEOUT * 3 {
            if s.write_all(b" ").is_err() {
                break;
            }
            let mut buf = [0u8; 256];
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => continue,
            }
        }
        let answer = String::from_utf8_lossy(&got);
        assert!(answer.contains("reading request"), "{answer:?}");
        assert!(t.elapsed() < proto::IO_TIMEOUT * 2, "{:?}", t.elapsed());
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&dir);
    }

    /// A client that reads a large reply (a listing of 20,000 services,
    /// about 0.6 MB) 4 KiB every 200 ms, each read well within the timeout,
    /// is cut off once the reply's time is up: after 6 s, reading the rest
    /// at once finds the reply unfinished and the connection closed, where
    /// a director writing by a per-write timeout would still be writing.
    #[test]
    fn a_slow_reader_is_cut_off_at_the_replys_deadline() {
        let (dir, path) = serving("slowread");
        let rules: String = (0..20_000)
            .map(|i| format!("-A -t 198.18.{}.{}:80 -s rr\n", i / 250, i % 250 + 1))
            .collect();
        let r = proto::call(&path, Command::Restore { rules }).unwrap();
        assert_eq!(r.code, 0, "{}", r.err);
        let ask = || {
            let mut s = UnixStream::connect(&path).unwrap();
            s.write_all(b"{\"v\":1,\"cmd\":\"adm\",\"argv\":[\"-L\",\"-n\"]}\n")
                .unwrap();
            s
        };
        // The reply's bytes, read at once.
        let mut whole = Vec::new();
        ask().read_to_end(&mut whole).unwrap();
        let whole = whole.len();
        assert!(whole > 400_000, "{whole} bytes");
        let mut s = ask();
        s.set_read_timeout(Some(proto::IO_TIMEOUT * 3)).unwrap();
        let t = Instant::now();
        let mut got = 0usize;
        let mut buf = vec![0u8; 1 << 20];
        // Slowly past the deadline, then whatever the socket still holds at
        // once: a director still writing would finish the reply.
        while t.elapsed() < proto::IO_TIMEOUT + Duration::from_secs(1) {
            match s.read(&mut buf[..4096]) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        while let Ok(n @ 1..) = s.read(&mut buf) {
            got += n;
        }
        let took = t.elapsed();
        assert!(took < proto::IO_TIMEOUT * 3, "cut off after {took:?}");
        assert!(got < whole, "the reply was not finished: {got} of {whole}");
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&dir);
    }
}
