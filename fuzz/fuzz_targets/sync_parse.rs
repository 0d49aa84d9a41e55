//! Fuzz the backup's parse of a received sync message (`sync::wire::parse`):
//! any datagram, any syncid, must give entries or counted errors, never a
//! panic; every entry it yields, IPv4 or IPv6, must survive a rebuild and
//! parse again to itself. A datagram whose first byte is not 0 is a
//! version-0 message (`ip_vs_process_message_v0`): its entries must also be
//! what version 0 can carry (IPv4, no mark, no timeout, no engine data, the
//! sequence option exactly when the flags say so) and read back as
//! themselves when written again in version 0's layout.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringvs::sync::wire::{self, AnyConn, MessageBuilder, SyncConn, flags};

/// `c` as `struct ip_vs_sync_conn_v0` (and its options, little-endian as a
/// kernel master on x86 copies them).
fn v0_entry(c: &SyncConn, out: &mut Vec<u8>) {
    out.extend([0, c.proto]);
    for p in [c.cport, c.vport, c.dport] {
        out.extend(p.to_be_bytes());
    }
    for a in [c.caddr, c.vaddr, c.daddr] {
        out.extend(a.octets());
    }
    let f = u16::try_from(c.flags).expect("version 0's flags are 16 bits");
    out.extend(f.to_be_bytes());
    out.extend(c.state.to_be_bytes());
    if let Some(s) = c.seq {
        for q in [s.in_seq, s.out_seq] {
            for w in [q.init_seq, q.delta, q.previous_delta] {
                out.extend(w.to_le_bytes());
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&syncid, datagram)) = data.split_first() else {
        return;
    };
    let Ok(entries) = wire::parse(datagram, syncid) else {
        return;
    };
    let v0 = entries.version() == 0;
    assert_eq!(v0, datagram.first().is_some_and(|&b| b != 0));
    let good: Vec<_> = entries.filter_map(Result::ok).collect();
    if v0 && !good.is_empty() {
        let mut m = vec![good.len() as u8, syncid, 0, 0];
        for c in &good {
            let AnyConn::V4(c) = c else {
                panic!("an IPv6 entry in a version-0 message: {c:?}");
            };
            assert_eq!((c.fwmark, c.timeout, c.pe), (0, 0, None));
            assert_eq!(c.seq.is_some(), c.flags & flags::SEQ_MASK != 0);
            v0_entry(c, &mut m);
        }
        let n = u16::try_from(m.len()).expect("255 entries of 48 bytes");
        m[2..4].copy_from_slice(&n.to_be_bytes());
        let again: Vec<_> = wire::parse(&m, syncid)
            .expect("a version-0 header")
            .map(|e| e.expect("a good entry"))
            .collect();
        assert_eq!(again, good);
    }
    let mut buf = vec![0u8; wire::MAX_MAXLEN];
    let Ok(mut msg) = MessageBuilder::new(&mut buf, wire::MAX_MAXLEN, syncid) else {
        return;
    };
    for c in &good {
        if msg.push_any(c).is_err() {
            return;
        }
    }
    let again: Vec<_> = wire::parse(msg.as_bytes(), syncid)
        .map(|e| e.filter_map(Result::ok).collect())
        .unwrap_or_default();
    assert_eq!(again, good);
});
