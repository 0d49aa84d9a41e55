//! IPVS connection sync messages, protocol version 1, byte for byte as
//! `net/netfilter/ipvs/ip_vs_sync.c` writes them (`ip_vs_sync_conn`) and reads
//! them (`ip_vs_process_message`, `ip_vs_proc_sync_conn`). Fields are big-endian.
//! A backup also reads version 0, which a kernel master sends with
//! `sync_version=0` (`v0`: `ip_vs_process_message_v0`); ringvs sends only
//! version 1.
//!
//! A message is one UDP datagram (to 224.0.0.81:8848 by default):
//!
//! ```text
//! offset size  struct ip_vs_sync_mesg
//!      0    1  reserved, 0 (a version-0 message has its nr_conns here)
//!      1    1  syncid
//!      2    2  size: the whole message, header included
//!      4    1  nr_conns
//!      5    1  version, 1
//!      6    2  spare, 0
//!      8       nr_conns entries, each starting 4-byte aligned
//! ```
//!
//! An entry, `struct ip_vs_sync_v4` (type 0, 36 bytes) or `struct
//! ip_vs_sync_v6` (type 1, 72 bytes): the same first 24 bytes, then the three
//! addresses of the connection's family, then the options:
//!
//! ```text
//!   v4   v6 size
//!    0    0    1  type: bit 0 = IPv6 (STYPE_F_INET6)
//!    1    1    1  protocol
//!    2    2    2  ver_size: entry version (top 4 bits, 0) | size (low 12 bits)
//!    4    4    4  flags (IP_VS_CONN_F_*)
//!    8    8    2  state (IP_VS_TCP_S_*; 0 for UDP; IP_VS_CTPL_S_* for a template)
//!   10   10    2  cport
//!   12   12    2  vport
//!   14   14    2  dport
//!   16   16    4  fwmark
//!   20   20    4  timeout, in seconds
//!   24   24 4|16  caddr
//!   28   40 4|16  vaddr
//!   32   56 4|16  daddr
//!   36   72       options, up to size: type (1 byte), length (1 byte, not 0), data
//! ```
//!
//! The three addresses of an entry are of one family (IPVS syncs no
//! connection whose real server is of the other family: `ip_vs_proc_conn`
//! looks the real server up in the connection's own). [`SyncConn`] is generic
//! over that family ([`SyncAddr`]: `Ipv4Addr` by default, or `Ipv6Addr`), so
//! building and checking an entry is one code path for both, and [`AnyConn`]
//! is what [`parse`] yields: a connection of either.
//!
//! Options: 1 = sequence adjustment (24 bytes: init_seq, delta, previous_delta
//! of the incoming, then of the outgoing direction), 2 = persistence-engine
//! data, 3 = persistence-engine name. A receiver skips an unknown type with bit
//! 6 (64) set; any other unknown type drops the entry.
//!
//! A sender pads with zero bytes before an entry so that it starts 4-byte
//! aligned (`ip_vs_sync_conn`: `pad = (4 - head) & 3`); a pad is not part of any
//! entry's size and nothing follows the last entry. A plain IPv4 entry is 36
//! bytes and a plain IPv6 entry 72: only an entry with options ever needs a
//! pad after it.
//!
//! [`parse`] checks a datagram as IPVS's backup does, in the same order; each
//! way it can be wrong is its own error, so each can be counted. Like
//! `ip_vs_process_message` it reads a message whose first byte is not 0 as
//! version 0 (that byte is its nr_conns), into the same [`SyncConn`]s.
//! [`MessageBuilder`] writes messages into a buffer the caller reuses.

use std::fmt::Debug;
use std::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::nat::State;
use crate::wire::ipv4::protocol;

mod build;
mod parse;
mod v0;
mod view;

/// The SIP engine's data (its home is the engine, `nat::sip`).
pub use crate::nat::sip::PeData;
pub use build::{BufferTooSmall, Full, MessageBuilder};
pub use parse::{Entries, EntryError, MessageError, parse};
pub use view::{SyncEntry, SyncMessage};

/// The default multicast group (`IP_VS_SYNC_GROUP`).
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
/// The default UDP port (`IP_VS_SYNC_PORT`). With `sync_ports` > 1 the kernel
/// runs one thread per port, thread `id` on port + `id` (`get_mcast_sockaddr`).
pub const DEFAULT_PORT: u16 = 8848;
/// The default multicast TTL (`start_sync_thread`).
pub const DEFAULT_TTL: u8 = 1;
/// `SYNC_PROTO_VER`.
pub const VERSION: u8 = 1;
/// `sizeof(struct ip_vs_sync_mesg)`.
pub const HEADER_LEN: usize = 8;
/// `sizeof(struct ip_vs_sync_mesg_v0)`: the least `ip_vs_process_message`
/// reads, and a version-0 message's header.
pub const HEADER_V0_LEN: usize = 4;
/// `sizeof(struct ip_vs_sync_conn_v0)`: a version-0 entry (`SIMPLE_CONN_SIZE`).
pub const ENTRY_V0_LEN: usize = 24;
/// A version-0 entry with the sequence option after it (`FULL_CONN_SIZE`).
pub const ENTRY_V0_SEQ_LEN: usize = ENTRY_V0_LEN + SEQ_DATA_LEN;
/// `sizeof(struct ip_vs_sync_v4)`.
pub const ENTRY_V4_LEN: usize = 36;
/// `sizeof(struct ip_vs_sync_v6)`.
pub const ENTRY_V6_LEN: usize = 72;
/// `sizeof(struct ip_vs_sync_conn_options)`: the sequence option's data.
pub const SEQ_DATA_LEN: usize = 24;
/// An IPv4 and a UDP header, what `start_sync_thread` takes off the MTU for
/// an IPv4 group.
pub const IP_UDP_LEN: usize = 28;
/// An IPv6 and a UDP header, what it takes off for an IPv6 group.
pub const IP6_UDP_LEN: usize = 48;
/// A master's message size limit without `--sync-maxlen`: 1500 - 28, whatever
/// the interface MTU (`start_sync_thread`); ipvsadm's help says "default=1472".
pub const DEFAULT_MAXLEN: usize = 1500 - IP_UDP_LEN;
/// The largest `--sync-maxlen` (`start_sync_thread`; ipvsadm takes 1..=65507),
/// over an IPv4 group; over an IPv6 group, 65535 - 48.
pub const MAX_MAXLEN: usize = 65535 - IP_UDP_LEN;
/// Most entries in one message: `nr_conns` is one byte.
pub const MAX_CONNS: u8 = u8::MAX;
/// The longest entry [`MessageBuilder`] writes: IPv6 with the sequence
/// option and the longest SIP engine's data and name.
pub const MAX_BUILT_ENTRY: usize =
    ENTRY_V6_LEN + 2 + SEQ_DATA_LEN + 2 + opt::PE_DATA_MAXLEN + 2 + opt::SIP.len();
