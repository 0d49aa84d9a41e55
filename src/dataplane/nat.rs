//! The L4 NAT path, IPVS's NAT mode (`ip_vs_core.c`: `ip_vs_in_hook` for the
//! client side, `ip_vs_out_hook` for the real servers' replies;
//! `ip_vs_xmit.c`: `ip_vs_nat_xmit` for the rewrite): find the packet's connection, or schedule a new one for a client
//! packet to a virtual service; advance its TCP state; rewrite destination
//! (inbound) or source (outbound) with the connection's precomputed checksum
//! deltas; hand the frame to TX.
//!
//! Before a client packet uses its connection, the two checks of `ip_vs_in_hook`
//! (`ip_vs_core.c`): port reuse (a SYN meeting a finished connection expires it
//! and is scheduled anew, `conn_reuse_mode` with `is_new_conn_expected`) and the
//! real server's availability (a removed server's connection drops the packet,
//! or with `expire_nodest_conn` is expired and the packet treated as new). On
//! the established path that is a flag test and a bit test.
//!
//! Deliberate differences from IPVS, both stricter: TCP/UDP checksums are
//! verified before this path (`classify`; IPVS checks them only with an FTP
//! helper), and outside persistence only a SYN without ACK starts a TCP
//! connection (`Core::new_conn`; IPVS's `tcp_conn_schedule` takes a SYN+ACK).
//!
//! Both address families run this one path: it is generic over [`Family`]
//! (`u32` for IPv4, `Ipv6Addr` for IPv6, see `nat6.rs`), which names the
//! family's table, templates, services, next hops and rewrite; DR/TUN real
//! servers of either family go to `direct.rs`, and connection sync is the
//! same for both (`sync.rs`).

use super::classify::Segment;
pub(super) use super::family::{Family, Seg};
use super::ops::real_port;
use super::overload::fill_views;
use super::template::{evict_template, release_template};
use super::tx::TxPair;
use super::worker::Core;
use crate::Nic;
use crate::config::Forward;
use crate::io::TxQueue;
use crate::nat::conn::TEMPLATE_ASSURED;
use crate::nat::persist::{Link, TemplateDest, TemplateKey, Wanted};
use crate::nat::table::AddError;
use crate::nat::{Conn, DestEntry, Dir, FlowKey, State, fold32, state};
use crate::sched::Flow;
use crate::stats::Ctr;
use crate::wire::ipv4::protocol;
use crate::wire::tcp::flags::{ACK, RST, SYN};

impl Core {
    /// A TCP/UDP packet from a client (external NIC): to its connection's real
    /// server, scheduling a new connection if it has none.
    #[inline(always)]
    pub(super) fn nat_in<T: TxQueue>(&mut self, seg: Segment<'_>, tx: &mut TxPair<T>) {
        self.nat_in_of(Seg::from(seg), tx);
    }

    /// [`Core::nat_in`] of either family.
    #[inline]
    pub(super) fn nat_in_of<A: Family, T: TxQueue>(&mut self, seg: Seg<'_, A>, tx: &mut TxPair<T>) {
        let key = FlowKey::new(0, seg.proto, seg.src, seg.sport, seg.dst, seg.dport);
        let found = match A::lookup(self, &key) {
            Some(i) => match self.check_in::<A>(i, seg.proto, seg.flags) {
                InConn::Use => Some(i),
                InConn::Drop => return self.ctr.inc(Ctr::DropNoDestConn),
                InConn::Expired => None,
            },
            None => None,
        };
        let idx = match found {
            Some(i) => i,
            None => {
                // A source we could never answer, or one that must not come
                // from outside, creates nothing.
                if !A::plausible_client(self, seg.src) {
                    self.settle_reused();
                    return self.ctr.inc(Ctr::DropBadSource);
                }
                // An FTP data connection the helper expects (`ftp.rs`).
                let expected = match self.env.ftp.on() {
                    true => self.ftp_expected(Dir::Input, &seg),
                    false => None,
                };
                let scheduled = match expected {
                    Some(Ok(i)) => Some(Scheduled::Entry(i)),
                    Some(Err(())) => None,
                    None => self.new_conn(&seg),
                };
                self.settle_reused();
                match scheduled {
                    Some(Scheduled::Entry(i)) => i,
                    Some(Scheduled::OnePacket(c, at)) => return self.one_packet((c, at), seg, tx),
                    Some(Scheduled::Leave) => return self.leave(seg.frame, tx),
                    None => return,
                }
            }
        };
        self.nat_forward(idx, Dir::Input, seg, tx);
    }

