//! Connection states and timeouts, as kernel IPVS tracks them
//! (`ip_vs_proto_tcp.c`: `tcp_states`, `set_tcp_state`, `tcp_timeouts`;
//! `ip_vs_proto_udp.c`: `udp_timeouts`).
//!
//! The TCP transitions are IPVS's (`tcp_states`, the table used for NAT without
//! `secure_tcp`): the event is the packet's most significant flag (RST, then
//! SYN, then FIN, then ACK, `tcp_state_idx`), a segment with none of them moves
//! the connection to CLOSE (`set_tcp_state`), and the direction is *input*
//! (client → real server) or *output* (real server → client).
//! `docs/tcp-states.md` draws the diagram.
//!
//! SCTP's are IPVS's too (`ip_vs_proto_sctp.c`: `sctp_states`,
//! `set_sctp_state`, `sctp_timeouts`): the event is the packet's first chunk
//! (an ABORT bundled after a COOKIE ECHO or COOKIE ACK counts as ABORT),
//! and a DR or TUN connection, which sees no replies, takes the INPUT-ONLY
//! table.

use std::time::Duration;

/// A connection's state. `Udp` is the one state of a UDP connection; SCTP
/// connections have states of their own (`Sctp*`, IPVS's `IP_VS_SCTP_S_*` in
/// that order), so that `ipvsadm --set tcp` leaves them alone, as it does in
/// IPVS.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[repr(u8)]
pub enum State {
    None = 0,
    Established,
    SynSent,
    SynRecv,
    FinWait,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    SynAck,
    Udp,
    SctpNone,
    SctpInit1,
    SctpInit,
    SctpCookieSent,
    SctpCookieReplied,
    SctpCookieWait,
    SctpCookie,
    SctpCookieEchoed,
    SctpEstablished,
    SctpShutdownSent,
    SctpShutdownReceived,
    SctpShutdownAckSent,
    SctpRejected,
    SctpClosed,
}

/// Number of states, i.e. of expiry classes.
pub const STATES: usize = 26;

/// Where the SCTP states start in [`State`]: `state as usize - SCTP` is
/// IPVS's number for an SCTP state (`IP_VS_SCTP_S_*`).
pub const SCTP: usize = State::SctpNone as usize;

impl State {
    pub const ALL: [State; STATES] = [
        State::None,
        State::Established,
        State::SynSent,
        State::SynRecv,
        State::FinWait,
        State::TimeWait,
        State::Close,
        State::CloseWait,
        State::LastAck,
        State::Listen,
        State::SynAck,
        State::Udp,
        State::SctpNone,
        State::SctpInit1,
        State::SctpInit,
        State::SctpCookieSent,
        State::SctpCookieReplied,
        State::SctpCookieWait,
        State::SctpCookie,
        State::SctpCookieEchoed,
        State::SctpEstablished,
        State::SctpShutdownSent,
        State::SctpShutdownReceived,
        State::SctpShutdownAckSent,
        State::SctpRejected,
        State::SctpClosed,
    ];

    /// The SCTP state IPVS numbers `n` (`IP_VS_SCTP_S_*`).
    pub fn sctp(n: usize) -> Option<State> {
        Self::ALL.get(SCTP + n).copied()
    }

    /// IPVS's number of an SCTP state; `None` for the others.
    pub fn sctp_number(self) -> Option<u16> {
        (self as usize).checked_sub(SCTP).map(|n| n as u16)
    }

