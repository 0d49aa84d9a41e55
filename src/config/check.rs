//! A service's health check (`--check`, keepalived's `TCP_CHECK`,
//! `HTTP_GET`, `SSL_GET`, `UDP_CHECK`, `PING_CHECK`, `DNS_CHECK`,
//! `SMTP_CHECK` and `MISC_CHECK`), in keepalived's terms; `health` carries
//! it out.

use super::http::HttpCheck;
use super::notify::Script;
use super::{AdmError, ServiceKey};
use serde::{Deserialize, Serialize};

/// keepalived's `FILE_CHECK` of a real server (`check/check_file.c`): the
/// number in the file of a `track_file` (`trackers/track_file.c`) votes on
/// the server, as its other checks do; `health::file` reads it and turns it
/// into a state and a weight.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileCheck {
    /// The `track_file`'s name (logs).
    pub name: String,
    /// The file read.
    pub path: std::path::PathBuf,
    /// 0: the value says up (0) or down (any other) alone; else the value
    /// times this is added to the server's weight.
    pub weight: i32,
    /// `reverse`: the value's sign is turned (weight 0: a 0 is down).
    #[serde(default)]
    pub reverse: bool,
    /// The real server's `inhibit_on_failure`: held down at weight 0
    /// rather than removed.
    #[serde(default)]
    pub inhibit: bool,
}

/// What a health check does to decide that a real server is alive.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CheckKind {
    /// keepalived's `TCP_CHECK`: the TCP handshake completes.
    Tcp,
    /// keepalived's `HTTP_GET` (and `SSL_GET`, over TLS): `GET path`
    /// answers with a status that passes (and the body's digest).
    Http(HttpCheck),
    /// keepalived's `UDP_CHECK` (`check_udp.c`): a datagram sent to the
    /// server's port, which fails on an ICMP error about it, or without the
    /// answer `reply` asks for.
    Udp(UdpCheck),
    /// keepalived's `PING_CHECK` (`check_ping.c`): an ICMP (ICMPv6) echo
    /// request answered within `connect_timeout`.
    Ping,
    /// keepalived's `DNS_CHECK` (`check_dns.c`): a query answered without
    /// an error code.
    Dns(DnsCheck),
    /// keepalived's `SMTP_CHECK` (`check_smtp.c`): greeting 220, `HELO`
    /// answered 250, `QUIT` answered.
    Smtp(SmtpCheck),
    /// keepalived's `MISC_CHECK` (`check_misc.c`): a command run on the
    /// director, whose exit status says.
    Misc(MiscCheck),
}

impl super::Config {
    /// Sets (or with `None` removes) a service's health check.
    pub fn set_service_check(
        &mut self,
        key: &ServiceKey,
        check: Option<HealthCheck>,
    ) -> Result<(), AdmError> {
        let i = self.service_index(key).ok_or(AdmError::NoSuchService)?;
        let svc = &mut self.services[i];
        // The servers' own commands go with the service's `--check misc`.
        if !check.as_ref().is_some_and(|c| c.kind.is_command()) {
            for s in &mut svc.server_scripts {
                s.scripts.check = None;
            }
            svc.server_scripts.retain(|s| !s.scripts.is_empty());
        }
        // So do their check addresses with any check: `-a` refuses one
        // without.
        if check.is_none() {
            svc.dests.iter_mut().for_each(|d| d.check_ip = None);
        }
        svc.check = check;
        Ok(())
    }
}

impl CheckKind {
    /// Whether it checks a port (`--check-port`): all but `ping` (an echo)
    /// and `misc` (a command).
    pub fn has_port(&self) -> bool {
        !matches!(self, CheckKind::Ping | CheckKind::Misc(_))
    }

    /// Whether it runs a command on the director (`misc`) rather than
    /// send packets to the server.
    pub fn is_command(&self) -> bool {
        matches!(self, CheckKind::Misc(_))
    }
}