    /// A TCP/UDP packet from a real server (internal NIC): a reply of one of our
    /// connections goes to its client; a reply to a health check goes to the
    /// health thread; anything else is dropped.
    #[inline(always)]
    pub(super) fn nat_out<T: TxQueue>(&mut self, seg: Segment<'_>, tx: &mut TxPair<T>) {
        // Replies to the DIP's health checks (one compare on other traffic).
        if seg.dst == self.env.dip()
            && super::divert::is_check_port(seg.dport)
            && (seg.proto == protocol::TCP || seg.proto == protocol::UDP)
        {
            self.shared
                .health
                .divert(&seg.frame[crate::wire::ethernet::HEADER_LEN..]);
            return;
        }
        self.nat_out_of(Seg::from(seg), tx);
    }

    /// [`Core::nat_out`] of either family, after the health-check replies.
    #[inline]
    pub(super) fn nat_out_of<A: Family, T: TxQueue>(
        &mut self,
        seg: Seg<'_, A>,
        tx: &mut TxPair<T>,
    ) {
        let key = FlowKey::new(1, seg.proto, seg.src, seg.sport, seg.dst, seg.dport);
        let found = match A::lookup(self, &key) {
            Some(i) => Some(i),
            // An active FTP data connection the helper expects (`ftp.rs`).
            None if self.env.ftp.on() => match self.ftp_expected(Dir::Output, &seg) {
                Some(Ok(i)) => Some(i),
                Some(Err(())) => return,
                None => None,
            },
            None => None,
        };
        let Some(idx) = found else {
            return self.ops_reply(seg, tx);
        };
        // IPVS checks no availability on replies (`ip_vs_out_hook`); with
        // `expire_nodest_conn` it expires a removed server's connections in the
        // background (`ip_vs_expire_nodest_conn_flush`, `ip_vs_conn.c`), as the
        // workers do (`nodest.rs`). A reply before that expires its connection,
        // so it finds none, as it would there once the flush ran.
        if self.env.sysctl.expire_nodest_conn
            && !self.snap.cfg.dest_live(A::table(self).get(idx).dest())
        {
            self.drop_conn_of::<A>(idx);
            return self.ctr.inc(Ctr::DropNoDestConn);
        }
        self.nat_forward(idx, Dir::Output, seg, tx);
    }

    /// What a client packet does with the connection it found (`ip_vs_in_hook`,
    /// `ip_vs_core.c`, after `conn_in_get`):
    ///
    /// 1. A TCP SYN or SCTP INIT (`is_new_conn`) meeting a connection not
    ///    controlled (by a persistence template, or an FTP data connection
    ///    by its control connection) that ended, TIME_WAIT or CLOSE (SCTP:
    ///    CLOSED, `is_new_conn_expected`), with `conn_reuse_mode` non-zero;
    ///    or, with `expire_nodest_conn`, any connection whose server has
    ///    weight 0: the connection is expired now and the SYN scheduled as
    ///    a new one.
    /// 2. A connection whose real server is not available (removed from its
    ///    service): the packet is dropped and the connection kept
    ///    (`expire_nodest_conn` 0), or the connection is expired and the packet
    ///    goes on as one of no connection (1). A weight-0 server is available.
    ///
    /// On an established flow: one flag test and one bit test.
    #[inline]
    pub(super) fn check_in<A: Family>(&mut self, idx: u32, proto: u8, flags: u8) -> InConn {
        let c = A::table(self).get(idx);
        let live = self.snap.cfg.dest_live(c.dest());
        if is_new_conn(proto, flags) && self.reuse_reschedules(c) {
            self.reuse_conn_of::<A>(idx);
            return InConn::Expired;
        }
        if live {
            InConn::Use
        } else if self.env.sysctl.expire_nodest_conn {
            self.drop_conn_of::<A>(idx);
            InConn::Expired
        } else {
            InConn::Drop
        }
    }