/// Where an entry's addresses start (both families).
pub const ADDRS_AT: usize = 24;
/// The least buffer [`MessageBuilder`] takes.
pub const MIN_BUFFER: usize = HEADER_LEN + MAX_BUILT_ENTRY;
/// Bit 0 of an entry's type: IPv6 (`STYPE_F_INET6`).
pub const TYPE_F_INET6: u8 = 1;

/// A sync daemon's role, as `ipvsadm --start-daemon` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Daemon {
    Master,
    Backup,
}

impl Daemon {
    /// `IP_VS_STATE_MASTER` (1) or `IP_VS_STATE_BACKUP` (2).
    pub fn ipvs_state(self) -> u32 {
        match self {
            Daemon::Master => 1,
            Daemon::Backup => 2,
        }
    }

    /// `master` or `backup`, as ipvsadm takes and prints it.
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Master => "master",
            Daemon::Backup => "backup",
        }
    }
}

/// The message size limit IPVS settles on (`start_sync_thread`). `requested`
/// is `--sync-maxlen` (0: not given), `mtu` the sync interface's MTU and
/// `ipv6` whether the group is an IPv6 one, whose headers take `hlen` = 48
/// bytes where IPv4's take 28. Without a request a master uses 1500 - `hlen`
/// whatever the MTU, and a backup its MTU clamped to 1500..=65535, less
/// `hlen`; a request is clamped to 1..=65535 - `hlen` (master) or
/// 1024..=65535 - `hlen` (backup). A backup receives into a buffer of this
/// size, so a longer datagram is cut and then fails the size check.
pub fn sync_maxlen(requested: u32, mtu: u32, daemon: Daemon, ipv6: bool) -> usize {
    let hlen = if ipv6 { IP6_UDP_LEN } else { IP_UDP_LEN };
    let (mtu, least) = match daemon {
        Daemon::Master => (1500, 1),
        Daemon::Backup => (mtu.clamp(1500, 65535), 1024),
    };
    match requested {
        0 => mtu as usize - hlen,
        r => (r as usize).clamp(least, 65535 - hlen),
    }
}

/// Whether a backup with syncid `ours` takes a message sent with `theirs`: a
/// backup with syncid 0 takes every message (`ip_vs_process_message`).
pub fn syncid_accepts(ours: u8, theirs: u8) -> bool {
    ours == 0 || ours == theirs
}

/// Connection flags (`include/uapi/linux/ip_vs.h`, `IP_VS_CONN_F_*`). Only bits
/// 0..15 travel in a sync entry.
pub mod flags {
    /// The forwarding method's bits.
    pub const FWD_MASK: u32 = 0x0007;
    /// Masquerading (NAT); ringvs syncs DR ([`DROUTE`]) and TUN ([`TUNNEL`])
    /// connections too.
    pub const MASQ: u32 = 0x0000;
    pub const LOCALNODE: u32 = 0x0001;
    pub const TUNNEL: u32 = 0x0002;
    pub const DROUTE: u32 = 0x0003;
    pub const BYPASS: u32 = 0x0004;
    /// Set by the backup on what it learned by sync; never sent.
    pub const SYNC: u32 = 0x0020;
    /// Kernel-internal; the master clears it before sending.
    pub const HASHED: u32 = 0x0040;
    pub const NOOUTPUT: u32 = 0x0080;
    /// Not established: counted in InActConn.
    pub const INACTIVE: u32 = 0x0100;
    pub const OUT_SEQ: u32 = 0x0200;
    pub const IN_SEQ: u32 = 0x0400;
    pub const SEQ_MASK: u32 = 0x0600;
    pub const NO_CPORT: u32 = 0x0800;
    /// A persistence template, not a connection.
    pub const TEMPLATE: u32 = 0x1000;
    /// One-packet scheduling: never synced.
    pub const ONE_PACKET: u32 = 0x2000;
    /// What a backup keeps of a received entry's flags
    /// (`IP_VS_CONN_F_BACKUP_MASK`, applied in `ip_vs_proc_sync_conn`).
    pub const BACKUP_MASK: u32 = FWD_MASK | NOOUTPUT | INACTIVE | SEQ_MASK | NO_CPORT | TEMPLATE;
    /// What an update may change on a connection the backup already has
    /// (`IP_VS_CONN_F_BACKUP_UPD_MASK`, `ip_vs_proc_conn`).
    pub const BACKUP_UPD_MASK: u32 = INACTIVE | SEQ_MASK;
}