/// keepalived's `MISC_CHECK` settings.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MiscCheck {
    /// `misc_path`: the command, run for each real server (a server's own
    /// `--misc-path` runs in its place for it).
    pub path: Script,
    /// `misc_timeout`: seconds the command may run (`None`: `delay_loop`).
    #[serde(default)]
    pub timeout: Option<u32>,
    /// `misc_dynamic`: an exit status of 2 to 255 passes and sets the
    /// server's weight to the status less 2.
    #[serde(default)]
    pub dynamic: bool,
}

/// keepalived's default `retry` of `MISC_CHECK` (`misc_check_handler`:
/// `default_retry = 0`).
pub const MISC_DEFAULT_RETRY: u32 = 0;

/// keepalived's `SMTP_CHECK` settings: the name `HELO` gives.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SmtpCheck {
    pub helo: String,
}

/// keepalived's `helo_name` default (`SMTP_DEFAULT_HELO`, `check_smtp.h`).
pub const DEFAULT_HELO: &str = "smtpchecker.keepalived.org";
/// Longest `helo_name` (a domain name, RFC 5321 section 4.5.3.1.2).
const HELO_MAX: usize = 255;

impl SmtpCheck {
    /// keepalived's default name.
    pub fn new() -> Self {
        SmtpCheck {
            helo: DEFAULT_HELO.to_string(),
        }
    }

    /// Whether `name` can follow `HELO`: printable, without blanks (a line
    /// break would end the command), at most 255 bytes.
    pub fn valid_helo(name: &str) -> bool {
        !name.is_empty() && name.len() <= HELO_MAX && name.bytes().all(|b| b.is_ascii_graphic())
    }
}

impl Default for SmtpCheck {
    fn default() -> Self {
        Self::new()
    }
}

/// keepalived's `DNS_CHECK` settings: the query's type and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DnsCheck {
    pub qtype: DnsType,
    /// A domain name, `.` the root (keepalived's default).
    pub name: String,
}

/// The query types keepalived's `DNS_CHECK` knows (`DNS_TYPE` in `check_dns.c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DnsType {
    A,
    Ns,
    Cname,
    Soa,
    Mx,
    Txt,
    Aaaa,
    Rrsig,
    Dnskey,
}

/// keepalived's `DNS_CHECK` defaults (`check_dns.h`): type SOA, name `.`,
/// 3 retries; its `delay_before_retry` defaults to its `delay_loop`
/// (`dns_check_handler` sets `default_delay_before_retry` 0, which
/// `validate_check_config` takes as `delay_loop`).
pub const DEFAULT_DNS_NAME: &str = ".";
pub const DNS_DEFAULT_RETRY: u32 = 3;
/// Bytes of a DNS name, as RFC 1035 section 2.3.4 bounds it.
const DNS_NAME_MAX: usize = 253;

impl DnsType {
    const ALL: [(DnsType, &'static str, u16); 9] = [
        (DnsType::A, "A", 1),
        (DnsType::Ns, "NS", 2),
        (DnsType::Cname, "CNAME", 5),
        (DnsType::Soa, "SOA", 6),
        (DnsType::Mx, "MX", 15),
        (DnsType::Txt, "TXT", 16),
        (DnsType::Aaaa, "AAAA", 28),
        (DnsType::Rrsig, "RRSIG", 46),
        (DnsType::Dnskey, "DNSKEY", 48),
    ];

    /// `A`, `SOA`, ... in any case (`dns_type_lookup`: `strcasecmp`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, n, _)| n.eq_ignore_ascii_case(s))
            .map(|&(t, _, _)| t)
    }

    /// Its name, as keepalived writes it.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(t, _, _)| *t == self)
            .map_or("SOA", |&(_, n, _)| n)
    }

    /// Its QTYPE code (RFC 1035 section 3.2.2, RFC 3596 for AAAA, RFC
    /// 4034 for RRSIG and DNSKEY).
    pub fn code(self) -> u16 {
        Self::ALL
            .iter()
            .find(|(t, _, _)| *t == self)
            .map_or(6, |&(_, _, c)| c)
    }
}

