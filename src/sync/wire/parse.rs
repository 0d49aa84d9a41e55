//! Reading a received message, as `ip_vs_process_message` and
//! `ip_vs_proc_sync_conn` do (and, for version 0, `ip_vs_process_message_v0`:
//! `super::v0`), with one error per way it can be wrong.

use super::v0;
use super::view::{SyncEntry, SyncMessage, field};
use super::{
    AnyConn, ENTRY_V4_LEN, HEADER_LEN, HEADER_V0_LEN, PeData, SEQ_DATA_LEN, Seq, SeqOpt, SyncAddr,
    SyncConn, TYPE_F_INET6, VERSION, flags, opt, state_from_ipvs, syncid_accepts,
};
use crate::wire::ipv4::protocol;
use crate::wire::{be16, be32};
use std::net::{Ipv4Addr, Ipv6Addr};

/// A datagram dropped whole, before any entry (`ip_vs_process_message`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Shorter than a header: under 4 bytes ("message header too short"), or
    /// under 8 with a zero first byte (IPVS would read a v1 header past the end).
    #[error("sync message of {len} bytes is shorter than its header")]
    TooShort { len: usize },
    /// The size field and the datagram's length differ ("bogus message size").
    #[error("sync message says {size} bytes but has {len}")]
    Size { size: u16, len: usize },
    /// Another syncid, to a backup whose syncid is not 0 ("Ignoring syncid").
    #[error("sync message for syncid {got}, ours is {ours}")]
    SyncId { got: u8, ours: u8 },
    /// A first byte of 0 and a version other than 1. A deliberate
    /// difference: IPVS reads it as a version-0 message of no entries (that
    /// first byte is a version-0 header's nr_conns) and so installs nothing
    /// without a word; ringvs installs nothing either, and counts it.
    #[error("sync message version {0} not supported")]
    Version(u8),
    /// A first byte of 0, version 1 and non-zero spare bytes: to IPVS, as
    /// [`Version`](Self::Version), a version-0 message of no entries.
    #[error("sync message spare field is {0:#06x}, not 0")]
    Spare(u16),
}

impl MessageError {
    /// A short name per variant, for counters.
    pub fn kind(&self) -> &'static str {
        match self {
            MessageError::TooShort { .. } => "short",
            MessageError::Size { .. } => "size",
            MessageError::SyncId { .. } => "syncid",
            MessageError::Version(_) => "version",
            MessageError::Spare(_) => "spare",
        }
    }
}

/// An entry that is wrong. [`ends_message`](Self::ends_message) tells
/// whether the entries after it are lost too, as IPVS drops the rest of the
/// buffer (`ip_vs_proc_sync_conn` < 0, "Dropping buffer") or only this entry
/// (> 0, "Single msg dropped"). Entries before it were good either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// Fewer than 36 bytes left where nr_conns promises another entry
    /// ("Dropping buffer, too small"; also nr_conns above the entries present).
    /// IPVS checks for an IPv4 entry's 36 bytes whatever the type: an IPv6
    /// entry cut after 36 bytes fails [`Overrun`](Self::Overrun) or
    /// [`TooSmall`](Self::TooSmall) instead.
    #[error("sync message ends {left} bytes into an entry it promises")]
    Truncated { left: usize },
    /// The entry's size runs past the datagram ("msg > buffer").
    #[error("sync entry of {size} bytes runs past the message")]
    Overrun { size: usize },
    /// An entry version other than 0 ("Unknown version").
    #[error("sync entry version {0} not supported")]
    EntryVersion(u8),
    /// A type neither 0 nor with the IPv6 bit (-10).
    #[error("sync entry type {0} unknown")]
    Type(u8),
    /// A size under the type's fixed part, 36 or 72 bytes (-20).
    #[error("sync entry of {size} bytes is shorter than its fixed part")]
    TooSmall { size: usize },
    /// An option header cut by the entry's end (-30).
    #[error("sync entry option header cut short")]
    OptionHeader,
    /// An option of length 0 or past the entry's end (-40).
    #[error("sync entry option {ptype} has bad length {plen}")]
    OptionLength { ptype: u8, plen: u8 },
    /// A sequence option of a length other than 24, or twice
    /// (`ip_vs_proc_seqopt`, -50).
    #[error("sync entry sequence option malformed or repeated")]
    SeqOption,
    /// Persistence-engine data twice (`ip_vs_proc_str`, -60).
    #[error("sync entry persistence-engine data repeated")]
    PeData,
    /// A persistence-engine name over 16 bytes, or twice (`ip_vs_proc_str`, -70).
    #[error("sync entry persistence-engine name malformed or repeated")]
    PeName,
    /// An unknown option without the may-skip bit (20).
    #[error("sync entry has unknown mandatory option {0}")]
    MandatoryOption(u8),
    /// A connection (not a template) of a protocol ringvs does not serve (30;
    /// IPVS also takes AH and ESP).
    #[error("sync entry for protocol {0} not supported")]
    Protocol(u8),
    /// A state number out of range for the protocol (40).
    #[error("sync entry state {state} invalid for protocol {proto}")]
    State { proto: u8, state: u16 },
    /// Persistence-engine data naming an engine other than SIP (the one
    /// ringvs has), or no name: IPVS skips the entry when it has no engine
    /// by that name, or no name (50).
    #[error("sync entry needs a persistence engine")]
    PersistenceEngine,
    /// Bytes after the last entry nr_conns counts (beyond its alignment pad).
    /// IPVS ignores them; reported so they can be counted, nothing is lost.
    #[error("{bytes} bytes after the last sync entry")]
    Trailing { bytes: usize },
}

