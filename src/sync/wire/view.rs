//! Zero-copy views of a sync message's header and of one entry, with the
//! contract of `crate::wire`: after `check_len` no accessor panics.

use std::net::Ipv4Addr;

use super::{ENTRY_V4_LEN, ENTRY_V6_LEN, HEADER_LEN, TYPE_F_INET6, VERSION};
use crate::wire::{Error, Result, be16, be32};

/// Field offsets, shared with the builder and the parser.
pub(super) mod field {
    use core::ops::Range;

    // struct ip_vs_sync_mesg
    pub const RESERVED: usize = 0;
    pub const SYNCID: usize = 1;
    pub const SIZE: Range<usize> = 2..4;
    pub const NR_CONNS: usize = 4;
    pub const VERSION: usize = 5;
    pub const SPARE: Range<usize> = 6..8;

    // struct ip_vs_sync_v4 (and the first 24 bytes of ip_vs_sync_v6)
    pub const TYPE: usize = 0;
    pub const PROTOCOL: usize = 1;
    pub const VER_SIZE: Range<usize> = 2..4;
    pub const FLAGS: Range<usize> = 4..8;
    pub const STATE: Range<usize> = 8..10;
    pub const CPORT: Range<usize> = 10..12;
    pub const VPORT: Range<usize> = 12..14;
    pub const DPORT: Range<usize> = 14..16;
    pub const FWMARK: Range<usize> = 16..20;
    pub const TIMEOUT: Range<usize> = 20..24;
    pub const CADDR: Range<usize> = 24..28;
    pub const VADDR: Range<usize> = 28..32;
    pub const DADDR: Range<usize> = 32..36;
}

/// `ver_size`: the entry's version in the top 4 bits (`SVER_SHIFT`), its size
/// in the low 12 (`SVER_MASK`).
const SVER_SHIFT: u16 = 12;
const SVER_MASK: u16 = 0x0fff;