impl DnsCheck {
    /// keepalived's defaults: SOA of the root.
    pub fn new() -> Self {
        DnsCheck {
            qtype: DnsType::Soa,
            name: DEFAULT_DNS_NAME.to_string(),
        }
    }

    /// Whether `name` can be asked for: `.`, or labels of 1..63 printable
    /// bytes separated by single dots, with an optional final dot, 253
    /// bytes at most without it. keepalived refuses an empty label (`dns_name_handler`)
    /// and does not bound the lengths, whose excess would corrupt its query.
    pub fn valid_name(name: &str) -> bool {
        if name == DEFAULT_DNS_NAME {
            return true;
        }
        let body = name.strip_suffix('.').unwrap_or(name);
        !body.is_empty()
            && body.len() <= DNS_NAME_MAX
            && body
                .split('.')
                .all(|l| (1..=63).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_graphic()))
    }

    /// The query with identifier `id`, as keepalived's `dns_make_query`
    /// builds it: recursion desired, one question of the type and class IN.
    pub fn query(&self, id: u16) -> Vec<u8> {
        let mut q = Vec::with_capacity(12 + self.name.len() + 6);
        q.extend_from_slice(&id.to_be_bytes());
        q.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
        q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QD 1, AN, NS, AR 0
        if self.name != DEFAULT_DNS_NAME {
            let body = self.name.strip_suffix('.').unwrap_or(&self.name);
            for label in body.split('.') {
                q.push(label.len() as u8);
                q.extend_from_slice(label.as_bytes());
            }
        }
        q.push(0);
        q.extend_from_slice(&self.qtype.code().to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes()); // IN
        q
    }
}

impl Default for DnsCheck {
    fn default() -> Self {
        Self::new()
    }
}

/// What a datagram `got` says to the query `id` (keepalived's
/// `dns_recv_thread`): `None` if it is not its answer (shorter than a
/// header, another identifier, or not a response: keepalived waits on),
/// else the answer's RCODE (0: no error).
pub fn dns_rcode(id: u16, got: &[u8]) -> Option<u8> {
    let h = got.get(..12)?;
    let flags = u16::from_be_bytes([h[2], h[3]]);
    (u16::from_be_bytes([h[0], h[1]]) == id && flags & 0x8000 != 0).then_some((flags & 0x0f) as u8)
}

/// keepalived's `UDP_CHECK` settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UdpCheck {
    /// The datagram's payload (`payload`; empty: a datagram without data).
    pub payload: Vec<u8>,
    /// `require_reply`: the check passes only on an answer (without it, on
    /// anything but an ICMP error, silence included).
    pub reply: Option<UdpReply>,
}

/// What `require_reply` asks of the answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UdpReply {
    /// The answer's first bytes (`require_reply HEX`; empty: any answer
    /// will do, whatever its length, as keepalived's `udp_check_thread`
    /// compares only when it has data).
    pub data: Vec<u8>,
    /// Bits of `data` not compared (the `x` nibbles of the hex string).
    pub mask: Vec<u8>,
    /// `min_reply_length` and `max_reply_length`: bounds of the answer's
    /// length, in force with `data` only.
    pub min_len: u16,
    pub max_len: u16,
}

/// keepalived's bounds of a UDP answer (`udp_check_handler`).
pub const DEFAULT_MIN_REPLY_LEN: u16 = 0;
pub const DEFAULT_MAX_REPLY_LEN: u16 = u8::MAX as u16;
/// Longest `payload` ringvs sends (it must fit one frame of the internal NIC).
pub const MAX_PAYLOAD: usize = 1024;

impl UdpReply {
    /// An answer that matches anything.
    pub fn any() -> Self {
        UdpReply {
            data: Vec::new(),
            mask: Vec::new(),
            min_len: DEFAULT_MIN_REPLY_LEN,
            max_len: DEFAULT_MAX_REPLY_LEN,
        }
    }