impl EntryError {
    /// Whether IPVS drops the rest of the message with this entry.
    pub fn ends_message(&self) -> bool {
        use EntryError::*;
        matches!(
            self,
            Truncated { .. }
                | Overrun { .. }
                | EntryVersion(_)
                | Type(_)
                | TooSmall { .. }
                | OptionHeader
                | OptionLength { .. }
                | SeqOption
                | PeData
                | PeName
        )
    }

    /// A short name per variant, for counters.
    pub fn kind(&self) -> &'static str {
        use EntryError::*;
        match self {
            Truncated { .. } => "truncated",
            Overrun { .. } => "overrun",
            EntryVersion(_) => "entry_version",
            Type(_) => "type",
            TooSmall { .. } => "too_small",
            OptionHeader => "option_header",
            OptionLength { .. } => "option_length",
            SeqOption => "seq_option",
            PeData => "pe_data",
            PeName => "pe_name",
            MandatoryOption(_) => "mandatory_option",
            Protocol(_) => "protocol",
            State { .. } => "state",
            PersistenceEngine => "persistence_engine",
            Trailing { .. } => "trailing",
        }
    }
}

/// Checks a received datagram's header for a backup whose syncid is `syncid`
/// and returns its entries, of a version-1 or a version-0 message. Never
/// panics, whatever the bytes.
///
/// The checks and their order are `ip_vs_process_message`'s: length, size
/// field, syncid ([`syncid_accepts`]), then version. A first byte other than
/// 0 makes a version-0 message (that byte is its nr_conns), read as
/// `ip_vs_process_message_v0` reads it (`super::v0`); one of 0 a version-1
/// header, which must then be whole, of version 1 with spare 0
/// ([`MessageError::Version`] tells how that differs from IPVS).
pub fn parse(datagram: &[u8], syncid: u8) -> Result<Entries<'_>, MessageError> {
    let len = datagram.len();
    if len < HEADER_V0_LEN {
        return Err(MessageError::TooShort { len });
    }
    let size = be16(&datagram[field::SIZE]);
    if usize::from(size) != len {
        return Err(MessageError::Size { size, len });
    }
    let got = datagram[field::SYNCID];
    if !syncid_accepts(syncid, got) {
        return Err(MessageError::SyncId { got, ours: syncid });
    }
    if datagram[field::RESERVED] != 0 {
        return Ok(Entries {
            msg: datagram,
            at: HEADER_V0_LEN,
            left: datagram[v0::field::NR_CONNS],
            done: false,
            v0: true,
        });
    }
    let m = SyncMessage::new_checked(datagram).map_err(|_| MessageError::TooShort { len })?;
    if m.version() != VERSION {
        return Err(MessageError::Version(m.version()));
    }
    if m.spare() != 0 {
        return Err(MessageError::Spare(m.spare()));
    }
    Ok(Entries {
        msg: datagram,
        at: HEADER_LEN,
        left: m.nr_conns(),
        done: false,
        v0: false,
    })
}

/// The entries of a message [`parse`] accepted, in order: each a connection
/// of either family or the reason it is dropped. After an error that
/// [`ends_message`](EntryError::ends_message) nothing follows; after the
/// last entry may come one [`EntryError::Trailing`].
#[derive(Clone, Debug)]
pub struct Entries<'a> {
    msg: &'a [u8],
    at: usize,
    left: u8,
    done: bool,
    /// A version-0 message (`super::v0`).
    v0: bool,
}

impl Entries<'_> {
    /// The syncid the message was sent with (the second byte, in both
    /// versions).
    pub fn syncid(&self) -> u8 {
        self.msg[field::SYNCID]
    }

    /// How many entries the header announces.
    pub fn nr_conns(&self) -> u8 {
        match self.v0 {
            true => self.msg[v0::field::NR_CONNS],
            false => self.msg[field::NR_CONNS],
        }
    }

    /// The message's protocol version: 1, or 0 for a version-0 message.
    pub fn version(&self) -> u8 {
        match self.v0 {
            true => 0,
            false => VERSION,
        }
    }

    /// The next entry, as `ip_vs_process_message`'s loop reads it (or
    /// `ip_vs_process_message_v0`'s).
    fn entry(&mut self) -> Result<AnyConn, EntryError> {
        let rest = self.msg.get(self.at..).unwrap_or_default();
        if self.v0 {
            let (len, r) = v0::entry(rest);
            self.at += len;
            return r;
        }
        if rest.len() < ENTRY_V4_LEN {
            return Err(EntryError::Truncated { left: rest.len() });
        }
        let e = SyncEntry::new_unchecked(rest);
        let size = e.size();
        if size > rest.len() {
            return Err(EntryError::Overrun { size });
        }
        if e.entry_version() != 0 {
            return Err(EntryError::EntryVersion(e.entry_version()));
        }
        // The next entry starts 4-byte aligned: `msg_end = p + ((size + 3) & ~3)`.
        self.at += (size + 3) & !3;
        // The type is read where the entry starts, whatever its size says
        // (`ip_vs_proc_sync_conn` tests it before the size): `rest` holds at
        // least a whole fixed part here, `rest[..size]` may hold nothing.
        decode(rest[0], &rest[..size])
    }
}

