//! The values of options: ipvsadm's number, address and scheduler-flag
//! parsing, with its messages for bad values.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::super::names::Names;
use super::super::{AdmError, Proto, SchedFlags};
use super::command::{DEFAULT_PERSISTENT_TIMEOUT, MAX_TIMEOUT};
use super::messages::usage;

/// C's `strtol(s, &end, 10)` with the whole string consumed.
fn c_strtol(s: &str) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'+') => (false, &t[1..]),
        Some(b'-') => (true, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = digits.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// ipvsadm's `string_to_number`.
pub(super) fn number_in(s: &str, min: i64, max: i64) -> Option<i64> {
    c_strtol(s).filter(|v| (min..=max).contains(v))
}

/// The C library's `inet_aton`, which ipvsadm's `parse_service` and
/// `parse_netmask` try before a host name (glibc's `inet_aton_end`): one to
/// four parts split by dots, each a C number (`0x` hex, a leading `0`
/// octal, else decimal); the last part fills the bytes the others left
/// (`10.1` is 10.0.0.1, `167772161` is 10.0.0.1, `0x0a.1.2` is 10.1.0.2).
/// Anything after an ASCII blank is ignored, as glibc ignores it.
pub(super) fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let s = s.split(|c: char| c.is_ascii_whitespace()).next()?;
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut vals = [0u32; 4];
    for (i, p) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        vals[i] = aton_part(p)?;
        if !last && vals[i] > 0xff {
            return None;
        }
    }
    let n = parts.len();
    let (head, tail) = (&vals[..n - 1], vals[n - 1]);
    // The last part's room: 32, 24, 16 or 8 bits.
    let room = 32 - 8 * (n as u32 - 1);
    if room < 32 && tail >> room != 0 {
        return None;
    }
    let high = head
        .iter()
        .enumerate()
        .fold(0u32, |acc, (i, &b)| acc | b << (24 - 8 * i as u32));
    Some(Ipv4Addr::from(high | tail))
}

/// One part of [`inet_aton`], as glibc reads it with `strtoul(…, 0)`: it
/// must start with a digit; `0x` or `0X` and at least one hex digit make
/// it hex (`0x` alone leaves the `x` unread, refused), another leading `0`
/// octal (`8` and `9` refused); at most 32 bits.
fn aton_part(p: &str) -> Option<u32> {
    let b = p.as_bytes();
    if !b.first()?.is_ascii_digit() {
        return None;
    }
    let (radix, digits) = match b {
        [b'0', b'x' | b'X', rest @ ..] if !rest.is_empty() => (16, rest),
        [b'0', b'x' | b'X'] => return None,
        [b'0'] => return Some(0),
        [b'0', rest @ ..] => (8, rest),
        _ => (10, b),
    };
    let text = std::str::from_utf8(digits).ok()?;
    if !text.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, radix).ok()
}

/// Why `HOST[:PORT]` did not parse.
enum AddrError {
    /// ipvsadm would reject it too.
    Illegal,
    /// ipvsadm would accept it, ringvs does not.
    Unsupported(String),
}

/// ipvsadm's `parse_service`: `HOST[:PORT]` (an IPv4 address or a name from
/// [`Names`]), `[IPV6]:PORT`, or an IPv6 address alone (without a port, as
/// `inet_pton` takes the whole word). Its quirks are kept: a word of digits
/// only is refused; `[...]` must be followed by `:PORT`; inside brackets
/// anything that is not IPv6 is read as IPv4 `HOST[:PORT]` on its own, so
/// `[198.18.0.1]:80` is 198.18.0.1 *without* a port.
fn parse_addr_port(
    buf: &str,
    proto: Option<Proto>,
    names: &Names,
) -> Result<(IpAddr, Option<u16>), AddrError> {
    if buf.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddrError::Illegal);
    }
    let (inner, after_bracket) = match buf.strip_prefix('[') {
        Some(rest) => {
            let (inner, after) = rest.split_once(']').ok_or(AddrError::Illegal)?;
            (
                inner,
                Some(after.strip_prefix(':').ok_or(AddrError::Illegal)?),
            )
        }
        None => (buf, None),
    };
    if let Ok(a) = inner.parse::<Ipv6Addr>() {
        let port = after_bracket.map(|p| port(p, proto, names)).transpose()?;
        return Ok((IpAddr::V6(a), port));
    }
    let (host, port_text) = match inner.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (inner, None),
    };
    let addr = match inet_aton(host) {
        Some(a) => a,
        None if host.is_empty() || host.contains(':') => return Err(AddrError::Illegal),
        None => match names.addr(host) {
            Some(a) => a,
            // ipvsadm's `host_to_addr` (`ipvsadm.c`) takes a name's IPv4
            // address only (`gethostbyname`, `h_addrtype != AF_INET`
            // refused): a name of IPv6 addresses alone is illegal there,
            // not unknown.
            None if names.v6_only(host) => return Err(AddrError::Illegal),
            None => {
                return Err(AddrError::Unsupported(format!(
                    "host name `{host}' is not in /etc/hosts (ringvs does not use DNS)"
                )));
            }
        },
    };
    let port = port_text.map(|p| port(p, proto, names)).transpose()?;
    Ok((IpAddr::V4(addr), port))
}

/// The `PORT` of `HOST:PORT`: a number or a service name of `proto`; no
/// name with no protocol (ipvsadm's `service_to_port` of protocol 0).
fn port(p: &str, proto: Option<Proto>, names: &Names) -> Result<u16, AddrError> {
    match number_in(p, 0, 65535) {
        Some(n) => Ok(n as u16),
        None => proto
            .and_then(|proto| names.port(p, proto))
            .ok_or(AddrError::Illegal),
    }
}

