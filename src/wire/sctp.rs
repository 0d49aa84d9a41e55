//! SCTP common headers and chunk headers (RFC 9260, which obsoletes RFC 4960).
//!
//! An SCTP packet is a 12-byte common header (ports, verification tag,
//! checksum) followed by chunks, each a 4-byte header (type, flags, length)
//! and its value padded to 4 bytes. The checksum is CRC32c over the whole
//! packet with the checksum field zero, stored in the byte order of the
//! reflected CRC's register (little-endian, RFC 9260 appendix A); no
//! pseudo-header: rewriting IP addresses leaves it valid, rewriting a port
//! does not.

use super::{Error, Result, be16, be32};

/// The common header.
pub const HEADER_LEN: usize = 12;
/// The shortest packet the director takes: one chunk header after the
/// common header. IPVS asks as much of a packet that opens an association
/// (`sctp_conn_schedule` drops one whose first chunk header cannot be
/// read), not of one that has an association: there `set_sctp_state`
/// leaves the state alone and the NAT handlers need the common header
/// only, so the kernel forwards a chunk-less 12-byte packet that ringvs
/// drops (`drop_l4_malformed`), a deliberate difference (`docs/ipvsadm.md`).
pub const MIN_LEN: usize = HEADER_LEN + 4;

/// Chunk types (RFC 9260 §3.2).
pub mod chunk {
    pub const DATA: u8 = 0;
    pub const INIT: u8 = 1;
    pub const INIT_ACK: u8 = 2;
    pub const SACK: u8 = 3;
    pub const HEARTBEAT: u8 = 4;
    pub const HEARTBEAT_ACK: u8 = 5;
    pub const ABORT: u8 = 6;
    pub const SHUTDOWN: u8 = 7;
    pub const SHUTDOWN_ACK: u8 = 8;
    pub const ERROR: u8 = 9;
    pub const COOKIE_ECHO: u8 = 10;
    pub const COOKIE_ACK: u8 = 11;
    pub const SHUTDOWN_COMPLETE: u8 = 14;
}

mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const VTAG: Range<usize> = 4..8;
    pub const CHECKSUM: Range<usize> = 8..12;
}

/// A view of an SCTP packet (the whole IP payload: the checksum covers it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SctpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SctpPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> SctpPacket<T> {
        SctpPacket { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<SctpPacket<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensures the common header and one chunk header fit.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < MIN_LEN {
            return Err(Error);
        }
        Ok(())
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::SRC_PORT])
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::DST_PORT])
    }

    #[inline]
    pub fn verification_tag(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::VTAG])
    }

    /// The checksum as the CRC32c register holds it (the field's bytes read
    /// little-endian).
    #[inline]
    pub fn checksum(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::CHECKSUM];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// CRC32c of the packet with the checksum field taken as zero.
    pub fn compute_checksum(&self) -> u32 {
        let b = self.buffer.as_ref();
        let crc = crc32c::crc32c(&b[..field::CHECKSUM.start]);
        let crc = crc32c::crc32c_append(crc, &[0; 4]);
        crc32c::crc32c_append(crc, &b[field::CHECKSUM.end..])
    }

    #[inline]
    pub fn verify_checksum(&self) -> bool {
        self.compute_checksum() == self.checksum()
    }

    /// Type and length of the chunk whose header starts `at` bytes into the
    /// packet, if its header is there.
    #[inline]
    pub fn chunk_at(&self, at: usize) -> Option<(u8, u16)> {
        let h = self.buffer.as_ref().get(at..at.checked_add(4)?)?;
        Some((h[0], be16(&h[2..4])))
    }

    /// Type and length of the first chunk.
    #[inline]
    pub fn first_chunk(&self) -> (u8, u16) {
        self.chunk_at(HEADER_LEN).unwrap_or((0, 0))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SctpPacket<T> {
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        self.buffer.as_mut()[field::SRC_PORT].copy_from_slice(&port.to_be_bytes());
    }

    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        self.buffer.as_mut()[field::DST_PORT].copy_from_slice(&port.to_be_bytes());
    }

    /// Compute the CRC32c and store it.
    #[inline]
    pub fn fill_checksum(&mut self) {
        let crc = self.compute_checksum();
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&crc.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An INIT as a sender puts it on the wire (ports 53600 → 80, tag 0):
    /// its stored checksum, CRC32c with the field zero, is 0x365de458, whose
    /// bytes stand in the header low byte first.
    const INIT: [u8; 32] = [
        0xd1, 0x60, 0x00, 0x50, 0x00, 0x00, 0x00, 0x00, 0x58, 0xe4, 0x5d, 0x36, 0x01, 0x00, 0x00,
        0x14, 0x9e, 0x8d, 0x52, 0x25, 0x00, 0x00, 0x80, 0x00, 0x00, 0x0a, 0x08, 0x00, 0x46, 0x1a,
        0xdf, 0x3d,
    ];

    #[test]
    fn a_real_init_checks_out() {
        let p = SctpPacket::new_checked(&INIT[..]).expect("long enough");
        assert_eq!((p.src_port(), p.dst_port()), (53600, 80));
        assert_eq!(p.verification_tag(), 0);
        assert_eq!(p.checksum(), 0x365d_e458);
        assert!(p.verify_checksum());
        assert_eq!(p.first_chunk(), (chunk::INIT, 20));
        assert_eq!(p.chunk_at(32), None);
    }

    #[test]
    fn a_port_rewrite_needs_a_new_checksum() {
        let mut b = INIT;
        let mut p = SctpPacket::new_unchecked(&mut b[..]);
        p.set_dst_port(8080);
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert!(p.verify_checksum());
        p.set_dst_port(80);
        p.fill_checksum();
        assert_eq!(b, INIT);
    }

    #[test]
    fn short_packets_are_refused() {
        assert!(SctpPacket::new_checked(&INIT[..15]).is_err());
        assert!(SctpPacket::new_checked(&INIT[..16]).is_ok());
    }
}