impl Iterator for Entries<'_> {
    type Item = Result<AnyConn, EntryError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.left == 0 {
            self.done = true;
            let bytes = self.msg.len().saturating_sub(self.at);
            return (bytes > 0).then_some(Err(EntryError::Trailing { bytes }));
        }
        self.left -= 1;
        let r = self.entry();
        if r.as_ref().is_err_and(EntryError::ends_message) {
            self.done = true;
        }
        Some(r)
    }
}

/// One entry of exactly `size` bytes (any size: a short one is an error), of
/// type `t`, as `ip_vs_proc_sync_conn` checks it: type, fixed part (36 or 72
/// bytes by the type), options, then flags, protocol and state. An IPv6 entry
/// is taken as a kernel built with `CONFIG_IP_VS_IPV6` takes it (one built
/// without skips it unchecked, 10).
fn decode(t: u8, bytes: &[u8]) -> Result<AnyConn, EntryError> {
    if t & TYPE_F_INET6 == 0 && t != 0 {
        return Err(EntryError::Type(t));
    }
    let e =
        SyncEntry::new_checked(bytes).map_err(|_| EntryError::TooSmall { size: bytes.len() })?;
    let mut seq = None;
    let (mut pe_data, mut pe_name): (Option<&[u8]>, Option<&[u8]>) = (None, None);
    let mut o = e.options();
    while !o.is_empty() {
        let [ptype, plen, rest @ ..] = o else {
            return Err(EntryError::OptionHeader);
        };
        let n = usize::from(*plen);
        if n == 0 || n > rest.len() {
            return Err(EntryError::OptionLength {
                ptype: *ptype,
                plen: *plen,
            });
        }
        let data = &rest[..n];
        match *ptype & !opt::F_PARAM {
            opt::SEQ_DATA => {
                if n != SEQ_DATA_LEN || seq.is_some() {
                    return Err(EntryError::SeqOption);
                }
                seq = Some(seq_opt(data));
            }
            opt::PE_DATA if pe_data.is_some() => return Err(EntryError::PeData),
            opt::PE_DATA => pe_data = Some(data),
            opt::PE_NAME if pe_name.is_some() || n > opt::PE_NAME_MAXLEN => {
                return Err(EntryError::PeName);
            }
            opt::PE_NAME => pe_name = Some(data),
            other if *ptype & opt::F_PARAM == 0 => return Err(EntryError::MandatoryOption(other)),
            _ => {}
        }
        o = &rest[n..];
    }
    let flags = e.flags() & flags::BACKUP_MASK;
    check_conn(flags, e.protocol(), e.state())?;
    // `ip_vs_conn_fill_param_sync`: data without a name, or an engine we
    // lack (ringvs has the SIP one); a name without data is no engine.
    let pe = match (pe_data, pe_name) {
        (None, _) => None,
        (Some(d), Some(name)) if names_sip(name) => Some(PeData::new(d).ok_or(EntryError::PeData)?),
        (Some(_), _) => return Err(EntryError::PersistenceEngine),
    };
    let c = match e.is_v6() {
        false => conn::<Ipv4Addr>(&e, flags, (seq, pe)).map(AnyConn::V4),
        true => conn::<Ipv6Addr>(&e, flags, (seq, pe)).map(AnyConn::V6),
    };
    // `conn` of the entry's own family always has its addresses.
    c.ok_or(EntryError::Type(t))
}

/// Whether an `IPVS_OPT_PE_NAME` option names the SIP engine: its bytes up
/// to the first NUL, if any, are "sip", as `ip_vs_conn_fill_param_sync`
/// copies the name into a NUL-terminated buffer and `__ip_vs_pe_getbyname`
/// compares it as a C string (so "sip\0" names it too).
fn names_sip(name: &[u8]) -> bool {
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    &name[..end] == opt::SIP
}

/// A connection's protocol and state, as `ip_vs_proc_sync_conn` and
/// `ip_vs_process_message_v0` check them. A template's are not checked
/// (IPVS only logs a template state >= IP_VS_CTPL_S_LAST).
pub(super) fn check_conn(flags: u32, proto: u8, state: u16) -> Result<(), EntryError> {
    if flags & flags::TEMPLATE != 0 {
        return Ok(());
    }
    if proto != protocol::TCP && proto != protocol::UDP && proto != protocol::SCTP {
        return Err(EntryError::Protocol(proto));
    }
    if state_from_ipvs(proto, state).is_none() {
        return Err(EntryError::State { proto, state });
    }
    Ok(())
}

