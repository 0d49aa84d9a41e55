//! The receive ring: `TPACKET_V2` or `TPACKET_V3`, joined to a fanout group.

use super::sys::{bind, getsockopt, packet_socket, setsockopt};
use super::{
    Fanout, Mmap, RingSize, RxVersion, V2_LEN, V2_MAC, V2_NSEC, V2_SEC, V2_SNAPLEN, V2_STATUS,
    V2_VLAN_TCI, V2_VLAN_TPID,
};
use crate::io::fanout;
use crate::io::{RxFrame, RxMeta, RxQueue, VlanTag, with_context};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;

/// The largest frame (Ethernet header included) a `TPACKET_V2` RX slot holds
/// whole. The kernel (`tpacket_rcv`, no `tp_reserve`, no vnet header) puts the
/// network header at `TPACKET_ALIGN(TPACKET2_HDRLEN + 16)` in the slot, the
/// Ethernet header 14 bytes before it, and cuts what goes past the slot's end.
pub const RX_FRAME_MAX: usize = {
    let align = libc::TPACKET_ALIGNMENT;
    let net = (libc::TPACKET2_HDRLEN + 16).div_ceil(align) * align;
    RingSize::new(1).frame_size as usize - (net - 14)
};

// tpacket_block_desc / tpacket_hdr_v1 offsets.
const BD_STATUS: usize = 8;
const BD_NUM_PKTS: usize = 12;
const BD_FIRST: usize = 16;
// tpacket3_hdr offsets.
const V3_NEXT: usize = 0;
const V3_SEC: usize = 4;
const V3_NSEC: usize = 8;
const V3_SNAPLEN: usize = 12;
const V3_LEN: usize = 16;
const V3_STATUS: usize = 20;
const V3_MAC: usize = 24;
// tpacket3_hdr's hv1: tp_rxhash (28), tp_vlan_tci (a __u32, unlike
// tpacket2_hdr's __u16), tp_vlan_tpid (__u16).
const V3_VLAN_TCI: usize = 32;
const V3_VLAN_TPID: usize = 36;
/// The bytes of a `tpacket3_hdr` read at a packet's header (its `hv1`
/// ends at 40; the struct, padding included, at 48).
const V3_HDR_LEN: usize = 48;

/// A frame's metadata from its ring header's `status` and `tp_len`; `tag`
/// reads the header's VLAN TCI and TPID, only for a frame whose tag the
/// kernel stripped (a TPID the kernel did not give is 802.1Q's).
fn meta_from(status: u32, wire_len: u32, tag: impl FnOnce() -> (u16, u16)) -> RxMeta {
    let vlan = (status & libc::TP_STATUS_VLAN_VALID != 0).then(|| {
        let (tci, tpid) = tag();
        let tpid = match status & libc::TP_STATUS_VLAN_TPID_VALID {
            0 => 0x8100,
            _ => tpid,
        };
        VlanTag { tpid, tci }
    });
    RxMeta {
        wire_len,
        csum_partial: status & libc::TP_STATUS_CSUMNOTREADY != 0,
        csum_valid: status & libc::TP_STATUS_CSUM_VALID != 0,
        vlan,
    }
}

enum Cursor {
    V2 {
        frame: u32,
    },
    V3 {
        block: u32,
        /// Packets left in the current block (0 = no block held).
        left: u32,
        /// Offset of the current packet header in the mapping.
        pkt: usize,
    },
}

impl Cursor {
    /// At the ring's first frame (V2) or block, none held yet (V3).
    fn first(v3: bool) -> Self {
        if v3 {
            Cursor::V3 {
                block: 0,
                left: 0,
                pkt: 0,
            }
        } else {
            Cursor::V2 { frame: 0 }
        }
    }
}

/// A receive ring bound to one NIC.
pub struct RxRing {
    map: Mmap,
    size: RingSize,
    cursor: Cursor,
    v3: bool,
    fd: OwnedFd,
}