    /// The name ipvsadm prints (`-L -c`).
    pub fn name(self) -> &'static str {
        match self {
            State::None => "NONE",
            State::Established => "ESTABLISHED",
            State::SynSent => "SYN_SENT",
            State::SynRecv => "SYN_RECV",
            State::FinWait => "FIN_WAIT",
            State::TimeWait => "TIME_WAIT",
            State::Close => "CLOSE",
            State::CloseWait => "CLOSE_WAIT",
            State::LastAck => "LAST_ACK",
            State::Listen => "LISTEN",
            State::SynAck => "SYNACK",
            State::Udp => "UDP",
            // `sctp_state_name_table` (`ip_vs_proto_sctp.c`).
            State::SctpNone => "NONE",
            State::SctpInit1 => "INIT1",
            State::SctpInit => "INIT",
            State::SctpCookieSent => "C-SENT",
            State::SctpCookieReplied => "C-REPLIED",
            State::SctpCookieWait => "C-WAIT",
            State::SctpCookie => "COOKIE",
            State::SctpCookieEchoed => "C-ECHOED",
            State::SctpEstablished => "ESTABLISHED",
            State::SctpShutdownSent => "S-SENT",
            State::SctpShutdownReceived => "S-RECEIVED",
            State::SctpShutdownAckSent => "S-ACK-SENT",
            State::SctpRejected => "REJECTED",
            State::SctpClosed => "CLOSED",
        }
    }

    /// A name no other state has: [`State::name`], with `SCTP_` before an
    /// SCTP state's (whose NONE and ESTABLISHED are TCP's names too); for
    /// reports that key counts by state.
    pub fn key(self) -> std::borrow::Cow<'static, str> {
        match self.sctp_number() {
            Some(_) => format!("SCTP_{}", self.name()).into(),
            None => self.name().into(),
        }
    }

    /// Whether a full connection table may evict a connection in this state to
    /// make room for a new one: every TCP and SCTP state but ESTABLISHED
    /// (handshakes, closes, and the entries a SYN or INIT flood leaves; more
    /// than IPVS's `ip_vs_random_dropentry` drops, `docs/tcp-states.md`).
    /// UDP is evictable only when idle (see `nat::table::UDP_EVICT_IDLE`), so
    /// it is not listed here.
    pub fn is_evictable(self) -> bool {
        !matches!(
            self,
            State::Established | State::Udp | State::SctpEstablished
        )
    }

    /// Whether the kernel counts a connection in this state as activeconns
    /// (ipvsadm's ActiveConn) rather than inactconns: TCP's ESTABLISHED and
    /// the handshake's SYN_SENT, SYN_RECV and SYNACK
    /// (`tcp_state_active_table`, which `set_tcp_state` consults,
    /// `ip_vs_proto_tcp.c`), SCTP's ESTABLISHED (`set_sctp_state`), never
    /// UDP (`IP_VS_CONN_F_INACTIVE` from `ip_vs_bind_dest`, `ip_vs_conn.c`,
    /// is never cleared for it). So half-open connections weigh as much as
    /// established ones in lc, wlc and the like, as in the kernel.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            State::Established
                | State::SynSent
                | State::SynRecv
                | State::SynAck
                | State::SctpEstablished
        )
    }
}

/// Timeouts per state, IPVS's defaults (`ip_vs_proto_tcp.c`: `tcp_timeouts`;
/// `ip_vs_proto_udp.c`: `udp_timeouts`; `ip_vs_proto_sctp.c`:
/// `sctp_timeouts`, whose 61 s is `IP_VS_SCTP_MAX_RTO`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    secs: [u32; STATES],
}

impl Default for Timeouts {
    fn default() -> Self {
        let mut secs = [0; STATES];
        for s in State::ALL {
            secs[s as usize] = match s {
                State::None => 2,
                State::Established => 15 * 60,
                State::SynSent => 2 * 60,
                State::SynRecv => 60,
                State::FinWait => 2 * 60,
                State::TimeWait => 2 * 60,
                State::Close => 10,
                State::CloseWait => 60,
                State::LastAck => 30,
                State::Listen => 2 * 60,
                State::SynAck => 2 * 60,
                State::Udp => 5 * 60,
                State::SctpNone => 2,
                State::SctpInit1 | State::SctpRejected => 4,
                State::SctpEstablished => 15 * 60,
                State::SctpInit
                | State::SctpCookieSent
                | State::SctpCookieReplied
                | State::SctpCookieWait
                | State::SctpCookie
                | State::SctpCookieEchoed
                | State::SctpShutdownSent
                | State::SctpShutdownReceived
                | State::SctpShutdownAckSent
                | State::SctpClosed => 61,
            };
        }
        Self { secs }
    }
}

impl Timeouts {
    pub fn get(&self, s: State) -> Duration {
        Duration::from_secs(u64::from(self.secs[s as usize]))
    }

    pub fn secs(&self, s: State) -> u32 {
        self.secs[s as usize]
    }

    /// `ipvsadm --set tcp tcpfin udp`: established, FIN_WAIT and UDP timeouts.
    /// A zero leaves that timeout unchanged, as the kernel's `ip_vs_set_timeout`
    /// (`ip_vs_ctl.c`) does (ipvsadm passes the zero on).
    pub fn set(&mut self, tcp: u32, tcpfin: u32, udp: u32) {
        for (s, v) in [
            (State::Established, tcp),
            (State::FinWait, tcpfin),
            (State::Udp, udp),
        ] {
            if v != 0 {
                self.secs[s as usize] = v;
            }
        }
    }
}

/// Which way a packet crosses the director.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Client → real server (arrived on the external NIC).
    Input,
    /// Real server → client (arrived on the internal NIC).
    Output,
}

