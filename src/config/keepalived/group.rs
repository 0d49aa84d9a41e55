//! keepalived's `virtual_server_group` and the `virtual_server group NAME`
//! blocks that use one (`check_parser.c` `vsg_handler`, `check_data.c`
//! `alloc_vsg_entry`; `ipwrapper.c` sets up one IPVS service per address
//! and port of the group, each with the virtual server's settings and real
//! servers).
//!
//! A group's entries are `ADDR [PORT]` (no port: 0), `ADDR-LAST [PORT]`, a
//! range that ends at `LAST`, the last byte of an IPv4 address (decimal) or
//! the last 16 bits of an IPv6 one (hex), as keepalived's `inet_stor` reads
//! it, `ADDR-ADDR` and `ADDR/LEN` (`alloc_vsg_entry`), and `fwmark N
//! [inet|inet6]`. An address and port given twice, or a mark, is taken
//! once, with a warning.
//!
//! A `fwmark N` entry is a firewall-mark service of the virtual server,
//! beside its addresses' (`ipvswrapper.c` `ipvs_group_cmd` sets one up per
//! mark, with the virtual server's settings and real servers): ringvs
//! writes it out as a `virtual_server fwmark N` with the same block, so it
//! is read as one (`lvs.rs`; its real servers keep their own ports, 0 when
//! none). Its family is the entry's `inet`/`inet6`; without, the group's
//! (its addresses' and marked entries'), else the one the block says
//! (`values::said_v6`), else IPv4 with a warning, as `ipvs_group_cmd` and
//! `link_vsg_to_vs` (`check_data.c`) pick it. Its packets are those of the
//! block's `mark_dest` lines (a ringvs keyword, as in a `virtual_server
//! fwmark`: netfilter's marks never reach ringvs's workers): `mark_dest
//! PROTO:ADDR[/LEN][:PORTS]` when the group has one mark, `mark_dest N
//! PROTO:...` for mark N of several; the address services do not take
//! them. Several `virtual_server group` blocks that use one group (a TCP
//! and a UDP one, as for DNS) share each mark's service, one per mark and
//! family, as keepalived does (`ipvs_group_cmd` adds it for the first
//! virtual server only, the entry's `fwm4_alive`/`fwm6_alive` counting
//! them): the first block sets it up with its settings, a later one's
//! real servers and `mark_dest` rules join it ([`Marks`]).
//!
//! ringvs writes the group's virtual server out as one `virtual_server ADDR
//! PORT` per address and port, the same block in each, so every keyword
//! means what it means in a `virtual_server`; a real server without its own
//! port takes the entry's port (keepalived's port 0 keeps the packet's,
//! which is the entry's: `ip_vs_schedule`). An entry of port 0 makes every
//! service of the group persistent, as `validate_check_config` gives the
//! whole virtual server its default `persistence_timeout` then.
//!
//! Deliberate differences: keepalived has one virtual server for the
//! whole group; ringvs one service per address and port of the group, so a
//! group stands for [`MAX_MEMBERS`] addresses and ports at most (their real
//! servers are checked once for all the members all the same, as in
//! keepalived: services with the same server and check share it,
//! `health::share_groups`), and the blocks of a load are copied to
//! [`MAX_EXPANDED`] statements at most in all. A group named
//! twice, an entry that is not an address or a mark 1..4294967295 (and
//! `inet` or `inet6`), a range that does not end above its start, a
//! `virtual_server group` whose group does not exist or mixes IPv4 and
//! IPv6 (addresses and marked entries) are errors (keepalived logs them
//! and goes on without the entry or the virtual server).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::super::{Config, MAX_DEST_IDS, ServiceKey};
use super::lexer::{MAX_EXPANDED, Stmt};
use super::lvs::Vs;
use super::values::Cx;
use super::{KaError, Pos};

/// Addresses and ports a group may stand for at most: each is a service
/// (and a check of each real server) of its own.
pub(crate) const MAX_MEMBERS: usize = 4096;

/// The keywords of a block's servers, each a destination of each service.
const SERVERS: [&str; 2] = ["real_server", "sorry_server"];

/// Why a load whose servers `Config` has no more ids for is refused.
pub(super) fn out_of_ids() -> String {
    format!(
        "more than {MAX_DEST_IDS} real and sorry servers over all the services, the most ringvs holds"
    )
}