    /// Whether `got` is the answer asked for: as keepalived's
    /// `check_udp_reply` (`check_udp.c`), its length within the bounds and
    /// the bytes both have equal outside the mask (a shorter answer is
    /// compared over its own length). Without data any answer will do.
    pub fn matches(&self, got: &[u8]) -> bool {
        if self.data.is_empty() {
            return true;
        }
        let len = got.len();
        if len < usize::from(self.min_len) || len > usize::from(self.max_len) {
            return false;
        }
        let masks = self.mask.iter().copied().chain(std::iter::repeat(0));
        got.iter()
            .zip(&self.data)
            .zip(masks)
            .all(|((g, d), m)| (g ^ d) & !m == 0)
    }
}

/// A hex string as keepalived's `read_hex_str` (`lib/utils.c`) reads it:
/// octets of two hex digits, or one before a space or the end, groups
/// separated by spaces or tabs; with `wildcard`, an `x` or `X` digit is a
/// nibble not compared (its bits set in the mask). `None`: empty or not hex.
pub fn parse_hex(s: &str, wildcard: bool) -> Option<(Vec<u8>, Vec<u8>)> {
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some((c - b'0', 0)),
        b'a'..=b'f' => Some((c - b'a' + 10, 0)),
        b'A'..=b'F' => Some((c - b'A' + 10, 0)),
        b'x' | b'X' if wildcard => Some((0, 0x0f)),
        _ => None,
    };
    let b = s.as_bytes();
    let (mut data, mut mask) = (Vec::new(), Vec::new());
    let mut i = 0;
    loop {
        while matches!(b.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        let Some(&c) = b.get(i) else { break };
        let (mut v, mut m) = nibble(c)?;
        i += 1;
        if let Some(&c2) = b.get(i).filter(|&&c2| c2 != b' ') {
            let (v2, m2) = nibble(c2)?;
            v = v << 4 | v2;
            m = m << 4 | m2;
            i += 1;
        }
        data.push(v);
        mask.push(m);
    }
    (!data.is_empty()).then_some((data, mask))
}

/// `data` as a hex string [`parse_hex`] reads back: two digits an octet,
/// `x` for a nibble `mask` leaves out.
pub fn hex(data: &[u8], mask: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len() * 2);
    let masks = mask.iter().copied().chain(std::iter::repeat(0));
    for (&d, m) in data.iter().zip(masks) {
        for shift in [4, 0] {
            let c = if (m >> shift) & 0x0f != 0 {
                'x'
            } else {
                char::from(DIGITS[usize::from((d >> shift) & 0x0f)])
            };
            out.push(c);
        }
    }
    out
}

/// keepalived's defaults (keepalived.conf(5)).
pub const DEFAULT_DELAY_LOOP: u32 = 60;
pub const DEFAULT_CONNECT_TIMEOUT: u32 = 5;
pub const DEFAULT_RETRY: u32 = 1;
pub const DEFAULT_DELAY_BEFORE_RETRY: u32 = 1;
/// keepalived's default `delay_before_retry` of `HTTP_GET` and `SSL_GET`
/// (`check_http.c` `http_get_handler`: `default_delay_before_retry = 3 *
/// TIMER_HZ`).
pub const HTTP_DELAY_BEFORE_RETRY: u32 = 3;
pub const DEFAULT_CHECK_STATUS: u16 = 200;
pub const DEFAULT_CHECK_PATH: &str = "/";

