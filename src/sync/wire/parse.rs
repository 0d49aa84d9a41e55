//! Reading a received message, as `ip_vs_process_message` and
//! `ip_vs_proc_sync_conn` do, with one error per way it can be wrong.

use super::view::{SyncEntry, SyncMessage, field};
use super::{
    ENTRY_V4_LEN, HEADER_LEN, HEADER_V0_LEN, SEQ_DATA_LEN, Seq, SeqOpt, SyncConn, VERSION, flags,
    opt, state_from_ipvs, syncid_accepts,
};
use crate::wire::ipv4::protocol;
use crate::wire::{be16, be32};

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
    /// A non-zero first byte: a version-0 message, whose first byte is its
    /// nr_conns (IPVS parses it with `ip_vs_process_message_v0`).
    #[error("version 0 sync message not supported")]
    Version0,
    /// A version other than 1 (IPVS would take it for version 0).
    #[error("sync message version {0} not supported")]
    Version(u8),
    /// Non-zero spare bytes (IPVS would take it for version 0).
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
            MessageError::Version0 => "version0",
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
    /// A size under the type's fixed part (-20).
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
    /// An IPv6 entry, well formed; ringvs serves IPv4 only (IPVS without
    /// `CONFIG_IP_VS_IPV6` skips it, 10).
    #[error("IPv6 sync entry not supported")]
    Ipv6,
    /// An unknown option without the may-skip bit (20).
    #[error("sync entry has unknown mandatory option {0}")]
    MandatoryOption(u8),
    /// A connection (not a template) of a protocol ringvs does not serve (30;
    /// IPVS also takes SCTP, AH, ESP).
    #[error("sync entry for protocol {0} not supported")]
    Protocol(u8),
    /// A state number out of range for the protocol (40).
    #[error("sync entry state {state} invalid for protocol {proto}")]
    State { proto: u8, state: u16 },
    /// Persistence-engine data: ringvs has no engine, and IPVS skips the entry
    /// when it has none by that name, or no name (50).
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
            Ipv6 => "ipv6",
            MandatoryOption(_) => "mandatory_option",
            Protocol(_) => "protocol",
            State { .. } => "state",
            PersistenceEngine => "persistence_engine",
            Trailing { .. } => "trailing",
        }
    }
}

/// Checks a received datagram's header for a backup whose syncid is `syncid`
/// and returns its entries. Never panics, whatever the bytes.
///
/// The checks and their order are `ip_vs_process_message`'s: length, size
/// field, syncid ([`syncid_accepts`]), then version. IPVS reads any message
/// that is not exactly version 1 as version 0; ringvs refuses those.
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
        return Err(MessageError::Version0);
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
    })
}

/// The entries of a message [`parse`] accepted, in order: each a connection
/// or the reason it is dropped. After an error that
/// [`ends_message`](EntryError::ends_message) nothing follows; after the
/// last entry may come one [`EntryError::Trailing`].
#[derive(Clone, Debug)]
pub struct Entries<'a> {
    msg: &'a [u8],
    at: usize,
    left: u8,
    done: bool,
}

impl Entries<'_> {
    /// The syncid the message was sent with.
    pub fn syncid(&self) -> u8 {
        self.msg[field::SYNCID]
    }

    /// How many entries the header announces.
    pub fn nr_conns(&self) -> u8 {
        self.msg[field::NR_CONNS]
    }

    /// The next entry, as `ip_vs_process_message`'s loop reads it.
    fn entry(&mut self) -> Result<SyncConn, EntryError> {
        let rest = self.msg.get(self.at..).unwrap_or_default();
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
        decode(&rest[..size])
    }
}

impl Iterator for Entries<'_> {
    type Item = Result<SyncConn, EntryError>;

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

/// One entry of exactly `size` bytes (at least 36), as `ip_vs_proc_sync_conn`
/// checks it: type, fixed part, options, then flags, protocol and state.
fn decode(bytes: &[u8]) -> Result<SyncConn, EntryError> {
    let e = SyncEntry::new_unchecked(bytes);
    let t = e.entry_type();
    if !e.is_v6() && t != 0 {
        return Err(EntryError::Type(t));
    }
    let e =
        SyncEntry::new_checked(bytes).map_err(|_| EntryError::TooSmall { size: bytes.len() })?;
    let mut seq = None;
    let (mut pe_data, mut pe_name) = (false, false);
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
            opt::PE_DATA if pe_data => return Err(EntryError::PeData),
            opt::PE_DATA => pe_data = true,
            opt::PE_NAME if pe_name || n > opt::PE_NAME_MAXLEN => return Err(EntryError::PeName),
            opt::PE_NAME => pe_name = true,
            other if *ptype & opt::F_PARAM == 0 => return Err(EntryError::MandatoryOption(other)),
            _ => {}
        }
        o = &rest[n..];
    }
    if e.is_v6() {
        return Err(EntryError::Ipv6);
    }
    let flags = e.flags() & flags::BACKUP_MASK;
    let (proto, state) = (e.protocol(), e.state());
    // A template's protocol and state are not checked (IPVS only logs a
    // template state >= IP_VS_CTPL_S_LAST).
    if flags & flags::TEMPLATE == 0 {
        if proto != protocol::TCP && proto != protocol::UDP {
            return Err(EntryError::Protocol(proto));
        }
        if state_from_ipvs(proto, state).is_none() {
            return Err(EntryError::State { proto, state });
        }
    }
    // `ip_vs_conn_fill_param_sync`: data without a name, or an engine we lack.
    if pe_data {
        return Err(EntryError::PersistenceEngine);
    }
    Ok(SyncConn {
        proto,
        flags,
        state,
        caddr: e.caddr(),
        cport: e.cport(),
        vaddr: e.vaddr(),
        vport: e.vport(),
        daddr: e.daddr(),
        dport: e.dport(),
        fwmark: e.fwmark(),
        timeout: e.timeout(),
        seq,
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
