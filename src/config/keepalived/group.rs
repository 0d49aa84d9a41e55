//! keepalived's `virtual_server_group` and the `virtual_server group NAME`
//! blocks that use one (`check_parser.c` `vsg_handler`, `check_data.c`
//! `alloc_vsg_entry`; `ipwrapper.c` sets up one IPVS service per address
//! and port of the group, each with the virtual server's settings and real
//! servers).
//!
//! A group's entries are `ADDR [PORT]` (no port: 0), `ADDR-LAST [PORT]`, a
//! range that ends at `LAST`, the last byte of an IPv4 address (decimal) or
//! the last 16 bits of an IPv6 one (hex), as keepalived's `inet_stor` reads
//! it, and `fwmark N` (ringvs has no fwmark services: warned about and
//! skipped). ringvs writes the group's virtual server out as one
//! `virtual_server ADDR PORT` per address and port, the same block in each,
//! so every keyword means what it means in a `virtual_server`; a real
//! server without its own port takes the entry's port (keepalived's port 0
//! keeps the packet's, which is the entry's: `ip_vs_schedule`).
//!
//! Deliberate differences: keepalived checks each real server of the
//! virtual server once for the whole group; ringvs checks it once per
//! address and port of the group (each is a service of its own). A group
//! named twice, an entry that is not an address, a range that ends below
//! its start or a `virtual_server group` whose group does not exist are
//! errors (keepalived logs them and goes on without the entry or the
//! virtual server).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::lexer::Stmt;
use super::values::Cx;
use super::{KaError, Pos};

/// The groups of a file, by name: where each was defined and the addresses
/// and ports it stands for, in order.
pub(crate) type Groups = HashMap<String, (Pos, Vec<(IpAddr, u16)>)>;

/// Reads every `virtual_server_group` among the top-level statements `top`.
pub(crate) fn groups(cx: &mut Cx<'_>, top: &[Stmt]) -> Result<Groups, KaError> {
    let mut out = Groups::new();
    for s in top.iter().filter(|s| s.keyword() == "virtual_server_group") {
        let name = cx.value(s)?.to_string();
        if let Some((first, _)) = out.get(&name) {
            return Err(KaError::at(
                &s.pos,
                format!("virtual_server_group {name}: defined twice (first at {first})"),
            ));
        }
        let mut members = Vec::new();
        for e in s.children() {
            if e.keyword() == "fwmark" {
                cx.w.at(
                    &e.pos,
                    format!(
                        "fwmark (in virtual_server_group {name}): not supported by ringvs (no fwmark services), skipped"
                    ),
                );
                continue;
            }
            members.extend(entry(cx, e)?);
        }
        if members.is_empty() {
            cx.w.at(
                &s.pos,
                format!("virtual_server_group {name} has no entries: removed (as keepalived does)"),
            );
        }
        out.insert(name, (s.pos.clone(), members));
    }
    Ok(out)
}

/// One entry of a group: the addresses and port it stands for.
fn entry(cx: &mut Cx<'_>, e: &Stmt) -> Result<Vec<(IpAddr, u16)>, KaError> {
    let text = e.keyword();
    let bad = |why: &str| KaError::at(&e.pos, format!("virtual_server_group entry {text}: {why}"));
    let port = match e.args().first() {
        None => 0,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| bad(&format!("{p} is not a port (0..65535)")))?,
    };
    cx.no_more(e, 1);
    let (first, last) = text.split_once('-').unwrap_or((text, ""));
    let addrs: Vec<IpAddr> = if first.contains(':') {
        let a: Ipv6Addr = first.parse().map_err(|_| bad("not an IPv6 address"))?;
        let start = u16::from_be_bytes([a.octets()[14], a.octets()[15]]);
        let end = match last {
            "" => start,
            l => {
                u16::from_str_radix(l, 16).map_err(|_| bad("the range's end is not hex 0..ffff"))?
            }
        };
        if end < start {
            return Err(bad("the range ends below its start"));
        }
        (start..=end)
            .map(|n| {
                let mut o = a.octets();
                o[14..].copy_from_slice(&n.to_be_bytes());
                IpAddr::V6(Ipv6Addr::from(o))
            })
            .collect()
    } else {
        let a: Ipv4Addr = first.parse().map_err(|_| bad("not an IPv4 address"))?;
        let start = a.octets()[3];
        let end = match last {
            "" => start,
            l => l
                .parse::<u8>()
                .map_err(|_| bad("the range's end is not 0..255"))?,
        };
        if end < start {
            return Err(bad("the range ends below its start"));
        }
        (start..=end)
            .map(|n| {
                let [a0, a1, a2, _] = a.octets();
                IpAddr::V4(Ipv4Addr::new(a0, a1, a2, n))
            })
            .collect()
    };
    Ok(addrs.into_iter().map(|a| (a, port)).collect())
}

/// The `virtual_server ADDR PORT` blocks a `virtual_server group NAME`
/// block `s` stands for, one per address and port of the group (an error if
/// the group does not exist).
pub(crate) fn members(s: &Stmt, groups: &Groups) -> Result<Vec<Stmt>, KaError> {
    let Some(name) = s.args().get(1) else {
        return Err(KaError::at(
            &s.pos,
            "virtual_server group: the group's name is missing",
        ));
    };
    let Some((_, members)) = groups.get(name) else {
        return Err(KaError::at(
            &s.pos,
            format!("virtual_server group {name}: no virtual_server_group {name}"),
        ));
    };
    Ok(members
        .iter()
        .map(|(addr, port)| Stmt {
            words: vec![
                "virtual_server".to_string(),
                addr.to_string(),
                port.to_string(),
            ],
            pos: s.pos.clone(),
            block: s.block.clone(),
        })
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::keepalived::Warnings;
    use std::path::Path;
    use std::sync::Arc;

    fn stmt(words: &[&str]) -> Stmt {
        Stmt {
            words: words.iter().map(|w| w.to_string()).collect(),
            pos: Pos {
                file: Arc::from(Path::new("k.conf")),
                line: 3,
            },
            block: None,
        }
    }

    #[test]
    fn entries_and_ranges_as_keepalived_reads_them() {
        let mut w = Warnings::default();
        let mut cx = Cx { w: &mut w };
        let v4 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            entry(&mut cx, &stmt(&["198.18.0.110", "80"])).unwrap(),
            [(v4("198.18.0.110"), 80)]
        );
        assert_eq!(
            entry(&mut cx, &stmt(&["198.18.0.110-112", "443"])).unwrap(),
            [
                (v4("198.18.0.110"), 443),
                (v4("198.18.0.111"), 443),
                (v4("198.18.0.112"), 443)
            ]
        );
        assert_eq!(
            entry(&mut cx, &stmt(&["198.18.0.9"])).unwrap(),
            [(v4("198.18.0.9"), 0)],
            "no port: 0"
        );
        assert_eq!(
            entry(&mut cx, &stmt(&["2001:2:0:1::110-11f", "53"]))
                .unwrap()
                .len(),
            16,
            "IPv6: the end in hex"
        );
        for bad in [
            &["198.18.0.110-100", "80"][..],
            &["198.18.0.110-256", "80"],
            &["198.18.0.x", "80"],
            &["198.18.0.1", "http"],
            &["2001:2::5-4", "80"],
            &["2001:2::5-g", "80"],
        ] {
            assert!(entry(&mut cx, &stmt(bad)).is_err(), "{bad:?}");
        }
    }
}
