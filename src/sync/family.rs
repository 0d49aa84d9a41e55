//! What the sync daemons do differently for IPv4 and IPv6 entries, behind
//! one trait ([`Family`], implemented for `Ipv4Addr` and `Ipv6Addr`), so that
//! packing reports and resolving received entries (`super::daemon`) are one
//! code path for both: the address types of the wire and of the workers'
//! tables, the rules' maps, the owner of a client key (`Env::owner`,
//! `Env::owner6`), the channels, the persistence templates.

use super::wire::{self, SyncAddr, SyncConn, flags};
use crate::config::{DestId, Forward, SorryServer};
use crate::dataplane::sync::{Install, Resolved, SyncEntry, SyncPorts};
use crate::dataplane::{Env, Shared};
use crate::nat::ftp::{FtpPorts, Shift};
use crate::nat::persist::Templates;
use crate::nat::{Addr, ServiceEntry, Snapshot};
use crossbeam_channel::Sender;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A worker's report as a sync entry of its family: masquerading, the
/// state's IPVS number, `INACTIVE` unless established (see
/// [`wire::nat_flags`]).
pub(super) fn to_wire<A: Family>(e: &SyncEntry<A::Nat>) -> SyncConn<A> {
    let seq = e.out_seq.and_then(|s| s.parts()).map(seq_opt);
    let seq_flag = if seq.is_some() { flags::OUT_SEQ } else { 0 };
    SyncConn {
        proto: e.proto,
        flags: wire::nat_flags(e.template, e.state)
            | fwd_bits(e.forward)
            | no_output(e.forward)
            | seq_flag,
        state: if e.template {
            match e.state {
                crate::nat::State::Established => wire::ipvs_state::CTPL_ASSURED,
                _ => wire::ipvs_state::CTPL_NONE,
            }
        } else {
            wire::state_to_ipvs(e.state)
        },
        caddr: A::from_nat(e.client.0),
        cport: e.client.1,
        vaddr: A::from_nat(e.vip.0),
        vport: e.vip.1,
        daddr: A::from_nat(e.rip.0),
        dport: e.rip.1,
        fwmark: e.fwmark,
        timeout: e.timeout,
        seq,
        pe: None,
    }
}

/// The FTP helper's shift of a control connection's server stream as IPVS
/// syncs it (`IPVS_OPT_SEQ_DATA` with `IP_VS_CONN_F_OUT_SEQ`): the real
/// server's direction is `out_seq`; `in_seq` stays zero, as the helper (like
/// `ip_vs_ftp_in`) never changes the client's stream.
fn seq_opt((init, delta, prev): (u32, i32, i32)) -> wire::SeqOpt {
    wire::SeqOpt {
        in_seq: wire::Seq::default(),
        out_seq: wire::Seq {
            init_seq: init,
            delta: delta as u32,
            previous_delta: prev as u32,
        },
    }
}

/// The shift a received entry carries ([`seq_opt`] backwards), if its flags
/// say its `out_seq` is in use; an `in_seq` is not applied (ringvs's
/// helper moves no client stream).
pub(super) fn out_seq<A: SyncAddr>(c: &SyncConn<A>) -> Option<Shift> {
    let s = c.seq.filter(|_| c.flags & flags::OUT_SEQ != 0)?.out_seq;
    Some(Shift::from_parts(
        s.init_seq,
        s.delta as i32,
        s.previous_delta as i32,
    ))
}

/// Whether a received entry says its `out_seq` is in use without sending
/// it: a known connection keeps the shift it has (`ip_vs_proc_conn` copies
/// the sequence option only `if (opt)`; the flag keeps it applied).
pub(super) fn keeps_seq<A: SyncAddr>(c: &SyncConn<A>) -> bool {
    c.seq.is_none() && c.flags & flags::OUT_SEQ != 0
}