impl RxRing {
    /// Open a receive ring on `ifindex` and join `fanout` if given.
    pub fn open(
        ifindex: i32,
        version: RxVersion,
        size: RingSize,
        fanout: Option<Fanout>,
    ) -> io::Result<(Self, u16)> {
        let fd = packet_socket()?;
        let v3 = matches!(version, RxVersion::V3 { .. });
        let ver = if v3 {
            libc::tpacket_versions::TPACKET_V3
        } else {
            libc::tpacket_versions::TPACKET_V2
        } as libc::c_int;
        setsockopt(&fd, libc::PACKET_VERSION, &ver, "PACKET_VERSION")?;
        let one: libc::c_int = 1;
        // What the host itself sends on the NIC (VRRP adverts, arping, a
        // ping of its own) must not land in the ring. The worker's own TX
        // never does (`PACKET_QDISC_BYPASS`: `dev_direct_xmit` passes no
        // tap, `dev_queue_xmit_nit`). This option covers a socket outside a
        // fanout group only: the group's hook is the group's own, which
        // `dev_queue_xmit_nit` asks; `join_fanout` asks for it there.
        setsockopt(
            &fd,
            libc::PACKET_IGNORE_OUTGOING,
            &one,
            "PACKET_IGNORE_OUTGOING",
        )?;
        let req = libc::tpacket_req3 {
            tp_block_size: size.block_size,
            tp_block_nr: size.block_nr,
            tp_frame_size: size.frame_size,
            tp_frame_nr: size.frame_nr(),
            tp_retire_blk_tov: match version {
                RxVersion::V3 { block_timeout_ms } => block_timeout_ms,
                RxVersion::V2 => 0,
            },
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        if v3 {
            setsockopt(&fd, libc::PACKET_RX_RING, &req, "PACKET_RX_RING")?;
        } else {
            let req2 = libc::tpacket_req {
                tp_block_size: req.tp_block_size,
                tp_block_nr: req.tp_block_nr,
                tp_frame_size: req.tp_frame_size,
                tp_frame_nr: req.tp_frame_nr,
            };
            setsockopt(&fd, libc::PACKET_RX_RING, &req2, "PACKET_RX_RING")?;
        }
        let map = Mmap::ring(&fd, size.bytes(), 0, "mmap(packet ring)")?;
        bind(&fd, ifindex, libc::ETH_P_ALL as u16)?;
        let mut group = 0;
        if let Some(f) = fanout {
            group = join_fanout(&fd, f)?;
        }
        let cursor = Cursor::first(v3);
        Ok((
            Self {
                map,
                size,
                cursor,
                v3,
                fd,
            },
            group,
        ))
    }

    /// Hand every frame received so far back to the kernel (before the worker starts:
    /// frames that arrived before all fanout members had joined).
    /// V2 walks at most two rounds of slots; V3 hands back whole blocks, at
    /// most one round of them (a block may hold hundreds of small frames,
    /// so a bound in frames would leave some held).
    pub fn discard_ready(&mut self) {
        if self.v3 {
            for _ in 0..self.size.block_nr {
                if self.peek().is_none() {
                    break;
                }
                self.end_block();
            }
            return;
        }
        let mut n = 0;
        while self.peek().is_some() && n < self.size.frame_nr() * 2 {
            self.advance();
            n += 1;
        }
    }

    /// V3: the rest of the block at the cursor is left unread, the block
    /// handed back to the kernel whole at the next `advance`.
    fn end_block(&mut self) {
        if let Cursor::V3 { block, left, pkt } = self.cursor
            && left > 0
        {
            self.cursor = Cursor::V3 {
                block,
                left: 1,
                pkt,
            };
            self.advance();
        }
    }

    /// V3: the packet header at `pkt` lies whole inside `block`. The kernel
    /// places it (`offset_to_first_pkt`, `tp_next_offset`); an offset past
    /// the block would read another block's bytes, or past the mapping.
    fn v3_hdr_fits(&self, block: u32, pkt: usize) -> bool {
        let boff = self.block_off(block);
        pkt >= boff
            && pkt
                .checked_add(V3_HDR_LEN)
                .is_some_and(|end| end <= boff + self.size.block_size as usize)
    }

    fn frame_off(&self, frame: u32) -> usize {
        frame as usize * self.size.frame_size as usize
    }

    fn block_off(&self, block: u32) -> usize {
        block as usize * self.size.block_size as usize
    }

    /// When the kernel took the frame at the cursor (the header's `tp_sec` and
    /// `tp_nsec`: `CLOCK_REALTIME`, software), in ns since the epoch; `None`
    /// if no frame is ready. For measurements (the benchmark's sink: the
    /// time a frame waited in the ring for its reader is then not counted as
    /// the network's); the datapath never reads it.
    pub fn peek_time_ns(&self) -> Option<u64> {
        let (sec, nsec) = match self.cursor {
            Cursor::V2 { frame } => {
                let off = self.frame_off(frame);
                let status = self.map.word(off + V2_STATUS).load(Ordering::Acquire);
                if status & libc::TP_STATUS_USER == 0 {
                    return None;
                }
                // SAFETY: the slot's status said TP_STATUS_USER (above):
                // ours until `advance`, which `&self` keeps from running.
                unsafe {
                    (
                        self.map.read_u32(off + V2_SEC),
                        self.map.read_u32(off + V2_NSEC),
                    )
                }
            }
            Cursor::V3 { block, left, pkt } => {
                if left == 0 || !self.v3_hdr_fits(block, pkt) {
                    return None;
                }
                // SAFETY: a block is held (`left` > 0: its status said
                // TP_STATUS_USER), ours until `advance` retires it, and the
                // header lies in it (checked above).
                unsafe {
                    (
                        self.map.read_u32(pkt + V3_SEC),
                        self.map.read_u32(pkt + V3_NSEC),
                    )
                }
            }
        };
        Some(u64::from(sec) * 1_000_000_000 + u64::from(nsec))
    }

    /// The captured bytes of the packet whose header is at `hdr`, bounded to the slot.
    ///
    /// # Safety
    /// The slot (or block) holding the packet is ours: its status word says
    /// `TP_STATUS_USER`, and it goes back to the kernel only in `advance`,
    /// which takes `&mut self` and so ends the borrow first.
    unsafe fn packet(&self, hdr: usize, mac: usize, snaplen: usize, limit: usize) -> &[u8] {
        let start = hdr + mac;
        if mac == 0 || start + snaplen > limit {
            // A header that points outside its slot: hand out nothing, the worker
            // counts an empty frame as truncated.
            return &[];
        }
        // SAFETY: the packet's slot is ours (the caller's promise), and
        // `start..start + snaplen` lies in it (checked above).
        unsafe { self.map.bytes(start, snaplen) }
    }
}

impl RxQueue for RxRing {
    #[inline]
    fn peek(&mut self) -> Option<RxFrame<'_>> {
        match self.cursor {
            Cursor::V2 { frame } => {
                let off = self.frame_off(frame);
                let status = self.map.word(off + V2_STATUS).load(Ordering::Acquire);
                if status & libc::TP_STATUS_USER == 0 {
                    return None;
                }
                // SAFETY: the slot's status said TP_STATUS_USER (above): ours
                // until `advance`, which takes `&mut self` (for these reads
                // and `tag`'s, called below while the slot is held).
                let (wire_len, snap, mac) = unsafe {
                    (
                        self.map.read_u32(off + V2_LEN),
                        self.map.read_u32(off + V2_SNAPLEN) as usize,
                        self.map.read_u16(off + V2_MAC) as usize,
                    )
                };
                let limit = off + self.size.frame_size as usize;
                let map = &self.map;
                // SAFETY: as for the reads above; `meta_from` calls it at once.
                let tag = || unsafe {
                    (
                        map.read_u16(off + V2_VLAN_TCI),
                        map.read_u16(off + V2_VLAN_TPID),
                    )
                };
                let meta = meta_from(status, wire_len, tag);
                Some(RxFrame {
                    // SAFETY: the slot's status said TP_STATUS_USER (above):
                    // ours until `advance`.
                    data: unsafe { self.packet(off, mac, snap, limit) },
                    meta,
                })
            }
            Cursor::V3 {
                mut block,
                mut left,
                mut pkt,
            } => {
                // Skip blocks the kernel retired empty.
                let mut spins = 0;
                while left == 0 {
                    let boff = self.block_off(block);
                    let status = self.map.word(boff + BD_STATUS).load(Ordering::Acquire);
                    if status & libc::TP_STATUS_USER == 0 {
                        self.cursor = Cursor::V3 { block, left, pkt };
                        return None;
                    }
                    // SAFETY: the block's status said TP_STATUS_USER
                    // (above): ours, descriptor included, until handed back.
                    let (num, first) = unsafe {
                        (
                            self.map.read_u32(boff + BD_NUM_PKTS),
                            self.map.read_u32(boff + BD_FIRST),
                        )
                    };
                    left = num;
                    pkt = boff + first as usize;
                    if left == 0 {
                        self.map.word(boff + BD_STATUS).store(0, Ordering::Release);
                        block = (block + 1) % self.size.block_nr;
                        spins += 1;
                        if spins > self.size.block_nr {
                            self.cursor = Cursor::V3 { block, left, pkt };
                            return None;
                        }
                    }
                }
                if !self.v3_hdr_fits(block, pkt) {
                    // A header the block cannot hold: the block's other
                    // packets cannot be found either. One empty frame (the
                    // worker counts it in `drop_truncated`), and the block
                    // goes back to the kernel at the next `advance`.
                    self.cursor = Cursor::V3 {
                        block,
                        left: 1,
                        pkt,
                    };
                    return Some(RxFrame {
                        data: &[],
                        meta: RxMeta::default(),
                    });
                }
                self.cursor = Cursor::V3 { block, left, pkt };
                // SAFETY: the block's status said TP_STATUS_USER (above):
                // ours, with its packets, until `advance` retires it; the
                // header lies in it (checked above). So for `tag`'s reads.
                let (status, wire_len, snap, mac) = unsafe {
                    (
                        self.map.read_u32(pkt + V3_STATUS),
                        self.map.read_u32(pkt + V3_LEN),
                        self.map.read_u32(pkt + V3_SNAPLEN) as usize,
                        self.map.read_u16(pkt + V3_MAC) as usize,
                    )
                };
                let limit = self.block_off(block) + self.size.block_size as usize;
                let map = &self.map;
                // SAFETY: as for the reads above; `meta_from` calls it at once.
                let tag = || unsafe {
                    (
                        // The low 16 bits of the __u32, on either byte order.
                        map.read_u32(pkt + V3_VLAN_TCI) as u16,
                        map.read_u16(pkt + V3_VLAN_TPID),
                    )
                };
                let meta = meta_from(status, wire_len, tag);
                Some(RxFrame {
                    // SAFETY: the block's status said TP_STATUS_USER (above):
                    // ours, with its packets, until `advance` retires it.
                    data: unsafe { self.packet(pkt, mac, snap, limit) },
                    meta,
                })
            }
        }
    }