/// The connection of family `A` in a checked entry; `None` if the entry is
/// of the other family.
fn conn<A: SyncAddr>(
    e: &SyncEntry<&[u8]>,
    flags: u32,
    (seq, pe): (Option<SeqOpt>, Option<PeData>),
) -> Option<SyncConn<A>> {
    let [caddr, vaddr, daddr] = e.addrs::<A>()?;
    Some(SyncConn {
        proto: e.protocol(),
        flags,
        state: e.state(),
        caddr,
        cport: e.cport(),
        vaddr,
        vport: e.vport(),
        daddr,
        dport: e.dport(),
        fwmark: e.fwmark(),
        timeout: e.timeout(),
        seq,
        pe,
    })
}

/// The sequence option's 24 bytes (`ntoh_seq` twice).
fn seq_opt(d: &[u8]) -> SeqOpt {
    let w = |i: usize| be32(&d[i * 4..]);
    SeqOpt {
        in_seq: Seq {
            init_seq: w(0),
            delta: w(1),
            previous_delta: w(2),
        },
        out_seq: Seq {
            init_seq: w(3),
            delta: w(4),
            previous_delta: w(5),
        },
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::sync::wire::{ENTRY_V4_LEN, ENTRY_V6_LEN, MIN_BUFFER, MessageBuilder, ipvs_state};

    fn tcp() -> SyncConn {
        SyncConn {
            proto: protocol::TCP,
            flags: flags::MASQ,
            state: 1,
            caddr: Ipv4Addr::new(198, 18, 0, 10),
            cport: 40000,
            vaddr: Ipv4Addr::new(198, 18, 1, 1),
            vport: 80,
            daddr: Ipv4Addr::new(198, 18, 2, 11),
            dport: 8080,
            fwmark: 0,
            timeout: 900,
            seq: None,
            pe: None,
        }
    }

    /// `tcp()` between IPv6 addresses of 2001:2::/48.
    fn tcp6() -> SyncConn<Ipv6Addr> {
        let ip = |s: &str| s.parse::<Ipv6Addr>().expect("address");
        SyncConn {
            proto: protocol::TCP,
            flags: flags::MASQ,
            state: 1,
            caddr: ip("2001:2:0:1::10"),
            cport: 40000,
            vaddr: ip("2001:2:0:1::110"),
            vport: 80,
            daddr: ip("2001:2:0:2::2"),
            dport: 8080,
            fwmark: 0,
            timeout: 900,
            seq: None,
            pe: None,
        }
    }

    /// One entry's bytes, as the builder writes it.
    fn entry<A: SyncAddr>(c: &SyncConn<A>) -> Vec<u8> {
        let mut buf = [0; MIN_BUFFER];
        let mut b = MessageBuilder::new(&mut buf, 200, 0).expect("buffer");
        b.push(c).expect("fits");
        b.as_bytes()[HEADER_LEN..].to_vec()
    }

    /// A TCP entry with `opts` appended and its size field set to match.
    fn with_options(opts: &[u8]) -> Vec<u8> {
        with_options_to(entry(&tcp()), opts)
    }

    /// `e` with `opts` appended and its size field set to match.
    fn with_options_to(mut e: Vec<u8>, opts: &[u8]) -> Vec<u8> {
        e.extend_from_slice(opts);
        let n = e.len() as u16;
        e[2..4].copy_from_slice(&n.to_be_bytes());
        e
    }

    /// A version-1 message around `entries`, padded and sized as IPVS does.
    fn message(syncid: u8, entries: &[&[u8]]) -> Vec<u8> {
        let mut m = vec![0, syncid, 0, 0, entries.len() as u8, 1, 0, 0];
        for e in entries {
            m.resize(m.len().next_multiple_of(4), 0);
            m.extend_from_slice(e);
        }
        let n = m.len() as u16;
        m[2..4].copy_from_slice(&n.to_be_bytes());
        m
    }

    fn any_entries(m: &[u8]) -> Vec<Result<AnyConn, EntryError>> {
        parse(m, 0).expect("a good header").collect()
    }

    /// The results of a message of IPv4 entries.
    fn entries(m: &[u8]) -> Vec<Result<SyncConn, EntryError>> {
        let v4 = |c| match c {
            AnyConn::V4(c) => c,
            AnyConn::V6(c) => panic!("an IPv6 entry: {c:?}"),
        };
        any_entries(m).into_iter().map(|r| r.map(v4)).collect()
    }

    /// The one result of a message holding `e` alone (IPv4).
    fn only(e: &[u8]) -> Result<SyncConn, EntryError> {
        let all = entries(&message(0, &[e]));
        assert_eq!(all.len(), 1, "{all:?}");
        all[0]
    }

    /// The one result of a message holding `e` alone, either family.
    fn only_any(e: &[u8]) -> Result<AnyConn, EntryError> {
        let all = any_entries(&message(0, &[e]));
        assert_eq!(all.len(), 1, "{all:?}");
        all[0]
    }

    #[test]
    fn a_good_message_parses() {
        let m = message(7, &[&entry(&tcp())]);
        let mut it = parse(&m, 7).expect("good header");
        assert_eq!((it.syncid(), it.nr_conns()), (7, 1));
        assert_eq!(it.next(), Some(Ok(tcp().into())));
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
    }

    #[test]
    fn header_faults() {
        for len in 0..4 {
            let m = vec![0; len];
            assert_eq!(parse(&m, 0).err(), Some(MessageError::TooShort { len }));
        }
        for len in 4..8u8 {
            let mut m = vec![0, 0, 0, len, 0, 1, 0];
            m.truncate(usize::from(len));
            assert_eq!(
                parse(&m, 0).err(),
                Some(MessageError::TooShort { len: len.into() })
            );
        }
        let good = message(0, &[&entry(&tcp())]);
        let mut m = good.clone();
        m[3] += 1;
        let size = u16::from_be_bytes([m[2], m[3]]);
        let len = m.len();
        assert_eq!(parse(&m, 0).err(), Some(MessageError::Size { size, len }));
        // A datagram longer than the receive buffer arrives cut short.
        let cut = &good[..good.len() - 1];
        assert!(matches!(parse(cut, 0), Err(MessageError::Size { .. })));
        for (at, byte, err) in [
            (5, 2, MessageError::Version(2)),
            (5, 0, MessageError::Version(0)),
            (6, 1, MessageError::Spare(0x0100)),
            (7, 1, MessageError::Spare(0x0001)),
        ] {
            let mut m = good.clone();
            m[at] = byte;
            assert_eq!(parse(&m, 0).err(), Some(err), "byte {at} = {byte}");
        }
    }

    /// A non-zero first byte is a version-0 message (`super::v0` tests
    /// its entries), even where a version-1 header would follow.
    #[test]
    fn a_version_0_message_is_recognised() {
        let mut m = message(0, &[&entry(&tcp())]);
        m[0] = 1;
        let it = parse(&m, 0).expect("a version-0 header");
        assert_eq!((it.version(), it.nr_conns()), (0, 1));
        let v1 = message(0, &[&entry(&tcp())]);
        let it = parse(&v1, 0).expect("a header");
        assert_eq!((it.version(), it.nr_conns()), (1, 1));
        assert_eq!(
            parse(&[2, 3, 0, 4], 4).err(),
            Some(MessageError::SyncId { got: 3, ours: 4 })
        );
    }

    #[test]
    fn syncid_filter() {
        let m = message(7, &[&entry(&tcp())]);
        assert!(parse(&m, 7).is_ok());
        assert!(parse(&m, 0).is_ok(), "a backup with syncid 0 takes all");
        assert_eq!(
            parse(&m, 8).err(),
            Some(MessageError::SyncId { got: 7, ours: 8 })
        );
    }

    #[test]
    fn nr_conns_above_the_entries_present() {
        let e = entry(&tcp());
        let mut m = message(0, &[&e]);
        m[4] = 2;
        assert_eq!(
            entries(&m),
            vec![Ok(tcp()), Err(EntryError::Truncated { left: 0 })]
        );
        let mut m = message(0, &[&e[..20]]);
        m[4] = 1;
        assert_eq!(entries(&m), vec![Err(EntryError::Truncated { left: 20 })]);
    }

    #[test]
    fn nr_conns_below_the_entries_present() {
        let e = entry(&tcp());
        let mut m = message(0, &[&e, &e]);
        m[4] = 1;
        assert_eq!(
            entries(&m),
            vec![Ok(tcp()), Err(EntryError::Trailing { bytes: 36 })]
        );
        // The alignment pad after a last entry with options is not trailing.
        let seq = SyncConn {
            seq: Some(SeqOpt::default()),
            ..tcp()
        };
        let mut m = message(0, &[&entry(&seq)]);
        m.extend_from_slice(&[0, 0]);
        m[3] += 2;
        assert_eq!(entries(&m), vec![Ok(seq)]);
        m.push(0);
        m[3] += 1;
        assert_eq!(
            entries(&m),
            vec![Ok(seq), Err(EntryError::Trailing { bytes: 1 })]
        );
    }

    #[test]
    fn entry_framing_faults() {
        let good = entry(&tcp());
        let mut e = good.clone();
        e[3] = 40;
        assert_eq!(only(&e), Err(EntryError::Overrun { size: 40 }));
        let mut e = good.clone();
        e[2] = 0x10;
        assert_eq!(only(&e), Err(EntryError::EntryVersion(1)));
        for t in [2, 4, 0x80] {
            let mut e = good.clone();
            e[0] = t;
            assert_eq!(only(&e), Err(EntryError::Type(t)));
        }
        let mut e = good.clone();
        e[3] = 20;
        assert_eq!(only(&e), Err(EntryError::TooSmall { size: 20 }));
        // Any type with bit 0 set is IPv6, whose fixed part is 72 bytes.
        let mut e = good.clone();
        e[0] = 3;
        assert_eq!(only(&e), Err(EntryError::TooSmall { size: 36 }));
    }

    #[test]
    fn option_faults() {
        let seq = [0; 24];
        let cases: [(Vec<u8>, EntryError); 8] = [
            (vec![0x47], EntryError::OptionHeader),
            (
                vec![0x47, 0],
                EntryError::OptionLength {
                    ptype: 0x47,
                    plen: 0,
                },
            ),
            (
                vec![0x47, 3, 1, 2],
                EntryError::OptionLength {
                    ptype: 0x47,
                    plen: 3,
                },
            ),
            ([&[1, 12][..], &seq[..12]].concat(), EntryError::SeqOption),
            (
                [&[1, 24][..], &seq, &[1, 24], &seq].concat(),
                EntryError::SeqOption,
            ),
            (vec![2, 1, 0xaa, 2, 1, 0xbb], EntryError::PeData),
            ([&[3, 17][..], &[b's'; 17]].concat(), EntryError::PeName),
            (vec![3, 1, b's', 3, 1, b's'], EntryError::PeName),
        ];
        for (opts, err) in cases {
            assert!(err.ends_message());
            assert_eq!(only(&with_options(&opts)), Err(err), "{opts:?}");
        }
    }

    #[test]
    fn known_options_are_read() {
        let mut opt = vec![1 | opt::F_PARAM, 24];
        for w in 1..=6u32 {
            opt.extend_from_slice(&w.to_be_bytes());
        }
        let c = only(&with_options(&opt)).expect("a sequence option");
        let s = c.seq.expect("seq present");
        assert_eq!(
            (s.in_seq.init_seq, s.in_seq.delta, s.in_seq.previous_delta),
            (1, 2, 3)
        );
        assert_eq!(
            (
                s.out_seq.init_seq,
                s.out_seq.delta,
                s.out_seq.previous_delta
            ),
            (4, 5, 6)
        );
        // An unknown option that may be skipped is; a name without data too.
        let c = only(&with_options(&[
            9 | opt::F_PARAM,
            2,
            0,
            0,
            3,
            3,
            b's',
            b'i',
            b'p',
        ]));
        assert_eq!(c, Ok(tcp()));
    }

    /// The SIP engine's data (`IPVS_OPT_PE_DATA` with `IPVS_OPT_PE_NAME`
    /// "sip", as `ip_vs_sync_conn` writes them after the sequence option):
    /// read into the entry, and written back byte for byte; a name alone is
    /// no engine (`ip_vs_conn_fill_param_sync` looks at the data first).
    #[test]
    fn a_sip_engines_data_is_read() {
        let call = b"a84b4c76e66710@pc33.atlanta.example.com";
        let mut opts = vec![2, call.len() as u8];
        opts.extend_from_slice(call);
        opts.extend_from_slice(&[3, 3, b's', b'i', b'p']);
        let m = message(0, &[&with_options(&opts)]);
        let want = SyncConn {
            pe: PeData::new(call),
            ..tcp()
        };
        assert_eq!(entries(&m), vec![Ok(want)]);
        assert_eq!(entry(&want), with_options(&opts), "written as read");
        let name_alone = with_options(&[3, 3, b's', b'i', b'p']);
        assert_eq!(entries(&message(0, &[&name_alone])), vec![Ok(tcp())]);
        // A UDP template as a kernel master sends one, the name first and
        // both with `IPVS_OPT_F_PARAM` set (the receiver masks the bit).
        let template = SyncConn {
            proto: protocol::UDP,
            flags: flags::TEMPLATE,
            state: 0,
            cport: 0,
            ..tcp()
        };
        let mut opts = vec![3 | opt::F_PARAM, 3, b's', b'i', b'p', 2 | opt::F_PARAM, 4];
        opts.extend_from_slice(b"c@ua");
        let m = message(0, &[&with_options_to(entry(&template), &opts)]);
        let want = SyncConn {
            pe: PeData::new(b"c@ua"),
            ..template
        };
        assert_eq!(entries(&m), vec![Ok(want)]);
    }

    /// A name the kernel reads as a C string (`ip_vs_conn_fill_param_sync`
    /// NUL-terminates its copy, `__ip_vs_pe_getbyname` compares with
    /// `strcmp`): "sip" followed by a NUL, and by anything after the NUL,
    /// names the SIP engine; "si", "sipx" and "\0sip" do not.
    #[test]
    fn a_sip_name_ends_at_its_first_nul() {
        let with_name = |name: &[u8]| {
            let mut opts = vec![2, 4, b'c', b'@', b'u', b'a', 3, name.len() as u8];
            opts.extend_from_slice(name);
            entries(&message(0, &[&with_options(&opts)]))
        };
        let sip = Ok(SyncConn {
            pe: PeData::new(b"c@ua"),
            ..tcp()
        });
        for name in [&b"sip"[..], b"sip\0", b"sip\0\0\0\0", b"sip\0xyz"] {
            assert_eq!(with_name(name), vec![sip], "{name:?}");
        }
        for name in [&b"si"[..], b"sipx", b"si\0p", b"\0sip"] {
            assert_eq!(
                with_name(name),
                vec![Err(EntryError::PersistenceEngine)],
                "{name:?}"
            );
        }
    }

    #[test]
    fn entry_faults_that_drop_only_the_entry() {
        let good = entry(&tcp());
        let mandatory = with_options(&[9, 1, 0]);
        // An engine ringvs lacks (the SIP one it has: `a_sip_engines_data_is_read`).
        let pe = with_options(&[2, 1, 0xaa, 3, 3, b'x', b'y', b'z']);
        let pe_data_alone = with_options(&[2, 1, 0xaa]);
        let conn = |proto, state| {
            entry(&SyncConn {
                proto,
                state,
                ..tcp()
            })
        };
        let cases = [
            (mandatory, EntryError::MandatoryOption(9)),
            (conn(50, 1), EntryError::Protocol(50)),
            (conn(1, 0), EntryError::Protocol(1)),
            (
                conn(protocol::SCTP, 14),
                EntryError::State {
                    proto: 132,
                    state: 14,
                },
            ),
            (
                conn(protocol::TCP, 11),
                EntryError::State {
                    proto: 6,
                    state: 11,
                },
            ),
            (
                conn(protocol::UDP, 1),
                EntryError::State {
                    proto: 17,
                    state: 1,
                },
            ),
            (pe, EntryError::PersistenceEngine),
            (pe_data_alone, EntryError::PersistenceEngine),
        ];
        for (bad, err) in cases {
            assert!(!err.ends_message());
            let m = message(0, &[&good, &bad, &good]);
            assert_eq!(entries(&m), vec![Ok(tcp()), Err(err), Ok(tcp())], "{err}");
        }
    }

    #[test]
    fn a_fault_that_ends_the_message_ends_it() {
        let good = entry(&tcp());
        let bad = with_options(&[0x47, 0]);
        let m = message(0, &[&good, &bad, &good]);
        let all = entries(&m);
        assert_eq!(all.len(), 2);
        assert!(all[1].is_err_and(|e| e.ends_message()));
    }

    #[test]
    fn states_and_templates() {
        for state in 0..ipvs_state::TCP_LAST {
            let c = SyncConn { state, ..tcp() };
            assert_eq!(only(&entry(&c)), Ok(c));
        }
        let udp = SyncConn {
            proto: protocol::UDP,
            state: 0,
            flags: flags::INACTIVE,
            ..tcp()
        };
        assert_eq!(only(&entry(&udp)), Ok(udp));
        // A template's protocol and state are not checked (a fwmark
        // service's template has protocol 0).
        let template = SyncConn {
            proto: 0,
            state: 7,
            flags: flags::TEMPLATE | flags::INACTIVE,
            cport: 0,
            ..tcp()
        };
        let got = only(&entry(&template)).expect("a template");
        assert!(got.is_template() && got.is_inactive());
        assert_eq!(got, template);
    }

    #[test]
    fn flags_outside_the_backup_mask_are_dropped() {
        let c = SyncConn {
            flags: !flags::TEMPLATE,
            ..tcp()
        };
        let got = only(&entry(&c)).expect("a connection");
        assert_eq!(got.flags, flags::BACKUP_MASK & !flags::TEMPLATE);
    }

    #[test]
    fn ipv6_entries_parse() {
        let c = tcp6();
        assert_eq!(entry(&c).len(), ENTRY_V6_LEN);
        assert_eq!(only_any(&entry(&c)), Ok(AnyConn::V6(c)));
        let seq = SyncConn {
            flags: flags::SEQ_MASK,
            seq: Some(SeqOpt {
                in_seq: Seq {
                    init_seq: 1,
                    delta: 2,
                    previous_delta: 3,
                },
                out_seq: Seq::default(),
            }),
            ..tcp6()
        };
        assert_eq!(only_any(&entry(&seq)), Ok(AnyConn::V6(seq)));
        let template = SyncConn {
            proto: 0,
            flags: flags::TEMPLATE | flags::INACTIVE,
            state: 0,
            cport: 0,
            ..tcp6()
        };
        assert_eq!(only_any(&entry(&template)), Ok(AnyConn::V6(template)));
        // Any type with bit 0 set is IPv6 (`ip_vs_proc_sync_conn` tests that
        // bit alone).
        let mut e = entry(&c);
        e[0] = 3;
        assert_eq!(only_any(&e), Ok(AnyConn::V6(c)));
        // Options follow the 72 bytes, and an unknown one that may be
        // skipped is.
        let e = with_options_to(entry(&c), &[9 | opt::F_PARAM, 2, 0, 0]);
        assert_eq!(only_any(&e), Ok(AnyConn::V6(c)));
    }

    #[test]
    fn ipv6_entry_framing_faults() {
        let good = entry(&tcp6());
        // Under 36 bytes left: the IPv4 size IPVS checks first, whatever the type.
        let mut m = message(0, &[&good[..30]]);
        m[4] = 1;
        assert_eq!(
            any_entries(&m),
            vec![Err(EntryError::Truncated { left: 30 })]
        );
        // Cut in the addresses: 36 bytes or more, fewer than its size says.
        for cut in [ENTRY_V4_LEN, 40, 56, ENTRY_V6_LEN - 1] {
            let m = message(0, &[&good[..cut]]);
            assert_eq!(
                any_entries(&m),
                vec![Err(EntryError::Overrun { size: 72 })],
                "cut at {cut}"
            );
        }
        // A size under the IPv6 fixed part, the bytes there or not.
        for size in [ENTRY_V4_LEN, 40, ENTRY_V6_LEN - 1] {
            let mut e = good.clone();
            e[3] = size as u8;
            let m = message(0, &[&e[..size]]);
            assert_eq!(any_entries(&m), vec![Err(EntryError::TooSmall { size })]);
            // The 72 bytes present, but the size says fewer: the next entry
            // would start inside this one, so the message ends here.
            let m = message(0, &[&e, &good]);
            let all = any_entries(&m);
            assert_eq!(all[0], Err(EntryError::TooSmall { size }), "size {size}");
            assert_eq!(all.len(), 1);
        }
        let mut e = good.clone();
        e[2] = 0x10;
        assert_eq!(only_any(&e), Err(EntryError::EntryVersion(1)));
        // Options after the addresses, checked as for IPv4.
        let e = with_options_to(good.clone(), &[0x47]);
        assert_eq!(only_any(&e), Err(EntryError::OptionHeader));
        let e = with_options_to(good.clone(), &[0x47, 3, 1]);
        assert_eq!(
            only_any(&e),
            Err(EntryError::OptionLength {
                ptype: 0x47,
                plen: 3
            })
        );
        let e = with_options_to(good.clone(), &[&[1, 12][..], &[0; 12]].concat());
        assert_eq!(only_any(&e), Err(EntryError::SeqOption));
    }

    #[test]
    fn ipv6_entry_faults_that_drop_only_the_entry() {
        let good = entry(&tcp6());
        let conn = |proto, state| {
            entry(&SyncConn {
                proto,
                state,
                ..tcp6()
            })
        };
        let cases = [
            (
                with_options_to(good.clone(), &[9, 1, 0]),
                EntryError::MandatoryOption(9),
            ),
            (conn(51, 1), EntryError::Protocol(51)),
            (
                conn(protocol::UDP, 1),
                EntryError::State {
                    proto: 17,
                    state: 1,
                },
            ),
            (
                with_options_to(good.clone(), &[2, 1, 0xaa]),
                EntryError::PersistenceEngine,
            ),
        ];
        for (bad, err) in cases {
            assert!(!err.ends_message());
            let m = message(0, &[&good, &bad, &good]);
            let ok = Ok(AnyConn::V6(tcp6()));
            assert_eq!(any_entries(&m), vec![ok, Err(err), ok], "{err}");
        }
    }

    #[test]
    fn families_mix_in_a_message() {
        let seq6 = SyncConn {
            seq: Some(SeqOpt::default()),
            ..tcp6()
        };
        let m = message(
            0,
            &[
                &entry(&tcp()),
                &entry(&seq6),
                &entry(&tcp6()),
                &entry(&tcp()),
            ],
        );
        // 8 + 36 + 98 + 2 (pad) + 72 + 36.
        assert_eq!(m.len(), 252);
        assert_eq!(
            any_entries(&m),
            vec![
                Ok(tcp().into()),
                Ok(seq6.into()),
                Ok(tcp6().into()),
                Ok(tcp().into())
            ]
        );
    }

    #[test]
    fn every_fault_has_its_own_counter_name() {
        let entry_errors = [
            EntryError::Truncated { left: 0 },
            EntryError::Overrun { size: 0 },
            EntryError::EntryVersion(0),
            EntryError::Type(0),
            EntryError::TooSmall { size: 0 },
            EntryError::OptionHeader,
            EntryError::OptionLength { ptype: 0, plen: 0 },
            EntryError::SeqOption,
            EntryError::PeData,
            EntryError::PeName,
            EntryError::MandatoryOption(0),
            EntryError::Protocol(0),
            EntryError::State { proto: 0, state: 0 },
            EntryError::PersistenceEngine,
            EntryError::Trailing { bytes: 0 },
        ];
        let message_errors = [
            MessageError::TooShort { len: 0 },
            MessageError::Size { size: 0, len: 0 },
            MessageError::SyncId { got: 0, ours: 0 },
            MessageError::Version(0),
            MessageError::Spare(0),
        ];
        let mut names: Vec<_> = entry_errors.iter().map(|e| e.kind()).collect();
        names.extend(message_errors.iter().map(|e| e.kind()));
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "{names:?}");
        // The first ten end the message, as IPVS's negative returns do.
        let ends: Vec<_> = entry_errors.iter().map(|e| e.ends_message()).collect();
        assert_eq!(ends, [[true; 10].as_slice(), &[false; 5]].concat());
    }
}