/// The groups of a file, by name.
pub(crate) type Groups = HashMap<String, Group>;

/// A `virtual_server_group`.
pub(crate) struct Group {
    /// Where it was defined.
    pos: Pos,
    /// The addresses and ports it stands for, in order.
    members: Vec<(IpAddr, u16)>,
    /// Its `fwmark` entries, in order: the mark and the family given
    /// (IPv6: true).
    marks: Vec<(u32, Option<bool>)>,
}

impl Group {
    /// Its family, if all its addresses and marks given one are of one
    /// (IPv6: true); `Err` if they are of both.
    fn family(&self) -> Result<Option<bool>, ()> {
        let addrs = self.members.iter().map(|(a, _)| a.is_ipv6());
        let mut given = addrs.chain(self.marks.iter().filter_map(|m| m.1));
        match given.next() {
            Some(f) if given.all(|g| g == f) => Ok(Some(f)),
            Some(_) => Err(()),
            None => Ok(None),
        }
    }
}

/// Reads every `virtual_server_group` among the top-level statements `top`.
pub(crate) fn groups(cx: &mut Cx<'_>, top: &[Stmt]) -> Result<Groups, KaError> {
    let mut out = Groups::new();
    for s in top.iter().filter(|s| s.keyword() == "virtual_server_group") {
        let name = cx.value(s)?.to_string();
        if let Some(first) = out.get(&name) {
            return Err(KaError::at(
                &s.pos,
                format!(
                    "virtual_server_group {name}: defined twice (first at {})",
                    first.pos
                ),
            ));
        }
        let mut members = Vec::new();
        let mut seen = HashSet::new();
        let mut marks: Vec<(u32, Option<bool>)> = Vec::new();
        for e in s.children() {
            if e.keyword() == "fwmark" {
                let m = fwmark_entry(cx, e)?;
                if marks.iter().any(|o| o.0 == m.0) {
                    cx.w.at(
                        &e.pos,
                        format!(
                            "virtual_server_group {name}: fwmark {} given before, taken once",
                            m.0
                        ),
                    );
                } else {
                    marks.push(m);
                }
            }
            let mut again = 0;
            let entries = match e.keyword() {
                "fwmark" => Vec::new(),
                _ => entry(cx, e)?,
            };
            for m in entries {
                if seen.insert(m) {
                    members.push(m);
                } else {
                    again += 1;
                }
            }
            // The kernel refuses a service twice (EEXIST), which keepalived
            // lets pass.
            if again > 0 {
                cx.w.at(
                    &e.pos,
                    format!(
                        "virtual_server_group {name}: {again} address(es) and port given before, taken once"
                    ),
                );
            }
            if members.len() + marks.len() > MAX_MEMBERS {
                return Err(KaError::at(
                    &e.pos,
                    format!(
                        "virtual_server_group {name}: over {MAX_MEMBERS} addresses and ports, and marks (each is a service of ringvs's)"
                    ),
                ));
            }
        }
        if members.is_empty() && marks.is_empty() {
            cx.w.at(
                &s.pos,
                format!("virtual_server_group {name} has no entries: removed (as keepalived does)"),
            );
        }
        let pos = s.pos.clone();
        out.insert(
            name,
            Group {
                pos,
                members,
                marks,
            },
        );
    }
    Ok(out)
}

/// A `fwmark N [inet|inet6]` entry (`alloc_vsg_entry`): the mark and the
/// family it names (IPv6: true).
fn fwmark_entry(cx: &mut Cx<'_>, e: &Stmt) -> Result<(u32, Option<bool>), KaError> {
    let bad = |why: String| KaError::at(&e.pos, format!("virtual_server_group entry fwmark {why}"));
    let v = e.args().first().map(String::as_str).unwrap_or_default();
    let mark = (v.parse::<u32>().ok())
        .filter(|&m| m != 0)
        .ok_or_else(|| bad(format!("{v}: not a mark (1..4294967295)")))?;
    let family = match e.args().get(1).map(String::as_str) {
        None => None,
        Some("inet") => Some(false),
        Some("inet6") => Some(true),
        Some(f) => return Err(bad(format!("{mark} {f}: the family is inet or inet6"))),
    };
    cx.no_more(e, 2);
    Ok((mark, family))
}