/// The FTP data connection a received entry is, when no service holds its
/// port (`Family::resolve` found none) and the helper runs on `ftp`'s
/// ports: a connection the master's helper made of a control connection to
/// one of those ports on the entry's VIP, which goes to that control
/// connection's real server (`ftp_expect_passive`, `ftp_expect_active` in
/// `dataplane/ftp.rs`), by NAT:
///
/// * passive: VIP:port to the server's address at the same port;
/// * active: VIP:(ftp port − 1) to the server's (control port − 1).
///
/// IPVS's backup takes any entry, its connection bound to no real server
/// when its service is unknown (`ip_vs_proc_conn`); ringvs drops entries of
/// unknown services but these, each bound to its control connection's
/// server, as on the master.
pub(super) fn ftp_data<A: Family>(
    snap: &Snapshot,
    ftp: &FtpPorts,
    c: &SyncConn<A>,
) -> Option<Target<A::Nat>> {
    if c.proto != crate::wire::ipv4::protocol::TCP || c.is_template() {
        return None;
    }
    let daddr = c.daddr.to_nat();
    ftp.list().iter().find_map(|&p| {
        let svc = (c.proto, c.vaddr.to_nat(), p);
        let (dest, addr, port, forward) =
            A::dests_on(snap, svc)?.find(|&(_, addr, port, fwd)| {
                // A real server's port 0 takes the VIP's.
                let rport = if port == 0 { p } else { port };
                let passive = c.vport == c.dport;
                let active = c.vport == p.wrapping_sub(1) && c.dport == rport.wrapping_sub(1);
                fwd == Forward::Masq && addr == daddr && (passive || active)
            })?;
        Some(Target {
            svc,
            dest,
            addr,
            port,
            forward,
            persist: None,
            pe_sip: false,
        })
    })
}

/// IPVS's forwarding-method bits (`IP_VS_CONN_F_MASQ`, `_DROUTE`, `_TUNNEL`).
/// `IP_VS_CONN_F_NOOUTPUT` for a DR or TUN server's connections and
/// templates: `__ip_vs_update_dest` (`ip_vs_ctl.c`) gives it to every
/// server not masqueraded, `ip_vs_bind_dest` copies it to the connection,
/// and `ip_vs_sync_conn` sends the connection's flags (a kernel backup that
/// lacks the server tracks such an entry with the input-only TCP states).
fn no_output(f: Forward) -> u32 {
    match f {
        Forward::Masq => 0,
        Forward::Route | Forward::Tunnel(_) => flags::NOOUTPUT,
    }
}

pub(super) fn fwd_bits(f: Forward) -> u32 {
    match f {
        Forward::Masq => flags::MASQ,
        Forward::Route => flags::DROUTE,
        Forward::Tunnel(_) => flags::TUNNEL,
    }
}

/// What the daemons do differently for IPv4 and IPv6 entries; the rest is
/// one code path (`daemon::pack`, `daemon::Intake`).
pub(super) trait Family: SyncAddr {
    /// The address as the workers' tables hold it (`u32` for IPv4).
    type Nat: Addr;
    fn to_nat(self) -> Self::Nat;
    fn from_nat(a: Self::Nat) -> Self;
    /// Whether the director serves this family at all.
    fn enabled(env: &Env) -> bool;
    /// The service and real server of a received entry in the current
    /// rules, or why there is none.
    fn resolve(snap: &Snapshot, c: &SyncConn<Self>) -> Result<Target<Self::Nat>, &'static str>;
    /// Whether real server `dest` of `snap` is still the one the entry was
    /// resolved to (`Resolved::named_in`).
    fn names(snap: &Snapshot, dest: DestId, r: &Resolved<Self::Nat>) -> bool;
    /// The real servers of the service on exactly `svc` (no port-0
    /// service in its place): each one's id, real address, port and method.
    fn dests_on(
        snap: &Snapshot,
        svc: (u8, Self::Nat, u16),
    ) -> Option<impl Iterator<Item = (DestId, Self::Nat, u16, Forward)> + '_>;
    /// The shared persistence templates of this family, if the director
    /// keeps them.
    fn templates(shared: &Shared) -> Option<&Templates<Self::Nat>>;
    /// The worker owning `client`'s flows (the packet path's steering).
    fn owner(env: &Env, client: (Self::Nat, u16), workers: usize) -> usize;
    /// The install channels, in worker order.
    fn installs(ports: &SyncPorts) -> &[Sender<Install<Self::Nat>>];
}