    /// `TPACKET_V2` only (a V3 block's packets are chained, not indexed).
    #[inline]
    fn peek_ahead(&self, k: usize) -> Option<&[u8]> {
        let Cursor::V2 { frame } = self.cursor else {
            return None;
        };
        let nr = self.size.frame_nr();
        if k >= nr as usize {
            return None;
        }
        let off = self.frame_off((frame + k as u32) % nr);
        let status = self.map.word(off + V2_STATUS).load(Ordering::Acquire);
        if status & libc::TP_STATUS_USER == 0 {
            return None;
        }
        // SAFETY: the slot's status said TP_STATUS_USER (above): ours until
        // `advance`, which `&self` here keeps from running.
        unsafe {
            let snap = self.map.read_u32(off + V2_SNAPLEN) as usize;
            let mac = self.map.read_u16(off + V2_MAC) as usize;
            Some(self.packet(off, mac, snap, off + self.size.frame_size as usize))
        }
    }

    #[inline]
    fn advance(&mut self) {
        match self.cursor {
            Cursor::V2 { frame } => {
                let off = self.frame_off(frame);
                let st = self.map.word(off + V2_STATUS);
                if st.load(Ordering::Relaxed) & libc::TP_STATUS_USER == 0 {
                    return;
                }
                st.store(libc::TP_STATUS_KERNEL, Ordering::Release);
                self.cursor = Cursor::V2 {
                    frame: (frame + 1) % self.size.frame_nr(),
                };
            }
            Cursor::V3 { block, left, pkt } => {
                if left == 0 {
                    return;
                }
                // A header past the block (no `peek` since the last
                // `advance`) ends the block, as in `peek`.
                if left == 1 || !self.v3_hdr_fits(block, pkt) {
                    let boff = self.block_off(block);
                    self.map
                        .word(boff + BD_STATUS)
                        .store(libc::TP_STATUS_KERNEL, Ordering::Release);
                    self.cursor = Cursor::V3 {
                        block: (block + 1) % self.size.block_nr,
                        left: 0,
                        pkt: 0,
                    };
                } else {
                    // SAFETY: the block is held (`left` > 0: its status said
                    // TP_STATUS_USER) and the header at `pkt` lies in it
                    // (checked above).
                    let next = unsafe { self.map.read_u32(pkt + V3_NEXT) } as usize;
                    self.cursor = Cursor::V3 {
                        block,
                        left: left - 1,
                        pkt: pkt.saturating_add(next),
                    };
                }
            }
        }
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.fd.as_raw_fd())
    }

    fn take_kernel_drops(&mut self) -> crate::io::KernelDrops {
        let ring_full = if self.v3 {
            let mut st = libc::tpacket_stats_v3 {
                tp_packets: 0,
                tp_drops: 0,
                tp_freeze_q_cnt: 0,
            };
            getsockopt(self.fd.as_raw_fd(), libc::PACKET_STATISTICS, &mut st)
                .map_or(0, |()| u64::from(st.tp_drops))
        } else {
            let mut st = libc::tpacket_stats {
                tp_packets: 0,
                tp_drops: 0,
            };
            getsockopt(self.fd.as_raw_fd(), libc::PACKET_STATISTICS, &mut st)
                .map_or(0, |()| u64::from(st.tp_drops))
        };
        crate::io::KernelDrops {
            ring_full,
            ..Default::default()
        }
    }
}