/// One entry of a group: the addresses and port it stands for. As
/// keepalived's `alloc_vsg_entry` reads it: `ADDR`, `ADDR-LAST` (`LAST` the
/// last byte of an IPv4 address, decimal, or the last 16 bits of an IPv6
/// one, hex, above the start's), `ADDR-ADDR` (a range of whole addresses)
/// or `ADDR/LEN` (every address of the prefix), then an optional port.
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
    let v6 = text.contains(':');
    let parse = |a: &str| -> Result<u128, KaError> {
        if v6 {
            let a: Ipv6Addr = a.parse().map_err(|_| bad("not an IPv6 address"))?;
            Ok(u128::from(a))
        } else {
            let a: Ipv4Addr = a.parse().map_err(|_| bad("not an IPv4 address"))?;
            Ok(u128::from(u32::from(a)))
        }
    };
    let bits = if v6 { 128 } else { 32 };
    let (start, end) = if let Some((a, len)) = text.split_once('/') {
        let len: u32 = len
            .parse()
            .ok()
            .filter(|&l| l <= bits)
            .ok_or_else(|| bad("not a prefix length"))?;
        // The host bits of the prefix.
        let host = match bits - len {
            0 => 0,
            128 => u128::MAX,
            n => (1u128 << n) - 1,
        };
        let a = parse(a)? & !host;
        (a, a | host)
    } else if let Some((a, last)) = text.split_once('-') {
        let a = parse(a)?;
        let end = if last.contains(['.', ':']) {
            parse(last)?
        } else if v6 {
            let l = u16::from_str_radix(last, 16)
                .map_err(|_| bad("the range's end is not hex 0..ffff"))?;
            a & !0xffff | u128::from(l)
        } else {
            let l = last
                .parse::<u8>()
                .map_err(|_| bad("the range's end is not 0..255"))?;
            a & !0xff | u128::from(l)
        };
        if end <= a {
            return Err(bad("the range does not end above its start"));
        }
        (a, end)
    } else {
        let a = parse(text)?;
        (a, a)
    };
    if end - start >= MAX_MEMBERS as u128 {
        return Err(bad(&format!(
            "over {MAX_MEMBERS} addresses (each is a service of ringvs's)"
        )));
    }
    let addr = |n: u128| {
        if v6 {
            IpAddr::V6(Ipv6Addr::from(n))
        } else {
            IpAddr::V4(Ipv4Addr::from(n as u32))
        }
    };
    Ok((start..=end).map(|n| (addr(n), port)).collect())
}