    /// Whether a SYN that found connection `c` expires it and is scheduled
    /// anew (step 1 of [`Core::check_in`]), as `ip_vs_in_hook`: a weight-0
    /// server's connection with `expire_nodest_conn`, whatever
    /// `conn_reuse_mode` and whether it is controlled (since "ipvs: Fix
    /// reuse connection if RS weight is 0", 2021, only the second case
    /// tests them: the merged patch dropped an outer `!cp->control`, so a
    /// persistent client is rescheduled and `ip_vs_check_template` decides
    /// its server), else one `is_new_conn_expected` finds done and not
    /// controlled (by a persistence template, or an FTP data connection by
    /// its control connection).
    #[cold]
    fn reuse_reschedules<A: Family>(&self, c: &Conn<A>) -> bool {
        let s = self.env.sysctl;
        if s.expire_nodest_conn {
            let weight = A::conn_service(&self.snap.cfg, c)
                .and_then(|svc| svc.entry.dests.iter().find(|d| d.id == c.dest()))
                .map(|d| d.weight);
            if weight == Some(0) {
                return true;
            }
        }
        if s.conn_reuse_mode == 0 || c.template != 0 {
            return false;
        }
        // Bit 2: FIN_WAIT too, for a connection that sees no replies
        // (`IP_VS_CONN_F_NOOUTPUT`, which `__ip_vs_update_dest` gives every
        // server not reached by NAT: DR/TUN).
        let no_output = || self.snap.cfg.forward_of(c.dest()) != crate::config::Forward::Masq;
        let fin_wait = s.conn_reuse_mode & 2 != 0 && c.state == State::FinWait && no_output();
        let done =
            fin_wait || matches!(c.state, State::TimeWait | State::Close | State::SctpClosed);
        // The FTP test last: it may take a lock, for a SYN meeting an ended
        // connection of a client with data connections (no packet of a
        // connection in use comes here).
        done && !super::ftp::ftp_data(&self.env.ftp, &self.shared, c)
    }

    /// Track connection `idx` for a packet going `dir`, rewrite the packet and
    /// send it on to the other NIC.
    #[inline(always)]
    pub(super) fn nat_forward<A: Family, T: TxQueue>(
        &mut self,
        idx: u32,
        dir: Dir,
        seg: Seg<'_, A>,
        tx: &mut TxPair<T>,
    ) {
        // DR and TUN real servers (`direct.rs`): one flag test when no
        // service has any.
        if dir == Dir::Input && self.snap.cfg.any_direct {
            let fwd = self.snap.cfg.forward_of(A::table(self).get(idx).dest());
            if fwd != Forward::Masq {
                return self.direct(idx, fwd, seg, tx);
            }
        }
        // A control connection of the FTP helper (`ftp.rs`, which tracks
        // it): one test when the helper is off.
        if self.env.ftp.on()
            && seg.proto == protocol::TCP
            && self.env.ftp.has(A::table(self).get(idx).vport)
        {
            return self.ftp_forward(idx, dir, seg, tx);
        }
        self.track::<A>(idx, dir, seg.proto, seg.flags);
        self.nat_send(idx, dir, seg, tx);
    }

    /// Rewrite a packet of connection `idx` going `dir` and send it on to
    /// the other NIC (its state already tracked).
    #[inline(always)]
    pub(super) fn nat_send<A: Family, T: TxQueue>(
        &mut self,
        idx: u32,
        dir: Dir,
        seg: Seg<'_, A>,
        tx: &mut TxPair<T>,
    ) {
        let c = A::table(self).get(idx);
        let (rw, dest, hop) = (c.rewrite(dir), c.dest(), A::hop(&self.env, dir, c));
        let bytes = seg.ip_len();
        self.received(dir, dest, bytes);
        // None for a connection this director would not have scheduled:
        // one the sync daemon installed from other prefixes or gateway.
        let Some(hop) = hop else {
            return self.ctr.inc(Ctr::DropNoDest);
        };
        let (out, done) = (dir_nic(dir), fwd_ctr::<A>(dir));
        let patch = A::patch(rw, &seg);
        if self.forward_to((out, hop), seg.frame, tx, done, patch) {
            self.forwarded(dir, dest, bytes);
        }
    }