use crate::wire::tcp::flags::{ACK as TCP_ACK, FIN as TCP_FIN, RST as TCP_RST, SYN as TCP_SYN};

/// The next TCP state after a segment with `flags` going `dir`. A segment with
/// none of RST, SYN, FIN and ACK moves the connection to CLOSE, as in the
/// kernel: `set_tcp_state` (`ip_vs_proto_tcp.c`) starts from
/// `IP_VS_TCP_S_CLOSE` and keeps it when `tcp_state_idx` finds no flag.
#[inline]
pub fn tcp_next(state: State, dir: Dir, flags: u8) -> State {
    tcp_step(state, Some(dir), flags)
}

/// The next TCP state of a connection whose replies bypass the director (DR,
/// TUN) after a client segment with `flags`: IPVS's INPUT-ONLY rows of
/// `tcp_states`, used by `set_tcp_state` while `IP_VS_CONN_F_NOOUTPUT` is set
/// (`ip_vs_proto_tcp.c`).
#[inline]
pub fn tcp_next_input_only(state: State, flags: u8) -> State {
    tcp_step(state, None, flags)
}

/// `dir` `None`: input only.
#[inline]
fn tcp_step(state: State, dir: Option<Dir>, flags: u8) -> State {
    use State::*;
    // Columns: the current state in `State` order, None..=SynAck.
    type Row = [State; 11];
    #[rustfmt::skip]
    const IN_SYN: Row = [SynRecv, Established, Established, SynRecv, SynRecv, SynRecv, SynRecv, SynRecv, SynRecv, SynRecv, SynRecv];
    #[rustfmt::skip]
    const IN_FIN: Row = [Close, CloseWait, SynSent, TimeWait, TimeWait, TimeWait, Close, CloseWait, LastAck, Listen, TimeWait];
    #[rustfmt::skip]
    const IN_ACK: Row = [Established, Established, SynSent, Established, FinWait, TimeWait, Close, CloseWait, Close, Listen, Established];
    #[rustfmt::skip]
    const IN_RST: Row = [Close, Close, Close, SynRecv, Close, Close, Close, Close, LastAck, Listen, SynRecv];
    #[rustfmt::skip]
    const OUT_SYN: Row = [SynSent, Established, SynSent, SynRecv, SynSent, SynSent, SynSent, SynSent, SynSent, Listen, SynRecv];
    #[rustfmt::skip]
    const OUT_FIN: Row = [TimeWait, FinWait, SynSent, TimeWait, FinWait, TimeWait, Close, TimeWait, LastAck, Listen, TimeWait];
    #[rustfmt::skip]
    const OUT_ACK: Row = [Established, Established, SynSent, Established, FinWait, TimeWait, Close, CloseWait, LastAck, Established, Established];
    #[rustfmt::skip]
    const OUT_RST: Row = [Close, Close, SynSent, Close, Close, TimeWait, Close, Close, Close, Close, Close];
    #[rustfmt::skip]
    const ONLY_SYN: Row = [SynRecv, Established, Established, SynRecv, SynRecv, SynRecv, SynRecv, SynRecv, SynRecv, SynRecv, SynRecv];
    #[rustfmt::skip]
    const ONLY_FIN: Row = [Close, FinWait, SynSent, TimeWait, FinWait, TimeWait, Close, CloseWait, LastAck, Listen, TimeWait];
    #[rustfmt::skip]
    const ONLY_ACK: Row = [Established, Established, SynSent, Established, FinWait, TimeWait, Close, CloseWait, Close, Listen, Established];
    #[rustfmt::skip]
    const ONLY_RST: Row = [Close, Close, Close, SynRecv, Close, Close, Close, Close, LastAck, Listen, Close];

    let col = state as usize;
    if col >= 11 {
        return state;
    }
    // The event is the most significant flag: RST, then SYN, then FIN, then ACK
    // (`tcp_state_idx`); none of them: CLOSE (`set_tcp_state`). One lookup
    // by the four flags (FIN, SYN and RST are bits 0-2, ACK bit 4: moved to
    // bit 3) instead of a search, as this runs for every TCP packet.
    const NONE: usize = 4;
    const EVENT: [usize; 16] = {
        let mut e = [NONE; 16];
        let mut f = 1;
        while f < 16 {
            e[f] = if f & 4 != 0 {
                0 // RST
            } else if f & 2 != 0 {
                1 // SYN
            } else if f & 1 != 0 {
                2 // FIN
            } else {
                3 // ACK
            };
            f += 1;
        }
        e
    };
    const _: () = assert!(TCP_FIN == 1 && TCP_SYN == 2 && TCP_RST == 4 && TCP_ACK == 0x10);
    let event = EVENT[usize::from(flags & 7 | (flags & TCP_ACK) >> 1)];
    const TABLES: [[&Row; 4]; 3] = [
        [&IN_RST, &IN_SYN, &IN_FIN, &IN_ACK],
        [&OUT_RST, &OUT_SYN, &OUT_FIN, &OUT_ACK],
        [&ONLY_RST, &ONLY_SYN, &ONLY_FIN, &ONLY_ACK],
    ];
    let rows = match dir {
        Some(Dir::Input) => &TABLES[0],
        Some(Dir::Output) => &TABLES[1],
        Option::None => &TABLES[2],
    };
    match rows.get(event) {
        Some(row) => row[col],
        Option::None => Close,
    }
}