/// Option types (`IPVS_OPT_*`) and the lengths IPVS allows.
pub mod opt {
    pub const SEQ_DATA: u8 = 1;
    pub const PE_DATA: u8 = 2;
    pub const PE_NAME: u8 = 3;
    /// Set in an option's type: a receiver that does not know it may skip it
    /// (`IPVS_OPT_F_PARAM`, 1 << (7 - 1)).
    pub const F_PARAM: u8 = 1 << 6;
    /// `IP_VS_PENAME_MAXLEN`.
    pub const PE_NAME_MAXLEN: usize = 16;
    /// `IP_VS_PEDATA_MAXLEN`.
    pub const PE_DATA_MAXLEN: usize = 255;
    /// The SIP engine's name (`ip_vs_pe_sip.c`, `ip_vs_sip_pe.name`).
    pub const SIP: &[u8] = b"sip";
}

/// IPVS's state numbers (`include/net/ip_vs.h`).
pub mod ipvs_state {
    /// `IP_VS_TCP_S_LAST`: TCP's states are 0..11, in `nat::State`'s order
    /// (NONE, ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT, TIME_WAIT, CLOSE,
    /// CLOSE_WAIT, LAST_ACK, LISTEN, SYNACK).
    pub const TCP_LAST: u16 = 11;
    /// `IP_VS_UDP_S_NORMAL`, UDP's one state (`IP_VS_UDP_S_LAST` is 1).
    pub const UDP_NORMAL: u16 = 0;
    /// `IP_VS_CTPL_S_NONE` and `IP_VS_CTPL_S_ASSURED`: a template's state bits.
    pub const CTPL_NONE: u16 = 0;
    pub const CTPL_ASSURED: u16 = 1;
}

/// IPVS's number for a state (`IP_VS_TCP_S_*`, `IP_VS_UDP_S_NORMAL`, or
/// `IP_VS_SCTP_S_*`).
pub fn state_to_ipvs(state: State) -> u16 {
    match (state, state.sctp_number()) {
        (State::Udp, _) => ipvs_state::UDP_NORMAL,
        (_, Some(n)) => n,
        // The TCP states are declared in IPVS's order, NONE = 0 to SYNACK = 10.
        (tcp, None) => tcp as u16,
    }
}

/// The state IPVS's number `n` stands for in protocol `proto`; `None` for a
/// number out of range (`ip_vs_proc_sync_conn`: `state >= pp->num_states`)
/// or a protocol ringvs does not serve.
pub fn state_from_ipvs(proto: u8, n: u16) -> Option<State> {
    match proto {
        protocol::TCP if n < ipvs_state::TCP_LAST => State::ALL.get(usize::from(n)).copied(),
        protocol::UDP => (n == ipvs_state::UDP_NORMAL).then_some(State::Udp),
        // `IP_VS_SCTP_S_LAST` is 14.
        protocol::SCTP => State::sctp(usize::from(n)),
        _ => None,
    }
}

/// One direction's sequence adjustment (`struct ip_vs_seq`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Seq {
    pub init_seq: u32,
    pub delta: u32,
    pub previous_delta: u32,
}

/// The sequence option's data (`struct ip_vs_sync_conn_options`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqOpt {
    pub in_seq: Seq,
    pub out_seq: Seq,
}

/// An address family of sync entries: `Ipv4Addr` (`struct ip_vs_sync_v4`)
/// or `Ipv6Addr` (`struct ip_vs_sync_v6`). Sealed: the wire has these two.
pub trait SyncAddr: Copy + Eq + Hash + Debug + Send + Sync + 'static + sealed::Sealed {
    /// Bytes of one address.
    const LEN: usize;
    /// The entry's type byte (`ip_vs_sync_conn`: `STYPE_F_INET6` or 0).
    const TYPE: u8;
    /// The entry without options: 36 or 72 bytes.
    const FIXED_LEN: usize = ADDRS_AT + 3 * Self::LEN;
    /// The address in the first [`LEN`](Self::LEN) bytes of `b` (which
    /// holds at least that many).
    fn read(b: &[u8]) -> Self;
    /// Writes the address into the first [`LEN`](Self::LEN) bytes of `b`.
    fn write(self, b: &mut [u8]);
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::net::Ipv4Addr {}
    impl Sealed for std::net::Ipv6Addr {}
}

impl SyncAddr for Ipv4Addr {
    const LEN: usize = 4;
    const TYPE: u8 = 0;

    fn read(b: &[u8]) -> Self {
        Ipv4Addr::from_bits(crate::wire::be32(b))
    }

    fn write(self, b: &mut [u8]) {
        b[..4].copy_from_slice(&self.octets());
    }
}

impl SyncAddr for Ipv6Addr {
    const LEN: usize = 16;
    const TYPE: u8 = TYPE_F_INET6;

    fn read(b: &[u8]) -> Self {
        let mut a = [0; 16];
        a.copy_from_slice(&b[..16]);
        Ipv6Addr::from(a)
    }

    fn write(self, b: &mut [u8]) {
        b[..16].copy_from_slice(&self.octets());
    }
}

