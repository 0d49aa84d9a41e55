//! The transmit ring: `TPACKET_V2`, `PACKET_QDISC_BYPASS`, transmit only.

use super::sys::{bind, kick, packet_socket, setsockopt};
use super::{Mmap, RingSize, V2_LEN, V2_SNAPLEN, V2_STATUS};
use crate::io::TxQueue;
use std::io;
use std::mem::size_of;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;

/// The TX frame data offset: `TPACKET2_HDRLEN - sizeof(sockaddr_ll)`, where the
/// kernel reads a frame when `PACKET_TX_HAS_OFF` is not set.
const TX_DATA_OFF: usize = libc::TPACKET2_HDRLEN - size_of::<libc::sockaddr_ll>();

/// The largest frame (Ethernet header included) a [`RingSize::new`] TX slot holds.
pub const TX_FRAME_MAX: usize = 2048 - TX_DATA_OFF;

/// A transmit ring on one NIC.
pub struct TxRing {
    map: Mmap,
    size: RingSize,
    frame: u32,
    pending: usize,
    /// Frames the kernel rejected (`TP_STATUS_WRONG_FORMAT`).
    pub rejected: u64,
    fd: OwnedFd,
}

impl TxRing {
    pub fn open(ifindex: i32, size: RingSize) -> io::Result<Self> {
        let fd = packet_socket()?;
        let ver = libc::tpacket_versions::TPACKET_V2 as libc::c_int;
        setsockopt(&fd, libc::PACKET_VERSION, &ver, "PACKET_VERSION")?;
        let one: libc::c_int = 1;
        setsockopt(&fd, libc::PACKET_QDISC_BYPASS, &one, "PACKET_QDISC_BYPASS")?;
        // Skip a frame the kernel rejects instead of stalling the ring behind it.
        setsockopt(&fd, libc::PACKET_LOSS, &one, "PACKET_LOSS")?;
        let req = libc::tpacket_req {
            tp_block_size: size.block_size,
            tp_block_nr: size.block_nr,
            tp_frame_size: size.frame_size,
            tp_frame_nr: size.frame_nr(),
        };
        setsockopt(&fd, libc::PACKET_TX_RING, &req, "PACKET_TX_RING")?;
        let map = Mmap::ring(&fd, size.bytes(), 0, "mmap(packet ring)")?;
        // Protocol 0: transmit only, never on the receive path.
        bind(&fd, ifindex, 0)?;
        Ok(Self {
            map,
            size,
            frame: 0,
            pending: 0,
            rejected: 0,
            fd,
        })
    }

    fn frame_off(&self) -> usize {
        self.frame as usize * self.size.frame_size as usize
    }
}

impl TxQueue for TxRing {
    #[inline]
    fn slot(&mut self) -> Option<&mut [u8]> {
        let off = self.frame_off();
        let status = self.map.word(off + V2_STATUS).load(Ordering::Acquire);
        if status == libc::TP_STATUS_WRONG_FORMAT {
            self.rejected += 1;
            self.map
                .word(off + V2_STATUS)
                .store(libc::TP_STATUS_AVAILABLE, Ordering::Relaxed);
        } else if status != libc::TP_STATUS_AVAILABLE {
            return None;
        }
        let len = self.size.frame_size as usize - TX_DATA_OFF;
        Some(self.map.bytes_mut(off + TX_DATA_OFF, len))
    }

    #[inline]
    fn commit(&mut self, len: usize) {
        let off = self.frame_off();
        self.map.write_u32(off + V2_LEN, len as u32);
        self.map.write_u32(off + V2_SNAPLEN, len as u32);
        self.map
            .word(off + V2_STATUS)
            .store(libc::TP_STATUS_SEND_REQUEST, Ordering::Release);
        self.frame = (self.frame + 1) % self.size.frame_nr();
        self.pending += 1;
    }

    fn flush(&mut self) -> usize {
        let n = self.pending;
        if n == 0 {
            return 0;
        }
        // On an error (ENOBUFS when the device queue is full, EAGAIN) the kernel
        // stops at the frame that failed and leaves it and the rest marked: keep
        // them pending so the next flush kicks the ring again, even with no new
        // frame to send.
        if kick(&self.fd).is_err() {
            return 0;
        }
        self.pending = 0;
        n
    }

    fn unsent(&self) -> bool {
        self.pending > 0
    }
}