/// SCTP events (`ipvs_sctp_event_t`, `ip_vs_proto_sctp.c`), what
/// [`sctp_event`] makes of a packet's chunks; a segment's `flags` for SCTP.
pub mod sctp_event {
    pub const DATA: u8 = 0;
    pub const INIT: u8 = 1;
    pub const INIT_ACK: u8 = 2;
    pub const COOKIE_ECHO: u8 = 3;
    pub const COOKIE_ACK: u8 = 4;
    pub const SHUTDOWN: u8 = 5;
    pub const SHUTDOWN_ACK: u8 = 6;
    pub const SHUTDOWN_COMPLETE: u8 = 7;
    pub const ERROR: u8 = 8;
    pub const ABORT: u8 = 9;
}

/// The event of an SCTP packet (`set_sctp_state`, `sctp_events`): its first
/// chunk's, DATA for the data-carrying and unknown types, and ABORT when an
/// ABORT follows a first COOKIE ECHO or COOKIE ACK (the one bundle IPVS
/// looks into).
pub fn sctp_event<T: AsRef<[u8]>>(pkt: &crate::wire::SctpPacket<T>) -> u8 {
    use crate::wire::sctp::{HEADER_LEN, chunk};
    use sctp_event as e;
    let (kind, len) = pkt.first_chunk();
    let of = |kind: u8| match kind {
        chunk::INIT => e::INIT,
        chunk::INIT_ACK => e::INIT_ACK,
        chunk::ABORT => e::ABORT,
        chunk::SHUTDOWN => e::SHUTDOWN,
        chunk::SHUTDOWN_ACK => e::SHUTDOWN_ACK,
        chunk::ERROR => e::ERROR,
        chunk::COOKIE_ECHO => e::COOKIE_ECHO,
        chunk::COOKIE_ACK => e::COOKIE_ACK,
        chunk::SHUTDOWN_COMPLETE => e::SHUTDOWN_COMPLETE,
        _ => e::DATA,
    };
    if (kind == chunk::COOKIE_ECHO || kind == chunk::COOKIE_ACK) && len >= 4 {
        let next = HEADER_LEN + usize::from(len).next_multiple_of(4);
        if pkt.chunk_at(next).is_some_and(|(k, _)| k == chunk::ABORT) {
            return e::ABORT;
        }
    }
    of(kind)
}

