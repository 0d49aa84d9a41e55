//! Writing entries of either family into a message, as `ip_vs_sync_conn` does.

use super::view::{SyncEntry, SyncMessage, field};
use super::{
    AnyConn, HEADER_LEN, MAX_CONNS, MAX_MAXLEN, MIN_BUFFER, SEQ_DATA_LEN, SyncAddr, SyncConn,
    flags, opt,
};

/// The entry does not fit: send the message and start the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("sync message full")]
pub struct Full;

/// A buffer shorter than `max(maxlen, MIN_BUFFER)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("sync message buffer of {len} bytes, {need} needed")]
pub struct BufferTooSmall {
    pub len: usize,
    pub need: usize,
}

/// Writes entries into one message, in a buffer the caller reuses: push
/// until [`Full`], send [`as_bytes`](Self::as_bytes), [`clear`](Self::clear),
/// push again. Nothing is allocated.
///
/// The room for entries is `ip_vs_sync_conn`'s: an entry fits if its pad and
/// its bytes end within `maxlen`, or, in an empty message, within the header
/// plus the entry (`ip_vs_sync_buff_create` grows a buffer for one entry that
/// `maxlen` cannot hold), so pushing to an empty message never fails.
/// IPv4 and IPv6 entries mix in one message, as IPVS's master mixes them in
/// one buffer; an IPv6 entry takes 72 bytes (98 with the sequence option), so
/// a default 1472-byte message holds 20 plain IPv6 entries against 40 IPv4.
/// Deliberate difference: a message also ends at 255 entries, where IPVS's
/// one-byte `nr_conns` would wrap (a `--sync-maxlen` above 9188 bytes).
#[derive(Debug)]
pub struct MessageBuilder<'a> {
    buf: &'a mut [u8],
    maxlen: usize,
    len: usize,
    nr: u8,
}

impl<'a> MessageBuilder<'a> {
    /// Starts an empty message with `syncid` in `buf`, which must hold
    /// `max(maxlen, MIN_BUFFER)` bytes. A `maxlen` over [`MAX_MAXLEN`] counts
    /// as [`MAX_MAXLEN`] (the size field is 16 bits).
    pub fn new(buf: &'a mut [u8], maxlen: usize, syncid: u8) -> Result<Self, BufferTooSmall> {
        let maxlen = maxlen.min(MAX_MAXLEN);
        let need = maxlen.max(MIN_BUFFER);
        if buf.len() < need {
            return Err(BufferTooSmall {
                len: buf.len(),
                need,
            });
        }
        SyncMessage::new_unchecked(&mut buf[..]).init(syncid);
        Ok(Self {
            buf,
            maxlen,
            len: HEADER_LEN,
            nr: 0,
        })
    }

    /// Empties the message, keeping the syncid.
    pub fn clear(&mut self) {
        let syncid = self.buf[field::SYNCID];
        SyncMessage::new_unchecked(&mut self.buf[..]).init(syncid);
        self.len = HEADER_LEN;
        self.nr = 0;
    }

    /// The message so far, header included: what to send.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// No entry yet (a message without entries is never worth sending).
    pub fn is_empty(&self) -> bool {
        self.nr == 0
    }

    pub fn nr_conns(&self) -> u8 {
        self.nr
    }