/// `PACKET_FANOUT_FLAG_IGNORE_OUTGOING` (linux/if_packet.h, Linux 6.2,
/// "net/packet: add PACKET_FANOUT_FLAG_IGNORE_OUTGOING"): the group's hook
/// skips frames the host sends on the NIC, as `PACKET_IGNORE_OUTGOING` does
/// a lone socket's, which `fanout_add` (net/packet/af_packet.c) does not
/// carry over to the group's hook.
const FANOUT_FLAG_IGNORE_OUTGOING: u32 = 0x4000;

fn join_fanout(fd: &OwnedFd, f: Fanout) -> io::Result<u16> {
    // Every member asks for the same flags (`fanout_add` refuses a member
    // whose flags differ from the group's; UNIQUEID, the first member's
    // alone, is not kept in them). A kernel before 6.2 takes an unknown
    // flag without a word (`fanout_add` checks only the type), and there
    // its outgoing frames still reach the group: docs/design.md.
    let mut kind = libc::PACKET_FANOUT_CBPF | FANOUT_FLAG_IGNORE_OUTGOING;
    if f.id.is_none() {
        kind |= libc::PACKET_FANOUT_FLAG_UNIQUEID;
    }
    let arg: libc::c_int = (u32::from(f.id.unwrap_or(0)) | (kind << 16)) as libc::c_int;
    setsockopt(fd, libc::PACKET_FANOUT, &arg, "PACKET_FANOUT")?;
    let mut got: libc::c_int = 0;
    getsockopt(fd.as_raw_fd(), libc::PACKET_FANOUT, &mut got)
        .map_err(|e| with_context(e, "getsockopt(PACKET_FANOUT)"))?;
    let id = (got & 0xffff) as u16;
    if f.id.is_none() {
        // The first member installs the program for the whole group.
        let prog = fanout::program(f.side, f.key);
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        setsockopt(fd, libc::PACKET_FANOUT_DATA, &fprog, "PACKET_FANOUT_DATA")?;
    }
    Ok(id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod test {
    use super::super::sys::test::{fanout_ring, in_fresh_netns, quiet_veth, run};
    use super::*;
    use std::time::{Duration, Instant};

    /// Sends `frame` out of NIC `ifindex` through a plain packet socket
    /// (`dev_queue_xmit`, which hands a copy to the taps as outgoing).
    fn send_plain(ifindex: i32, frame: &[u8]) {
        let fd = packet_socket().unwrap();
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = ifindex;
        sll.sll_halen = 6;
        // SAFETY: `frame` and `sll` live across the call, which only reads them.
        let n = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        assert_eq!(n, frame.len() as isize, "{}", io::Error::last_os_error());
    }

    /// A broadcast frame of the local experimental ethertype 0x88b5 whose
    /// source MAC ends in `tag`.
    fn frame(tag: u8) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[..6].fill(0xff);
        f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, tag]);
        f[12..14].copy_from_slice(&[0x88, 0xb5]);
        f
    }

    /// The frames the ring holds after `wait`, by the last byte of their
    /// source MAC.
    fn received(ring: &mut RxRing, wait: Duration) -> Vec<u8> {
        let until = Instant::now() + wait;
        let mut got = Vec::new();
        while Instant::now() < until {
            while let Some(f) = ring.peek() {
                got.push(f.data.get(11).copied().unwrap_or(0));
                ring.advance();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        got
    }

    /// Where `tpacket_rcv` (net/packet/af_packet.c) puts the Ethernet
    /// header of a frame, from the slot's (V2) or the packet's (V3) header,
    /// on a `SOCK_RAW` socket with no `tp_reserve` and no vnet header:
    /// `TPACKET_ALIGN(tp_hdrlen + 16) - 14`, `tp_hdrlen` being the
    /// version's header aligned, plus a `sockaddr_ll`.
    const V2_MACOFF: u16 = 80 - 14;
    const V3_MACOFF: u16 = 96 - 14;
    /// The first packet of a V3 block (`BLK_PLUS_PRIV(0)`: the block
    /// descriptor, 8-aligned; no private area).
    const V3_FIRST: u32 = 48;

    /// A receive ring of `version` in anonymous memory (two 64 KiB blocks:
    /// 64 V2 slots), its socket one end of a socketpair; the test plays
    /// the kernel.
    fn fake(v3: bool) -> (RxRing, std::os::unix::net::UnixDatagram) {
        let size = RingSize::new(2);
        let (ours, other) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let ring = RxRing {
            map: Mmap::anonymous(size.bytes(), "test rx ring").unwrap(),
            size,
            cursor: Cursor::first(v3),
            v3,
            fd: OwnedFd::from(ours),
        };
        (ring, other)
    }

    /// Writes a header field as the kernel would.
    fn w32(r: &mut RxRing, off: usize, v: u32) {
        // SAFETY: the test owns the whole anonymous mapping (no kernel).
        unsafe { r.map.write_u32(off, v) }
    }

    fn put(r: &mut RxRing, off: usize, data: &[u8]) {
        // SAFETY: the test owns the whole anonymous mapping (no kernel).
        unsafe { r.map.bytes_mut(off, data.len()) }.copy_from_slice(data);
    }

    /// What `tpacket_rcv` writes in V2 slot `frame`: the frame at `mac`,
    /// `snap` bytes of it captured, then the status.
    fn v2_slot(r: &mut RxRing, frame: u32, data: &[u8], (mac, snap): (u16, u32), status: u32) {
        let off = r.frame_off(frame);
        put(
            r,
            off + usize::from(mac),
            &data[..data.len().min(2048 - usize::from(mac))],
        );
        w32(r, off + V2_LEN, data.len() as u32);
        w32(r, off + V2_SNAPLEN, snap);
        w32(r, off + V2_MAC, u32::from(mac) | u32::from(mac + 14) << 16);
        w32(r, off + V2_SEC, 7);
        w32(r, off + V2_NSEC, 5);
        w32(r, off + V2_VLAN_TCI, 0x6064 | 0x88a8 << 16);
        r.map.word(off + V2_STATUS).store(status, Ordering::Release);
    }

    fn bytes(n: usize, fill: u8) -> Vec<u8> {
        (0..n).map(|i| fill ^ i as u8).collect()
    }

    #[test]
    fn a_v2_slot_is_read_as_the_kernel_wrote_it_and_handed_back() {
        let (mut r, _other) = fake(false);
        assert!(r.peek().is_none(), "an empty ring");
        let f = bytes(60, 0x11);
        let vlan = libc::TP_STATUS_VLAN_VALID | libc::TP_STATUS_VLAN_TPID_VALID;
        let st = libc::TP_STATUS_USER | libc::TP_STATUS_CSUM_VALID | vlan;
        v2_slot(&mut r, 0, &f, (V2_MACOFF, 60), st);
        let g = bytes(1982, 0x22);
        v2_slot(&mut r, 1, &g, (V2_MACOFF, 1982), libc::TP_STATUS_USER);
        assert_eq!(r.peek_time_ns(), Some(7_000_000_005));
        assert_eq!(r.peek_ahead(1), Some(&g[..]));
        let got = r.peek().expect("slot 0");
        assert_eq!(got.data, &f[..]);
        let tag = VlanTag {
            tpid: 0x88a8,
            tci: 0x6064,
        };
        let meta = RxMeta {
            wire_len: 60,
            csum_partial: false,
            csum_valid: true,
            vlan: Some(tag),
        };
        assert_eq!(got.meta, meta);
        r.advance();
        let st0 = r.map.word(V2_STATUS).load(Ordering::Acquire);
        assert_eq!(st0, libc::TP_STATUS_KERNEL, "slot 0 handed back");
        // The largest frame a slot holds whole: RX_FRAME_MAX.
        let got = r.peek().expect("slot 1");
        assert_eq!((got.data.len(), got.meta.vlan), (RX_FRAME_MAX, None));
        assert_eq!(got.data, &g[..]);
        r.advance();
        assert!(r.peek().is_none(), "slot 2 is the kernel's");
        r.advance(); // nothing held: no effect
        assert!(r.peek().is_none());
    }

    /// A header whose `tp_mac`/`tp_snaplen` point outside its slot gives
    /// an empty frame (the worker counts it truncated), never bytes past
    /// the slot; a tag without `TP_STATUS_VLAN_TPID_VALID` is 802.1Q's.
    #[test]
    fn a_v2_header_pointing_outside_its_slot_gives_no_bytes() {
        let (mut r, _other) = fake(false);
        let f = bytes(60, 0x33);
        let vlan = libc::TP_STATUS_USER | libc::TP_STATUS_VLAN_VALID;
        let cases: [(u16, u32, usize); 6] = [
            (V2_MACOFF, 2048 - u32::from(V2_MACOFF), RX_FRAME_MAX), // to the slot's end
            (V2_MACOFF, 2048 - u32::from(V2_MACOFF) + 1, 0),        // one past it
            (2047, 2, 0),
            (u16::MAX, 60, 0),
            (V2_MACOFF, u32::MAX, 0),
            (0, 60, 0), // no frame at all
        ];
        for (k, &(mac, snap, want)) in cases.iter().enumerate() {
            let slot = k as u32;
            v2_slot(&mut r, slot, &f, (V2_MACOFF, 60), vlan);
            let off = r.frame_off(slot);
            w32(&mut r, off + V2_MAC, u32::from(mac));
            w32(&mut r, off + V2_SNAPLEN, snap);
            let got = r.peek().expect("a slot");
            assert_eq!(got.data.len(), want, "tp_mac {mac} tp_snaplen {snap}");
            let tag = got.meta.vlan.expect("a tag");
            assert_eq!((tag.tpid, tag.tci), (0x8100, 0x6064));
            r.advance();
        }
    }

    /// What `tpacket_rcv` writes for one V3 packet at `pkt`; the next
    /// packet's header offset (8-aligned past the captured bytes).
    fn v3_pkt(r: &mut RxRing, pkt: usize, data: &[u8], status: u32, last: bool) -> usize {
        let mac = usize::from(V3_MACOFF);
        put(r, pkt + mac, data);
        let next = (mac + data.len()).div_ceil(8) * 8;
        w32(r, pkt + V3_NEXT, if last { 0 } else { next as u32 });
        w32(r, pkt + V3_SEC, 9);
        w32(r, pkt + V3_NSEC, 3);
        w32(r, pkt + V3_SNAPLEN, data.len() as u32);
        w32(r, pkt + V3_LEN, data.len() as u32);
        w32(r, pkt + V3_STATUS, status);
        w32(
            r,
            pkt + V3_MAC,
            u32::from(V3_MACOFF) | u32::from(V3_MACOFF + 14) << 16,
        );
        // tp_vlan_tci is a __u32: its high half set, its low half the TCI.
        w32(r, pkt + V3_VLAN_TCI, 0x7fff_2005);
        w32(r, pkt + V3_VLAN_TPID, 0x8100);
        pkt + next
    }

    fn v3_block(r: &mut RxRing, block: u32, num_pkts: u32) {
        let boff = r.block_off(block);
        w32(r, boff + BD_NUM_PKTS, num_pkts);
        w32(r, boff + BD_FIRST, V3_FIRST);
        r.map
            .word(boff + BD_STATUS)
            .store(libc::TP_STATUS_USER, Ordering::Release);
    }

    #[test]
    fn a_v3_block_is_walked_packet_by_packet_and_handed_back_whole() {
        let (mut r, _other) = fake(true);
        assert!(r.peek().is_none(), "no block retired yet");
        let (f, g) = (bytes(61, 0x44), bytes(1500, 0x55));
        let b0 = r.block_off(0);
        let vlan = libc::TP_STATUS_VLAN_VALID | libc::TP_STATUS_VLAN_TPID_VALID;
        let p1 = v3_pkt(&mut r, b0 + V3_FIRST as usize, &f, vlan, false);
        v3_pkt(&mut r, p1, &g, libc::TP_STATUS_CSUMNOTREADY, true);
        v3_block(&mut r, 0, 2);
        let got = r.peek().expect("packet 1");
        assert_eq!(got.data, &f[..]);
        let tag = VlanTag {
            tpid: 0x8100,
            tci: 0x2005,
        };
        assert_eq!((got.meta.wire_len, got.meta.vlan), (61, Some(tag)));
        assert_eq!(r.peek_time_ns(), Some(9_000_000_003));
        assert_eq!(r.peek_ahead(0), None, "V3 packets are chained, not indexed");
        r.advance();
        let st = r.map.word(b0 + BD_STATUS).load(Ordering::Acquire);
        assert_eq!(
            st,
            libc::TP_STATUS_USER,
            "the block is held until its last packet"
        );
        let got = r.peek().expect("packet 2");
        assert_eq!(got.data, &g[..]);
        assert!(got.meta.csum_partial && got.meta.vlan.is_none());
        r.advance();
        let st = r.map.word(b0 + BD_STATUS).load(Ordering::Acquire);
        assert_eq!(st, libc::TP_STATUS_KERNEL, "block 0 handed back");
        assert!(r.peek().is_none(), "block 1 is the kernel's");

        // A block retired empty (the timer fired with nothing) is handed
        // back and skipped; the next one read from its first packet.
        v3_block(&mut r, 1, 0);
        v3_pkt(&mut r, b0 + V3_FIRST as usize, &g, 0, true);
        v3_block(&mut r, 0, 1);
        let got = r.peek().expect("block 0 again, past the empty block 1");
        assert_eq!(got.data, &g[..]);
        let st = r
            .map
            .word(r.block_off(1) + BD_STATUS)
            .load(Ordering::Acquire);
        assert_eq!(st, libc::TP_STATUS_KERNEL, "the empty block handed back");
    }

    /// A V3 packet whose `tp_mac`/`tp_snaplen` point past its block gives
    /// an empty frame, never bytes of the next block.
    #[test]
    fn a_v3_header_pointing_outside_its_block_gives_no_bytes() {
        let (mut r, _other) = fake(true);
        let b0 = r.block_off(0);
        let pkt = b0 + V3_FIRST as usize;
        let room = r.size.block_size - V3_FIRST - u32::from(V3_MACOFF);
        for (snap, want) in [(room, room as usize), (room + 1, 0), (u32::MAX, 0)] {
            v3_pkt(&mut r, pkt, &bytes(60, 0x66), 0, true);
            w32(&mut r, pkt + V3_SNAPLEN, snap);
            v3_block(&mut r, 0, 1);
            assert_eq!(
                r.peek().expect("the packet").data.len(),
                want,
                "tp_snaplen {snap}"
            );
            r.advance();
            // Back to block 0 for the next case.
            r.cursor = Cursor::V3 {
                block: 0,
                left: 0,
                pkt: 0,
            };
        }
        v3_pkt(&mut r, pkt, &bytes(60, 0x66), 0, true);
        w32(&mut r, pkt + V3_MAC, 0);
        v3_block(&mut r, 0, 1);
        assert!(r.peek().expect("the packet").data.is_empty(), "tp_mac 0");
    }

    /// A packet header placed by the kernel's offsets past the end of its
    /// block (`offset_to_first_pkt`, then `tp_next_offset`) is no panic
    /// and no read of another block: one empty frame (counted in
    /// `drop_truncated` by the worker), and the block goes back whole.
    #[test]
    fn a_v3_header_placed_past_its_block_ends_the_block() {
        let (mut r, _other) = fake(true);
        let last = r.size.block_nr - 1;
        let bl = r.block_off(last);
        v3_block(&mut r, last, 3);
        let past = r.size.block_size - 8;
        w32(&mut r, bl + BD_FIRST, past);
        r.cursor = Cursor::V3 {
            block: last,
            left: 0,
            pkt: 0,
        };
        let got = r.peek().expect("an empty frame for the bad block");
        assert!(got.data.is_empty() && got.meta == RxMeta::default());
        assert_eq!(r.peek_time_ns(), None);
        r.advance();
        let st = r.map.word(bl + BD_STATUS).load(Ordering::Acquire);
        assert_eq!(st, libc::TP_STATUS_KERNEL, "the last block handed back");
        assert!(r.peek().is_none(), "block 0 is the kernel's");

        // tp_next_offset of block 0's first packet points past the block.
        let b0 = r.block_off(0);
        let f = bytes(60, 0x77);
        v3_pkt(&mut r, b0 + V3_FIRST as usize, &f, 0, false);
        let past = r.size.block_size - 40;
        w32(&mut r, b0 + V3_FIRST as usize + V3_NEXT, past);
        v3_block(&mut r, 0, 2);
        assert_eq!(r.peek().expect("packet 1").data, &f[..]);
        r.advance();
        assert!(r.peek().expect("the bad second header").data.is_empty());
        r.advance();
        let st = r.map.word(b0 + BD_STATUS).load(Ordering::Acquire);
        assert_eq!(st, libc::TP_STATUS_KERNEL, "block 0 handed back");
        assert!(r.peek().is_none());

        // The same past the mapping's end, with `advance` called twice and
        // no `peek` between: the second ends the block.
        v3_pkt(&mut r, bl + V3_FIRST as usize, &f, 0, false);
        let past = r.size.block_size - 40;
        w32(&mut r, bl + V3_FIRST as usize + V3_NEXT, past);
        v3_block(&mut r, last, 3);
        r.cursor = Cursor::V3 {
            block: last,
            left: 0,
            pkt: 0,
        };
        assert_eq!(r.peek().expect("packet 1").data, &f[..]);
        r.advance();
        r.advance();
        let st = r.map.word(bl + BD_STATUS).load(Ordering::Acquire);
        assert_eq!(st, libc::TP_STATUS_KERNEL, "the last block handed back");
        assert!(r.peek().is_none());
    }

    /// `discard_ready` hands back a V3 block of more small frames than a
    /// bound in frames (two rounds of V2 slots: 128 here) would reach.
    #[test]
    fn discard_ready_hands_back_a_full_v3_block() {
        let (mut r, _other) = fake(true);
        let mut pkt = r.block_off(0) + V3_FIRST as usize;
        for k in 0..400 {
            pkt = v3_pkt(&mut r, pkt, &bytes(60, k as u8), 0, k == 399);
        }
        v3_block(&mut r, 0, 400);
        r.discard_ready();
        assert!(r.peek().is_none());
        let st = r.map.word(BD_STATUS).load(Ordering::Acquire);
        assert_eq!(st, libc::TP_STATUS_KERNEL, "block 0 handed back");
    }

    /// A frame the host sends out of the NIC (a plain packet socket here;
    /// keepalived's VRRP or arping in production) does not land in the
    /// ring of a fanout member: `PACKET_FANOUT_FLAG_IGNORE_OUTGOING`, as
    /// `PACKET_IGNORE_OUTGOING` alone covers no fanout member. A frame
    /// coming in does.
    #[test]
    fn the_hosts_own_frames_stay_out_of_a_fanout_ring() {
        in_fresh_netns("the_hosts_own_frames_stay_out_of_a_fanout_ring", || {
            let index = quiet_veth();
            run("ip", &["link", "set", "rvb", "up"]);
            // SAFETY: a NUL-terminated name; the call only reads it.
            let peer = unsafe { libc::if_nametoindex(c"rvb".as_ptr()) } as i32;
            let mut ring = fanout_ring(index);
            // Out of rva (outgoing there), then into rva from its peer.
            send_plain(index, &frame(1));
            send_plain(peer, &frame(2));
            assert_eq!(received(&mut ring, Duration::from_millis(300)), [2]);
        });
    }
}
