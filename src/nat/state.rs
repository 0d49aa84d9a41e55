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

use std::time::Duration;

/// A connection's state. `Udp` is the one state of a UDP connection.
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
}

/// Number of states, i.e. of expiry classes.
pub const STATES: usize = 12;

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
    ];

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
        }
    }

    /// Whether a full connection table may evict a connection in this state to
    /// make room for a new one: every TCP state but ESTABLISHED (handshakes,
    /// closes, and the entries a SYN flood leaves). UDP is evictable only when
    /// idle (see `nat::table::UDP_EVICT_IDLE`), so it is not listed here.
    pub fn is_evictable(self) -> bool {
        !matches!(self, State::Established | State::Udp)
    }

    /// The kernel counts ESTABLISHED connections as activeconns (ipvsadm's
    /// ActiveConn), all others as inactconns (`set_tcp_state`,
    /// `IP_VS_CONN_F_INACTIVE`; `ip_vs_conn.c`: `ip_vs_bind_dest`).
    pub fn is_active(self) -> bool {
        self == State::Established
    }
}

/// Timeouts per state, IPVS's defaults (`ip_vs_proto_tcp.c`: `tcp_timeouts`;
/// `ip_vs_proto_udp.c`: `udp_timeouts`).
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
    const IN_ACK: Row = [Close, Established, SynSent, Established, FinWait, TimeWait, Close, CloseWait, Close, Listen, Established];
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
    const ONLY_ACK: Row = [Close, Established, SynSent, Established, FinWait, TimeWait, Close, CloseWait, Close, Listen, Established];
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

    #[test]
    fn only_transitory_tcp_states_are_evictable() {
        let kept: Vec<State> = State::ALL
            .into_iter()
            .filter(|s| !s.is_evictable())
            .collect();
        assert_eq!(kept, [State::Established, State::Udp]);
    }

    #[test]
    fn default_timeouts_are_ipvs_defaults() {
        let t = Timeouts::default();
        let want = [
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
