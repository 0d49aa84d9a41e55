//! Overlapping the cache misses of a burst. With a million connections, a
//! packet's index slot and slab entry are almost never in the cache, and one
//! lookup after the other waits for DRAM twice per packet. Before a burst is
//! handled, [`Core::prefetch`] walks it twice, as VPP's and DPDK's bulk lookups
//! do: first it parses and hashes each frame's flow key and loads its first
//! index slot, then it loads the slab entry each of those slots names. The
//! loads are independent, so the CPU keeps many misses in flight at once; when
//! the frames are then handled one by one (`classify`, `nat`), their lookups
//! find the lines in the cache.
//!
//! Safe Rust has no prefetch instruction (`_mm_prefetch` needs `unsafe`
//! outside `#[target_feature]` code), so these are plain loads whose values are
//! folded together and passed to `std::hint::black_box`, which keeps them from
//! being optimised away. Parsing here is only a hint: a frame that does not
//! parse is skipped, and `classify` checks everything again.

use super::worker::Core;
use crate::Nic;
use crate::io::RxQueue;
use crate::nat::FlowKey;
use crate::wire::ethernet::{EthernetFrame, ethertype};
use crate::wire::ipv4::{Ipv4Packet, protocol};
use crate::wire::{TcpPacket, UdpPacket};

/// Frames of a burst whose lookups are started ahead at most.
pub const AHEAD: usize = 64;

/// Whether to look ahead at all: on CPUs whose out-of-order window overlaps
/// independent loads (the scalar path elsewhere handles frames one by one).
const PREFETCH: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// The key `nat_in` (external NIC) or `nat_out` (internal NIC) would look up
/// for this frame, if it is an unfragmented TCP or UDP packet.
#[inline]
fn key_of(nic: Nic, data: &[u8]) -> Option<FlowKey> {
    let eth = EthernetFrame::new_checked(data).ok()?;
    if eth.ethertype() != ethertype::IPV4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.is_fragment() {
        return None;
    }
    let proto = ip.protocol();
    let (sport, dport) = match proto {
        protocol::TCP => {
            let t = TcpPacket::new_checked(ip.payload()).ok()?;
            (t.src_port(), t.dst_port())
        }
        protocol::UDP => {
            let u = UdpPacket::new_checked(ip.payload()).ok()?;
            (u.src_port(), u.dst_port())
        }
        _ => return None,
    };
    let (src, dst) = (ip.src_raw(), ip.dst_raw());
    Some(FlowKey::new(nic as u8, proto, src, sport, dst, dport))
}

impl Core {
    /// Start the table lookups of the next `n` (at most [`AHEAD`]) ready frames
    /// of `rx`, which arrived on `nic`: hash and load their index slots, then
    /// load the slab entries those slots name. Changes nothing.
    #[inline]
    pub(super) fn prefetch<R: RxQueue>(&self, nic: Nic, rx: &R, n: usize) {
        if !PREFETCH {
            return;
        }
        let mut hashes = [0u64; AHEAD];
        let mut have = 0;
        for k in 0..n.min(AHEAD) {
            let Some(data) = rx.peek_ahead(k) else { break };
            if let Some(key) = key_of(nic, data) {
                hashes[have] = self.table.hash_key(&key);
                have += 1;
            }
        }
        // The loads in loops of their own, a few instructions per frame: a load
        // that misses blocks retirement, and only the instructions behind it that
        // fit in the reorder buffer can issue their own loads meanwhile.
        let hashes = &hashes[..have];
        let mut acc = 0u32;
        for &h in hashes {
            acc ^= self.table.touch_slot(h);
        }
        for &h in hashes {
            acc ^= self.table.touch_entry(h, nic as u8);
        }
        std::hint::black_box(acc);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// Ethernet + IPv4 + TCP (or UDP) from 198.18.0.10:40000 to 198.18.0.110:80.
    fn frame(proto: u8) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&40u16.to_be_bytes());
        ip[8] = 64;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&[198, 18, 0, 10]);
        ip[16..20].copy_from_slice(&[198, 18, 0, 110]);
        f[34..36].copy_from_slice(&40000u16.to_be_bytes());
        f[36..38].copy_from_slice(&80u16.to_be_bytes());
        f[34 + 12] = 5 << 4;
        if proto == protocol::UDP {
            f[38..40].copy_from_slice(&8u16.to_be_bytes());
        }
        f
    }

    #[test]
    fn keys_are_the_ones_nat_looks_up() {
        let (src, dst) = (0xc612_000a, 0xc612_006e);
        for (nic, proto) in [(Nic::Ext, 6), (Nic::Int, 6), (Nic::Ext, 17)] {
            let want = FlowKey::new(nic as u8, proto, src, 40000, dst, 80);
            assert_eq!(key_of(nic, &frame(proto)), Some(want));
        }
        // Not TCP/UDP, a fragment, cut short, not IPv4: no key.
        assert_eq!(key_of(Nic::Ext, &frame(1)), None);
        let mut frag = frame(6);
        frag[14 + 6] = 0x20;
        assert_eq!(key_of(Nic::Ext, &frag), None);
        assert_eq!(key_of(Nic::Ext, &frame(6)[..40]), None);
        let mut arp = frame(6);
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(key_of(Nic::Ext, &arp), None);
    }
}