/// A received entry's service and real server on this director.
pub(super) struct Target<A> {
    pub svc: (u8, A, u16),
    pub dest: DestId,
    /// The real server's address and port as configured (0: it takes the
    /// VIP's), which the worker checks the id still names
    /// (`dataplane::sync::Resolved`).
    pub addr: A,
    pub port: u16,
    pub forward: Forward,
    /// The service's persistence: its timeout and `-M` as [`Addr::masked`]
    /// takes it (a netmask for IPv4, a prefix length for IPv6).
    pub persist: Option<(u32, u32)>,
    /// The service runs the SIP persistence engine (`--pe sip`).
    pub pe_sip: bool,
}

/// Whether a real server at `addr:port` is the one an entry names: the
/// address, and the port unless the server's is 0 (it takes the VIP's).
/// A persistent service on port 0 or a mark keeps the client's port
/// whatever the server's (`ip_vs_sched_persist`, `ip_vs_core.c`), and its
/// templates carry port 0 from a kernel master: there `resolve` looks
/// again by the address alone (`any_port`), and binds the entry to the
/// first server of that address. A deliberate difference: the kernel's
/// `ip_vs_find_dest` (`ip_vs_ctl.c`) looks again only for a server on
/// port 0 and otherwise leaves the connection unbound (its packets go to
/// the entry's address and port all the same).
fn serves<A: PartialEq>(addr: A, port: u16, daddr: A, dport: u16) -> bool {
    addr == daddr && (port == dport || port == 0)
}

/// The service's sorry server, if the entry names it: a connection the
/// master made to it while it served, which this director's table may not
/// hold now (a standby runs no checks, so puts no sorry server in). Its
/// packets wait for the sorry server to be in the table again.
fn sorry_of(
    s: &ServiceEntry,
    daddr: IpAddr,
    (dport, any_port): (u16, bool),
) -> Option<SorryServer> {
    s.sorry
        .filter(|x| serves(x.addr, x.port, daddr, dport) || (any_port && x.addr == daddr))
}

impl Family for Ipv4Addr {
    type Nat = u32;

    fn to_nat(self) -> u32 {
        self.to_bits()
    }

    fn from_nat(a: u32) -> Self {
        Ipv4Addr::from_bits(a)
    }

    fn enabled(_: &Env) -> bool {
        true
    }

    fn resolve(snap: &Snapshot, c: &SyncConn) -> Result<Target<u32>, &'static str> {
        let daddr = c.daddr.to_bits();
        // The mark the entry carries names its service, as in
        // `ip_vs_proc_conn` (a kernel master's; ringvs's find theirs by
        // the rules).
        let marked = (c.fwmark != 0)
            .then(|| crate::nat::mark::fwmark_id(c.fwmark))
            .and_then(|id| snap.services.get(&id).map(|s| (id, s)));
        let (svc, s) = marked
            .or_else(|| snap.service_for(c.proto, c.vaddr.to_bits(), c.vport))
            .ok_or("unknown_service")?;
        let any_port = s.persist.is_some() && svc.2 == 0;
        let d = match (s.dests.iter())
            .find(|d| serves(d.addr, d.port, daddr, c.dport))
            .or_else(|| (s.dests.iter()).find(|d| any_port && d.addr == daddr))
        {
            Some(d) => (d.id, d.addr, d.port, d.forward),
            None => {
                let x = sorry_of(s, c.daddr.into(), (c.dport, any_port)).ok_or("unknown_dest")?;
                (x.id, daddr, x.port, x.forward)
            }
        };
        Ok(Target {
            svc,
            dest: d.0,
            addr: d.1,
            port: d.2,
            forward: d.3,
            persist: s.persist.map(|p| (p.timeout, p.mask)),
            pe_sip: s.pe_sip,
        })
    }

    fn names(snap: &Snapshot, dest: DestId, r: &Resolved<u32>) -> bool {
        r.named_in(snap, dest)
    }

    fn dests_on(
        snap: &Snapshot,
        svc: (u8, u32, u16),
    ) -> Option<impl Iterator<Item = (DestId, u32, u16, Forward)> + '_> {
        let s = snap.services.get(&svc)?;
        Some(s.dests.iter().map(|d| (d.id, d.addr, d.port, d.forward)))
    }

    fn templates(shared: &Shared) -> Option<&Templates> {
        Some(&shared.templates)
    }

    fn owner(env: &Env, client: (u32, u16), workers: usize) -> usize {
        env.owner(client, workers)
    }

    fn installs(ports: &SyncPorts) -> &[Sender<Install>] {
        &ports.installs
    }
}

