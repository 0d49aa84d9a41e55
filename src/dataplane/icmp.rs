//! ICMP: echo replies for our own addresses, and the errors that concern a NATed
//! connection, translated both ways as IPVS does (`ip_vs_core.c`:
//! `ip_vs_in_icmp` for errors from the client side, `ip_vs_out_icmp` for errors
//! from the real servers' side) for destination unreachable, source quench and
//! time exceeded. A deliberate difference: ringvs also translates parameter
//! problem, which those two functions treat as not related and let through
//! untranslated (so an endpoint could not match it to its connection); RFC 5508
//! asks a NAT to translate it too. An error belongs to the worker that owns the
//! connection it quotes, which may not be the one that received it: such a frame
//! is handed to its owner over the handoff ring to it (`handoff.rs`). Errors
//! about DR and TUN connections go to their real servers untranslated, and
//! errors about our own tunnel packets become errors to the client about its
//! packet (`direct_icmp.rs`).
//!
//! The director makes up four errors itself: those about tunnel packets
//! (`Core::icmp_tunnel_error`), "fragmentation needed" for a DF packet
//! that does not fit the egress MTU ([`Core::frag_needed`]), port
//! unreachable for a new connection no real server takes ([`Core::leave`],
//! IPVS's `ip_vs_leave`), and time exceeded for a packet whose TTL runs out
//! ([`Core::time_exceeded`]), as
//! IPVS does in `ip_vs_xmit.c`: `ensure_mtu_is_adequate` and `decrement_ttl`
//! (called from `__ip_vs_get_out_rt`, before `ip_vs_nat_xmit` rewrites the
//! packet) for client → real server, and `ip_forward` (before the FORWARD
//! hook where `ip_vs_out_hook` translates) for real server → client. The IPv6
//! forms (packet too big, hop limit exceeded) go through
//! [`Core::icmp6_to_sender`], as does the parameter problem about an IPv6
//! fragment the kernel's reassembly refuses (`frag.rs`, as `ipv6_frag_rcv`).

use super::family::Quote;
use super::tx::{Patch, TxPair};
use super::worker::Core;
use crate::Nic;
use crate::io::TxQueue;
use crate::nat::rewrite;
use crate::stats::Ctr;
use crate::wire::icmpv4::{self, Icmpv4Packet, msg, unreach};
use crate::wire::icmpv6;
use crate::wire::ipv4::{self, Ipv4Packet, protocol};
use crate::wire::ipv6::{self, Endpoints, Ipv6Packet};
use crate::wire::{EthernetFrame, UdpPacket, ethernet};

/// The IPv4 packet of `frame` (Ethernet, IPv4), if its header is whole.
fn ipv4_of(frame: &[u8]) -> Option<Ipv4Packet<&[u8]>> {
    let d = frame.get(ethernet::HEADER_LEN..)?;
    Ipv4Packet::new_checked(d).ok()
}

/// Bytes kept of a client's datagram cut into fragments while its next hop
/// is unresolved, for the error its first fragment gets: Ethernet, an IPv4
/// header, a tunnel's encapsulation (an outer header without options, up
/// to 12 bytes) around the client's IPv4 header, and 8 bytes.
pub(super) const QUOTE_ROOM: usize = 128;

/// Keep in `out` what the error about the first fragment of `frame` (as it
/// came, Ethernet first, or a tunnel packet of ours; its header without
/// options, as `Core::fragment` cuts only those) quotes: its first bytes,
/// the IPv4 header as that fragment carries it (`len` bytes long, MF set
/// when `more`, its checksum made good). The kernel's `icmp_send` quotes
/// the fragment it was given (`ip_do_fragment` queued each for ARP on its
/// own); an error about a tunnel packet is relayed about the client's
/// packet inside, untouched by the cut (`ip_vs_in_icmp`). Returns how many
/// bytes were kept.
pub(super) fn fragment_quote(frame: &[u8], (len, more): (u16, bool), out: &mut [u8]) -> usize {
    let n = frame.len().min(out.len());
    out[..n].copy_from_slice(&frame[..n]);
    let Some(ip) = out.get_mut(ethernet::HEADER_LEN..n) else {
        return 0;
    };
    let hl = usize::from(ip.first().map_or(0, |v| v & 0x0f)) * 4;
    if hl < ipv4::HEADER_LEN || ip.len() < hl {
        return 0;
    }
    let mut ip = Ipv4Packet::new_unchecked(ip);
    ip.set_total_len(len);
    ip.set_fragmentation(ip.dont_frag(), more, ip.frag_offset());
    ip.fill_checksum();
    n
}