/// `-t`/`-u`'s service address `HOST[:PORT]`; port 0 when not given.
pub(super) fn service_address(
    val: &str,
    proto: Proto,
    names: &Names,
) -> Result<(IpAddr, u16), AdmError> {
    match parse_addr_port(val, Some(proto), names) {
        Ok((a, p)) => Ok((a, p.unwrap_or(0))),
        Err(AddrError::Illegal) => Err(usage("illegal virtual server address[:port] specified")),
        Err(AddrError::Unsupported(m)) => Err(AdmError::Unsupported(m)),
    }
}

/// `-r`'s real server address `HOST[:PORT]`; `svc_port` when no port is
/// given (the service port as parsed so far). A port name is of `proto`,
/// the service's protocol as parsed so far: none before `-t`, `-u`,
/// `--sctp-service` or `-f` (ipvsadm's `parse_options` reads `-r` with the
/// service as it is then, its protocol still 0, which names no port).
pub(super) fn server_address(
    val: &str,
    proto: Option<Proto>,
    names: &Names,
    svc_port: u16,
) -> Result<(IpAddr, u16), AdmError> {
    match parse_addr_port(val, proto, names) {
        Ok((a, p)) => Ok((a, p.unwrap_or(svc_port))),
        Err(AddrError::Illegal) => Err(usage("illegal real server address[:port] specified")),
        Err(AddrError::Unsupported(m)) => Err(AdmError::Unsupported(m)),
    }
}

/// `-f`'s firewall mark, checked as ipvsadm checks it.
pub(super) fn check_fwmark(val: &str) -> Result<u32, AdmError> {
    match c_strtol(val) {
        Some(v) if v > 0 && v <= i64::from(u32::MAX) => Ok(v as u32),
        _ => Err(usage(format!("invalid fwmark value `{val}' specified"))),
    }
}

/// `-p`'s optional timeout; ipvsadm's default without one.
pub(super) fn persistent_timeout(arg: Option<&str>) -> Result<u32, AdmError> {
    Ok(match arg {
        None => DEFAULT_PERSISTENT_TIMEOUT,
        Some(t) => match number_in(t, 1, i64::from(MAX_TIMEOUT)) {
            Some(t) => t as u32,
            None => {
                return Err(usage(format!("invalid timeout value `{t}' specified")));
            }
        },
    })
}

/// `-M` of a service not known (yet) to be IPv6: an IPv4 address as
/// `inet_aton` reads it, or a name from `/etc/hosts` (ipvsadm's
/// `parse_netmask`).
pub(super) fn netmask(val: &str, names: &Names) -> Result<Ipv4Addr, AdmError> {
    match inet_aton(val).or_else(|| names.addr(val)) {
        Some(m) => Ok(m),
        None => Err(usage("illegal virtual server persistent mask specified")),
    }
}

/// `-M` of an IPv6 service: a prefix length 1..128 read as C's `atoi` reads
/// it (ipvsadm's `parse_options`, case `'M'`), so `64abc` is 64 and `abc`
/// is 0, refused.
pub(super) fn prefix6(val: &str) -> Result<u8, AdmError> {
    match c_atoi(val) {
        n @ 1..=128 => Ok(n as u8),
        _ => Err(usage("illegal ipv6 netmask specified")),
    }
}

/// C's `atoi`: blanks, a sign, then as many digits as there are (none: 0);
/// saturating where C would overflow.
fn c_atoi(s: &str) -> i64 {
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'+') => (false, &t[1..]),
        Some(b'-') => (true, &t[1..]),
        _ => (false, t),
    };
    let v = rest
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |v, d| {
            v.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    if neg { -v } else { v }
}

/// `-w`.
pub(super) fn weight(val: &str) -> Result<u32, AdmError> {
    match number_in(val, 0, 65535) {
        Some(w) => Ok(w as u32),
        None => Err(usage("illegal weight specified")),
    }
}

/// `-x` (`which` "u") or `-y` (`which` "l").
pub(super) fn threshold(val: &str, which: &str) -> Result<u32, AdmError> {
    match number_in(val, 0, i64::from(i32::MAX)) {
        Some(v) => Ok(v as u32),
        None => Err(usage(format!("illegal {which}_threshold specified"))),
    }
}

/// One of `--set`'s timeouts (0 leaves the timeout unchanged).
pub(super) fn set_timeout(val: &str) -> Result<u32, AdmError> {
    match number_in(val, 0, i64::from(MAX_TIMEOUT)) {
        Some(n) => Ok(n as u32),
        None => Err(usage(format!("invalid timeout value `{val}' specified"))),
    }
}

/// ipvsadm's `parse_sched_flags` against the scheduler the command names.
pub(super) fn parse_sched_flags(sched: &str, arg: &str) -> Result<SchedFlags, AdmError> {
    let mut f = SchedFlags::default();
    for flag in arg.split(',').filter(|f| !f.is_empty()) {
        let need = |s: &str| {
            if sched == s {
                Ok(())
            } else {
                Err(usage(format!("incompatible scheduler flag `{flag}'")))
            }
        };
        match flag {
            "flag-1" => f.fallback = true,
            "flag-2" => f.port = true,
            "flag-3" => {
                return Err(AdmError::Unsupported(
                    "ringvs does not support scheduler flag `flag-3'".into(),
                ));
            }
            "sh-fallback" => {
                need("sh")?;
                f.fallback = true;
            }
            "sh-port" => {
                need("sh")?;
                f.port = true;
            }
            "mh-fallback" => {
                need("mh")?;
                f.fallback = true;
            }
            "mh-port" => {
                need("mh")?;
                f.port = true;
            }
            other => return Err(usage(format!("invalid scheduler flag `{other}'"))),
        }
    }
    Ok(f)
}