/// The next SCTP state after a packet with event `event` (see
/// [`sctp_event`]) going `dir`, or with `dir` `None` from the client of a
/// connection whose replies bypass the director (INPUT-ONLY): IPVS's
/// `sctp_states` (`ip_vs_proto_sctp.c`). A state that is no SCTP state, or
/// an event out of range, stays.
pub fn sctp_next(state: State, dir: Option<Dir>, event: u8) -> State {
    use State::*;
    type Row = [State; 14];
    const I1: State = SctpInit1;
    const IN: State = SctpInit;
    const CS: State = SctpCookieSent;
    const CR: State = SctpCookieReplied;
    const CW: State = SctpCookieWait;
    const CO: State = SctpCookie;
    const CE: State = SctpCookieEchoed;
    const ES: State = SctpEstablished;
    const SS: State = SctpShutdownSent;
    const SR: State = SctpShutdownReceived;
    const SA: State = SctpShutdownAckSent;
    const RJ: State = SctpRejected;
    const CL: State = SctpClosed;
    // Rows by event (DATA, INIT, INIT_ACK, COOKIE_ECHO, COOKIE_ACK,
    // SHUTDOWN, SHUTDOWN_ACK, SHUTDOWN_COMPLETE, ERROR, ABORT), columns by
    // the current state (NONE, INIT1, INIT, COOKIE_SENT, COOKIE_REPLIED,
    // COOKIE_WAIT, COOKIE, COOKIE_ECHOED, ESTABLISHED, SHUTDOWN_SENT,
    // SHUTDOWN_RECEIVED, SHUTDOWN_ACK_SENT, REJECTED, CLOSED).
    #[rustfmt::skip]
    const INPUT: [Row; 10] = [
        [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        [I1, IN, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, IN, IN],
        [CW, CW, CW, CS, CR, CO, CO, CE, ES, SS, SR, SA, RJ, CL],
        [CR, IN, IN, CR, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        [ES, I1, IN, CS, CR, CW, CO, ES, ES, SS, SR, SA, RJ, CL],
        [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
        [CL, IN, IN, CS, CR, CW, CO, CE, ES, CL, SR, CL, RJ, CL],
        [CL, CL, CL, CS, CR, CW, CO, CE, ES, SS, SR, CL, RJ, CL],
        [CL, I1, IN, CS, CR, CW, CO, CL, ES, SS, SR, SA, RJ, CL],
        [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
    ];
    #[rustfmt::skip]
    const OUTPUT: [Row; 10] = [
        [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        [CW, CW, CW, CW, CW, CW, CW, CW, ES, CW, CW, CW, CW, CW],
        [CS, CS, CS, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        [CE, CE, CE, CE, CE, CE, CE, CE, ES, SS, SR, SA, RJ, CL],
        [ES, ES, ES, ES, ES, ES, ES, ES, ES, SS, SR, SA, RJ, CL],
        [SS, SS, SS, SS, SS, SS, SS, SS, SS, SS, SR, SA, RJ, CL],
        [SA, SA, SA, SA, SA, CW, CO, CE, ES, SA, SA, SA, RJ, CL],
        [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        [CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL],
    ];
    #[rustfmt::skip]
    const INPUT_ONLY: [Row; 10] = [
        [ES, I1, IN, CS, CR, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
        [I1, IN, IN, IN, IN, IN, CO, CE, ES, SS, SR, SA, IN, IN],
        [CE, CE, CE, CE, CE, CE, CO, CE, ES, SS, SR, SA, RJ, CL],
        [ES, ES, ES, ES, ES, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
        [ES, I1, IN, ES, ES, CW, ES, ES, ES, SS, SR, SA, RJ, CL],
        [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
        [CL, IN, IN, CS, CR, CW, CO, CE, CL, CL, SR, CL, RJ, CL],
        [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, CL, CL, RJ, CL],
        [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
    ];
    let Some(col) = state.sctp_number() else {
        return state;
    };
    let table = match dir {
        Some(Dir::Input) => &INPUT,
        Some(Dir::Output) => &OUTPUT,
        Option::None => &INPUT_ONLY,
    };
    match table.get(usize::from(event)) {
        Some(row) => row[usize::from(col)],
        Option::None => state,
    }
}

/// Whether a client's TCP segment (`flags`) or SCTP packet (`event`, and
/// its first chunk's own type) of no connection may open one in a service
/// (`persistent` or not); any other protocol's may. TCP: a SYN without ACK
/// or RST. In a persistent service, as the kernel's `tcp_conn_schedule`
/// (`ip_vs_proto_tcp.c`), any SYN without RST, SYN+ACK included, whatever
/// the port: an active FTP data connection through DR or TUN is first seen
/// as the client's SYN+ACK to VIP:20, which the template sends to the
/// control connection's server (`ip_vs_schedule`, `ip_vs_core.c`: "with
/// persistence the connection is created on SYN+ACK"). Stricter than IPVS
/// on purpose in a service without persistence, where the kernel would
/// give a SYN+ACK a server of the scheduler's choice: a client never opens
/// with one there (a NAT active data connection's is found as the helper
/// expected it, `dataplane/ftp.rs`). With `sloppy_tcp`, as the kernel:
/// anything without RST. SCTP: an INIT chunk first (`sctp_conn_schedule`,
/// `ip_vs_proto_sctp.c`); with `sloppy_sctp`, any first chunk but ABORT
/// (the chunk's own type: a COOKIE ECHO with an ABORT behind it, an ABORT
/// event, opens one).
pub fn opens(
    proto: u8,
    (flags, first_chunk): (u8, Option<u8>),
    sloppy: (bool, bool),
    persistent: bool,
) -> bool {
    use crate::wire::ipv4::protocol;
    match proto {
        protocol::TCP if sloppy.0 => flags & TCP_RST == 0,
        protocol::TCP if persistent => flags & TCP_SYN != 0 && flags & TCP_RST == 0,
        protocol::TCP => flags & TCP_SYN != 0 && flags & (TCP_ACK | TCP_RST) == 0,
        protocol::SCTP if sloppy.1 => {
            first_chunk.is_some_and(|t| t != crate::wire::sctp::chunk::ABORT)
        }
        protocol::SCTP => flags == sctp_event::INIT,
        _ => true,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// The flag lookup picks the event as `tcp_state_idx` does, for every
    /// byte of flags: the first of RST, SYN, FIN, ACK that is set; none of
    /// them: CLOSE.
    #[test]
    fn event_lookup_is_the_flag_priority() {
        use Dir::{Input, Output};
        for flags in 0..=255u8 {
            let first = [TCP_RST, TCP_SYN, TCP_FIN, TCP_ACK]
                .into_iter()
                .position(|f| flags & f != 0);
            for s in State::ALL.into_iter().take(11) {
                for dir in [Some(Input), Some(Output), None] {
                    let want = match first {
                        None => State::Close,
                        // The same event: the same step as its lone flag.
                        Some(e) => tcp_step(s, dir, [TCP_RST, TCP_SYN, TCP_FIN, TCP_ACK][e]),
                    };
                    assert_eq!(tcp_step(s, dir, flags), want, "{s:?} {dir:?} {flags:#04x}");
                }
            }
        }
    }

    fn walk(steps: &[(Dir, u8)]) -> Vec<State> {
        let mut s = State::None;
        steps
            .iter()
            .map(|&(d, f)| {
                s = tcp_next(s, d, f);
                s
            })
            .collect()
    }

    #[test]
    fn handshake_data_and_close() {
        use Dir::*;
        use State::*;
        let got = walk(&[
            (Input, TCP_SYN),
            (Output, TCP_SYN | TCP_ACK),
            (Input, TCP_ACK),
            (Input, TCP_ACK | crate::wire::tcp::flags::PSH),
            (Output, TCP_ACK),
            (Input, TCP_FIN | TCP_ACK),
            (Output, TCP_FIN | TCP_ACK),
            (Input, TCP_ACK),
        ]);
        assert_eq!(
            got,
            [
                SynRecv,
                SynRecv,
                Established,
                Established,
                Established,
                CloseWait,
                TimeWait,
                TimeWait
            ]
        );
    }

    #[test]
    fn reset_closes_and_server_close_goes_through_fin_wait() {
        use Dir::*;
        use State::*;
        assert_eq!(
            walk(&[(Input, TCP_SYN), (Output, TCP_RST | TCP_ACK)]),
            [SynRecv, Close]
        );
        let est = walk(&[
            (Input, TCP_SYN),
            (Output, TCP_SYN | TCP_ACK),
            (Input, TCP_ACK),
        ]);
        assert_eq!(est[2], Established);
        assert_eq!(tcp_next(Established, Output, TCP_FIN | TCP_ACK), FinWait);
        assert_eq!(tcp_next(FinWait, Input, TCP_FIN | TCP_ACK), TimeWait);
        // No tracked flag (PSH alone, or none): CLOSE, as the kernel's
        // `set_tcp_state`, from either side.
        assert_eq!(tcp_next(Established, Input, 0), Close);
        assert_eq!(tcp_next(Established, Output, 0x08), Close);
        assert_eq!(tcp_next(SynRecv, Input, 0x08 | 0x20), Close);
    }

    /// DR/TUN: the client's packets alone drive the state (IPVS's INPUT-ONLY
    /// rows of `tcp_states`): its ACK establishes, its FIN goes to FIN_WAIT
    /// (not CLOSE_WAIT), its last ACK of a FIN_WAIT stays there, a RST closes.
    #[test]
    fn input_only_states_follow_the_client_alone() {
        use State::*;
        let i = tcp_next_input_only;
        let mut s = State::None;
        let mut seen = Vec::new();
        for f in [TCP_SYN, TCP_ACK, TCP_ACK, TCP_FIN | TCP_ACK, TCP_ACK] {
            s = i(s, f);
            seen.push(s);
        }
        assert_eq!(seen, [SynRecv, Established, Established, FinWait, FinWait]);
        assert_eq!(i(Established, TCP_RST), Close);
        assert_eq!(i(SynRecv, TCP_RST), SynRecv);
        assert_eq!(i(SynAck, TCP_RST), Close, "unlike INPUT's SynRecv");
        assert_eq!(i(Established, 0), Close);
    }

    /// An SCTP association through NAT and through DR, step by step as
    /// `sctp_states` takes it; and ABORT from either side.
    #[test]
    fn sctp_associations_walk_ipvs_states() {
        use Dir::*;
        use State::*;
        use sctp_event as e;
        let walk = |steps: &[(Option<Dir>, u8)]| {
            let mut s = SctpNone;
            steps
                .iter()
                .map(|&(d, ev)| {
                    s = sctp_next(s, d, ev);
                    s
                })
                .collect::<Vec<_>>()
        };
        let (i, o) = (Some(Input), Some(Output));
        assert_eq!(
            walk(&[
                (i, e::INIT),
                (o, e::INIT_ACK),
                (i, e::COOKIE_ECHO),
                (o, e::COOKIE_ACK),
                (i, e::DATA),
                (o, e::DATA),
                (i, e::SHUTDOWN),
                (o, e::SHUTDOWN_ACK),
                (i, e::SHUTDOWN_COMPLETE),
            ]),
            [
                SctpInit1,
                SctpCookieSent,
                SctpCookieReplied,
                SctpEstablished,
                SctpEstablished,
                SctpEstablished,
                SctpShutdownReceived,
                SctpShutdownAckSent,
                SctpClosed
            ]
        );
        // DR: the client's INIT, COOKIE ECHO, DATA, SHUTDOWN ACK (an
        // ESTABLISHED association's SHUTDOWN ACK from the client closes it).
        assert_eq!(
            walk(&[
                (Option::None, e::INIT),
                (Option::None, e::COOKIE_ECHO),
                (Option::None, e::DATA),
                (Option::None, e::SHUTDOWN_ACK),
            ]),
            [SctpInit1, SctpEstablished, SctpEstablished, SctpClosed]
        );
        assert_eq!(sctp_next(SctpEstablished, i, e::ABORT), SctpClosed);
        assert_eq!(sctp_next(SctpInit1, o, e::ABORT), SctpRejected);
        // An INIT meeting a closed association starts it again (INIT).
        assert_eq!(sctp_next(SctpClosed, i, e::INIT), SctpInit);
        // Not an SCTP state, or no event: unchanged.
        assert_eq!(sctp_next(Established, i, e::ABORT), Established);
        assert_eq!(sctp_next(SctpCookieSent, i, 10), SctpCookieSent);
    }

    /// IPVS's numbers and names of the SCTP states.
    #[test]
    fn sctp_states_are_numbered_and_named_as_ipvs() {
        assert_eq!(State::sctp(0), Some(State::SctpNone));
        assert_eq!(State::sctp(8), Some(State::SctpEstablished));
        assert_eq!(State::sctp(13), Some(State::SctpClosed));
        assert_eq!(State::sctp(14), None);
        assert_eq!(State::SctpShutdownAckSent.sctp_number(), Some(11));
        assert_eq!(State::Udp.sctp_number(), None);
        assert_eq!(State::SctpCookieReplied.name(), "C-REPLIED");
        assert_eq!(State::SctpEstablished.key(), "SCTP_ESTABLISHED");
        let keys: std::collections::HashSet<_> = State::ALL.iter().map(|s| s.key()).collect();
        assert_eq!(keys.len(), STATES);
        let t = Timeouts::default();
        assert_eq!(t.secs(State::SctpEstablished), 900);
        assert_eq!(t.secs(State::SctpInit1), 4);
        assert_eq!(t.secs(State::SctpClosed), 61);
    }

    /// The event is the first chunk's; an ABORT bundled after a COOKIE ECHO
    /// makes it ABORT; unknown chunk types are DATA.
    #[test]
    fn sctp_events_come_from_the_first_chunk() {
        use crate::wire::sctp::chunk;
        let pkt = |chunks: &[(u8, u16)]| {
            let mut b = vec![0u8; 12];
            for &(kind, len) in chunks {
                let at = b.len();
                b.extend_from_slice(&[kind, 0]);
                b.extend_from_slice(&len.to_be_bytes());
                b.resize(at + usize::from(len).max(4).next_multiple_of(4), 0);
            }
            b
        };
        let ev = |b: Vec<u8>| sctp_event(&crate::wire::SctpPacket::new_unchecked(&b[..]));
        assert_eq!(ev(pkt(&[(chunk::INIT, 20)])), sctp_event::INIT);
        assert_eq!(ev(pkt(&[(chunk::SACK, 16)])), sctp_event::DATA);
        assert_eq!(ev(pkt(&[(0x40, 16)])), sctp_event::DATA);
        assert_eq!(
            ev(pkt(&[(chunk::COOKIE_ECHO, 7), (chunk::ABORT, 4)])),
            sctp_event::ABORT
        );
        assert_eq!(
            ev(pkt(&[(chunk::COOKIE_ECHO, 8), (chunk::DATA, 20)])),
            sctp_event::COOKIE_ECHO
        );
        assert_eq!(
            ev(pkt(&[(chunk::DATA, 20), (chunk::ABORT, 4)])),
            sctp_event::DATA
        );
        assert_eq!(
            ev(pkt(&[(chunk::SHUTDOWN_COMPLETE, 4)])),
            sctp_event::SHUTDOWN_COMPLETE
        );
    }

    /// Among SCTP states only ESTABLISHED counts in ActiveConn
    /// (`set_sctp_state`, `ip_vs_proto_sctp.c`).
    #[test]
    fn only_sctp_established_is_active_among_sctp_states() {
        let active: Vec<State> = State::ALL
            .into_iter()
            .filter(|s| s.sctp_number().is_some() && s.is_active())
            .collect();
        assert_eq!(active, [State::SctpEstablished]);
    }

    #[test]
    fn only_transitory_tcp_states_are_evictable() {
        let kept: Vec<State> = State::ALL
            .into_iter()
            .filter(|s| !s.is_evictable())
            .collect();
        assert_eq!(
            kept,
            [State::Established, State::Udp, State::SctpEstablished]
        );
    }

    /// Every cell of the three TCP tables (INPUT, OUTPUT, INPUT-ONLY) against
    /// the kernel's `tcp_states` (`ip_vs_proto_tcp.c`, as since `sloppy_tcp`
    /// came in 2013: an input ACK on NONE is ESTABLISHED, not CLOSE),
    /// written out here by state name, one line per direction and event,
    /// the states in `State` order NONE..=SYNACK.
    #[test]
    fn tcp_transitions_are_the_kernels_tcp_states_cell_by_cell() {
        use Dir::{Input, Output};
        let kernel: [(Option<Dir>, u8, &str); 12] = [
            (Some(Input), TCP_SYN, "SR ES ES SR SR SR SR SR SR SR SR"),
            (Some(Input), TCP_FIN, "CL CW SS TW TW TW CL CW LA LI TW"),
            (Some(Input), TCP_ACK, "ES ES SS ES FW TW CL CW CL LI ES"),
            (Some(Input), TCP_RST, "CL CL CL SR CL CL CL CL LA LI SR"),
            (Some(Output), TCP_SYN, "SS ES SS SR SS SS SS SS SS LI SR"),
            (Some(Output), TCP_FIN, "TW FW SS TW FW TW CL TW LA LI TW"),
            (Some(Output), TCP_ACK, "ES ES SS ES FW TW CL CW LA ES ES"),
            (Some(Output), TCP_RST, "CL CL SS CL CL TW CL CL CL CL CL"),
            (None, TCP_SYN, "SR ES ES SR SR SR SR SR SR SR SR"),
            (None, TCP_FIN, "CL FW SS TW FW TW CL CW LA LI TW"),
            (None, TCP_ACK, "ES ES SS ES FW TW CL CW CL LI ES"),
            (None, TCP_RST, "CL CL CL SR CL CL CL CL LA LI CL"),
        ];
        let code = |s: State| match s {
            State::None => "NO",
            State::Established => "ES",
            State::SynSent => "SS",
            State::SynRecv => "SR",
            State::FinWait => "FW",
            State::TimeWait => "TW",
            State::Close => "CL",
            State::CloseWait => "CW",
            State::LastAck => "LA",
            State::Listen => "LI",
            State::SynAck => "SA",
            _ => "??",
        };
        let mut cells = 0;
        for (dir, flag, row) in kernel {
            let want: Vec<&str> = row.split(' ').collect();
            assert_eq!(want.len(), 11);
            for (from, want) in State::ALL.into_iter().take(11).zip(want) {
                let got = tcp_step(from, dir, flag);
                assert_eq!(code(got), want, "{dir:?} {flag:#04x} from {}", from.name());
                cells += 1;
            }
        }
        assert_eq!(cells, 3 * 4 * 11);
        // The public entry points are these tables.
        assert_eq!(tcp_next(State::SynAck, Input, TCP_RST), State::SynRecv);
        assert_eq!(tcp_next_input_only(State::SynAck, TCP_RST), State::Close);
    }

    #[test]
    fn default_timeouts_are_ipvs_defaults() {
        let t = Timeouts::default();
        let want = [
            (State::None, 2),
            (State::SynSent, 120),
            (State::Listen, 120),
            (State::SynAck, 120),
            (State::Established, 900),
            (State::SynRecv, 60),
            (State::FinWait, 120),
            (State::TimeWait, 120),
            (State::Close, 10),
            (State::CloseWait, 60),
            (State::LastAck, 30),
            (State::Udp, 300),
        ];
        for (s, secs) in want {
            assert_eq!(t.secs(s), secs, "{}", s.name());
        }
    }
}