/// The services a `virtual_server group NAME` block `s` stands for
/// ([`Members`]: a `virtual_server ADDR PORT` block per address and port
/// of the group, then a `virtual_server fwmark N` per mark; an error if the
/// group does not exist or mixes families). If an entry has port 0, all are persistent, as
/// keepalived's `validate_check_config` gives the whole virtual server its
/// default `persistence_timeout` then.
///
/// `copies` counts the statements the blocks of the load made so far: past
/// [`MAX_EXPANDED`] the block is refused before it is copied.
pub(crate) fn members(
    cx: &mut Cx<'_>,
    s: &Stmt,
    groups: &Groups,
    copies: &mut usize,
) -> Result<Members, KaError> {
    let Some(name) = s.args().get(1) else {
        return Err(KaError::at(
            &s.pos,
            "virtual_server group: the group's name is missing",
        ));
    };
    cx.no_more(s, 2);
    let Some(g) = groups.get(name) else {
        return Err(KaError::at(
            &s.pos,
            format!("virtual_server group {name}: no virtual_server_group {name}"),
        ));
    };
    if g.members.is_empty() && g.marks.is_empty() {
        cx.w.at(
            &s.pos,
            format!("virtual_server group {name}: the group has no address, no service"),
        );
    }
    // keepalived ignores such a virtual server unless all its real servers
    // are tunnelled (`link_vsg_to_vs`); ringvs refuses it.
    let Ok(family) = g.family() else {
        return Err(KaError::at(
            &s.pos,
            format!("virtual_server group {name}: the group mixes IPv4 and IPv6 addresses"),
        ));
    };
    // Each member is a service with all the block's servers: a /20 used by
    // a block of 10000 `~SEQ` real servers would be 41M of them, cloned
    // here long before `Config` ran out of ids for them.
    let servers = s
        .children()
        .iter()
        .filter(|k| SERVERS.contains(&k.keyword()));
    let (services, servers) = (g.members.len() + g.marks.len(), servers.count());
    if services.saturating_mul(servers) > MAX_DEST_IDS as usize {
        return Err(KaError::at(
            &s.pos,
            format!(
                "virtual_server group {name}: {services} services (addresses and ports, and marks) of {servers} real and sorry servers each: {}",
                out_of_ids()
            ),
        ));
    }
    // Each also has a copy of all the block's statements, however few its
    // servers: `~SEQ(i,10000) delay_loop 1` used by a /20 would be 41M,
    // GBs cloned from a file of 150 KB, in the running director on a
    // reload. The copies of a load's group blocks count, in all, against
    // as many statements as `~SEQ` may make for it.
    let each = 1 + s.block.as_deref().map_or(0, count);
    let made = services.saturating_mul(each);
    *copies = copies.saturating_add(made);
    if *copies > MAX_EXPANDED {
        return Err(KaError::at(
            &s.pos,
            format!(
                "virtual_server group {name}: {services} services (addresses and ports, and marks) of {each} statements each make {made} statements{}, more than the {MAX_EXPANDED} a load's virtual_server group blocks may make",
                match *copies - made {
                    0 => String::new(),
                    before => format!(" (and {before} made by the blocks before)"),
                }
            ),
        ));
    }
    let mut block = s.block.clone().unwrap_or_default();
    let persistent = block.iter().any(|k| k.keyword() == "persistence_timeout");
    if !persistent && g.members.iter().any(|&(_, p)| p == 0) {
        block.push(Stmt {
            words: vec!["persistence_timeout".to_string()],
            pos: s.pos.clone(),
            block: None,
        });
    }
    let mut dests = vec![Vec::new(); g.marks.len()];
    if !g.marks.is_empty() {
        for k in block.iter().filter(|k| k.keyword() == "mark_dest") {
            let (i, rule) = mark_dest(cx, k, name, &g.marks)?;
            dests[i].push(Stmt {
                words: vec!["mark_dest".to_string(), rule.to_string()],
                ..k.clone()
            });
        }
        // They are the marks'.
        block.retain(|k| k.keyword() != "mark_dest");
    }
    let mut marks = Vec::with_capacity(g.marks.len());
    for (&(mark, given), dests) in g.marks.iter().zip(dests) {
        let v6 = match given.or(family).or_else(|| super::values::said_v6(s)) {
            Some(v6) => v6,
            // Without a real server the block is ignored, and says so.
            None if !block.iter().any(|k| k.keyword() == "real_server") => false,
            None => {
                let e = format!(
                    "virtual_server group {name}: the family of fwmark {mark} cannot be determined (no ip_family or persistence_granularity, and every server of the block tunnelled), IPv4 (as keepalived does)"
                );
                cx.w.at(&s.pos, e);
                false
            }
        };
        marks.push((mark, if v6 { "inet6" } else { "inet" }, dests));
    }
    Ok(Members {
        pos: s.pos.clone(),
        block,
        addrs: g.members.clone(),
        marks,
    })
}

/// The services of a `virtual_server group` block: a `virtual_server ADDR
/// PORT` per address and port of the group, then a `virtual_server fwmark
/// N` per mark, each with its copy of the block made as it is read
/// ([`Members::stmts`]), so that a load holds one copy at a time.
pub(crate) struct Members {
    /// The block's.
    pos: Pos,
    /// The block as each service has it (`mark_dest` lines taken out).
    block: Vec<Stmt>,
    /// The group's addresses and ports.
    addrs: Vec<(IpAddr, u16)>,
    /// The group's marks, each with its family and `mark_dest` lines.
    marks: Vec<(u32, &'static str, Vec<Stmt>)>,
}

impl Members {
    /// Each service's `virtual_server` block, in order.
    pub(crate) fn stmts(&self) -> impl Iterator<Item = Stmt> + '_ {
        let stmt = |words: [String; 3], block| Stmt {
            words: words.into(),
            pos: self.pos.clone(),
            block: Some(block),
        };
        let vs = || "virtual_server".to_string();
        let addrs = (self.addrs.iter())
            .map(move |(a, p)| stmt([vs(), a.to_string(), p.to_string()], self.block.clone()));
        let marks = self.marks.iter().map(move |(mark, family, dests)| {
            // The family first, where `values::fwmark_v6` looks.
            let mut own = Vec::with_capacity(1 + self.block.len() + dests.len());
            own.push(Stmt {
                words: vec!["ip_family".to_string(), family.to_string()],
                pos: self.pos.clone(),
                block: None,
            });
            own.extend(self.block.iter().cloned());
            own.extend(dests.iter().cloned());
            stmt([vs(), "fwmark".to_string(), mark.to_string()], own)
        });
        addrs.chain(marks)
    }
}

