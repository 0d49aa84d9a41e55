//! A tracked connection ([`Conn`]) and the flow keys it is found by
//! ([`FlowKey`]): the entries of a worker's [`ConnTable`](super::ConnTable),
//! which keeps them in a slab and links them on its expiry lists through the
//! links stored here.

use super::rewrite::{End, Rewrite};
use super::state::{Dir, State};
use super::table::MAX_SLACK;
use crate::config::{DestId, MAX_DEST_IDS};
use crate::wire::checksum::Delta;
use std::hash::{Hash, Hasher};

/// One direction's 5-tuple plus the NIC it arrives on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct FlowKey {
    pub src: u32,
    pub dst: u32,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    /// 0: arrives on the external NIC (client → VIP); 1: on the internal NIC.
    pub side: u8,
    pad: u16,
}

const _: () = assert!(size_of::<FlowKey>() == 16);

impl FlowKey {
    #[inline]
    pub fn new(side: u8, proto: u8, src: u32, sport: u16, dst: u32, dport: u16) -> Self {
        Self {
            src,
            dst,
            sport,
            dport,
            proto,
            side,
            pad: 0,
        }
    }
}

impl Hash for FlowKey {
    /// Two words instead of seven fields: the same equality, half the hasher rounds.
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(u64::from(self.src) | u64::from(self.dst) << 32);
        h.write_u64(
            u64::from(self.sport)
                | u64::from(self.dport) << 16
                | u64::from(self.proto) << 32
                | u64::from(self.side) << 40,
        );
    }
}

/// The link bits of `Conn::prev` and `Conn::next`; their top two bits each hold
/// half of the entry's lag (see the module docs).
pub(super) const LINK: u32 = (1 << 30) - 1;
/// No entry (end of a list).
pub(super) const NIL: u32 = LINK;
/// `Conn::prev` of a free slab entry (no slab index reaches it: see `MAX_CONNS`).
pub(super) const FREE: u32 = LINK - 1;

/// A tracked connection: the addresses and ports of both legs, its state, its real
/// server and its expiry-list links. The checksum updates of the rewrites are not
/// stored: [`Conn::rewrite`] derives them from the addresses (four one's
/// complement additions, cheaper than the bytes they would take in every entry).
#[derive(Clone, Debug)]
pub struct Conn {
    pub client: u32,
    pub vip: u32,
    pub rip: u32,
    pub cport: u16,
    pub vport: u16,
    pub rport: u16,
    pub proto: u8,
    pub state: State,
    /// The real server's [`DestId`] (ids are below [`MAX_DEST_IDS`] = 2^16).
    dest: u16,
    /// Generation of the persistence template the connection is counted on, 0
    /// for none (see `nat::persist`; these 2 bytes were padding).
    pub template: u16,
    /// Last second the connection was seen (on the caller's clock).
    pub seen: u32,
    /// Links of the expiry list ([`LINK`] bits), and the lag in the top bits.
    pub(super) prev: u32,
    pub(super) next: u32,
}

const _: () = assert!(MAX_DEST_IDS <= 1 << 16);
const _: () = assert!(size_of::<Conn>() == 36);

impl Conn {
    pub fn new(
        proto: u8,
        (client, cport): (u32, u16),
        (vip, vport): (u32, u16),
        (rip, rport): (u32, u16),
        dest: DestId,
    ) -> Self {
        debug_assert!(dest.0 < MAX_DEST_IDS);
        Self {
            client,
            cport,
            vip,
            vport,
            rip,
            rport,
            proto,
            state: if proto == 17 { State::Udp } else { State::None },
            dest: dest.0 as u16,
            template: 0,
            seen: 0,
            prev: NIL,
            next: NIL,
        }
    }

    /// The real server this connection goes to.
    #[inline]
    pub fn dest(&self) -> DestId {
        DestId(u32::from(self.dest))
    }

    #[inline]
    pub(super) fn prev(&self) -> u32 {
        self.prev & LINK
    }

    #[inline]
    pub(super) fn next(&self) -> u32 {
        self.next & LINK
    }

    #[inline]
    pub(super) fn set_prev(&mut self, v: u32) {
        self.prev = (self.prev & !LINK) | v;
    }

    #[inline]
    pub(super) fn set_next(&mut self, v: u32) {
        self.next = (self.next & !LINK) | v;
    }

    /// How many seconds `seen` ran ahead of the second the entry was linked.
    #[inline]
    pub(super) fn lag(&self) -> u32 {
        (self.prev >> 30) | (self.next >> 30) << 2
    }

    #[inline]
    pub(super) fn set_lag(&mut self, lag: u32) {
        debug_assert!(lag <= MAX_SLACK);
        self.prev = (self.prev & LINK) | (lag & 3) << 30;
        self.next = (self.next & LINK) | (lag >> 2 & 3) << 30;
    }

    /// The key of packets from the client (external NIC).
    #[inline]
    pub fn in_key(&self) -> FlowKey {
        FlowKey::new(0, self.proto, self.client, self.cport, self.vip, self.vport)
    }

    /// The key of packets from the real server (internal NIC).
    #[inline]
    pub fn out_key(&self) -> FlowKey {
        FlowKey::new(1, self.proto, self.rip, self.rport, self.client, self.cport)
    }

    #[inline]
    pub(super) fn key(&self, side: u32) -> FlowKey {
        if side == 0 {
            self.in_key()
        } else {
            self.out_key()
        }
    }

    /// The rewrite of a packet going `dir`: input (client → real server) turns
    /// VIP:vport into RIP:rport at the destination, output turns RIP:rport back
    /// into VIP:vport at the source.
    #[inline]
    pub fn rewrite(&self, dir: Dir) -> Rewrite {
        let (end, (from, fport), (to, tport)) = match dir {
            Dir::Input => (End::Dst, (self.vip, self.vport), (self.rip, self.rport)),
            Dir::Output => (End::Src, (self.rip, self.rport), (self.vip, self.vport)),
        };
        // RFC 1624 §3: each changed 16-bit word m → m' adds ~m + m'.
        let addr_delta = Delta::new().add32(from, to);
        Rewrite {
            end,
            addr: to,
            port: tport,
            addr_delta,
            l4_delta: addr_delta.add16(fport, tport),
        }
    }
}