    /// Appends `c` after a zero pad to 4-byte alignment, or leaves the message
    /// as it was and says it is [`Full`]. The entry is `struct ip_vs_sync_v4`
    /// or `ip_vs_sync_v6` by `A`, with the type byte to match.
    pub fn push<A: SyncAddr>(&mut self, c: &SyncConn<A>) -> Result<(), Full> {
        let elen = c.entry_len();
        let pad = (4 - self.len % 4) % 4;
        let end = self.len + pad + elen;
        let room = match self.nr {
            0 => self.maxlen.max(HEADER_LEN + elen),
            MAX_CONNS => return Err(Full),
            _ => self.maxlen,
        };
        if end > room {
            return Err(Full);
        }
        self.buf[self.len..self.len + pad].fill(0);
        let mut e = SyncEntry::new_unchecked(&mut self.buf[self.len + pad..end]);
        e.set_type(A::TYPE);
        e.set_protocol(c.proto);
        e.set_size(elen);
        e.set_flags(c.flags & !flags::HASHED);
        e.set_state(c.state);
        e.set_cport(c.cport);
        e.set_vport(c.vport);
        e.set_dport(c.dport);
        e.set_fwmark(c.fwmark);
        e.set_timeout(c.timeout);
        e.set_addrs([c.caddr, c.vaddr, c.daddr]);
        let o = e.options_mut();
        let mut at = 0;
        if let Some(s) = c.seq {
            o[0] = opt::SEQ_DATA;
            o[1] = SEQ_DATA_LEN as u8;
            let words = [s.in_seq, s.out_seq]
                .into_iter()
                .flat_map(|q| [q.init_seq, q.delta, q.previous_delta]);
            for (dst, w) in o[2..].chunks_exact_mut(4).zip(words) {
                dst.copy_from_slice(&w.to_be_bytes());
            }
            at = 2 + SEQ_DATA_LEN;
        }
        // After the sequence option, the engine's data then its name, as
        // `ip_vs_sync_conn` writes them.
        if let Some(d) = c.pe {
            for (ty, v) in [(opt::PE_DATA, d.as_bytes()), (opt::PE_NAME, opt::SIP)] {
                o[at] = ty;
                o[at + 1] = v.len() as u8;
                o[at + 2..at + 2 + v.len()].copy_from_slice(v);
                at += 2 + v.len();
            }
        }
        self.len = end;
        self.nr += 1;
        let mut m = SyncMessage::new_unchecked(&mut self.buf[..]);
        m.set_size(end as u16);
        m.set_nr_conns(self.nr);
        Ok(())
    }