/// The statements of `block`, with those of their blocks, however deep.
fn count(block: &[Stmt]) -> usize {
    block
        .iter()
        .map(|k| 1 + k.block.as_deref().map_or(0, count))
        .sum()
}

/// A `mark_dest` line `k` of a `virtual_server group NAME` block: which of
/// the group's `marks` it is for, and its rule. `mark_dest RULE` when the
/// group has one mark, `mark_dest MARK RULE` for any.
fn mark_dest<'k>(
    cx: &mut Cx<'_>,
    k: &'k Stmt,
    name: &str,
    marks: &[(u32, Option<bool>)],
) -> Result<(usize, &'k str), KaError> {
    cx.no_more(k, 2);
    match k.args() {
        [rule] if marks.len() == 1 => Ok((0, rule)),
        [rule] => Err(KaError::at(
            &k.pos,
            format!(
                "mark_dest {rule}: virtual_server_group {name} has {} fwmarks, say which (mark_dest MARK {rule})",
                marks.len()
            ),
        )),
        [mark, rule, ..] => {
            let i = mark
                .parse::<u32>()
                .ok()
                .and_then(|m| marks.iter().position(|o| o.0 == m));
            let i = i.ok_or_else(|| {
                KaError::at(
                    &k.pos,
                    format!("mark_dest {mark}: virtual_server_group {name} has no fwmark {mark}"),
                )
            })?;
            Ok((i, rule))
        }
        [] => Err(KaError::at(&k.pos, "mark_dest: a value is missing")),
    }
}

/// The services of the groups' `fwmark` entries set up so far, by group
/// and key: one per mark and family however many `virtual_server group`
/// blocks use the group (keepalived counts them in the entry's
/// `fwm4_alive`/`fwm6_alive`: `ipvs_group_cmd` adds the service for the
/// first, `ipvs_change_needed`, and every one's real servers to it).
#[derive(Default)]
pub(crate) struct Marks {
    /// The block that set each up, with its group's name, in order.
    set: Vec<(String, Vs)>,
    /// Where each is in `set`.
    at: HashMap<(String, ServiceKey), usize>,
}

impl Marks {
    /// Whether the group `name` has its mark's service `key` already.
    pub(crate) fn has(&self, name: &str, key: ServiceKey) -> bool {
        self.at.contains_key(&(name.to_string(), key))
    }

    /// Notes that `vs`, a block of the group `name`, set up its service
    /// (if it is a mark's).
    pub(crate) fn set_up(&mut self, name: &str, vs: Vs) {
        if vs.key.is_fwmark() {
            self.at.insert((name.to_string(), vs.key), self.set.len());
            self.set.push((name.to_string(), vs));
        }
    }