    /// A client packet of a DR or TUN connection: tracked from the client's
    /// side alone, sent to the real server as `direct.rs` does for its family.
    fn direct<A: Family, T: TxQueue>(
        &mut self,
        idx: u32,
        fwd: Forward,
        seg: Seg<'_, A>,
        tx: &mut TxPair<T>,
    ) {
        let c = A::table(self).get(idx);
        let (dest, rip) = (c.dest(), self.direct_rip(c));
        let by_family = seg.by_family();
        if by_family.is_some() {
            self.track_input_only::<A>(idx, seg.proto, seg.flags);
        }
        self.direct_to(dest, rip, fwd, by_family, tx);
    }

    /// Schedule a new connection from a client packet to a virtual service:
    /// into the table, or for this datagram alone (`-o`, `ops.rs`); `Leave`
    /// when no real server takes it, `None` when it is dropped otherwise
    /// (counted).
    fn new_conn<A: Family>(&mut self, seg: &Seg<'_, A>) -> Option<Scheduled<A>> {
        let (proto, flags) = (seg.proto, seg.flags);
        let (client, vip) = ((seg.src, seg.sport), (seg.dst, seg.dport));
        // Borrow the snapshot (no refcount traffic on a line all workers share).
        // The exact port's service, else the VIP's port-0 one (`ip_vs_service_find`).
        let Some(svc) = A::service(&self.snap.cfg, proto, vip.0, vip.1) else {
            self.ctr.inc(Ctr::DropNoService);
            return None;
        };
        // An FTP service's data connection (another port): only a persistent
        // service takes it, to the control connection's server; else IPVS
        // leaves it to the director's own stack (`ip_vs_schedule` finds no
        // server, `ip_vs_leave` accepts it unanswered).
        let ftp_data = svc.id.2 == crate::nat::FTP_PORT && vip.1 != crate::nat::FTP_PORT;
        if ftp_data && svc.entry.persist.is_none() {
            self.ctr.inc(Ctr::DropNoService);
            return None;
        }
        // A client packet from the FTP data port is never scheduled, whatever
        // the service (`ip_vs_schedule`, `ip_vs_core.c`: "Not scheduling
        // FTPDATA", before the persistence and the scheduler; the packet goes
        // on to the director's own stack unanswered).
        if client.1 == crate::nat::FTP_DATA_PORT {
            self.ctr.inc(Ctr::DropNoService);
            return None;
        }
        let leave = (!ftp_data).then_some(Scheduled::Leave);
        // TCP with a SYN (persistent: SYN+ACK too), SCTP with an INIT (or,
        // sloppy, nearly anything); IPVS lets any other packet of no connection
        // through to the director's own stack: for a forwarding director, a drop.
        let first_chunk = (proto == protocol::SCTP)
            .then(|| seg.frame.get(seg.l4_off + crate::wire::sctp::HEADER_LEN))
            .flatten()
            .copied();
        let sloppy = (self.env.sysctl.sloppy_tcp, self.env.sysctl.sloppy_sctp);
        let persistent = svc.entry.persist.is_some();
        if !state::opens(proto, (flags, first_chunk), sloppy, persistent) {
            self.ctr.inc(Ctr::DropNoConn);
            return None;
        }
        // The hashing schedulers see IPv6 addresses folded as IPVS folds
        // them (`fold32`; an IPv4 address is itself); the locality caches
        // key by the whole destination address.
        let flow = Flow {
            client: fold32(client.0),
            cport: client.1,
            vaddr: fold32(vip.0),
            vaddr_wide: vip.0.wide(),
            vport: vip.1,
            now_s: self.clock.now_s,
        };
        let dests: &[DestEntry] = &svc.entry.dests;
        let (needs_counts, sched) = (svc.entry.needs_counts, &svc.entry.sched);
        // Counts over all workers and overload flags only for the schedulers and
        // services that look at them.
        if needs_counts {
            fill_views(
                &mut self.scratch,
                dests,
                &self.snap.peers,
                &self.shared.overload,
            );
        }
        let views = &self.scratch;
        let pick = || {
            if needs_counts {
                sched.pick(&flow, views)
            } else {
                sched.pick(&flow, dests)
            }
        };
        // A SIP template used, to report once the connection is known.
        let mut sip = None;
        let (i, link) = match svc.entry.persist {
            None => match pick() {
                Some(i) => (i, Link::NONE),
                None => {
                    self.ctr.inc(Ctr::DropNoDest);
                    return leave;
                }
            },
            Some(p) => {
                // Keyed by the service: a port-0 service's template holds every
                // port of the VIP (`ip_vs_sched_persist`'s `<caddr, 0, vaddr, 0>`).
                let mut key = TemplateKey::new(svc.id, client.0, p.mask);
                let templates = A::templates(&self.shared);
                let mut call_id = None;
                if svc.entry.pe_sip {
                    // `ip_vs_sip_fill_param`: a UDP datagram's Call-ID, or
                    // the datagram is not scheduled (`ip_vs_sched_persist`).
                    let payload = seg.frame.get(seg.l4_off + 8..).unwrap_or_default();
                    let id = (proto == protocol::UDP)
                        .then(|| crate::nat::sip::call_id(payload))
                        .flatten();
                    let Some(id) = id else {
                        self.ctr.inc(Ctr::DropNoCallId);
                        return None;
                    };
                    key = templates.with_call_id(key, id);
                    call_id = Some(id);
                }
                // `ip_vs_check_template` (`ip_vs_conn.c`): the template's server
                // must still be available (one of the service's), and with
                // `expire_quiescent_template` not have weight 0.
                let expire_quiescent = self.env.sysctl.expire_quiescent_template;
                let svc = &svc;
                let valid = |t: &TemplateDest<A>| {
                    dests.iter().enumerate().any(|(i, d)| {
                        d.id == t.id
                            && A::dest_addr(svc, i) == Some(t.addr)
                            && d.port == t.port
                            && !(expire_quiescent && d.weight == 0)
                    })
                };
                let chosen = || {
                    let i = pick()?;
                    Some(TemplateDest {
                        id: dests[i].id,
                        addr: A::dest_addr(svc, i)?,
                        port: dests[i].port,
                    })
                };
                let found = templates
                    .schedule(Wanted { key, call_id }, p, self.clock.now_s, valid, chosen)
                    .and_then(|(t, l)| dests.iter().position(|d| d.id == t.id).map(|i| (i, l)));
                let Some((i, link)) = found else {
                    self.ctr.inc(Ctr::DropNoDest);
                    return leave;
                };
                if svc.entry.pe_sip {
                    // A connection cannot find its SIP template again (its
                    // Call-ID is not kept): it holds none, and the template
                    // lives its timeout from the last datagram that used it.
                    if link.generation == 0 {
                        self.ctr.inc(Ctr::SipUntemplated);
                    }
                    templates.release_at(link, self.clock.now_s);
                    sip = Some((key, link.generation, call_id.unwrap_or_default()));
                    (i, Link::NONE)
                } else {
                    if link.generation == 0 {
                        self.ctr.inc(Ctr::PersistUntemplated);
                    }
                    (i, link)
                }
            }
        };
        let (Some(d), Some(rip)) = (dests.get(i).copied(), A::dest_addr(&svc, i)) else {
            self.ctr.inc(Ctr::DropNoDest);
            return None;
        };
        let rport = real_port(d.port, svc.entry.persist.is_some(), svc.id.2, vip.1);
        let mut conn = Conn::new(proto, client, vip, (rip, rport), d.id);
        conn.template = link.generation;
        let fail = |core: &mut Self, why: Ctr| {
            let now = core.clock.now_s;
            release_template(A::templates(&core.shared), &conn, link.at, now);
            core.ctr.inc(why);
            None
        };
        // An SCTP first fragment's port cannot change (`frag_nat.rs`).
        if self.frags.sctp_first && d.forward == Forward::Masq && rport != vip.1 {
            self.frags.sctp_refused = true;
            return fail(self, Ctr::DropSctpFragPort);
        }
        let reachable = match self.snap.cfg.cross_rip(d.id) {
            Some(ip) => self.reachable_ip(d.forward, ip),
            None => A::reachable(self, d.forward, rip),
        };
        if !reachable {
            // NAT needs the real servers on the DIP's segment, DR on a segment
            // of ours, TUN a route.
            return fail(self, Ctr::DropNoDest);
        }
        let ops = svc.entry.ops;
        if let Some((key, generation, id)) = sip.filter(|_| self.sync.reporting()) {
            self.sync_report_sip(&conn, (key, generation), id);
        }
        if ops {
            return Some(Scheduled::OnePacket(conn, link.at));
        }
        match self.admit(conn.clone(), link.at, true) {
            Ok(i) => Some(Scheduled::Entry(i)),
            Err(why) => fail(self, why),
        }
    }

