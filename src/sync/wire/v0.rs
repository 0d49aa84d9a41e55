//! Receiving IPVS sync protocol version 0, what a kernel master sends with
//! `net.ipv4.vs.sync_version=0`: the backup's side of
//! `ip_vs_process_message_v0` (`ip_vs_sync.c`). ringvs never sends it.
//!
//! A version-0 message is a 4-byte header, then `nr_conns` entries back to
//! back (no padding: both sizes are multiples of 4):
//!
//! ```text
//! offset size  struct ip_vs_sync_mesg_v0
//!      0    1  nr_conns (not 0: a first byte of 0 is a version-1 header's)
//!      1    1  syncid
//!      2    2  size: the whole message, header included
//!      4       the entries
//!
//! offset size  struct ip_vs_sync_conn_v0 (24 bytes)
//!      0    1  reserved (not read)
//!      1    1  protocol
//!      2    2  cport
//!      4    2  vport
//!      6    2  dport
//!      8    4  caddr
//!     12    4  vaddr
//!     16    4  daddr
//!     20    2  flags (the low 16 bits of IP_VS_CONN_F_*)
//!     22    2  state
//!     24   24  with IN_SEQ or OUT_SEQ in the flags only: struct
//!              ip_vs_sync_conn_options, in_seq then out_seq, each init_seq,
//!              delta, previous_delta (4 bytes each)
//! ```
//!
//! Fields are big-endian but the sequence option's, which a kernel master
//! copies from its connection as it is (`ip_vs_sync_conn_v0`: `memcpy`), in
//! its CPU's byte order; the kernel's backup copies it back as it is.
//! ringvs reads it little-endian, the order of the x86-64 and arm64 masters
//! it meets: a big-endian master's sequence option would be misread, as a
//! kernel backup of the other byte order misreads it.
//!
//! An entry becomes the [`SyncConn`] a version-1 entry with the same fields
//! would (so one install path serves both): IPv4, no firewall mark, timeout
//! 0 (a connection gets the backup's own timeout for its state; a template 3
//! minutes, as `ip_vs_proc_conn` gives one without a timeout, but at most
//! its service's persistence timeout, as a version-1 template without one),
//! no persistence-engine data. Its faults are
//! version 1's [`EntryError`]s, so they share the drop counters:
//!
//! * fewer than 24 bytes left where `nr_conns` promises an entry ("bogus
//!   conn"): [`EntryError::Truncated`], the rest of the message dropped;
//! * sequence flags but fewer than 48 bytes left ("Dropping buffer bogus conn
//!   options"): [`EntryError::Overrun`] with size 48, the rest dropped;
//! * a connection (not a template) of a protocol ringvs does not serve, or a
//!   state out of the protocol's range: [`EntryError::Protocol`] and
//!   [`EntryError::State`], that entry alone dropped (the kernel's `continue`);
//! * bytes after the last entry: [`EntryError::Trailing`] (the kernel
//!   ignores them; nothing is lost).
//!
//! A deliberate difference: the flags are cut to `IP_VS_CONN_F_BACKUP_MASK`
//! as version 1's are (`ip_vs_proc_sync_conn`), where the kernel's version-0
//! path keeps all 16 bits but `IP_VS_CONN_F_HASHED`; the bits it would keep
//! besides are kernel-internal, or `IP_VS_CONN_F_ONE_PACKET`, which a master
//! never syncs.

use std::net::Ipv4Addr;

use super::parse::{EntryError, check_conn};
use super::{AnyConn, ENTRY_V0_LEN, ENTRY_V0_SEQ_LEN, Seq, SeqOpt, SyncConn, flags};
use crate::wire::{be16, be32};

/// Field offsets of `struct ip_vs_sync_mesg_v0` and `struct
/// ip_vs_sync_conn_v0`.
pub(super) mod field {
    use core::ops::Range;

    // struct ip_vs_sync_mesg_v0 (syncid and size are where version 1 has them)
    pub const NR_CONNS: usize = 0;

    // struct ip_vs_sync_conn_v0
    pub const PROTOCOL: usize = 1;
    pub const CPORT: Range<usize> = 2..4;
    pub const VPORT: Range<usize> = 4..6;
    pub const DPORT: Range<usize> = 6..8;
    pub const CADDR: Range<usize> = 8..12;
    pub const VADDR: Range<usize> = 12..16;
    pub const DADDR: Range<usize> = 16..20;
    pub const FLAGS: Range<usize> = 20..22;
    pub const STATE: Range<usize> = 22..24;
}