    /// [`push`](Self::push) for an entry of either family.
    pub fn push_any(&mut self, c: &AnyConn) -> Result<(), Full> {
        match c {
            AnyConn::V4(c) => self.push(c),
            AnyConn::V6(c) => self.push(c),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::sync::wire::{
        DEFAULT_MAXLEN, ENTRY_V4_LEN, ENTRY_V6_LEN, PeData, SeqOpt, SyncEntry,
    };
    use crate::sync::wire::{TYPE_F_INET6, parse};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn conn(i: u16) -> SyncConn {
        SyncConn {
            proto: 6,
            flags: flags::MASQ,
            state: 1,
            caddr: Ipv4Addr::new(198, 18, 0, 1 + (i % 250) as u8),
            cport: 1000 + i,
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

    fn with_seq(i: u16) -> SyncConn {
        SyncConn {
            flags: flags::SEQ_MASK,
            seq: Some(SeqOpt::default()),
            ..conn(i)
        }
    }

    fn conn6(i: u16) -> SyncConn<Ipv6Addr> {
        let c = conn(i);
        let host = |net: u16, h: u16| Ipv6Addr::new(0x2001, 2, 0, net, 0, 0, 0, h);
        SyncConn {
            proto: c.proto,
            flags: c.flags,
            state: c.state,
            caddr: host(1, 0x1000 + i),
            cport: c.cport,
            vaddr: host(1, 0x110),
            vport: c.vport,
            daddr: host(2, 2),
            dport: c.dport,
            fwmark: c.fwmark,
            timeout: c.timeout,
            seq: None,
            pe: None,
        }
    }

    fn with_seq6(i: u16) -> SyncConn<Ipv6Addr> {
        SyncConn {
            flags: flags::SEQ_MASK,
            seq: Some(SeqOpt::default()),
            ..conn6(i)
        }
    }

    #[test]
    fn a_default_master_message_holds_20_plain_ipv6_entries() {
        let mut buf = [0xa5; DEFAULT_MAXLEN];
        let mut b = MessageBuilder::new(&mut buf, DEFAULT_MAXLEN, 1).expect("buffer of maxlen");
        for i in 0..20 {
            b.push(&conn6(i))
                .expect("20 entries of 72 bytes fit in 1472");
        }
        assert_eq!(b.push(&conn6(20)), Err(Full), "8 + 21 × 72 = 1520");
        assert_eq!(
            (b.len(), b.nr_conns()),
            (HEADER_LEN + 20 * ENTRY_V6_LEN, 20)
        );
        // reserved, syncid 1, size 1448, 20 entries, version 1, spare.
        assert_eq!(&b.as_bytes()[..8], &[0, 1, 0x05, 0xa8, 20, 1, 0, 0]);
        let e = SyncEntry::new_checked(&b.as_bytes()[HEADER_LEN..]).expect("an entry");
        assert_eq!((e.entry_type(), e.size()), (TYPE_F_INET6, ENTRY_V6_LEN));
    }

    #[test]
    fn the_fill_counts_each_entry_by_its_family() {
        // 38 IPv4 entries end at 1376: an IPv6 one still fits (1448).
        let mut buf = [0; DEFAULT_MAXLEN];
        let mut b = MessageBuilder::new(&mut buf, DEFAULT_MAXLEN, 1).expect("buffer of maxlen");
        for i in 0..38 {
            b.push(&conn(i)).expect("fits");
        }
        b.push(&conn6(0)).expect("1376 + 72 = 1448 fits");
        assert_eq!(b.len(), 1448);
        // 39 IPv4 entries end at 1412: an IPv6 one would end at 1484, an
        // IPv4 one fits (1448).
        b.clear();
        for i in 0..39 {
            b.push(&conn(i)).expect("fits");
        }
        assert_eq!(b.push(&conn6(0)), Err(Full));
        assert_eq!(b.len(), 1412, "left as it was");
        b.push(&conn(39)).expect("1412 + 36 = 1448 fits");
        let n = parse(b.as_bytes(), 1).expect("a good header").count();
        assert_eq!(n, 40);
    }

    #[test]
    fn an_ipv6_entry_with_an_option_is_padded_and_the_pad_counts() {
        let mut buf = [0xa5; MIN_BUFFER];
        let mut b = MessageBuilder::new(&mut buf, 300, 1).expect("buffer of maxlen");
        b.push(&with_seq6(0)).expect("fits");
        assert_eq!(b.len(), HEADER_LEN + ENTRY_V6_LEN + 2 + 24);
        b.push(&conn6(1)).expect("fits");
        let m = b.as_bytes();
        assert_eq!(m.len(), 8 + 98 + 2 + 72);
        assert_eq!(&m[106..108], &[0, 0], "the pad is zeros");
        let e = SyncEntry::new_checked(&m[108..]).expect("an entry at 108");
        assert_eq!(e.addrs::<Ipv6Addr>().map(|a| a[0]), Some(conn6(1).caddr));
        for (maxlen, fits) in [(179, false), (180, true)] {
            let mut buf = [0; MIN_BUFFER];
            let mut b = MessageBuilder::new(&mut buf, maxlen, 1).expect("buffer of maxlen");
            b.push(&with_seq6(0)).expect("fits");
            assert_eq!(b.push(&conn6(1)).is_ok(), fits, "maxlen {maxlen}");
        }
        // `--sync-maxlen 1`: an empty message grows for the longest entry.
        let mut buf = [0; MIN_BUFFER];
        let mut b = MessageBuilder::new(&mut buf, 1, 1).expect("MIN_BUFFER");
        let longest = SyncConn {
            pe: PeData::new(&[b'x'; 255]),
            ..with_seq6(0)
        };
        b.push(&longest).expect("an empty message takes any entry");
        assert_eq!(b.len(), MIN_BUFFER);
        assert_eq!(b.push(&conn(1)), Err(Full));
    }

    #[test]
    fn a_default_master_message_holds_40_plain_entries() {
        let mut buf = [0xa5; DEFAULT_MAXLEN];
        let mut b = MessageBuilder::new(&mut buf, DEFAULT_MAXLEN, 1).expect("buffer of maxlen");
        assert!(b.is_empty());
        for i in 0..40 {
            b.push(&conn(i))
                .expect("40 entries of 36 bytes fit in 1472");
        }
        assert_eq!(b.push(&conn(40)), Err(Full));
        assert_eq!(
            (b.len(), b.nr_conns()),
            (HEADER_LEN + 40 * ENTRY_V4_LEN, 40)
        );
        // reserved, syncid 1, size 1448, 40 entries, version 1, spare.
        assert_eq!(&b.as_bytes()[..8], &[0, 1, 0x05, 0xa8, 40, 1, 0, 0]);
    }

    #[test]
    fn an_entry_after_an_option_is_padded_to_4_bytes() {
        let mut buf = [0xa5; MIN_BUFFER];
        let mut b = MessageBuilder::new(&mut buf, 200, 1).expect("buffer of maxlen");
        b.push(&with_seq(0)).expect("fits");
        assert_eq!(b.len(), HEADER_LEN + 62);
        b.push(&conn(1)).expect("fits");
        assert_eq!(b.len(), HEADER_LEN + 62 + 2 + 36);
        let m = b.as_bytes();
        assert_eq!(&m[70..72], &[0, 0], "the pad is zeros");
        let e = SyncEntry::new_checked(&m[72..]).expect("an entry at 72");
        assert_eq!((e.size(), e.cport()), (36, 1001));
    }

    #[test]
    fn the_pad_counts_against_maxlen() {
        for (maxlen, fits) in [(107, false), (108, true)] {
            let mut buf = [0; MIN_BUFFER];
            let mut b = MessageBuilder::new(&mut buf, maxlen, 1).expect("buffer of maxlen");
            b.push(&with_seq(0)).expect("fits");
            assert_eq!(b.push(&conn(1)).is_ok(), fits, "maxlen {maxlen}");
        }
    }

    #[test]
    fn an_empty_message_takes_one_entry_whatever_maxlen() {
        // `--sync-maxlen 1` on a master: one entry per message.
        let mut buf = [0; MIN_BUFFER];
        let mut b = MessageBuilder::new(&mut buf, 1, 1).expect("MIN_BUFFER");
        b.push(&with_seq(0))
            .expect("an empty message grows for one entry");
        assert_eq!(b.push(&conn(1)), Err(Full));
        b.clear();
        b.push(&conn(1)).expect("again after clear");
    }

    #[test]
    fn a_message_ends_at_255_entries() {
        let mut buf = vec![0; MAX_MAXLEN];
        let mut b = MessageBuilder::new(&mut buf, MAX_MAXLEN, 1).expect("buffer of maxlen");
        for i in 0..255 {
            b.push(&conn(i)).expect("room for 255");
        }
        assert_eq!(b.push(&conn(255)), Err(Full));
        assert_eq!(b.as_bytes()[4], 255);
    }

    #[test]
    fn full_leaves_the_message_as_it_was() {
        let mut buf = [0xa5; MIN_BUFFER];
        let mut b = MessageBuilder::new(&mut buf, 107, 3).expect("buffer");
        b.push(&with_seq(0)).expect("fits");
        let before = b.as_bytes().to_vec();
        assert_eq!(b.push(&conn(1)), Err(Full));
        assert_eq!(b.as_bytes(), &before[..]);
        assert_eq!(
            buf[70..],
            [0xa5; MIN_BUFFER - 70],
            "nothing written past the message"
        );
    }

    #[test]
    fn clear_keeps_the_syncid() {
        let mut buf = [0xa5; MIN_BUFFER];
        let mut b = MessageBuilder::new(&mut buf, 100, 5).expect("buffer");
        b.push(&conn(0)).expect("fits");
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.as_bytes(), &[0, 5, 0, 8, 0, 1, 0, 0]);
    }

    #[test]
    fn a_short_buffer_is_refused() {
        let mut buf = [0; MIN_BUFFER];
        // An IPv6 entry with the sequence option and the longest SIP data
        // must fit, whatever maxlen.
        let e = MessageBuilder::new(&mut buf[..MIN_BUFFER - 1], 1, 0).map(|_| ());
        assert_eq!(
            e,
            Err(BufferTooSmall {
                len: MIN_BUFFER - 1,
                need: MIN_BUFFER
            })
        );
        let e = MessageBuilder::new(&mut buf, DEFAULT_MAXLEN, 0).map(|_| ());
        assert_eq!(
            e,
            Err(BufferTooSmall {
                len: MIN_BUFFER,
                need: 1472
            })
        );
        let mut big = vec![0; MAX_MAXLEN];
        assert!(
            MessageBuilder::new(&mut big, 100_000, 0).is_ok(),
            "maxlen capped"
        );
    }

    #[test]
    fn hashed_is_not_sent() {
        let mut buf = [0; MIN_BUFFER];
        let mut b = MessageBuilder::new(&mut buf, 100, 0).expect("buffer");
        let c = SyncConn {
            flags: flags::HASHED | flags::INACTIVE,
            ..conn(0)
        };
        b.push(&c).expect("fits");
        let e = SyncEntry::new_checked(&b.as_bytes()[HEADER_LEN..]).expect("an entry");
        assert_eq!(e.flags(), flags::INACTIVE);
    }
}
