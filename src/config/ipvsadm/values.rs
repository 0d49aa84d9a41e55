//! The values of options: ipvsadm's number, address and scheduler-flag
//! parsing, with its messages for bad values.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::super::names::Names;
use super::super::{AdmError, Proto, SchedFlags};
use super::messages::usage;

/// C's `strtol(s, &end, 10)` with the whole string consumed.
pub(super) fn c_strtol(s: &str) -> Option<i64> {
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
pub(super) enum AddrError {
    /// ipvsadm would reject it too.
    Illegal,
    /// ipvsadm would accept it, ringvs does not.
    Unsupported(String),
}

/// ipvsadm's `parse_service` for IPv4 `HOST[:PORT]`; names from [`Names`].
pub(super) fn parse_addr_port(
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