    /// Put a connection just scheduled (or expected by the FTP helper) into
    /// the family's table, evicting a transitory one if it is full, and bind
    /// it to its server; `scheduled`: count it in the server's `Conns` too,
    /// as IPVS's `ip_vs_conn_stats` counts the scheduler's connections only
    /// (not `ip_vs_ftp`'s). Its index, or the drop counter saying why not.
    /// `at`: where its persistence template is (`Link`), if it has one.
    pub(super) fn admit<A: Family>(
        &mut self,
        conn: Conn<A>,
        at: u32,
        scheduled: bool,
    ) -> Result<u32, Ctr> {
        let (state, dest) = (conn.state, conn.dest());
        if A::table(self).len() >= A::table(self).capacity() {
            self.evict_one_of::<A>();
        }
        let now = self.clock.now_s;
        let template = conn.template;
        match A::table_mut(self).insert(conn, now) {
            Ok(i) => {
                A::table_mut(self).set_template(i, template, at);
                self.ctr.inc(Ctr::ConnNew);
                if !A::V4 {
                    self.ctr.inc(Ctr::ConnNew6);
                }
                self.out.gauges.adjust(dest, None, Some(state.is_active()));
                self.overload().bound(dest);
                if scheduled {
                    self.out.traffic.conn(dest);
                }
                // UDP connections are synced when created; TCP ones once
                // established (`track`). Both families: IPVS syncs IPv6
                // connections too (`ip_vs_sync_conn`, version 1 entries).
                if self.sync.reporting() && super::sync::syncs(state) {
                    self.sync_report_of::<A>(i);
                }
                Ok(i)
            }
            Err(AddError::Full) => Err(Ctr::DropTableFull),
            Err(AddError::Clash) => Err(Ctr::DropConnClash),
        }
    }