/// A service's health check, in keepalived's terms.  Times are seconds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HealthCheck {
    pub kind: CheckKind,
    /// Seconds between checks of a server (`delay_loop`).
    pub delay_loop: u32,
    /// Seconds a check may take, handshake and answer (`connect_timeout`).
    pub connect_timeout: u32,
    /// Failed tries repeated before the server is declared down (`retry`):
    /// a server goes down after `retry + 1` failures in a row.
    pub retry: u32,
    /// Seconds between a failed try and its retry (`delay_before_retry`).
    pub delay_before_retry: u32,
    /// On failure set the weight to 0 instead of removing the server
    /// (`inhibit_on_failure`).
    pub inhibit_on_failure: bool,
    /// keepalived's `alpha`: a server starts down, and is put in only once
    /// its first check passes (without it a server starts up).
    #[serde(default)]
    pub alpha: bool,
    /// keepalived's `connect_port`: the port every server is checked on
    /// (`None`: each server's own port). Never set for `ping`.
    #[serde(default)]
    pub port: Option<u16>,
    /// keepalived's `warmup`: a server's first check waits a random time
    /// of 0 to this many seconds (`check_api.c` `register_checkers_thread`);
    /// 0, the default here, checks it at once.
    #[serde(default)]
    pub warmup: u32,
}