/// The quoted packet of an error message: an IPv4 header (options and all)
/// and at least the 4 bytes of TCP, UDP or SCTP that hold the ports, as
/// `ip_vs_in_icmp` and `ip_vs_out_icmp` (`ip_vs_core.c`) read them after
/// `cih->ihl * 4`. (RFC 792 asks for 8 bytes; a quote shorter than a
/// checksum's place leaves the quoted checksum unfixed, `rewrite`.)
pub(super) fn quoted(data: &[u8]) -> Option<Quote<u32>> {
    let ip = Ipv4Packet::new_unchecked(data);
    let hl = usize::from(*data.first()? & 0x0f) * 4;
    if ip.version() != 4 || hl < ipv4::HEADER_LEN || data.len() < hl + 4 {
        return None;
    }
    // The ports are the first 4 bytes of TCP and UDP alike.
    let l4 = UdpPacket::new_unchecked(&data[hl..hl + 4]);
    Some(Quote {
        proto: ip.protocol(),
        src: ip.src_raw(),
        dst: ip.dst_raw(),
        sport: l4.src_port(),
        dport: l4.dst_port(),
    })
}

impl Core {
    /// An ICMP message to our MAC (`frame` spans Ethernet + the IPv4 total length).
    pub(super) fn icmp<T: TxQueue>(
        &mut self,
        nic: Nic,
        frame: &[u8],
        ip: &Ipv4Packet<&[u8]>,
        handed: bool,
        tx: &mut TxPair<T>,
    ) {
        let Ok(icmp) = Icmpv4Packet::new_checked(ip.payload()) else {
            return self.ctr.inc(Ctr::DropIcmp);
        };
        if !icmp.verify_checksum() {
            return self.ctr.inc(Ctr::DropIcmp);
        }
        let dst = ip.dst_raw();
        if icmp.msg_type() == msg::ECHO_REQUEST && self.is_ours(nic, dst) {
            if self.martian(ip.src_raw()) {
                return self.ctr.inc(Ctr::DropBadSource);
            }
            return self.echo(nic, frame, &mut tx[nic]);
        }
        // A `PING_CHECK`'s answer (`divert.rs`): no other echo leaves the DIP.
        let to_dip = nic == Nic::Int && dst == self.env.dip();
        if to_dip && icmp.msg_type() == msg::ECHO_REPLY {
            // `frame` ends where the IP packet does.
            self.shared.health.divert(&frame[ethernet::HEADER_LEN..]);
            return;
        }
        if !icmp.is_error() {
            return self.ctr.inc(if self.is_ours(nic, dst) {
                Ctr::DropIcmp
            } else {
                Ctr::DropNoService
            });
        }
        // From a source the kernel drops in routing, before either IPVS hook
        // sees it (`ip_route_input_slow` → `martian_source`; a local one,
        // `__fib_validate_source`): neither translated nor passed on, both
        // ways, as a packet of a connection from it would never match one.
        if self.martian(ip.src_raw()) {
            return self.ctr.inc(Ctr::DropBadSource);
        }
        let Some(q) = quoted(icmp.data()) else {
            return self.ctr.inc(Ctr::DropIcmp);
        };
        // About a tunnel packet we sent to a TUN real server (`direct_icmp.rs`):
        // its outer source is our address on the NIC it left by.
        let tunnel_src = match nic {
            Nic::Ext => self.env.ext_addr(),
            Nic::Int => self.env.dip(),
        };
        if self.snap.cfg.any_direct
            && q.src == dst
            && dst == tunnel_src
            && self.icmp_tunnel_error(nic, frame, &icmp, handed, tx)
        {
            return;
        }
        // About a `UDP_CHECK`'s datagram (`divert.rs`); after the tunnel
        // packets, which are known by their quote (no GUE packet leaves
        // from a check port: `gue_sport`).
        if to_dip
            && q.src == dst
            && icmp.msg_type() == msg::DEST_UNREACHABLE
            && super::divert::is_check_error(q.proto, q.sport)
        {
            self.shared.health.divert(&frame[ethernet::HEADER_LEN..]);
            return;
        }
        // TCP, UDP, SCTP: the ports lead in all three (`ip_vs_in_icmp`).
        if !matches!(q.proto, protocol::TCP | protocol::UDP | protocol::SCTP) {
            return self.ctr.inc(Ctr::DropIcmpNoConn);
        }
        // To the owning worker, then translated towards the connection's
        // other end (`family.rs`, shared with ICMPv6).
        self.icmp_error_of(
            (nic, frame),
            (dst, ip.ttl()),
            &q,
            handed,
            tx,
            Patch::IcmpError,
        );
    }