/// One connection or persistence template, as a sync entry carries it: IPv4
/// by default, `SyncConn<Ipv6Addr>` for IPv6 (the three addresses share the
/// family).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SyncConn<A = Ipv4Addr> {
    /// IP protocol: TCP, UDP or SCTP; a template may carry 0 (`IPPROTO_IP`, a
    /// firewall-mark service's template).
    pub proto: u8,
    /// `IP_VS_CONN_F_*` ([`flags`]). [`parse`] keeps only
    /// [`flags::BACKUP_MASK`], as IPVS's backup does; the builder sends them
    /// without [`flags::HASHED`], as IPVS's master does.
    pub flags: u32,
    /// IPVS's state number ([`state_to_ipvs`], [`ipvs_state`]).
    pub state: u16,
    pub caddr: A,
    pub cport: u16,
    pub vaddr: A,
    pub vport: u16,
    pub daddr: A,
    pub dport: u16,
    pub fwmark: u32,
    /// Seconds.
    pub timeout: u32,
    /// The sequence option, sent when present (IPVS sends it when the flags
    /// have [`flags::SEQ_MASK`] bits; ringvs sends the FTP helper's shift of
    /// a control connection's server stream as `out_seq`).
    pub seq: Option<SeqOpt>,
    /// The SIP engine's data (a template's Call-ID), sent with the engine's
    /// name; the only engine a received entry may name.
    pub pe: Option<PeData>,
}

impl<A> SyncConn<A> {
    /// A persistence template (`IP_VS_CONN_F_TEMPLATE`), not a connection.
    pub fn is_template(&self) -> bool {
        self.flags & flags::TEMPLATE != 0
    }

    /// Counted in InActConn (`IP_VS_CONN_F_INACTIVE`): not established, nor
    /// in TCP's handshake.
    pub fn is_inactive(&self) -> bool {
        self.flags & flags::INACTIVE != 0
    }

    /// The connection's state; `None` for a template.
    pub fn nat_state(&self) -> Option<State> {
        (!self.is_template())
            .then(|| state_from_ipvs(self.proto, self.state))
            .flatten()
    }
}

impl<A: SyncAddr> SyncConn<A> {
    /// Bytes this entry takes in a message, without a pad before it
    /// (`ip_vs_sync_conn`: the family's struct, then the options).
    pub fn entry_len(&self) -> usize {
        let seq = self.seq.map_or(0, |_| 2 + SEQ_DATA_LEN);
        let pe = self
            .pe
            .map_or(0, |d| 2 + d.as_bytes().len() + 2 + opt::SIP.len());
        A::FIXED_LEN + seq + pe
    }
}

/// The flags IPVS gives a NAT connection in `state`, or a NAT template:
/// masquerading, and inactive unless in an active state ([`State::is_active`]:
/// a real server's connections start with its `conn_flags`, which always
/// hold INACTIVE, `__ip_vs_update_dest`; `set_tcp_state` clears it in the
/// states of `tcp_state_active_table`, `set_sctp_state` on ESTABLISHED, and
/// both set it again on leaving them).
pub fn nat_flags(template: bool, state: State) -> u32 {
    let mut f = flags::MASQ;
    if template {
        f |= flags::TEMPLATE | flags::INACTIVE;
    } else if !state.is_active() {
        f |= flags::INACTIVE;
    }
    f
}

/// A received entry: a connection of either family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnyConn {
    V4(SyncConn<Ipv4Addr>),
    V6(SyncConn<Ipv6Addr>),
}

impl AnyConn {
    /// Bytes the entry takes in a message, without a pad before it.
    pub fn entry_len(&self) -> usize {
        match self {
            AnyConn::V4(c) => c.entry_len(),
            AnyConn::V6(c) => c.entry_len(),
        }
    }

    pub fn is_template(&self) -> bool {
        match self {
            AnyConn::V4(c) => c.is_template(),
            AnyConn::V6(c) => c.is_template(),
        }
    }
}

impl From<SyncConn<Ipv4Addr>> for AnyConn {
    fn from(c: SyncConn<Ipv4Addr>) -> Self {
        AnyConn::V4(c)
    }
}