    /// The mark services `joins` of the `virtual_server group NAME` block
    /// `s`, which earlier blocks of the group set up: the service keeps the
    /// first block's settings (keepalived's first `IP_VS_SO_SET_ADD`; a
    /// later block whose settings differ is warned about), this block's
    /// real servers join it (one it has already stays as it is, as the
    /// kernel's `EEXIST` that keepalived lets pass), with their notify
    /// scripts only where `alone` (the block has no service of its own) and
    /// this is its first (the scripts run for one service of a block,
    /// `top::scripts_once`), and its `mark_dest` rules add to the
    /// service's. The number of servers whose notify scripts were left out.
    pub(crate) fn join(
        &mut self,
        cx: &mut Cx<'_>,
        s: &Stmt,
        joins: Vec<Vs>,
        alone: bool,
        cfg: &mut Config,
    ) -> Result<usize, KaError> {
        let name = s.args().get(1).map(String::as_str).unwrap_or_default();
        let mut dropped = 0;
        for (i, mut later) in joins.into_iter().enumerate() {
            let Some(&at) = self.at.get(&(name.to_string(), later.key)) else {
                continue;
            };
            let first = &mut self.set[at].1;
            let differ = differences(first, &later);
            if !differ.is_empty() {
                let v6 = if later.key.addr.is_ipv6() {
                    " inet6"
                } else {
                    ""
                };
                let e = format!(
                    "virtual_server group {name}: fwmark {}{v6} is the service the block at {} set up (one per mark and family, as keepalived's ipvs_group_cmd), with its {}: this block's differ and are not taken; its real servers join the service",
                    later.key.mark,
                    first.pos,
                    differ.join(", ")
                );
                cx.w.at(&s.pos, e);
            }
            for d in &mut later.dests {
                // Its checker does not run here: the service's check does.
                if first.check != later.check {
                    (d.check_ip, d.scripts.check) = (None, None);
                }
                if !(alone && i == 0) && d.scripts.notifies() {
                    (d.scripts.up, d.scripts.down) = (None, None);
                    dropped += 1;
                }
            }
            later.check.clone_from(&first.check);
            later.add_dests_to(cfg)?;
            let before = first.marks.len();
            for m in later.marks {
                if !first.marks.contains(&m) {
                    first.marks.push(m);
                }
            }
            if first.marks.len() > before {
                cfg.set_service_marks(&first.key, Some(first.marks.clone()))
                    .map_err(|e| KaError::at(&s.pos, e.to_string()))?;
            }
        }
        Ok(dropped)
    }

    /// The mark services that no block of their group gave a `mark_dest`
    /// for: where the first block is, its group and its key.
    pub(crate) fn without_rules(&self) -> impl Iterator<Item = (&Pos, &str, ServiceKey)> {
        let none = self.set.iter().filter(|(_, vs)| vs.marks.is_empty());
        none.map(|(name, vs)| (&vs.pos, name.as_str(), vs.key))
    }
}

/// The settings of the block `b` that differ from the block `a`'s, by
/// keepalived's keywords.
fn differences(a: &Vs, b: &Vs) -> Vec<&'static str> {
    [
        (a.sched != b.sched, "lb_algo"),
        (a.persistent != b.persistent, "persistence_timeout"),
        (a.netmask != b.netmask, "persistence_granularity"),
        (a.pe != b.pe, "persistence_engine"),
        (a.flags != b.flags, "scheduler flags"),
        (a.sorry != b.sorry, "sorry_server"),
        (a.quorum != b.quorum, "quorum and hysteresis"),
        (a.scripts != b.scripts, "quorum_up and quorum_down"),
        (a.check != b.check, "checkers"),
    ]
    .into_iter()
    .filter_map(|(differs, what)| differs.then_some(what))
    .collect()
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
        let mut cx = Cx {
            w: &mut w,
            dips: &[],
            files: &[],
        };
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
        // A range of whole addresses, across a byte; a prefix.
        let r = entry(&mut cx, &stmt(&["198.18.0.254-198.18.1.1", "80"])).unwrap();
        assert_eq!(
            r.iter().map(|(a, _)| a.to_string()).collect::<Vec<_>>(),
            ["198.18.0.254", "198.18.0.255", "198.18.1.0", "198.18.1.1"]
        );
        let r = entry(&mut cx, &stmt(&["198.18.0.5/30"])).unwrap();
        assert_eq!(
            r.first(),
            Some(&(v4("198.18.0.4"), 0)),
            "the prefix's first"
        );
        assert_eq!(r.len(), 4);
        assert_eq!(entry(&mut cx, &stmt(&["198.18.0.5/32"])).unwrap().len(), 1);
        assert_eq!(
            entry(&mut cx, &stmt(&["2001:2::/120", "80"]))
                .unwrap()
                .len(),
            256
        );
        for bad in [
            &["198.18.0.110-100", "80"][..],
            &["198.18.0.110-110", "80"],
            &["198.18.0.110-", "80"],
            &["198.18.0.110-256", "80"],
            &["198.18.0.x", "80"],
            &["198.18.0.1", "http"],
            &["198.18.0.1/33", "80"],
            &["198.18.0.0/16", "80"],
            &["2001:2::5-4", "80"],
            &["2001:2::5-g", "80"],
        ] {
            assert!(entry(&mut cx, &stmt(bad)).is_err(), "{bad:?}");
        }
    }
}