impl Family for Ipv6Addr {
    type Nat = Ipv6Addr;

    fn to_nat(self) -> Ipv6Addr {
        self
    }

    fn from_nat(a: Ipv6Addr) -> Self {
        a
    }

    /// With no IPv6 address on both NICs nothing would use the connection
    /// (as a kernel built without IPv6 skips the entry, `ip_vs_proc_sync_conn`).
    fn enabled(env: &Env) -> bool {
        env.ipv6()
    }

    /// The service as the IPv4 one is found: the entry's mark's, else
    /// `Snapshot::service_for6`'s.
    fn resolve(snap: &Snapshot, c: &SyncConn<Ipv6Addr>) -> Result<Target<Ipv6Addr>, &'static str> {
        let marked = (c.fwmark != 0)
            .then(|| crate::nat::mark::fwmark_id6(c.fwmark))
            .and_then(|id| snap.services6.get(&id).map(|s| (id, s)));
        let (svc, s) = marked
            .or_else(|| snap.service_for6(c.proto, c.vaddr, c.vport))
            .ok_or("unknown_service")?;
        // The real addresses are index-aligned with the entries (whose `addr`
        // is the folded one the schedulers hash).
        let any_port = s.entry.persist.is_some() && svc.2 == 0;
        let found = (s.entry.dests.iter().zip(s.addrs6.iter()))
            .find(|(d, a)| serves(**a, d.port, c.daddr, c.dport))
            .or_else(|| {
                (s.entry.dests.iter().zip(s.addrs6.iter()))
                    .find(|(_, a)| any_port && **a == c.daddr)
            });
        let d = match found {
            Some((d, a)) => (d.id, *a, d.port, d.forward),
            None => {
                let x = sorry_of(&s.entry, c.daddr.into(), (c.dport, any_port))
                    .ok_or("unknown_dest")?;
                (x.id, c.daddr, x.port, x.forward)
            }
        };
        Ok(Target {
            svc,
            dest: d.0,
            addr: d.1,
            port: d.2,
            forward: d.3,
            persist: s.entry.persist.map(|p| (p.timeout, p.mask)),
            pe_sip: s.entry.pe_sip,
        })
    }

    fn names(snap: &Snapshot, dest: DestId, r: &Resolved<Ipv6Addr>) -> bool {
        r.named_in(snap, dest)
    }

    fn dests_on(
        snap: &Snapshot,
        svc: (u8, Ipv6Addr, u16),
    ) -> Option<impl Iterator<Item = (DestId, Ipv6Addr, u16, Forward)> + '_> {
        let s = snap.services6.get(&svc)?;
        let dests = s.entry.dests.iter().zip(s.addrs6.iter());
        Some(dests.map(|(d, a)| (d.id, *a, d.port, d.forward)))
    }

    fn templates(shared: &Shared) -> Option<&Templates<Ipv6Addr>> {
        Some(&shared.templates6)
    }

    fn owner(env: &Env, client: (Ipv6Addr, u16), workers: usize) -> usize {
        env.owner6(client, workers)
    }

    fn installs(ports: &SyncPorts) -> &[Sender<Install<Ipv6Addr>>] {
        &ports.installs6
    }
}
