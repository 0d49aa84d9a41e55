//! The values of options: ipvsadm's number, address and scheduler-flag
//! parsing, with its messages for bad values.

use std::net::{Ipv4Addr, Ipv6Addr};

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

/// Why `HOST[:PORT]` did not parse.
enum AddrError {
    /// ipvsadm would reject it too.
    Illegal,
    /// ipvsadm would accept it, ringvs does not.
    Unsupported(String),
}

/// ipvsadm's `parse_service` for IPv4 `HOST[:PORT]`; names from [`Names`].
fn parse_addr_port(
    buf: &str,
    proto: Proto,
    names: &Names,
) -> Result<(Ipv4Addr, Option<u16>), AddrError> {
    if buf.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddrError::Illegal);
    }
    if buf.starts_with('[') || buf.parse::<Ipv6Addr>().is_ok() {
        return Err(AddrError::Unsupported(format!(
            "ringvs supports only IPv4 addresses: `{buf}'"
        )));
    }
    let (host, port) = match buf.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (buf, None),
    };
    let addr = match host.parse::<Ipv4Addr>() {
        Ok(a) => a,
        Err(_) if host.is_empty() || host.contains(':') => return Err(AddrError::Illegal),
        Err(_) => match names.addr(host) {
            Some(a) => a,
            None => {
                return Err(AddrError::Unsupported(format!(
                    "host name `{host}' is not in /etc/hosts (ringvs does not use DNS)"
                )));
            }
        },
    };
    let port = match port {
        None => None,
        Some(p) => match number_in(p, 0, 65535) {
            Some(n) => Some(n as u16),
            None => match names.port(p, proto) {
                Some(n) => Some(n),
                None => return Err(AddrError::Illegal),
            },
        },
    };
    Ok((addr, port))
}

/// `-t`/`-u`'s service address `HOST[:PORT]`; port 0 when not given.
pub(super) fn service_address(
    val: &str,
    proto: Proto,
    names: &Names,
) -> Result<(Ipv4Addr, u16), AdmError> {
    match parse_addr_port(val, proto, names) {
        Ok((a, p)) => Ok((a, p.unwrap_or(0))),
        Err(AddrError::Illegal) => Err(usage("illegal virtual server address[:port] specified")),
        Err(AddrError::Unsupported(m)) => Err(AdmError::Unsupported(m)),
    }
}

/// `-r`'s real server address `HOST[:PORT]`; `svc_port` when no port is
/// given (the service port as parsed so far).
pub(super) fn server_address(
    val: &str,
    proto: Proto,
    names: &Names,
    svc_port: u16,
) -> Result<(Ipv4Addr, u16), AdmError> {
    match parse_addr_port(val, proto, names) {
        Ok((a, p)) => Ok((a, p.unwrap_or(svc_port))),
        Err(AddrError::Illegal) => Err(usage("illegal real server address[:port] specified")),
        Err(AddrError::Unsupported(m)) => Err(AdmError::Unsupported(m)),
    }
}

/// `-f`'s firewall mark: checked as ipvsadm checks it (ringvs then refuses
/// fwmark services anyway).
pub(super) fn check_fwmark(val: &str) -> Result<(), AdmError> {
    match c_strtol(val) {
        Some(v) if v > 0 && v <= i64::from(u32::MAX) => Ok(()),
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

/// `-M`: a dotted quad or a name from `/etc/hosts`.
pub(super) fn netmask(val: &str, names: &Names) -> Result<Ipv4Addr, AdmError> {
    match val.parse::<Ipv4Addr>().ok().or_else(|| names.addr(val)) {
        Some(m) => Ok(m),
        None => Err(usage("illegal virtual server persistent mask specified")),
    }
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
