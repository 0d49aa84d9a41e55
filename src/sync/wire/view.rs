//! Zero-copy views of a sync message's header and of one entry, with the
//! contract of `crate::wire`: after `check_len` no accessor panics.

use std::net::Ipv4Addr;

use super::{ADDRS_AT, ENTRY_V4_LEN, ENTRY_V6_LEN, HEADER_LEN, SyncAddr, TYPE_F_INET6, VERSION};
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

    // struct ip_vs_sync_v4 (and the first 24 bytes of ip_vs_sync_v6, whose
    // 16-byte addresses are at 24, 40 and 56: see `SyncEntry::addrs`)
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

/// A view of one sync entry. `caddr`, `vaddr` and `daddr` read the IPv4
/// layout; an IPv6 entry (`is_v6`) has other bytes there: [`addrs`](Self::addrs)
/// reads either.
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

    /// The client, virtual and destination addresses if the entry's type is
    /// of family `A` (`is_v6` for `Ipv6Addr`), else `None`: after
    /// `check_len` the buffer holds the addresses of its own type only.
    pub fn addrs<A: SyncAddr>(&self) -> Option<[A; 3]> {
        if self.is_v6() != (A::TYPE & TYPE_F_INET6 != 0) {
            return None;
        }
        let b = &self.buffer.as_ref()[ADDRS_AT..];
        Some([A::read(b), A::read(&b[A::LEN..]), A::read(&b[2 * A::LEN..])])
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

    /// Writes the client, virtual and destination addresses in family `A`'s
    /// layout, for an entry whose type is `A::TYPE` (the buffer must hold
    /// `A::FIXED_LEN` bytes, as `check_len` ensures for that type).
    pub fn set_addrs<A: SyncAddr>(&mut self, [c, v, d]: [A; 3]) {
        let b = &mut self.buffer.as_mut()[ADDRS_AT..];
        c.write(b);
        v.write(&mut b[A::LEN..]);
        d.write(&mut b[2 * A::LEN..]);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let at = self.fixed_len();
        &mut self.buffer.as_mut()[at..]
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;
    use std::hint::black_box;
    use std::net::Ipv6Addr;

    /// An IPv4 entry laid out by hand from `struct ip_vs_sync_v4`.
    static ENTRY_BYTES: [u8; 40] = [
        0x00, 0x11, 0x00, 0x28, // type 0, protocol 17, ver_size: version 0, size 40
        0x00, 0x00, 0x01, 0x00, // flags: INACTIVE
        0x00, 0x00, 0x30, 0x39, // state 0, cport 12345
        0x00, 0x35, 0x00, 0x35, // vport 53, dport 53
        0x00, 0x00, 0x00, 0x07, // fwmark 7
        0x00, 0x00, 0x01, 0x2c, // timeout 300 s
        0xc6, 0x12, 0x00, 0x05, // caddr 198.18.0.5
        0xc6, 0x12, 0x01, 0x01, // vaddr 198.18.1.1
        0xc6, 0x12, 0x02, 0x0b, // daddr 198.18.2.11
        0xc7, 0x02, 0xaa, 0xbb, // options: type 0x47 (may skip), length 2, data
    ];

    #[test]
    fn entry_deconstruct() {
        let e = SyncEntry::new_checked(&ENTRY_BYTES[..]).expect("fixture is long enough");
        assert_eq!(e.entry_type(), 0);
        assert!(!e.is_v6());
        assert_eq!(e.fixed_len(), ENTRY_V4_LEN);
        assert_eq!(e.protocol(), 17);
        assert_eq!((e.entry_version(), e.size()), (0, 40));
        assert_eq!(e.flags(), 0x0100);
        assert_eq!(e.state(), 0);
        assert_eq!((e.cport(), e.vport(), e.dport()), (12345, 53, 53));
        assert_eq!((e.fwmark(), e.timeout()), (7, 300));
        assert_eq!(e.caddr(), Ipv4Addr::new(198, 18, 0, 5));
        assert_eq!(e.vaddr(), Ipv4Addr::new(198, 18, 1, 1));
        assert_eq!(e.daddr(), Ipv4Addr::new(198, 18, 2, 11));
        assert_eq!(e.options(), &[0xc7, 0x02, 0xaa, 0xbb]);
    }

    #[test]
    fn entry_construct() {
        let mut bytes = [0xa5; 40];
        let mut e = SyncEntry::new_unchecked(&mut bytes[..]);
        e.set_type(0);
        e.set_protocol(17);
        e.set_size(40);
        e.set_flags(0x0100);
        e.set_state(0);
        e.set_cport(12345);
        e.set_vport(53);
        e.set_dport(53);
        e.set_fwmark(7);
        e.set_timeout(300);
        e.set_caddr(Ipv4Addr::new(198, 18, 0, 5));
        e.set_vaddr(Ipv4Addr::new(198, 18, 1, 1));
        e.set_daddr(Ipv4Addr::new(198, 18, 2, 11));
        e.options_mut().copy_from_slice(&[0xc7, 0x02, 0xaa, 0xbb]);
        assert_eq!(bytes, ENTRY_BYTES);
    }

    /// An IPv6 entry laid out by hand from `struct ip_vs_sync_v6`: the IPv4
    /// entry's first 24 bytes, then 16-byte addresses at 24, 40 and 56, then
    /// the options at 72.
    #[rustfmt::skip]
    static ENTRY6_BYTES: [u8; 76] = [
        0x01, 0x11, 0x00, 0x4c, // type 1 (IPv6), protocol 17, size 76
        0x00, 0x00, 0x01, 0x00, // flags: INACTIVE
        0x00, 0x00, 0x30, 0x39, // state 0, cport 12345
        0x00, 0x35, 0x00, 0x35, // vport 53, dport 53
        0x00, 0x00, 0x00, 0x07, // fwmark 7
        0x00, 0x00, 0x01, 0x2c, // timeout 300 s
        0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, // caddr 2001:2:0:1::5
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
        0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, // vaddr 2001:2:0:1::110
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x10,
        0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, // daddr 2001:2:0:2::b
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b,
        0xc7, 0x02, 0xaa, 0xbb, // options at 72
    ];

    fn addrs6() -> [Ipv6Addr; 3] {
        ["2001:2:0:1::5", "2001:2:0:1::110", "2001:2:0:2::b"]
            .map(|a| a.parse().expect("an IPv6 address"))
    }

    #[test]
    fn ipv6_entry_deconstruct_and_construct() {
        let e = SyncEntry::new_checked(&ENTRY6_BYTES[..]).expect("fixture is long enough");
        assert!(e.is_v6());
        assert_eq!(
            (e.fixed_len(), e.size(), e.protocol()),
            (ENTRY_V6_LEN, 76, 17)
        );
        assert_eq!((e.cport(), e.vport(), e.dport()), (12345, 53, 53));
        assert_eq!((e.flags(), e.fwmark(), e.timeout()), (0x0100, 7, 300));
        assert_eq!(e.addrs::<Ipv6Addr>(), Some(addrs6()));
        assert_eq!(e.addrs::<Ipv4Addr>(), None);
        assert_eq!(e.options(), &[0xc7, 0x02, 0xaa, 0xbb]);

        let mut bytes = [0xa5; 76];
        let mut e = SyncEntry::new_unchecked(&mut bytes[..]);
        e.set_type(TYPE_F_INET6);
        e.set_protocol(17);
        e.set_size(76);
        e.set_flags(0x0100);
        e.set_state(0);
        e.set_cport(12345);
        e.set_vport(53);
        e.set_dport(53);
        e.set_fwmark(7);
        e.set_timeout(300);
        e.set_addrs(addrs6());
        e.options_mut().copy_from_slice(&[0xc7, 0x02, 0xaa, 0xbb]);
        assert_eq!(bytes, ENTRY6_BYTES);
        // The IPv4 layout reads the same addresses as `caddr`, ...
        let v4 = SyncEntry::new_checked(&ENTRY_BYTES[..]).expect("an IPv4 entry");
        assert_eq!(
            v4.addrs::<Ipv4Addr>(),
            Some([v4.caddr(), v4.vaddr(), v4.daddr()])
        );
        assert_eq!(v4.addrs::<Ipv6Addr>(), None);
    }

    #[test]
    fn entry_version_and_size_share_a_field() {
        let mut bytes = ENTRY_BYTES;
        bytes[2] = 0x1f; // version 1, size 0xf28
        let e = SyncEntry::new_unchecked(&bytes[..]);
        assert_eq!((e.entry_version(), e.size()), (1, 0xf28));
    }

    #[test]
    fn entry_check_len_follows_the_type() {
        assert_eq!(SyncEntry::new_checked(&ENTRY_BYTES[..35]), Err(Error));
        assert!(SyncEntry::new_checked(&ENTRY_BYTES[..36]).is_ok());
        let mut v6 = [0u8; ENTRY_V6_LEN];
        v6[0] = TYPE_F_INET6;
        assert!(SyncEntry::new_checked(&v6[..]).is_ok());
        assert_eq!(SyncEntry::new_checked(&v6[..71]), Err(Error));
        let e = SyncEntry::new_unchecked(&v6[..]);
        assert!(e.is_v6());
        assert_eq!(e.options(), &[] as &[u8]);
    }

    #[test]
    fn message_header() {
        let mut bytes = [0xa5; 12];
        SyncMessage::new_checked(&mut bytes[..])
            .expect("12 bytes hold a header")
            .init(9);
        assert_eq!(bytes, [0, 9, 0, 8, 0, 1, 0, 0, 0xa5, 0xa5, 0xa5, 0xa5]);
        let mut m = SyncMessage::new_unchecked(&mut bytes[..]);
        m.set_reserved(1);
        m.set_syncid(2);
        m.set_size(0x0304);
        m.set_nr_conns(5);
        m.set_version(6);
        m.set_spare(0x0708);
        m.entries_mut().fill(0xee);
        let m = SyncMessage::new_unchecked(&bytes[..]);
        assert_eq!((m.reserved(), m.syncid(), m.size()), (1, 2, 0x0304));
        assert_eq!((m.nr_conns(), m.version(), m.spare()), (5, 6, 0x0708));
        assert_eq!(m.entries(), &[0xee; 4]);
        assert_eq!(SyncMessage::new_checked(&bytes[..7]), Err(Error));
    }

    proptest! {
        /// The contract: once `check_len` passes, no accessor or setter panics.
        #[test]
        fn checked_views_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..100)) {
            if let Ok(m) = SyncMessage::new_checked(&bytes[..]) {
                black_box((m.reserved(), m.syncid(), m.size(), m.nr_conns()));
                black_box((m.version(), m.spare(), m.entries().len()));
            }
            if let Ok(mut m) = SyncMessage::new_checked(&mut bytes[..]) {
                m.set_size(u16::MAX);
                m.set_spare(1);
                m.entries_mut().fill(0);
                m.init(3);
            }
            if let Ok(mut e) = SyncEntry::new_checked(&mut bytes[..]) {
                black_box((e.entry_type(), e.is_v6(), e.protocol(), e.entry_version()));
                black_box((e.size(), e.flags(), e.state(), e.cport(), e.vport(), e.dport()));
                black_box((e.fwmark(), e.timeout(), e.caddr(), e.vaddr(), e.daddr()));
                black_box((e.options().len(), e.addrs::<Ipv4Addr>(), e.addrs::<Ipv6Addr>()));
                match e.is_v6() {
                    true => e.set_addrs([Ipv6Addr::LOCALHOST; 3]),
                    false => e.set_addrs([Ipv4Addr::BROADCAST; 3]),
                }
                e.set_protocol(6);
                e.set_size(4095);
                e.set_flags(u32::MAX);
                e.set_state(u16::MAX);
                e.set_cport(1);
                e.set_vport(2);
                e.set_dport(3);
                e.set_fwmark(4);
                e.set_timeout(5);
                e.set_caddr(Ipv4Addr::BROADCAST);
                e.set_vaddr(Ipv4Addr::BROADCAST);
                e.set_daddr(Ipv4Addr::BROADCAST);
                e.options_mut().fill(0);
            }
        }
    }
}