/// A view of a sync message: its header and the bytes after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncMessage<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SyncMessage<T> {
    pub const fn new_unchecked(buffer: T) -> SyncMessage<T> {
        SyncMessage { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<SyncMessage<T>> {
        let m = Self::new_unchecked(buffer);
        m.check_len()?;
        Ok(m)
    }

    /// Ensures the buffer holds the 8-byte header (`size` is not used to slice).
    pub fn check_len(&self) -> Result<()> {
        match self.buffer.as_ref().len() >= HEADER_LEN {
            true => Ok(()),
            false => Err(Error),
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::RESERVED]
    }

    pub fn syncid(&self) -> u8 {
        self.buffer.as_ref()[field::SYNCID]
    }

    /// The message's length, header included.
    pub fn size(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::SIZE])
    }

    pub fn nr_conns(&self) -> u8 {
        self.buffer.as_ref()[field::NR_CONNS]
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    pub fn spare(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::SPARE])
    }

    /// Everything after the header.
    pub fn entries(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SyncMessage<T> {
    /// Writes a version-1 header for an empty message: reserved 0, `syncid`,
    /// size 8, no entries, version 1, spare 0 (`ip_vs_sync_buff_create`).
    pub fn init(&mut self, syncid: u8) {
        let b = self.buffer.as_mut();
        b[..HEADER_LEN].copy_from_slice(&[0, syncid, 0, HEADER_LEN as u8, 0, VERSION, 0, 0]);
    }

    pub fn set_reserved(&mut self, value: u8) {
        self.buffer.as_mut()[field::RESERVED] = value;
    }

    pub fn set_syncid(&mut self, value: u8) {
        self.buffer.as_mut()[field::SYNCID] = value;
    }

    pub fn set_size(&mut self, value: u16) {
        self.buffer.as_mut()[field::SIZE].copy_from_slice(&value.to_be_bytes());
    }

    pub fn set_nr_conns(&mut self, value: u8) {
        self.buffer.as_mut()[field::NR_CONNS] = value;
    }

    pub fn set_version(&mut self, value: u8) {
        self.buffer.as_mut()[field::VERSION] = value;
    }

    pub fn set_spare(&mut self, value: u16) {
        self.buffer.as_mut()[field::SPARE].copy_from_slice(&value.to_be_bytes());
    }

    pub fn entries_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// A view of one sync entry. The address accessors read the IPv4 layout; an
/// IPv6 entry (`is_v6`) has other bytes there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncEntry<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SyncEntry<T> {
    pub const fn new_unchecked(buffer: T) -> SyncEntry<T> {
        SyncEntry { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<SyncEntry<T>> {
        let e = Self::new_unchecked(buffer);
        e.check_len()?;
        Ok(e)
    }

    /// Ensures the buffer holds the fixed part for the entry's type: 36 bytes
    /// for IPv4, 72 for IPv6. (`options` is the rest of the buffer; `set_type`
    /// can change what that needs, like the length setters of `crate::wire`.)
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        match len >= ENTRY_V4_LEN && len >= self.fixed_len() {
            true => Ok(()),
            false => Err(Error),
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn entry_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Whether the type's IPv6 bit is set (`ip_vs_proc_sync_conn` tests it
    /// first: any type with bit 0 set is IPv6).
    pub fn is_v6(&self) -> bool {
        self.entry_type() & TYPE_F_INET6 != 0
    }

    /// The length of the fixed part this entry's type has.
    pub fn fixed_len(&self) -> usize {
        match self.is_v6() {
            true => ENTRY_V6_LEN,
            false => ENTRY_V4_LEN,
        }
    }

    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    pub fn ver_size(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::VER_SIZE])
    }

    /// The entry's format version, 0 for every entry IPVS writes.
    pub fn entry_version(&self) -> u8 {
        (self.ver_size() >> SVER_SHIFT) as u8
    }

    /// The entry's length with its options, without the pad that may follow.
    pub fn size(&self) -> usize {
        usize::from(self.ver_size() & SVER_MASK)
    }

    pub fn flags(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::FLAGS])
    }

    pub fn state(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::STATE])
    }

    pub fn cport(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CPORT])
    }

    pub fn vport(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::VPORT])
    }

    pub fn dport(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::DPORT])
    }

    pub fn fwmark(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::FWMARK])
    }

    /// The connection's timeout, in seconds.
    pub fn timeout(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::TIMEOUT])
    }

    pub fn caddr(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(be32(&self.buffer.as_ref()[field::CADDR]))
    }

    pub fn vaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(be32(&self.buffer.as_ref()[field::VADDR]))
    }

    pub fn daddr(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(be32(&self.buffer.as_ref()[field::DADDR]))
    }

    /// The bytes after the fixed part: the options, when the buffer ends
    /// where `size` says.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[self.fixed_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SyncEntry<T> {
    pub fn set_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::TYPE] = value;
    }

    pub fn set_protocol(&mut self, value: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = value;
    }

    /// Sets `ver_size` to entry version 0 and `size` (`htons(len & SVER_MASK)`).
    pub fn set_size(&mut self, size: usize) {
        let v = size as u16 & SVER_MASK;
        self.buffer.as_mut()[field::VER_SIZE].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_flags(&mut self, value: u32) {
        self.buffer.as_mut()[field::FLAGS].copy_from_slice(&value.to_be_bytes());
    }

    pub fn set_state(&mut self, value: u16) {
        self.buffer.as_mut()[field::STATE].copy_from_slice(&value.to_be_bytes());
    }

    pub fn set_cport(&mut self, value: u16) {
        self.buffer.as_mut()[field::CPORT].copy_from_slice(&value.to_be_bytes());
    }

    pub fn set_vport(&mut self, value: u16) {
        self.buffer.as_mut()[field::VPORT].copy_from_slice(&value.to_be_bytes());
    }

    pub fn set_dport(&mut self, value: u16) {
        self.buffer.as_mut()[field::DPORT].copy_from_slice(&value.to_be_bytes());
    }

    pub fn set_fwmark(&mut self, value: u32) {
        self.buffer.as_mut()[field::FWMARK].copy_from_slice(&value.to_be_bytes());
    }

    pub fn set_timeout(&mut self, value: u32) {
        self.buffer.as_mut()[field::TIMEOUT].copy_from_slice(&value.to_be_bytes());
    }

    pub fn set_caddr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::CADDR].copy_from_slice(&value.octets());
    }

    pub fn set_vaddr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::VADDR].copy_from_slice(&value.octets());
    }

    pub fn set_daddr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::DADDR].copy_from_slice(&value.octets());
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let at = self.fixed_len();
        &mut self.buffer.as_mut()[at..]
    }
}
