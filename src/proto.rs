//! The control socket protocol (version 1), spoken by `ringvs adm` / `ringvs stats`.
//!
//! One request per connection: the client writes one line of JSON and the director
//! answers with one line of JSON, then closes. See `docs/control.md`.
//!
//! ```text
//! → {"v":1,"cmd":"adm","argv":["-A","-t","198.18.0.110:80","-s","rr"]}
//! ← {"code":0,"out":"","err":""}
//! ```

use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

pub const VERSION: u32 = 1;
/// Where `ringvs run` listens and `ringvs adm` connects unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/ringvs.sock";
/// Largest request line the director reads (a `-R` request carries a whole
/// rules file: 64 Ki real servers at about 60 bytes a line fit).
pub const MAX_REQUEST: usize = 8 << 20;
/// How long either side waits for the other.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Most words an `adm` request's command line may have (ipvsadm's longest,
/// a real server with every option and its scripts, is under a hundred).
pub const MAX_ARGV: usize = 4096;

/// A request's command, as the client writes it (`cmd` and the variant's
/// fields beside `v`). The director reads it back with [`read_request`],
/// not with a derived `Deserialize`: serde buffers every field of a
/// flattened tagged enum, unknown ones too, as a tree many times its size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Command {
    /// An ipvsadm command line (without the program name).
    Adm { argv: Vec<String> },
    /// `ipvsadm -R`: rules in `ipvsadm -S` format, as read from the client's
    /// standard input.
    Restore { rules: String },
    /// Counters of every worker.
    Stats { json: bool },
    /// Stream the frames seen at the chosen points as they pass (see
    /// `observe::stream`): `nic` is ext, int or both, `dir` rx, tx or both,
    /// `filter` an `observe::filter` expression, `count` 0 for no limit.
    Capture {
        nic: String,
        dir: String,
        filter: String,
        count: u64,
    },
    /// Stream what the workers decide for each received packet matching `filter`.
    Trace { filter: String, count: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Request {
    pub v: u32,
    #[serde(flatten)]
    pub cmd: Command,
}

impl Request {
    /// The length of the line [`call`] writes for this request, newline
    /// included: what the director holds against [`MAX_REQUEST`]. JSON
    /// escapes a string's newlines, tabs, quotes and backslashes in two
    /// bytes each (other control characters in six), so a rules file can
    /// be well under the limit and its request over it.
    pub fn encoded_len(&self) -> usize {
        struct Count(usize);
        impl Write for Count {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0 += b.len();
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut n = Count(0);
        // Writing into a counter fails only if serializing does, which a
        // request of strings and numbers cannot.
        let _ = serde_json::to_writer(&mut n, self);
        n.0 + 1
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The exit code the client should exit with.
    pub code: i32,
    /// Text for the client's standard output.
    pub out: String,
    /// Text for the client's standard error.
    pub err: String,
}

impl Response {
    pub fn ok(out: String) -> Self {
        Self {
            code: 0,
            out,
            err: String::new(),
        }
    }

    pub fn fail(code: i32, err: impl Into<String>) -> Self {
        let mut err = err.into();
        if !err.ends_with('\n') {
            err.push('\n');
        }
        Self {
            code,
            out: String::new(),
            err,
        }
    }
}

/// Send one request to the director at `socket` and wait for its answer.
pub fn call(socket: &Path, cmd: Command) -> Result<Response, String> {
    let s = UnixStream::connect(socket).map_err(|e| {
        format!(
            "cannot reach the director at {}: {e} (is `ringvs run` running, as root, with this --control?)",
            socket.display()
        )
    })?;
    exchange(s, socket, cmd).map(|(_, r)| r)
}

/// Write `cmd` to the director at `socket` over the connected `s` and read
/// its answer; the stream, for what follows an answer (a capture), and the
/// answer.
pub fn exchange(
    s: UnixStream,
    socket: &Path,
    cmd: Command,
) -> Result<(BufReader<UnixStream>, Response), String> {
    s.set_read_timeout(Some(IO_TIMEOUT * 2))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut line =
        serde_json::to_string(&Request { v: VERSION, cmd }).map_err(|e| e.to_string())?;
    line.push('\n');
    // A director that refuses us (credentials, too many clients) answers and
    // closes without reading: the write may fail, the answer is still there.
    let written = (&s)
        .write_all(line.as_bytes())
        .map_err(|e| format!("writing to {}: {e}", socket.display()));
    let mut r = BufReader::new(s);
    let mut answer = String::new();
    match r.read_line(&mut answer) {
        Ok(n) if n > 0 => {}
        Ok(_) => {
            return Err(written
                .err()
                .unwrap_or_else(|| format!("{} closed without answering", socket.display())));
        }
        Err(e) => {
            let busy = matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            );
            return Err(written.err().unwrap_or_else(|| match busy {
                // It may still carry the command out once it gets to it.
                true => format!(
                    "no answer from the director at {} within {} s: it may still carry \
                     the command out (check with -L or -S)",
                    socket.display(),
                    (IO_TIMEOUT * 2).as_secs()
                ),
                false => format!("reading from {}: {e}", socket.display()),
            }));
        }
    }
    let resp =
        serde_json::from_str(&answer).map_err(|e| format!("bad answer from the director: {e}"))?;
    Ok((r, resp))
}

/// Run one ipvsadm command line on the director; its output, or its error message.
pub fn adm(socket: &Path, args: &[&str]) -> Result<String, String> {
    let argv = args.iter().map(|s| s.to_string()).collect();
    let r = call(socket, Command::Adm { argv })?;
    if r.code != 0 {
        return Err(format!(
            "ringvs adm {}: {}",
            args.join(" "),
            r.err.trim_end()
        ));
    }
    Ok(r.out)
}

/// Read one request line from a client, bounded in size.
///
/// In three passes over the line, each building only what it keeps: `v`,
/// then `cmd`, then that command's own fields (everything else skipped as
/// it is read, never built). What a request costs is a small multiple of
/// its size, whatever its fields hold: serde's `flatten` of the tagged
/// `Command` buffered every field whole first, 34 times the line for an
/// unknown field holding a list of 8 MiB.
pub fn read_request(r: &mut impl BufRead) -> Result<Request, Response> {
    let mut buf = Vec::new();
    let mut limited = r.take(MAX_REQUEST as u64 + 1);
    limited
        .read_until(b'\n', &mut buf)
        .map_err(|e| Response::fail(2, format!("reading request: {e}")))?;
    if buf.len() > MAX_REQUEST {
        return Err(Response::fail(2, "request too large"));
    }
    let malformed = |e: serde_json::Error| Response::fail(2, format!("malformed request: {e}"));
    // The version first, so a newer client gets a version error rather than a
    // complaint about fields this director does not know.
    #[derive(Deserialize)]
    struct Version {
        v: Option<Ver>,
    }
    match serde_json::from_slice::<Version>(&buf)
        .map_err(malformed)?
        .v
    {
        Some(Ver::Number(v)) if v == u64::from(VERSION) => {}
        v => {
            let v = match v {
                None => "missing".to_string(),
                Some(Ver::Number(n)) => n.to_string(),
                Some(Ver::Other(text)) => text,
            };
            return Err(Response::fail(
                2,
                format!("protocol version {v} not supported (this director speaks {VERSION})"),
            ));
        }
    }
    #[derive(Deserialize)]
    struct Tag {
        cmd: Kind,
    }
    let cmd = match serde_json::from_slice::<Tag>(&buf).map_err(malformed)?.cmd {
        Kind::Adm => {
            #[derive(Deserialize)]
            struct Adm {
                argv: Words,
            }
            let argv = serde_json::from_slice::<Adm>(&buf)
                .map_err(malformed)?
                .argv
                .0;
            Command::Adm { argv }
        }
        Kind::Restore => {
            #[derive(Deserialize)]
            struct Restore {
                rules: String,
            }
            let rules = serde_json::from_slice::<Restore>(&buf)
                .map_err(malformed)?
                .rules;
            Command::Restore { rules }
        }
        Kind::Stats => {
            #[derive(Deserialize)]
            struct Stats {
                json: bool,
            }
            let json = serde_json::from_slice::<Stats>(&buf)
                .map_err(malformed)?
                .json;
            Command::Stats { json }
        }
        Kind::Capture => {
            #[derive(Deserialize)]
            struct Capture {
                nic: String,
                dir: String,
                #[serde(default)]
                filter: String,
                #[serde(default)]
                count: u64,
            }
            let c = serde_json::from_slice::<Capture>(&buf).map_err(malformed)?;
            Command::Capture {
                nic: c.nic,
                dir: c.dir,
                filter: c.filter,
                count: c.count,
            }
        }
        Kind::Trace => {
            #[derive(Deserialize)]
            struct Trace {
                #[serde(default)]
                filter: String,
                #[serde(default)]
                count: u64,
            }
            let t = serde_json::from_slice::<Trace>(&buf).map_err(malformed)?;
            Command::Trace {
                filter: t.filter,
                count: t.count,
            }
        }
    };
    Ok(Request { v: VERSION, cmd })
}

/// The commands `cmd` names (those of [`Command`]), read as serde reads an
/// internally tagged enum's tag: a name (a number is refused, `expected
/// variant identifier`).
#[derive(Deserialize)]
#[serde(variant_identifier, rename_all = "lowercase")]
enum Kind {
    Adm,
    Restore,
    Stats,
    Capture,
    Trace,
}

/// A request's `v`: an unsigned integer, or the text the version error
/// shows for anything else (a list or an object as `[…]` or `{…}`, its
/// contents skipped, not built).
enum Ver {
    Number(u64),
    Other(String),
}

impl<'de> Deserialize<'de> for Ver {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Any;
        impl<'de> serde::de::Visitor<'de> for Any {
            type Value = Ver;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a protocol version")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Ver, E> {
                Ok(Ver::Number(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Ver, E> {
                Ok(Ver::Other(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Ver, E> {
                Ok(Ver::Other(serde_json::Value::from(v).to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Ver, E> {
                Ok(Ver::Other(v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Ver, E> {
                // Quoted in the refusal, at most 64 characters of it: an
                // 8 MiB string is not copied, escaped and sent back.
                let mut cut: String = v.chars().take(64).collect();
                if cut.len() < v.len() {
                    cut.push('\u{2026}');
                }
                Ok(Ver::Other(serde_json::Value::from(cut).to_string()))
            }
            fn visit_unit<E>(self) -> Result<Ver, E> {
                Ok(Ver::Other("null".into()))
            }
            fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut s: S) -> Result<Ver, S::Error> {
                while s.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Ver::Other("[…]".into()))
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut m: M) -> Result<Ver, M::Error> {
                while m
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Ver::Other("{…}".into()))
            }
        }
        d.deserialize_any(Any)
    }
}

/// `argv`, refused past [`MAX_ARGV`] words (counted as they are read, so
/// that millions of one-byte words are never built).
struct Words(Vec<String>);

impl<'de> Deserialize<'de> for Words {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Count;
        impl<'de> serde::de::Visitor<'de> for Count {
            type Value = Words;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a list of at most {MAX_ARGV} words")
            }
            fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut s: S) -> Result<Words, S::Error> {
                let mut words = Vec::new();
                while let Some(w) = s.next_element::<String>()? {
                    if words.len() == MAX_ARGV {
                        return Err(serde::de::Error::custom(format!(
                            "argv: more than {MAX_ARGV} words"
                        )));
                    }
                    words.push(w);
                }
                Ok(Words(words))
            }
        }
        d.deserialize_seq(Count)
    }
}

/// Most bytes written at once by [`write_by_deadline`]: one socket
/// buffer's worth of a Unix stream (an skb of `unix_stream_sendmsg`).
const WRITE_STEP: usize = 16 << 10;

/// Write all of `bytes` to `s` by one deadline, `timeout` from now (a reply:
/// [`IO_TIMEOUT`]; the end of a capture stream): each write waits only for
/// what is left of it, so a client that reads a little at a time cannot
/// hold its slot past that, as a per-write timeout let it. The writes are
/// of at most [`WRITE_STEP`] bytes: the kernel's send timeout bounds each
/// wait for buffer space, not a whole `write`, which a slow reader keeps
/// going for as long as it frees a little space within each timeout.
pub fn write_by_deadline(s: &UnixStream, bytes: &[u8], timeout: Duration) -> std::io::Result<()> {
    let until = std::time::Instant::now() + timeout;
    let mut rest = bytes;
    while !rest.is_empty() {
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        s.set_write_timeout(Some(left))?;
        let step = &rest[..rest.len().min(WRITE_STEP)];
        match (&*s).write(step) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    /// A director that takes the request and does not answer in time (busy
    /// on a long restore, say): the client says the command may still be
    /// carried out, not a bare "Resource temporarily unavailable".
    #[test]
    fn no_answer_in_time_says_the_command_may_still_apply() {
        let dir = std::env::temp_dir().join(format!("ringvs-proto-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("busy.sock");
        let _ = std::fs::remove_file(&path);
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let held = std::thread::spawn(move || {
            let (c, _) = l.accept().unwrap();
            std::thread::sleep(IO_TIMEOUT * 3);
            drop(c);
        });
        let argv = vec!["-L".to_string()];
        let e = call(&path, Command::Adm { argv }).unwrap_err();
        assert!(e.contains("no answer from the director"), "{e}");
        assert!(e.contains("may still carry the command out"), "{e}");
        let _ = std::fs::remove_file(&path);
        drop(held);
    }

    #[test]
    fn request_wire_format_is_stable() {
        let r = Request {
            v: 1,
            cmd: Command::Adm {
                argv: vec!["-L".into(), "-n".into()],
            },
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"v":1,"cmd":"adm","argv":["-L","-n"]}"#);
        let back = read_request(&mut (s + "\n").as_bytes()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn bad_requests_get_errors() {
        let e = read_request(&mut &b"{not json}\n"[..]).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(e.err.starts_with("malformed request"), "{}", e.err);
        let e = read_request(&mut &br#"{"v":9,"cmd":"frobnicate"}"#[..]).unwrap_err();
        assert!(e.err.contains("version 9"), "{}", e.err);
        let big = vec![b'x'; MAX_REQUEST + 10];
        let e = read_request(&mut &big[..]).unwrap_err();
        assert_eq!(e.err, "request too large\n");
        // Words: as many as MAX_ARGV, not one more.
        let words = |n: usize| {
            let w = vec!["\"-n\""; n].join(",");
            format!("{{\"v\":1,\"cmd\":\"adm\",\"argv\":[{w}]}}\n")
        };
        let r = read_request(&mut words(MAX_ARGV).as_bytes()).unwrap();
        assert!(matches!(r.cmd, Command::Adm { argv } if argv.len() == MAX_ARGV));
        let e = read_request(&mut words(MAX_ARGV + 1).as_bytes()).unwrap_err();
        assert!(e.err.contains("more than 4096 words"), "{}", e.err);
        // Other commands, and an argv of the wrong type, say what they say.
        let stats = br#"{"v":1,"cmd":"stats","json":true}"#;
        assert!(read_request(&mut &stats[..]).is_ok());
        let e = read_request(&mut &br#"{"v":1,"cmd":"adm","argv":"-L"}"#[..]).unwrap_err();
        assert!(e.err.contains("malformed request"), "{}", e.err);
        // The texts of docs/control.md, fields unknown to a command skipped.
        let cases = [
            (
                r#"{"v":1,"cmd":"stats"}"#,
                "malformed request: missing field `json` at line 1 column 21\n",
            ),
            (
                r#"{"v":1}"#,
                "malformed request: missing field `cmd` at line 1 column 7\n",
            ),
            (
                r#"{"v":1,"cmd":"Stats","json":true}"#,
                "malformed request: unknown variant `Stats`, expected one of `adm`, \
                 `restore`, `stats`, `capture`, `trace` at line 1 column 20\n",
            ),
            (
                r#"{"cmd":"stats","json":true}"#,
                "protocol version missing not supported (this director speaks 1)\n",
            ),
            (
                r#"{"v":1.0,"cmd":"stats","json":true}"#,
                "protocol version 1.0 not supported (this director speaks 1)\n",
            ),
            (
                r#"{"v":1,"cmd":"stats","json":true,"v":2}"#,
                "malformed request: duplicate field `v` at line 1 column 36\n",
            ),
        ];
        for (line, err) in cases {
            let e = read_request(&mut line.as_bytes()).unwrap_err();
            assert_eq!((e.code, e.err.as_str()), (2, err), "{line}");
        }
        let r = read_request(&mut &br#"{"json":true,"x":[1,{"y":[]}],"cmd":"stats","v":1}"#[..]);
        assert_eq!(r.unwrap().cmd, Command::Stats { json: true });
        let r = read_request(&mut &br#"{"v":1,"cmd":"trace"}"#[..]).unwrap();
        let (filter, count) = (String::new(), 0);
        assert_eq!(r.cmd, Command::Trace { filter, count });
    }
}