impl From<SyncConn<Ipv6Addr>> for AnyConn {
    fn from(c: SyncConn<Ipv6Addr>) -> Self {
        AnyConn::V6(c)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults_are_ipvs_defaults() {
        assert_eq!(DEFAULT_GROUP, Ipv4Addr::new(224, 0, 0, 81));
        assert_eq!((DEFAULT_PORT, DEFAULT_TTL, VERSION), (8848, 1, 1));
        assert_eq!((HEADER_LEN, ENTRY_V4_LEN, ENTRY_V6_LEN), (8, 36, 72));
        assert_eq!((DEFAULT_MAXLEN, MAX_MAXLEN, MIN_BUFFER), (1472, 65507, 368));
        assert_eq!((Ipv4Addr::FIXED_LEN, Ipv6Addr::FIXED_LEN), (36, 72));
        assert_eq!((Ipv4Addr::TYPE, Ipv6Addr::TYPE), (0, TYPE_F_INET6));
        assert_eq!(
            (Daemon::Master.ipvs_state(), Daemon::Backup.ipvs_state()),
            (1, 2)
        );
        assert_eq!(
            (Daemon::Master.name(), Daemon::Backup.name()),
            ("master", "backup")
        );
    }

    #[test]
    fn maxlen_as_start_sync_thread_settles_it() {
        use Daemon::*;
        let cases = [
            // (requested, mtu, daemon, maxlen over IPv4, over IPv6)
            (0, 1500, Master, 1472, 1452),
            (0, 9000, Master, 1472, 1452),
            (0, 9000, Backup, 8972, 8952),
            (0, 1400, Backup, 1472, 1452),
            (0, 100_000, Backup, 65507, 65487),
            (1, 1500, Master, 1, 1),
            (1, 1500, Backup, 1024, 1024),
            (2000, 1500, Backup, 2000, 2000),
            (65507, 1500, Backup, 65507, 65487),
            (70_000, 1500, Master, 65507, 65487),
        ];
        for (req, mtu, d, want4, want6) in cases {
            assert_eq!(sync_maxlen(req, mtu, d, false), want4, "{req} {mtu} {d:?}");
            assert_eq!(
                sync_maxlen(req, mtu, d, true),
                want6,
                "{req} {mtu} {d:?} v6"
            );
        }
    }

    #[test]
    fn syncid_zero_takes_all() {
        assert!(syncid_accepts(0, 0) && syncid_accepts(0, 200));
        assert!(syncid_accepts(5, 5));
        assert!(!syncid_accepts(5, 0) && !syncid_accepts(5, 6));
    }

    #[test]
    fn state_numbers_are_ipvs_numbers() {
        // include/net/ip_vs.h: enum { IP_VS_TCP_S_NONE = 0, ... }.
        let tcp = [
            (State::None, 0),
            (State::Established, 1),
            (State::SynSent, 2),
            (State::SynRecv, 3),
            (State::FinWait, 4),
            (State::TimeWait, 5),
            (State::Close, 6),
            (State::CloseWait, 7),
            (State::LastAck, 8),
            (State::Listen, 9),
            (State::SynAck, 10),
        ];
        for (s, n) in tcp {
            assert_eq!(state_to_ipvs(s), n);
            assert_eq!(state_from_ipvs(protocol::TCP, n), Some(s));
            assert_eq!(
                state_from_ipvs(protocol::UDP, n),
                (n == 0).then_some(State::Udp)
            );
        }
        assert_eq!(state_to_ipvs(State::Udp), ipvs_state::UDP_NORMAL);
        assert_eq!(state_from_ipvs(protocol::TCP, ipvs_state::TCP_LAST), None);
        assert_eq!(state_from_ipvs(protocol::TCP, u16::MAX), None);
        // `IP_VS_SCTP_S_*`: NONE 0 to CLOSED 13.
        assert_eq!(state_from_ipvs(protocol::SCTP, 0), Some(State::SctpNone));
        assert_eq!(state_to_ipvs(State::SctpEstablished), 8);
        assert_eq!(state_from_ipvs(protocol::SCTP, 13), Some(State::SctpClosed));
        assert_eq!(state_from_ipvs(protocol::SCTP, 14), None);
        assert_eq!(state_from_ipvs(50, 0), None);
        for s in State::ALL {
            let proto = if s == State::Udp {
                protocol::UDP
            } else if s.sctp_number().is_some() {
                protocol::SCTP
            } else {
                protocol::TCP
            };
            assert_eq!(state_from_ipvs(proto, state_to_ipvs(s)), Some(s));
        }
    }

    #[test]
    fn nat_flags_as_ipvs_sets_them() {
        assert_eq!(nat_flags(false, State::Established), 0);
        // The handshake counts as active (`tcp_state_active_table`).
        assert_eq!(nat_flags(false, State::SynRecv), 0);
        assert_eq!(nat_flags(false, State::TimeWait), flags::INACTIVE);
        assert_eq!(nat_flags(false, State::Udp), flags::INACTIVE);
        assert_eq!(
            nat_flags(true, State::Established),
            flags::TEMPLATE | flags::INACTIVE
        );
    }

    fn golden_conns() -> [SyncConn; 3] {
        let client = Ipv4Addr::new(198, 18, 0, 10);
        let vip = Ipv4Addr::new(198, 18, 1, 1);
        let rs = Ipv4Addr::new(198, 18, 2, 11);
        let established = SyncConn {
            proto: protocol::TCP,
            flags: nat_flags(false, State::Established),
            state: state_to_ipvs(State::Established),
            caddr: client,
            cport: 40000,
            vaddr: vip,
            vport: 80,
            daddr: rs,
            dport: 8080,
            fwmark: 0,
            timeout: 900,
            seq: None,
            pe: None,
        };
        let with_seq = SyncConn {
            flags: nat_flags(false, State::SynRecv) | flags::SEQ_MASK,
            state: state_to_ipvs(State::SynRecv),
            caddr: Ipv4Addr::new(198, 18, 0, 12),
            cport: 40001,
            vport: 21,
            daddr: Ipv4Addr::new(198, 18, 2, 12),
            dport: 21,
            timeout: 60,
            seq: Some(SeqOpt {
                in_seq: Seq {
                    init_seq: 0x0102_0304,
                    delta: 0x10,
                    previous_delta: 0,
                },
                out_seq: Seq {
                    init_seq: 0x0a0b_0c0d,
                    delta: 0xffff_fff0,
                    previous_delta: 8,
                },
            }),
            ..established
        };
        let template = SyncConn {
            flags: nat_flags(true, State::Established),
            state: ipvs_state::CTPL_NONE,
            cport: 0,
            timeout: 300,
            ..established
        };
        [established, with_seq, template]
    }

    /// A message derived by hand from the kernel's structs (not captured: no
    /// capture of IPVS sync traffic was found): `struct ip_vs_sync_mesg`, then
    /// three `struct ip_vs_sync_v4`, the second with the sequence option and
    /// so a 2-byte pad after it (`ip_vs_sync_conn`).
    #[rustfmt::skip]
    static GOLDEN: [u8; 144] = [
        // header
        0x00, 0x07, 0x00, 0x90, // reserved 0, syncid 7, size 144
        0x03, 0x01, 0x00, 0x00, // nr_conns 3, version 1, spare 0
        // entry 1 at 8: an established TCP connection
        0x00, 0x06, 0x00, 0x24, // type 0 (IPv4), protocol 6, ver_size: version 0, size 36
        0x00, 0x00, 0x00, 0x00, // flags: masquerading, active
        0x00, 0x01, 0x9c, 0x40, // state 1 (ESTABLISHED), cport 40000
        0x00, 0x50, 0x1f, 0x90, // vport 80, dport 8080
        0x00, 0x00, 0x00, 0x00, // fwmark 0
        0x00, 0x00, 0x03, 0x84, // timeout 900 s
        0xc6, 0x12, 0x00, 0x0a, // caddr 198.18.0.10
        0xc6, 0x12, 0x01, 0x01, // vaddr 198.18.1.1
        0xc6, 0x12, 0x02, 0x0b, // daddr 198.18.2.11
        // entry 2 at 44: SYN_RECV with sequence adjustment
        0x00, 0x06, 0x00, 0x3e, // type 0, protocol 6, size 62 (36 + 2 + 24)
        0x00, 0x00, 0x06, 0x00, // flags: OUT_SEQ | IN_SEQ (SYN_RECV is active)
        0x00, 0x03, 0x9c, 0x41, // state 3 (SYN_RECV), cport 40001
        0x00, 0x15, 0x00, 0x15, // vport 21, dport 21
        0x00, 0x00, 0x00, 0x00, // fwmark 0
        0x00, 0x00, 0x00, 0x3c, // timeout 60 s
        0xc6, 0x12, 0x00, 0x0c, // caddr 198.18.0.12
        0xc6, 0x12, 0x01, 0x01, // vaddr 198.18.1.1
        0xc6, 0x12, 0x02, 0x0c, // daddr 198.18.2.12
        0x01, 0x18,             // option IPVS_OPT_SEQ_DATA, length 24
        0x01, 0x02, 0x03, 0x04, // in_seq.init_seq
        0x00, 0x00, 0x00, 0x10, // in_seq.delta
        0x00, 0x00, 0x00, 0x00, // in_seq.previous_delta
        0x0a, 0x0b, 0x0c, 0x0d, // out_seq.init_seq
        0xff, 0xff, 0xff, 0xf0, // out_seq.delta
        0x00, 0x00, 0x00, 0x08, // out_seq.previous_delta
        0x00, 0x00,             // pad to 108, a multiple of 4
        // entry 3 at 108: a persistence template
        0x00, 0x06, 0x00, 0x24, // type 0, protocol 6, size 36
        0x00, 0x00, 0x11, 0x00, // flags: TEMPLATE | INACTIVE
        0x00, 0x00, 0x00, 0x00, // state 0 (IP_VS_CTPL_S_NONE), cport 0
        0x00, 0x50, 0x1f, 0x90, // vport 80, dport 8080
        0x00, 0x00, 0x00, 0x00, // fwmark 0
        0x00, 0x00, 0x01, 0x2c, // timeout 300 s (the persistence timeout)
        0xc6, 0x12, 0x00, 0x0a, // caddr 198.18.0.10
        0xc6, 0x12, 0x01, 0x01, // vaddr 198.18.1.1
        0xc6, 0x12, 0x02, 0x0b, // daddr 198.18.2.11
    ];

    #[test]
    fn golden_message_emit() {
        let mut buf = [0xa5; DEFAULT_MAXLEN];
        let mut b = MessageBuilder::new(&mut buf, DEFAULT_MAXLEN, 7).expect("buffer");
        for c in golden_conns() {
            b.push(&c).expect("fits");
        }
        assert_eq!(b.as_bytes(), &GOLDEN[..]);
    }

    #[test]
    fn golden_message_parse() {
        let got: Vec<_> = parse(&GOLDEN, 7).expect("good header").collect();
        let want: Vec<_> = golden_conns().into_iter().map(|c| Ok(c.into())).collect();
        assert_eq!(got, want);
        let m = SyncMessage::new_checked(&GOLDEN[..]).expect("a header");
        assert_eq!((m.syncid(), m.size(), m.nr_conns()), (7, 144, 3));
    }

    fn ip6(s: &str) -> Ipv6Addr {
        s.parse().expect("an IPv6 address")
    }

    /// `c` between the addresses `[caddr, vaddr, daddr]` of another family.
    fn readdr<A, B>(c: SyncConn<A>, [caddr, vaddr, daddr]: [B; 3]) -> SyncConn<B> {
        SyncConn {
            proto: c.proto,
            flags: c.flags,
            state: c.state,
            caddr,
            cport: c.cport,
            vaddr,
            vport: c.vport,
            daddr,
            dport: c.dport,
            fwmark: c.fwmark,
            timeout: c.timeout,
            seq: c.seq,
            pe: None,
        }
    }

    /// An established IPv6 connection, and one in SYN_RECV with the sequence
    /// option (the IPv6 twins of `golden_conns`'s first two).
    fn golden6_conns() -> [SyncConn<Ipv6Addr>; 2] {
        let [v4, v4_seq, _] = golden_conns();
        let vip = ip6("2001:2:0:1::110");
        let established = readdr(v4, [ip6("2001:2:0:1::10"), vip, ip6("2001:2:0:2::2")]);
        let with_seq = readdr(v4_seq, [ip6("2001:2:0:1::12"), vip, ip6("2001:2:0:2::3")]);
        [established, with_seq]
    }

    /// One `struct ip_vs_sync_v6` in a message, laid out by hand from the
    /// kernel's struct (`ip_vs_sync.c`): the 24 bytes an IPv4 entry starts
    /// with, then three 16-byte addresses at 24, 40 and 56.
    #[rustfmt::skip]
    static GOLDEN6: [u8; 80] = [
        // header
        0x00, 0x07, 0x00, 0x50, // reserved 0, syncid 7, size 80
        0x01, 0x01, 0x00, 0x00, // nr_conns 1, version 1, spare 0
        // entry at 8: an established TCP connection over IPv6
        0x01, 0x06, 0x00, 0x48, // type 1 (STYPE_F_INET6), protocol 6, size 72
        0x00, 0x00, 0x00, 0x00, // flags: masquerading, active
        0x00, 0x01, 0x9c, 0x40, // state 1 (ESTABLISHED), cport 40000
        0x00, 0x50, 0x1f, 0x90, // vport 80, dport 8080
        0x00, 0x00, 0x00, 0x00, // fwmark 0
        0x00, 0x00, 0x03, 0x84, // timeout 900 s
        // entry + 24: caddr 2001:2:0:1::10
        0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
        // entry + 40: vaddr 2001:2:0:1::110
        0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x10,
        // entry + 56: daddr 2001:2:0:2::2
        0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    ];

    /// Both families in one message, as IPVS's master mixes them in one
    /// buffer: an IPv4 entry, an IPv6 entry with the sequence option (98
    /// bytes, so a 2-byte pad after it), an IPv4 template, an IPv6 entry.
    #[rustfmt::skip]
    static GOLDEN_MIXED: [u8; 252] = [
        // header
        0x00, 0x07, 0x00, 0xfc, // reserved 0, syncid 7, size 252
        0x04, 0x01, 0x00, 0x00, // nr_conns 4, version 1, spare 0
        // entry 1 at 8: IPv4, established (as GOLDEN's first)
        0x00, 0x06, 0x00, 0x24, // type 0, protocol 6, size 36
        0x00, 0x00, 0x00, 0x00, // flags
        0x00, 0x01, 0x9c, 0x40, // state 1, cport 40000
        0x00, 0x50, 0x1f, 0x90, // vport 80, dport 8080
        0x00, 0x00, 0x00, 0x00, // fwmark 0
        0x00, 0x00, 0x03, 0x84, // timeout 900 s
        0xc6, 0x12, 0x00, 0x0a, // caddr 198.18.0.10
        0xc6, 0x12, 0x01, 0x01, // vaddr 198.18.1.1
        0xc6, 0x12, 0x02, 0x0b, // daddr 198.18.2.11
        // entry 2 at 44: IPv6, SYN_RECV with sequence adjustment
        0x01, 0x06, 0x00, 0x62, // type 1, protocol 6, size 98 (72 + 2 + 24)
        0x00, 0x00, 0x06, 0x00, // flags: OUT_SEQ | IN_SEQ (SYN_RECV is active)
        0x00, 0x03, 0x9c, 0x41, // state 3 (SYN_RECV), cport 40001
        0x00, 0x15, 0x00, 0x15, // vport 21, dport 21
        0x00, 0x00, 0x00, 0x00, // fwmark 0
        0x00, 0x00, 0x00, 0x3c, // timeout 60 s
        // 68 (entry + 24): caddr 2001:2:0:1::12
        0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12,
        // 84 (entry + 40): vaddr 2001:2:0:1::110
        0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x10,
        // 100 (entry + 56): daddr 2001:2:0:2::3
        0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
        // 116 (entry + 72): option IPVS_OPT_SEQ_DATA, length 24
        0x01, 0x18,
        0x01, 0x02, 0x03, 0x04, // in_seq.init_seq
        0x00, 0x00, 0x00, 0x10, // in_seq.delta
        0x00, 0x00, 0x00, 0x00, // in_seq.previous_delta
        0x0a, 0x0b, 0x0c, 0x0d, // out_seq.init_seq
        0xff, 0xff, 0xff, 0xf0, // out_seq.delta
        0x00, 0x00, 0x00, 0x08, // out_seq.previous_delta
        0x00, 0x00,             // 142: pad to 144, a multiple of 4
        // entry 3 at 144: IPv4 persistence template (as GOLDEN's third)
        0x00, 0x06, 0x00, 0x24, // type 0, protocol 6, size 36
        0x00, 0x00, 0x11, 0x00, // flags: TEMPLATE | INACTIVE
        0x00, 0x00, 0x00, 0x00, // state 0, cport 0
        0x00, 0x50, 0x1f, 0x90, // vport 80, dport 8080
        0x00, 0x00, 0x00, 0x00, // fwmark 0
        0x00, 0x00, 0x01, 0x2c, // timeout 300 s
        0xc6, 0x12, 0x00, 0x0a, // caddr 198.18.0.10
        0xc6, 0x12, 0x01, 0x01, // vaddr 198.18.1.1
        0xc6, 0x12, 0x02, 0x0b, // daddr 198.18.2.11
        // entry 4 at 180: IPv6, established (as GOLDEN6's)
        0x01, 0x06, 0x00, 0x48, // type 1, protocol 6, size 72
        0x00, 0x00, 0x00, 0x00, // flags
        0x00, 0x01, 0x9c, 0x40, // state 1, cport 40000
        0x00, 0x50, 0x1f, 0x90, // vport 80, dport 8080
        0x00, 0x00, 0x00, 0x00, // fwmark 0
        0x00, 0x00, 0x03, 0x84, // timeout 900 s
        0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, // caddr 2001:2:0:1::10
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
        0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, // vaddr 2001:2:0:1::110
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x10,
        0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, // daddr 2001:2:0:2::2
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    ];

    fn golden_mixed() -> [AnyConn; 4] {
        let [v4, _, template] = golden_conns();
        let [v6, v6_seq] = golden6_conns();
        [v4.into(), v6_seq.into(), template.into(), v6.into()]
    }

    #[test]
    fn golden_ipv6_message_emit_and_parse() {
        let mut buf = [0xa5; DEFAULT_MAXLEN];
        let mut b = MessageBuilder::new(&mut buf, DEFAULT_MAXLEN, 7).expect("buffer");
        let [c, _] = golden6_conns();
        b.push(&c).expect("fits");
        assert_eq!(b.as_bytes(), &GOLDEN6[..]);
        let got: Vec<_> = parse(&GOLDEN6, 7).expect("good header").collect();
        assert_eq!(got, vec![Ok(AnyConn::V6(c))]);
        let e = SyncEntry::new_checked(&GOLDEN6[HEADER_LEN..]).expect("an entry");
        assert!(e.is_v6());
        assert_eq!((e.size(), e.fixed_len()), (ENTRY_V6_LEN, ENTRY_V6_LEN));
        assert_eq!(e.addrs::<Ipv6Addr>(), Some([c.caddr, c.vaddr, c.daddr]));
        assert_eq!(e.addrs::<Ipv4Addr>(), None, "not an IPv4 entry");
    }

    #[test]
    fn golden_mixed_message_emit_and_parse() {
        let mut buf = [0xa5; DEFAULT_MAXLEN];
        let mut b = MessageBuilder::new(&mut buf, DEFAULT_MAXLEN, 7).expect("buffer");
        for c in golden_mixed() {
            b.push_any(&c).expect("fits");
        }
        assert_eq!(b.as_bytes(), &GOLDEN_MIXED[..]);
        let got: Vec<_> = parse(&GOLDEN_MIXED, 7).expect("good header").collect();
        let want: Vec<_> = golden_mixed().into_iter().map(Ok).collect();
        assert_eq!(got, want);
        assert_eq!(golden_mixed().map(|c| c.entry_len()), [36, 98, 36, 72]);
    }

    /// A connection of either family, with or without the sequence option,
    /// or a template.
    fn any_conn() -> impl Strategy<Value = AnyConn> {
        let seq = (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(a, b, c)| Seq {
            init_seq: a,
            delta: b,
            previous_delta: c,
        });
        let seq_opt = prop::option::of((seq.clone(), seq).prop_map(|(i, o)| SeqOpt {
            in_seq: i,
            out_seq: o,
        }));
        let kind = prop_oneof![
            (Just(protocol::TCP), 0..ipvs_state::TCP_LAST, Just(false)),
            (Just(protocol::UDP), Just(0u16), Just(false)),
            (
                prop_oneof![Just(0u8), Just(6), Just(17)],
                any::<u16>(),
                Just(true)
            ),
        ];
        let fields = (
            any::<u32>(),
            any::<[u128; 3]>(),
            any::<[u16; 3]>(),
            any::<bool>(),
        );
        (kind, fields, any::<u32>(), any::<u32>(), seq_opt).prop_map(
            |((proto, state, template), (f, a, p, v6), fwmark, timeout, seq)| {
                let mut flags = f & flags::BACKUP_MASK & !flags::TEMPLATE;
                if template {
                    flags |= flags::TEMPLATE;
                }
                let c = SyncConn {
                    proto,
                    flags,
                    state,
                    caddr: Ipv6Addr::from_bits(a[0]),
                    cport: p[0],
                    vaddr: Ipv6Addr::from_bits(a[1]),
                    vport: p[1],
                    daddr: Ipv6Addr::from_bits(a[2]),
                    dport: p[2],
                    fwmark,
                    timeout,
                    seq,
                    pe: None,
                };
                match v6 {
                    true => AnyConn::V6(c),
                    false => AnyConn::V4(readdr(c, a.map(|x| Ipv4Addr::from_bits(x as u32)))),
                }
            },
        )
    }

    proptest! {
        /// Whatever the entries (of both families, mixed) and the limit,
        /// building then parsing gives the entries back in order, every
        /// message within its limit, with no trailing bytes.
        #[test]
        fn build_then_parse_round_trips(
            conns in prop::collection::vec(any_conn(), 0..300),
            maxlen in prop_oneof![Just(1usize), 60..200usize, Just(DEFAULT_MAXLEN), Just(MAX_MAXLEN)],
            syncid in any::<u8>(),
        ) {
            let mut buf = vec![0xa5; maxlen.max(MIN_BUFFER)];
            let mut b = MessageBuilder::new(&mut buf, maxlen, syncid).expect("buffer");
            let mut messages = Vec::new();
            for c in &conns {
                if b.push_any(c).is_err() {
                    prop_assert!(!b.is_empty());
                    messages.push(b.as_bytes().to_vec());
                    b.clear();
                    b.push_any(c).expect("an empty message takes any entry");
                }
            }
            if !b.is_empty() {
                messages.push(b.as_bytes().to_vec());
            }
            let mut got = Vec::new();
            for m in &messages {
                prop_assert!(m.len() <= maxlen || m[4] == 1, "{} > {maxlen}", m.len());
                for e in parse(m, syncid).expect("a good header") {
                    got.push(e.expect("a good entry"));
                }
            }
            prop_assert_eq!(got, conns);
        }

        /// `parse` never panics, on any bytes and on messages whose header is
        /// right but whose entries are random.
        #[test]
        fn parse_never_panics(
            mut bytes in prop::collection::vec(any::<u8>(), 0..400),
            nr in any::<u8>(),
            syncid in any::<u8>(),
        ) {
            for e in parse(&bytes, syncid).into_iter().flatten() {
                let _ = e;
            }
            if bytes.len() >= HEADER_LEN && bytes.len() <= usize::from(u16::MAX) {
                let len = bytes.len() as u16;
                let mut m = SyncMessage::new_unchecked(&mut bytes[..]);
                m.init(syncid);
                m.set_size(len);
                m.set_nr_conns(nr);
                let n = parse(&bytes, syncid).expect("a good header").count();
                prop_assert!(n <= usize::from(nr) + 1);
            }
        }

        /// A corrupted byte in a good message is an error or a changed entry,
        /// never a panic.
        #[test]
        fn a_corrupted_golden_message_never_panics(at in 0..GOLDEN.len(), byte in any::<u8>()) {
            let mut m = GOLDEN;
            m[at] = byte;
            for e in parse(&m, 0).into_iter().flatten() {
                let _ = e;
            }
        }
    }
}