impl HealthCheck {
    /// A check of kind `kind` with keepalived's defaults (`DNS_CHECK`'s own:
    /// 3 retries, `delay_before_retry` as `delay_loop`; `HTTP_GET`'s and
    /// `SSL_GET`'s: `delay_before_retry` 3; `MISC_CHECK`'s: no retry).
    pub fn new(kind: CheckKind) -> Self {
        let delay_before_retry = match kind {
            CheckKind::Dns(_) => DEFAULT_DELAY_LOOP,
            CheckKind::Http(_) => HTTP_DELAY_BEFORE_RETRY,
            _ => DEFAULT_DELAY_BEFORE_RETRY,
        };
        let retry = match kind {
            CheckKind::Dns(_) => DNS_DEFAULT_RETRY,
            CheckKind::Misc(_) => MISC_DEFAULT_RETRY,
            _ => DEFAULT_RETRY,
        };
        HealthCheck {
            kind,
            delay_loop: DEFAULT_DELAY_LOOP,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry,
            delay_before_retry,
            inhibit_on_failure: false,
            alpha: false,
            port: None,
            warmup: 0,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// `--check-ip` (keepalived's `connect_ip`) is a check's: `-a` and `-e`
    /// refuse it on a service without `--check`, and an `-E` that drops
    /// the check drops it.
    #[test]
    fn a_check_address_needs_a_check() {
        use super::super::Config;
        use super::super::ipvsadm::{apply, parse};
        let run = |c: &mut Config, line: &str| {
            let argv: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            apply(c, &parse(&argv).unwrap()).map_err(|e| e.to_string())
        };
        let mut c = Config::new();
        run(&mut c, "-A -t 198.18.0.110:80 -s rr").unwrap();
        let refused = Err("check-ip on a real server needs its service's --check".to_string());
        let add = "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m --check-ip 198.19.0.7";
        assert_eq!(run(&mut c, add), refused);
        assert!(c.services()[0].dests.is_empty(), "nothing added");
        run(&mut c, "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m").unwrap();
        let edit = "-e -t 198.18.0.110:80 -r 198.19.0.2:80 -m --check-ip 198.19.0.7";
        assert_eq!(run(&mut c, edit), refused);
        run(&mut c, "-E -t 198.18.0.110:80 -s rr --check tcp").unwrap();
        run(&mut c, edit).unwrap();
        let ip = |c: &Config| c.services()[0].dests[0].check_ip;
        assert_eq!(ip(&c), Some("198.19.0.7".parse().unwrap()));
        run(&mut c, "-E -t 198.18.0.110:80 -s rr").unwrap();
        assert_eq!(ip(&c), None, "gone with the check");
    }

    #[test]
    fn hex_strings_as_keepalived_reads_them() {
        let h = |s: &str| parse_hex(s, false).map(|(d, _)| d);
        assert_eq!(h("0102ab"), Some(vec![1, 2, 0xab]));
        assert_eq!(h(" 01 02\tAB "), Some(vec![1, 2, 0xab]));
        // One digit before a space or the end is an octet of its own.
        assert_eq!(h("1 2 345"), Some(vec![1, 2, 0x34, 5]));
        assert_eq!(h(""), None, "empty");
        assert_eq!(h("  "), None, "blank");
        assert_eq!(h("0g"), None, "not hex");
        assert_eq!(h("01xx"), None, "wildcards only in a reply");
        let (d, m) = parse_hex("0Xx1 x", true).unwrap();
        assert_eq!(d, vec![0x00, 0x01, 0x00]);
        assert_eq!(m, vec![0x0f, 0xf0, 0x0f]);
        assert_eq!(hex(&d, &m), "0xx10x");
        assert_eq!(parse_hex(&hex(&d, &m), true), Some((d, m)), "round trip");
        assert_eq!(hex(&[0xde, 0xad], &[]), "dead");
    }

    #[test]
    fn dns_queries_and_answers_as_keepalived_makes_and_reads_them() {
        let root = DnsCheck::new();
        assert_eq!(
            root.query(0xbeef),
            [0xbe, 0xef, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1]
        );
        let mut a = DnsCheck {
            qtype: DnsType::parse("aaaa").unwrap(),
            name: "ns1.example.".into(),
        };
        let q = a.query(7);
        assert_eq!(&q[12..], b"\x03ns1\x07example\x00\x00\x1c\x00\x01");
        a.name = "ns1.example".into();
        assert_eq!(a.query(7), q, "the final dot is optional");
        for good in [".", "a", "a.b.", "x-y.example.com"] {
            assert!(DnsCheck::valid_name(good), "{good}");
        }
        let long = "a".repeat(64);
        // 253 bytes: four labels of 63 and a dot between each, and one more.
        let max = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(max.len(), 253);
        assert!(DnsCheck::valid_name(&max));
        assert!(
            DnsCheck::valid_name(&format!("{max}.")),
            "with its final dot"
        );
        let over = format!("{max}e");
        for bad in ["", "..", ".a", "a..b", "a b", long.as_str(), over.as_str()] {
            assert!(!DnsCheck::valid_name(bad), "{bad}");
        }
        assert_eq!(DnsType::parse("dnskey").map(DnsType::code), Some(48));
        assert_eq!(DnsType::parse("RRSIG").map(DnsType::code), Some(46));
        assert_eq!(DnsType::parse("ptr"), None);
        assert_eq!((DnsType::Mx.name(), DnsType::Mx.code()), ("MX", 15));
        // Answers: this query's, a response, its RCODE.
        let mut ans = vec![0xbe, 0xef, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
        assert_eq!(dns_rcode(0xbeef, &ans), Some(0));
        ans[3] = 0x82;
        assert_eq!(dns_rcode(0xbeef, &ans), Some(2), "SERVFAIL");
        assert_eq!(dns_rcode(0xbeee, &ans), None, "another query's");
        ans[2] = 0x01;
        assert_eq!(dns_rcode(0xbeef, &ans), None, "a query, not an answer");
        assert_eq!(dns_rcode(0xbeef, &ans[..11]), None, "short");
    }

    #[test]
    fn replies_match_as_check_udp_reply() {
        let (data, mask) = parse_hex("de xd", true).unwrap();
        let r = UdpReply {
            data,
            mask,
            min_len: 2,
            max_len: 4,
        };
        assert!(r.matches(&[0xde, 0x0d]));
        assert!(
            r.matches(&[0xde, 0xad, 0xbe]),
            "masked nibble, longer answer"
        );
        assert!(!r.matches(&[0xde, 0x0c]), "an unmasked bit differs");
        assert!(!r.matches(&[0xdf, 0x0d]));
        assert!(!r.matches(&[0xde]), "below min_len");
        assert!(!r.matches(&[0xde, 0x0d, 0, 0, 0]), "above max_len");
        let short = UdpReply {
            min_len: 0,
            ..r.clone()
        };
        assert!(short.matches(&[0xde]), "compared over its own length");
        assert!(short.matches(&[]));
        // Without data any answer will do, its length unchecked.
        let any = UdpReply {
            min_len: 10,
            ..UdpReply::any()
        };
        assert!(any.matches(&[]) && any.matches(&[0; 300]));
    }
}