/// The entry at the start of `rest` (what is left of the message), as
/// `ip_vs_process_message_v0` reads one: the bytes it takes and the
/// connection, or why it is dropped. After an error that
/// [`ends_message`](EntryError::ends_message) the bytes are 0: nothing
/// follows.
pub(super) fn entry(rest: &[u8]) -> (usize, Result<AnyConn, EntryError>) {
    let Some(e) = rest.get(..ENTRY_V0_LEN) else {
        let left = rest.len();
        return (0, Err(EntryError::Truncated { left }));
    };
    let raw = u32::from(be16(&e[field::FLAGS]));
    let (len, seq) = match raw & flags::SEQ_MASK {
        0 => (ENTRY_V0_LEN, None),
        _ => match rest.get(ENTRY_V0_LEN..ENTRY_V0_SEQ_LEN) {
            Some(o) => (ENTRY_V0_SEQ_LEN, Some(seq_opt(o))),
            None => {
                let size = ENTRY_V0_SEQ_LEN;
                return (0, Err(EntryError::Overrun { size }));
            }
        },
    };
    (len, conn(e, raw & flags::BACKUP_MASK, seq).map(AnyConn::V4))
}

/// The connection of a 24-byte entry, its flags already masked, once its
/// protocol and state pass the checks version 1's do.
fn conn(e: &[u8], flags: u32, seq: Option<SeqOpt>) -> Result<SyncConn, EntryError> {
    let (proto, state) = (e[field::PROTOCOL], be16(&e[field::STATE]));
    check_conn(flags, proto, state)?;
    let addr = |r| Ipv4Addr::from_bits(be32(&e[r]));
    Ok(SyncConn {
        proto,
        flags,
        state,
        caddr: addr(field::CADDR),
        cport: be16(&e[field::CPORT]),
        vaddr: addr(field::VADDR),
        vport: be16(&e[field::VPORT]),
        daddr: addr(field::DADDR),
        dport: be16(&e[field::DPORT]),
        fwmark: 0,
        timeout: 0,
        seq,
        pe: None,
    })
}