    /// Answer an echo request to one of our addresses, out of the NIC it came in.
    fn echo<T: TxQueue>(&mut self, nic: Nic, frame: &[u8], tx: &mut T) {
        let answered = self.answer(nic, frame, tx, |reply| {
            rewrite::echo_reply(reply);
            Some(reply.len())
        });
        if answered {
            self.ctr.inc(Ctr::IcmpEchoReply);
        }
    }

    /// Send on `nic` (its TX queue `tx`) the answer `make` writes over a copy
    /// of `frame` in a TX slot (`None`: no answer, `drop_icmp`), its length.
    /// Whether it went.
    pub(super) fn answer<T: TxQueue>(
        &mut self,
        nic: Nic,
        frame: &[u8],
        tx: &mut T,
        make: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> bool {
        let Some(slot) = tx.slot() else {
            return self.drop(Ctr::DropTxFull);
        };
        let Some(buf) = slot.get_mut(..frame.len()) else {
            return self.drop(Ctr::DropTooBig);
        };
        buf.copy_from_slice(frame);
        let Some(len) = make(buf) else {
            return self.drop(Ctr::DropIcmp);
        };
        tx.commit(len);
        self.ctr.add(Ctr::tx_bytes(nic), len as u64);
        true
    }

    /// `frame` (as received: Ethernet, IPv4, not yet translated) does not fit
    /// the MTU of `out`: if it has DF, tell its sender with ICMP "fragmentation
    /// needed" carrying `out`'s MTU, out of the NIC the frame came in by, to the
    /// MAC it came from. As the kernel's `icmp_send` does for IPVS: the error
    /// quotes the packet before translation, and its source is the packet's
    /// destination when that is ours (a client's packet to the VIP: the VIP is a
    /// local address, `RTCF_LOCAL`), else our address on that NIC (a real
    /// server's reply, forwarded: the DIP). Not for ICMP (`!ip_vs_iph_icmp`) or
    /// later fragments. Never rate-limited: it takes no token of the
    /// worker's ICMP bucket, as the kernel's `icmpv4_mask_allow` exempts it
    /// ([`Core::error_out`]).
    #[cold]
    #[inline(never)]
    pub(super) fn frag_needed<T: TxQueue>(&mut self, out: Nic, frame: &[u8], tx: &mut TxPair<T>) {
        let mtu = self.env.mtu[out as usize] as u32;
        self.frag_needed_mtu(out, frame, mtu, tx);
    }

    /// [`Core::frag_needed`] telling the sender `mtu` (a tunnel's: the egress
    /// MTU less the encapsulation).
    pub(super) fn frag_needed_mtu<T: TxQueue>(
        &mut self,
        out: Nic,
        frame: &[u8],
        mtu: u32,
        tx: &mut TxPair<T>,
    ) {
        let Some(ip) = ipv4_of(frame) else {
            return;
        };
        if !ip.dont_frag() || ip.frag_offset() != 0 || ip.protocol() == protocol::ICMP {
            return;
        }
        let error = (msg::DEST_UNREACHABLE, unreach::FRAG_NEEDED, mtu);
        let counted = (Ctr::IcmpFragNeeded, Ctr::IcmpFragNeededLimited);
        self.icmp4_to_sender(out.other(), frame, error, counted, tx);
    }

    /// A TCP, UDP or SCTP packet the director would forward (to a service,
    /// or on a connection) came in by `inn` with a TTL (IPv6: hop limit)
    /// that forwarding would take to 0: its sender is told with time
    /// exceeded in transit (ICMPv6: hop limit exceeded), as the kernel tells
    /// a client in `decrement_ttl` (`ip_vs_xmit.c`) and a real server in
    /// `ip_forward`, from the packet's destination when that is ours (the
    /// VIP), else from our address on that NIC. Not for a later fragment
    /// (`icmp_send` answers fragment 0 only); within the worker's ICMP
    /// rate limit ([`Core::error_out`]). The packet is counted `drop_ttl` by
    /// the caller.
    #[cold]
    #[inline(never)]
    pub(super) fn time_exceeded<T: TxQueue>(&mut self, inn: Nic, frame: &[u8], tx: &mut TxPair<T>) {
        let counted = (Ctr::IcmpTimeExceeded, Ctr::IcmpTimeExceededLimited);
        let (v4, v6) = ((msg::TIME_EXCEEDED, 0), (icmpv6::msg::TIME_EXCEEDED, 0));
        self.error_to_sender(inn, frame, (v4, v6), counted, tx);
    }

    /// A client's packet for a new connection that no real server could
    /// take (`drop_no_dest`, counted by the caller): the client is told with
    /// ICMP port unreachable (ICMPv6 port unreachable) from the VIP, as
    /// IPVS's `ip_vs_leave` (`ip_vs_core.c`) does with `icmp_send` for TCP,
    /// UDP and SCTP alike ("the TCP RST packet cannot be sent"), so the
    /// client gives up at once; within the worker's ICMP rate limit
    /// ([`Core::error_out`]).
    #[cold]
    #[inline(never)]
    pub(super) fn leave<T: TxQueue>(&mut self, frame: &[u8], tx: &mut TxPair<T>) {
        let counted = (Ctr::IcmpPortUnreach, Ctr::IcmpPortUnreachLimited);
        let v4 = (msg::DEST_UNREACHABLE, unreach::PORT);
        let v6 = (icmpv6::msg::DEST_UNREACHABLE, icmpv6::unreach::PORT);
        self.error_to_sender(Nic::Ext, frame, (v4, v6), counted, tx);
    }

    /// A client's packet to a real server (`frame`: as it came, or what
    /// [`fragment_quote`] kept of it) was dropped because its next hop never
    /// answered ARP (NDP): the client is told with ICMP host unreachable
    /// (ICMPv6 address unreachable) out of `inn`, as the kernel's neighbor
    /// layer tells it for a packet IPVS queued there (`arp_error_report`,
    /// `ndisc_error_report` → `dst_link_failure` → `ipv4_link_failure`,
    /// `ip6_link_failure`), so a client whose real server is gone fails ("no
    /// route to host") instead of retrying; the error comes from the VIP, as
    /// `ip_vs_out_icmp` makes it for a NAT connection. Only TCP, UDP and SCTP
    /// (never about an ICMP message); fragment 0 only; within the worker's
    /// ICMP rate limit. A tunnel packet of ours (its source is ours) tells
    /// the client about the packet inside, IPv4 in IPv4 only, as
    /// `ip_vs_in_icmp` relays the kernel's error about the outer packet
    /// (sent to our own address) to the inner packet's source; an IPv6 one
    /// tells nobody (`ip_vs_in_icmp_v6` relays nothing).
    #[cold]
    #[inline(never)]
    pub(super) fn unreachable<T: TxQueue>(&mut self, inn: Nic, frame: &[u8], tx: &mut TxPair<T>) {
        let counted = (Ctr::IcmpHostUnreach, Ctr::IcmpHostUnreachLimited);
        let ip = frame.get(ethernet::HEADER_LEN..).unwrap_or_default();
        if ip.first().is_some_and(|v| v >> 4 == 6) {
            let Ok(ip) = Ipv6Packet::new_checked(ip) else {
                return;
            };
            let src = ip.src();
            let ours = self.is_ours6(Nic::Ext, src) || self.is_ours6(Nic::Int, src);
            if ours
                || !matches!(
                    ip.next_header(),
                    protocol::TCP | protocol::UDP | protocol::SCTP
                )
            {
                return;
            }
            let error = (icmpv6::msg::DEST_UNREACHABLE, icmpv6::unreach::ADDRESS, 0);
            return self.icmp6_to_sender(inn, frame, error, counted, tx);
        }
        let Some(quote) = self.client_quote(ip) else {
            return;
        };
        let q = Ipv4Packet::new_unchecked(quote);
        let (src, proto) = (q.src_raw(), q.protocol());
        let ours = self.is_ours(Nic::Ext, src) || self.is_ours(Nic::Int, src);
        if ours || !matches!(proto, protocol::TCP | protocol::UDP | protocol::SCTP) {
            return;
        }
        // `icmp_send` answers fragment 0 only.
        if q.frag_offset() != 0 {
            return;
        }
        let back = EthernetFrame::new_unchecked(frame).src();
        let error = (msg::DEST_UNREACHABLE, unreach::HOST, 0);
        self.icmp4_quote_to(inn, back, quote, error, counted, tx);
    }

    /// What an error about the IPv4 packet `ip` quotes: its header and 8
    /// bytes (fewer if it holds fewer), or for a tunnel packet of ours (its
    /// source is ours) those of the IPv4 packet inside it (IPIP, GUE, GRE:
    /// `encap::quoted_tunnel`). `None` if the header is not whole or the
    /// ports are not there.
    fn client_quote<'a>(&self, ip: &'a [u8]) -> Option<&'a [u8]> {
        let outer = Ipv4Packet::new_unchecked(ip.get(..ipv4::HEADER_LEN)?);
        let src = outer.src_raw();
        let ip = if outer.version() == 4
            && (self.is_ours(Nic::Ext, src) || self.is_ours(Nic::Int, src))
        {
            let (_, _, at) = crate::wire::encap::quoted_tunnel(ip)?;
            &ip[at..]
        } else {
            ip
        };
        let hdr = Ipv4Packet::new_unchecked(ip.get(..ipv4::HEADER_LEN)?);
        let (hl, total) = (hdr.header_len(), usize::from(hdr.total_len()));
        if hdr.version() != 4 || hl < ipv4::HEADER_LEN || total < hl + 4 {
            return None;
        }
        let quote = ip.get(..total.min(hl + icmpv4::QUOTE_L4).min(ip.len()))?;
        (quote.len() >= hl + 4).then_some(quote)
    }

    /// The error `(type, code)` of `frame`'s family (`v4` or `v6`) to the
    /// sender of `frame`, received by `inn` ([`Core::icmp4_to_sender`],
    /// [`Core::icmp6_to_sender`]); none about a later fragment, as
    /// `icmp_send` answers fragment 0 only.
    fn error_to_sender<T: TxQueue>(
        &mut self,
        inn: Nic,
        frame: &[u8],
        (v4, v6): ((u8, u8), (u8, u8)),
        counted: (Ctr, Ctr),
        tx: &mut TxPair<T>,
    ) {
        match frame.get(ethernet::HEADER_LEN) {
            Some(v) if v >> 4 == 6 => {
                self.icmp6_to_sender(inn, frame, (v6.0, v6.1, 0), counted, tx);
            }
            _ => {
                if ipv4_of(frame).is_some_and(|ip| ip.frag_offset() == 0) {
                    self.icmp4_to_sender(inn, frame, (v4.0, v4.1, 0), counted, tx);
                }
            }
        }
    }

    /// Sends the sender of `frame` (as received by `inn`: Ethernet, IPv4,
    /// not yet translated) the ICMP error `(type, code, rest of header)`,
    /// quoting its IP header and the first 8 bytes after it, out of `inn`
    /// to the MAC it came from; from the packet's destination when that is
    /// ours on `inn` (a VIP, or an address of a `--mark-dest` prefix), else
    /// from our address there. Counted in `counted.0`,
    /// or `counted.1` when the worker's ICMP bucket or the TX ring has no
    /// room.
    fn icmp4_to_sender<T: TxQueue>(
        &mut self,
        inn: Nic,
        frame: &[u8],
        error: (u8, u8, u32),
        counted: (Ctr, Ctr),
        tx: &mut TxPair<T>,
    ) {
        let Some(ip) = ipv4_of(frame) else {
            return;
        };
        let hl = ip.header_len();
        let ip_len = usize::from(ip.total_len());
        let Some(quote) = frame
            .get(ethernet::HEADER_LEN..ethernet::HEADER_LEN + ip_len.min(hl + icmpv4::QUOTE_L4))
        else {
            return;
        };
        let back = EthernetFrame::new_unchecked(frame).src();
        self.icmp4_quote_to(inn, back, quote, error, counted, tx);
    }

    /// [`Core::icmp4_to_sender`] of a quote (an IPv4 header, whole, and
    /// what follows of its packet), out of `inn` to MAC `back`.
    fn icmp4_quote_to<T: TxQueue>(
        &mut self,
        inn: Nic,
        back: crate::wire::Mac,
        quote: &[u8],
        (ty, code, rest): (u8, u8, u32),
        (sent, limited): (Ctr, Ctr),
        tx: &mut TxPair<T>,
    ) {
        let ip = Ipv4Packet::new_unchecked(quote);
        let to = ip.src_raw();
        let from = match ip.dst_raw() {
            dst if self.is_ours(inn, dst) => dst,
            // An address of a `--mark-dest` prefix is as much ours: the
            // kernel receives such a packet on a local route (`RTCF_LOCAL`,
            // IPVS sees it at LOCAL_IN), so `icmp_send` answers from it.
            dst if inn == Nic::Ext && self.snap.cfg.marks.covers(dst) => dst,
            _ => match inn {
                Nic::Ext => self.env.ext_addr(),
                Nic::Int => self.env.dip(),
            },
        };
        let ours = self.env.mac[inn as usize];
        let ident = self.pending.1.ident;
        let emit = |slot: &mut [u8]| {
            let b = slot.get_mut(ethernet::HEADER_LEN..)?;
            let len = ethernet::HEADER_LEN
                + icmpv4::emit_error(b, (from, to, ident), (ty, code, rest), quote)?;
            let mut eth = EthernetFrame::new_unchecked(&mut slot[..len]);
            eth.set_dst(back);
            eth.set_src(ours);
            eth.set_ethertype(ethernet::ethertype::IPV4);
            Some(len)
        };
        if self.error_out(inn, (sent, limited), emit, tx) {
            self.pending.1.ident = ident.wrapping_add(1);
        }
    }

    /// Sends an error the director makes ([`Core::icmp4_to_sender`],
    /// [`Core::icmp6_to_sender`]) out of `inn`, written into a TX slot by
    /// `emit` (its length, or `None`): within the worker's ICMP bucket,
    /// counted in `counted.0`, or in `counted.1` when the bucket, the ring or
    /// `emit` has no room. True if it went. Path MTU errors take no token:
    /// the kernel never rate-limits them ("Don't limit PMTU discovery",
    /// `icmpv4_mask_allow` in `net/ipv4/icmp.c`; `ICMPV6_PKT_TOOBIG` is
    /// cleared from `icmpv6_ratemask` in `inet6_net_init`), as a sender
    /// whose error is withheld waits for a retransmission timeout.
    fn error_out<T: TxQueue>(
        &mut self,
        inn: Nic,
        (sent, limited): (Ctr, Ctr),
        emit: impl FnOnce(&mut [u8]) -> Option<usize>,
        tx: &mut TxPair<T>,
    ) -> bool {
        let pmtu = matches!(sent, Ctr::IcmpFragNeeded | Ctr::Icmp6TooBig);
        if !pmtu && !self.pending.1.allow(self.clock.now) {
            self.ctr.inc(limited);
            return false;
        }
        let tx = &mut tx[inn];
        let Some(len) = tx.slot().and_then(emit) else {
            self.ctr.inc(limited);
            return false;
        };
        tx.commit(len);
        self.ctr.add(Ctr::tx_bytes(inn), len as u64);
        self.ctr.inc(sent);
        true
    }

    /// [`Core::icmp4_to_sender`] of an IPv6 packet: the ICMPv6 error quotes
    /// as much of it as fits 1280 bytes, and none is sent where RFC 4443
    /// §2.4(e) says not to (`icmpv6::error_allowed`). Its source is the
    /// packet's destination when that is ours on `inn` (a VIP), else our
    /// address there (the DIP for a real server, the external address for a
    /// client, or about an address of a `--mark-dest` prefix: `icmp6_send`
    /// answers from the destination only if the host holds it,
    /// `ipv6_chk_addr`, and an address of a local route it does not).
    pub(super) fn icmp6_to_sender<T: TxQueue>(
        &mut self,
        inn: Nic,
        frame: &[u8],
        (ty, code, rest): (u8, u8, u32),
        (sent, limited): (Ctr, Ctr),
        tx: &mut TxPair<T>,
    ) {
        let Some(invoking) = frame.get(ethernet::HEADER_LEN..) else {
            return;
        };
        if !icmpv6::error_allowed(invoking, false, ty, code) {
            return;
        }
        // `error_allowed` parsed the fixed header.
        let ip = Ipv6Packet::new_unchecked(invoking);
        // Only a first fragment gets one: a later one quotes no ports its
        // sender could match, and would spend the bucket's tokens. A
        // deliberate difference for packet-too-big: IPVS sees the
        // reassembled datagram and tells its sender whichever fragment was
        // too big (`__mtu_check_toobig_v6`, `docs/design.md`, "Fragments received").
        // A parameter problem is about the fragment's own header:
        // `ipv6_frag_rcv` sends it about any fragment.
        let frag = ipv6::walk_fragment(ip.next_header(), invoking, ipv6::HEADER_LEN);
        if ty != icmpv6::msg::PARAM_PROBLEM && frag.is_ok_and(|(f, _)| f.offset != 0) {
            return;
        }
        let (to, dst) = (ip.src(), ip.dst());
        let from = match inn {
            _ if self.is_ours6(inn, dst) => Some(dst),
            Nic::Ext => self.env.ext_addr6(),
            Nic::Int => self.env.dip6(),
        };
        let Some(from) = from else { return };
        let ends = Endpoints {
            src_mac: self.env.mac[inn as usize],
            dst_mac: EthernetFrame::new_unchecked(frame).src(),
            src: from,
            dst: to,
        };
        let emit = |slot: &mut [u8]| icmpv6::emit_error(slot, &ends, (ty, code, rest), invoking);
        self.error_out(inn, (sent, limited), emit, tx);
    }
}
