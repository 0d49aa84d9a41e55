//! The IPv6 L4 NAT path: the IPv6 twin of `nat.rs` (IPVS's NAT mode for
//! `AF_INET6`, `ip_vs_core.c`: `ip_vs_in` / `ip_vs_out` with `af == AF_INET6`).
//!
//! The interface `classify.rs` calls is fixed here; the connection handling
//! behind it is being written (issue 15). Until it lands, IPv6 TCP/UDP and
//! ICMPv6 errors are counted as `drop_no_service`, as every IPv6 frame was
//! before.

#![allow(
    dead_code,
    reason = "classify.rs calls it once the IPv6 path lands (issue 15)"
)]

use super::tx::TxPair;
use super::worker::Core;
use crate::Nic;
use crate::io::TxQueue;
use crate::stats::Ctr;
use std::net::Ipv6Addr;

/// An IPv6 TCP segment or UDP datagram that passed every check of
/// `Core::ipv6` (`classify.rs`): header and extension headers walked,
/// lengths consistent, checksum good (or partial), hop limit above 1.
#[derive(Clone, Copy)]
pub(super) struct Segment6<'a> {
    /// Ethernet + the 40-byte IPv6 header + its payload length (no padding).
    pub frame: &'a [u8],
    /// Where the TCP/UDP header starts in `frame` (after any extension
    /// headers).
    pub l4_off: usize,
    pub proto: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub sport: u16,
    pub dport: u16,
    /// TCP flags (0 for UDP).
    pub flags: u8,
    /// The L4 checksum is partial (see `RxMeta::csum_partial`).
    pub partial: bool,
}

impl Core {
    /// An IPv6 TCP/UDP packet from a client (external NIC).
    pub(super) fn nat_in6<T: TxQueue>(&mut self, seg: Segment6<'_>, tx: &mut TxPair<T>) {
        let _ = (seg, tx);
        self.ctr.inc(Ctr::DropNoService);
    }

    /// An IPv6 TCP/UDP packet from a real server (internal NIC).
    pub(super) fn nat_out6<T: TxQueue>(&mut self, seg: Segment6<'_>, tx: &mut TxPair<T>) {
        let _ = (seg, tx);
        self.ctr.inc(Ctr::DropNoService);
    }

    /// An ICMPv6 error (destination unreachable, packet too big, time
    /// exceeded, parameter problem) received on `nic`, its checksum verified:
    /// translated for the connection it quotes. `frame` spans Ethernet + IPv6
    /// header + payload length; the ICMPv6 header starts at `icmp_off`.
    pub(super) fn icmp6_error<T: TxQueue>(
        &mut self,
        nic: Nic,
        frame: &[u8],
        icmp_off: usize,
        handed: bool,
        tx: &mut TxPair<T>,
    ) {
        let _ = (nic, frame, icmp_off, handed, tx);
        self.ctr.inc(Ctr::DropNoService);
    }
}