    /// Advance the connection's state for a packet going `dir`.
    #[inline(always)]
    pub(super) fn track<A: Family>(&mut self, idx: u32, dir: Dir, proto: u8, flags: u8) {
        let c = A::table(self).get(idx);
        let old = c.state;
        let new = if proto == protocol::TCP {
            state::tcp_next(old, dir, flags)
        } else if proto == protocol::SCTP {
            state::sctp_next(old, Some(dir), flags)
        } else {
            // A UDP reply assures the connection's template
            // (`udp_state_transition`): once, then a bit of `template` says so.
            if dir == Dir::Output && c.template != 0 && c.template & TEMPLATE_ASSURED == 0 {
                self.assure_template::<A>(idx);
            }
            old
        };
        self.track_to::<A>(idx, dir, old, new, flags);
    }

    /// [`Core::track`] for a DR or TUN connection: the client's side alone.
    fn track_input_only<A: Family>(&mut self, idx: u32, proto: u8, flags: u8) {
        let old = A::table(self).get(idx).state;
        let new = if proto == protocol::TCP {
            state::tcp_next_input_only(old, flags)
        } else if proto == protocol::SCTP {
            state::sctp_next(old, None, flags)
        } else {
            old
        };
        self.track_to::<A>(idx, Dir::Input, old, new, flags);
    }

    /// Move connection `idx` from state `old` to `new` after a packet going
    /// `dir` with `flags`.
    #[inline(always)]
    fn track_to<A: Family>(&mut self, idx: u32, dir: Dir, old: State, new: State, flags: u8) {
        let c = A::table(self).get(idx);
        // Passive health check: in SYN_RECV, the real server resets the connection,
        // or the client sends its SYN again (no SYN-ACK within its RTO, ~1 s).
        if old == State::SynRecv {
            let reset = dir == Dir::Output && flags & RST != 0;
            let syn_again = dir == Dir::Input && flags & (SYN | ACK | RST) == SYN;
            if reset || syn_again {
                self.shared.health.suspect(c.dest());
            }
        }
        if old.is_active() != new.is_active() {
            self.out
                .gauges
                .adjust(c.dest(), Some(old.is_active()), Some(new.is_active()));
        }
        // Established assures the connection's template (`set_tcp_state`,
        // `set_sctp_state`: `ip_vs_control_assure_ct`).
        if old != new
            && matches!(new, State::Established | State::SctpEstablished)
            && c.template != 0
        {
            self.assure_template::<A>(idx);
        }
        let now = self.clock.now_s;
        let sp = A::split(self);
        sp.table.touch(idx, new, now, &sp.snap.timeouts);
        if old != new && self.sync.reporting() && super::sync::syncs(new) {
            self.sync_report_of::<A>(idx);
        }
    }