/// The 24 bytes of `struct ip_vs_sync_conn_options`, little-endian (module
/// doc).
fn seq_opt(d: &[u8]) -> SeqOpt {
    let w = |i: usize| {
        let mut b = [0; 4];
        b.copy_from_slice(&d[4 * i..4 * i + 4]);
        u32::from_le_bytes(b)
    };
    let seq = |i: usize| Seq {
        init_seq: w(i),
        delta: w(i + 1),
        previous_delta: w(i + 2),
    };
    SeqOpt {
        in_seq: seq(0),
        out_seq: seq(3),
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::sync::wire::{
        HEADER_V0_LEN, MessageBuilder, MessageError, ipvs_state, parse, state_to_ipvs,
    };
    use crate::wire::ipv4::protocol;

    /// `struct ip_vs_sync_conn_v0` of an established TCP connection
    /// 198.18.0.10:40000 -> 198.18.1.1:80 on 198.18.2.11:8080, laid out by
    /// hand from the kernel's struct.
    #[rustfmt::skip]
    const CONN: [u8; 24] = [
        0x00, 0x06, 0x9c, 0x40, // reserved, protocol 6, cport 40000
        0x00, 0x50, 0x1f, 0x90, // vport 80, dport 8080
        0xc6, 0x12, 0x00, 0x0a, // caddr 198.18.0.10
        0xc6, 0x12, 0x01, 0x01, // vaddr 198.18.1.1
        0xc6, 0x12, 0x02, 0x0b, // daddr 198.18.2.11
        0x00, 0x00, 0x00, 0x01, // flags: masquerading, active; state 1
    ];

    /// A template of the same client, service and server: cport 0,
    /// TEMPLATE | INACTIVE, state 1 (`IP_VS_CTPL_S_ASSURED`).
    #[rustfmt::skip]
    const TEMPLATE: [u8; 24] = [
        0x00, 0x06, 0x00, 0x00, // reserved, protocol 6, cport 0
        0x00, 0x50, 0x1f, 0x90, // vport 80, dport 8080
        0xc6, 0x12, 0x00, 0x0a, // caddr
        0xc6, 0x12, 0x01, 0x01, // vaddr
        0xc6, 0x12, 0x02, 0x0b, // daddr
        0x11, 0x00, 0x00, 0x01, // flags 0x1100, state 1
    ];

    /// A connection to port 21 in SYN_RECV with OUT_SEQ | IN_SEQ and the
    /// options, in a little-endian master's byte order.
    #[rustfmt::skip]
    const WITH_SEQ: [u8; 48] = [
        0x00, 0x06, 0x9c, 0x41, // reserved, protocol 6, cport 40001
        0x00, 0x15, 0x00, 0x15, // vport 21, dport 21
        0xc6, 0x12, 0x00, 0x0c, // caddr 198.18.0.12
        0xc6, 0x12, 0x01, 0x01, // vaddr 198.18.1.1
        0xc6, 0x12, 0x02, 0x0c, // daddr 198.18.2.12
        0x06, 0x00, 0x00, 0x03, // flags OUT_SEQ | IN_SEQ, state 3
        0x04, 0x03, 0x02, 0x01, // in_seq.init_seq 0x01020304
        0x10, 0x00, 0x00, 0x00, // in_seq.delta 16
        0x00, 0x00, 0x00, 0x00, // in_seq.previous_delta 0
        0x0d, 0x0c, 0x0b, 0x0a, // out_seq.init_seq 0x0a0b0c0d
        0xf0, 0xff, 0xff, 0xff, // out_seq.delta -16
        0x08, 0x00, 0x00, 0x00, // out_seq.previous_delta 8
    ];

    fn ip(a: [u8; 4]) -> Ipv4Addr {
        Ipv4Addr::from(a)
    }

    fn conn() -> SyncConn {
        SyncConn {
            proto: protocol::TCP,
            flags: flags::MASQ,
            state: 1,
            caddr: ip([198, 18, 0, 10]),
            cport: 40000,
            vaddr: ip([198, 18, 1, 1]),
            vport: 80,
            daddr: ip([198, 18, 2, 11]),
            dport: 8080,
            fwmark: 0,
            timeout: 0,
            seq: None,
            pe: None,
        }
    }

    fn template() -> SyncConn {
        SyncConn {
            flags: flags::TEMPLATE | flags::INACTIVE,
            state: ipvs_state::CTPL_ASSURED,
            cport: 0,
            ..conn()
        }
    }

    fn with_seq() -> SyncConn {
        SyncConn {
            flags: flags::SEQ_MASK,
            state: 3,
            caddr: ip([198, 18, 0, 12]),
            cport: 40001,
            vport: 21,
            daddr: ip([198, 18, 2, 12]),
            dport: 21,
            seq: Some(SeqOpt {
                in_seq: Seq {
                    init_seq: 0x0102_0304,
                    delta: 16,
                    previous_delta: 0,
                },
                out_seq: Seq {
                    init_seq: 0x0a0b_0c0d,
                    delta: (-16i32) as u32,
                    previous_delta: 8,
                },
            }),
            ..conn()
        }
    }

    /// A version-0 message of `nr` announced entries and `body`, its size
    /// field the datagram's length.
    fn message(nr: u8, syncid: u8, body: &[&[u8]]) -> Vec<u8> {
        let mut m = vec![nr, syncid, 0, 0];
        for b in body {
            m.extend_from_slice(b);
        }
        let n = m.len() as u16;
        m[2..4].copy_from_slice(&n.to_be_bytes());
        m
    }

    fn all(m: &[u8], syncid: u8) -> Vec<Result<AnyConn, EntryError>> {
        parse(m, syncid).expect("a good header").collect()
    }

    #[test]
    fn a_version_0_message_parses() {
        let m = message(3, 3, &[&CONN, &WITH_SEQ, &TEMPLATE]);
        assert_eq!(m.len(), HEADER_V0_LEN + 24 + 48 + 24);
        let it = parse(&m, 3).expect("a good header");
        assert_eq!((it.version(), it.syncid(), it.nr_conns()), (0, 3, 3));
        let want = [conn(), with_seq(), template()].map(|c| Ok(AnyConn::V4(c)));
        assert_eq!(all(&m, 3), want);
        assert!(template().is_template());
    }

    /// An entry reads as the same connection a version-1 entry with the same
    /// fields does (timeout 0, no mark): one install path serves both.
    #[test]
    fn an_entry_is_what_version_1_carries_of_it() {
        let mut buf = [0; crate::sync::wire::MIN_BUFFER * 2];
        let mut b = MessageBuilder::new(&mut buf, 400, 3).expect("buffer");
        for c in [conn(), with_seq(), template()] {
            b.push(&c).expect("fits");
        }
        let v1 = all(b.as_bytes(), 3);
        assert_eq!(v1, all(&message(3, 3, &[&CONN, &WITH_SEQ, &TEMPLATE]), 3));
    }

    #[test]
    fn flags_are_cut_to_the_backup_mask() {
        let mut e = CONN;
        // HASHED, SYNC, ONE_PACKET and the unused top bits go; NOOUTPUT,
        // NO_CPORT and DROUTE stay.
        e[20..22].copy_from_slice(&0xe8e3u16.to_be_bytes());
        let got = all(&message(1, 0, &[&e]), 0);
        let flags = flags::DROUTE | flags::NOOUTPUT | flags::NO_CPORT;
        assert_eq!(got, [Ok(AnyConn::V4(SyncConn { flags, ..conn() }))]);
        assert_eq!(0xe8e3 & flags::BACKUP_MASK, flags);
    }

    #[test]
    fn header_faults_are_version_1s() {
        let good = message(1, 3, &[&CONN]);
        assert_eq!(
            parse(&good, 4).err(),
            Some(MessageError::SyncId { got: 3, ours: 4 })
        );
        assert!(parse(&good, 0).is_ok(), "syncid 0 takes all");
        let mut m = good.clone();
        m[3] += 1;
        let len = m.len();
        assert_eq!(
            parse(&m, 3).err(),
            Some(MessageError::Size { size: 29, len })
        );
        assert!(matches!(
            parse(&good[..27], 3),
            Err(MessageError::Size { .. })
        ));
        // Whatever bytes 4..8 hold: a non-zero first byte is version 0.
        let mut m = good.clone();
        m[4..8].copy_from_slice(&[1, 1, 0, 0]);
        assert_eq!(parse(&m, 3).map(|e| e.version()), Ok(0));
    }

    #[test]
    fn a_cut_entry_ends_the_message() {
        // Fewer than 24 bytes where nr_conns promises an entry.
        for cut in [0, 1, 23] {
            let m = message(2, 0, &[&CONN, &CONN[..cut]]);
            let got = all(&m, 0);
            let err = EntryError::Truncated { left: cut };
            assert_eq!(got, [Ok(conn().into()), Err(err)], "cut {cut}");
            assert!(err.ends_message());
        }
        // A 4-byte header alone that promises one.
        let m = message(1, 0, &[]);
        assert_eq!(all(&m, 0), [Err(EntryError::Truncated { left: 0 })]);
        // Sequence flags, the options cut by the message's end.
        for cut in [24, 25, 47] {
            let m = message(3, 0, &[&CONN, &WITH_SEQ[..cut]]);
            let err = EntryError::Overrun { size: 48 };
            assert_eq!(all(&m, 0), [Ok(conn().into()), Err(err)], "cut {cut}");
            assert!(err.ends_message());
        }
    }

    #[test]
    fn a_bad_protocol_or_state_drops_that_entry_alone() {
        let set = |proto: u8, state: u16| {
            let mut e = CONN;
            e[1] = proto;
            e[22..24].copy_from_slice(&state.to_be_bytes());
            e
        };
        let cases = [
            (set(50, 1), EntryError::Protocol(50)),
            (
                set(6, ipvs_state::TCP_LAST),
                EntryError::State {
                    proto: 6,
                    state: 11,
                },
            ),
            (
                set(17, 1),
                EntryError::State {
                    proto: 17,
                    state: 1,
                },
            ),
        ];
        for (bad, err) in cases {
            assert!(!err.ends_message());
            let m = message(3, 0, &[&CONN, &bad, &CONN]);
            let ok = Ok(conn().into());
            assert_eq!(all(&m, 0), [ok, Err(err), ok], "{err}");
        }
        // A bad connection with the sequence option is skipped whole.
        let mut bad = WITH_SEQ;
        bad[1] = 50;
        let m = message(2, 0, &[&bad, &CONN]);
        let got = all(&m, 0);
        assert_eq!(got, [Err(EntryError::Protocol(50)), Ok(conn().into())]);
        // A template's protocol and state are not checked.
        let mut t = TEMPLATE;
        t[1] = 0;
        t[22..24].copy_from_slice(&7u16.to_be_bytes());
        let want = SyncConn {
            proto: 0,
            state: 7,
            ..template()
        };
        assert_eq!(all(&message(1, 0, &[&t]), 0), [Ok(want.into())]);
    }

    #[test]
    fn bytes_after_the_last_entry_are_counted_not_read() {
        let m = message(1, 0, &[&CONN, &CONN]);
        let got = all(&m, 0);
        let trailing = Err(EntryError::Trailing { bytes: 24 });
        assert_eq!(got, [Ok(conn().into()), trailing]);
    }

    #[test]
    fn states_read_as_version_1_reads_them() {
        for s in [crate::nat::State::SynSent, crate::nat::State::TimeWait] {
            let mut e = CONN;
            e[22..24].copy_from_slice(&state_to_ipvs(s).to_be_bytes());
            let Ok(AnyConn::V4(c)) = all(&message(1, 0, &[&e]), 0)[0] else {
                panic!("an IPv4 connection");
            };
            assert_eq!(c.nat_state(), Some(s));
        }
    }
}