    /// Expire connection `idx` of the family's table now (IPVS's
    /// `ip_vs_conn_expire_now`): its real server is gone, or a SYN reuses its
    /// ports, or a synced connection to another server replaces it.
    pub(super) fn drop_conn_of<A: Family>(&mut self, idx: u32) {
        self.reuse_conn_of::<A>(idx);
        self.settle_reused();
    }

    /// [`Core::drop_conn_of`] but for the unbind, left to
    /// [`Core::settle_reused`]: a SYN reusing the connection's ports binds
    /// its successor first, as the kernel's timer expires it only after
    /// (`ip_vs_conn_expire_now`).
    fn reuse_conn_of<A: Family>(&mut self, idx: u32) {
        let (c, at) = (A::table(self).get(idx).clone(), A::table(self).link(idx));
        A::table_mut(self).remove(idx);
        debug_assert!(self.reused.is_none());
        self.reused = Some((c.dest(), c.state.is_active()));
        release_template(A::templates(&self.shared), &c, at, self.clock.now_s);
        super::ftp::ftp_left(&self.env.ftp, &self.shared, &c);
        self.ctr.inc(Ctr::ConnExpired);
    }

    /// Full table (of the family): make room by evicting the stalest
    /// transitory connection, if any (never an established one; see
    /// `ConnTable::evict_one`).
    pub(super) fn evict_one_of<A: Family>(&mut self) {
        let (now, ftp) = (self.clock.now_s, self.env.ftp);
        let sp = A::split(self);
        let (out, templates) = (sp.out, A::templates(sp.shared));
        let (shared, overload) = (
            sp.shared,
            super::overload::Overload::of(sp.snap, sp.peers, sp.shared),
        );
        if sp.table.evict_one(now, |c, at| {
            out.gauges.adjust(c.dest(), Some(c.state.is_active()), None);
            overload.unbound(c.dest());
            evict_template(templates, c, at, now);
            super::ftp::ftp_left(&ftp, shared, c);
        }) {
            self.ctr.inc(Ctr::ConnEvicted);
        }
    }
}

/// What [`Core::new_conn`] scheduled.
pub(super) enum Scheduled<A> {
    /// A connection, at this index of the family's table.
    Entry(u32),
    /// A datagram of a one-packet-scheduling service, with the connection it
    /// would have had (`ops.rs`) and where its template is (`Link`).
    OnePacket(Conn<A>, u32),
    /// None: no real server could take it (`drop_no_dest`), and its client
    /// is told so (`ip_vs_leave`, [`Core::leave`]).
    Leave,
}

/// Whether a packet would open a connection (`is_new_conn`, `ip_vs_core.c`):
/// a TCP SYN, an SCTP packet whose first chunk is INIT.
#[inline(always)]
fn is_new_conn(proto: u8, flags: u8) -> bool {
    match proto {
        protocol::TCP => flags & SYN != 0,
        protocol::SCTP => flags == state::sctp_event::INIT,
        _ => false,
    }
}

/// What a client packet does with the connection it found ([`Core::check_in`]).
pub(super) enum InConn {
    /// Forward it on this connection.
    Use,
    /// Drop it; the connection stays (its server is unavailable).
    Drop,
    /// The connection was expired; the packet is one of no connection.
    Expired,
}

/// The NIC a packet going `dir` leaves by.
#[inline(always)]
pub(super) fn dir_nic(dir: Dir) -> Nic {
    match dir {
        Dir::Input => Nic::Int,
        Dir::Output => Nic::Ext,
    }
}

/// What a packet of family `A` forwarded `dir` counts in (an IPv6 one in
/// `fwd_in6`/`fwd_out6` and, by `count_done`, in `fwd_in`/`fwd_out` too),
/// once it went (`forward_to`; a frame parked for ARP when it goes).
#[inline(always)]
pub(super) fn fwd_ctr<A: Family>(dir: Dir) -> Ctr {
    match (dir, A::V4) {
        (Dir::Input, true) => Ctr::FwdIn,
        (Dir::Input, false) => Ctr::FwdIn6,
        (Dir::Output, true) => Ctr::FwdOut,
        (Dir::Output, false) => Ctr::FwdOut6,
    }
}
