//! Writing IPv4 entries into a message, as `ip_vs_sync_conn` does.

use super::view::{SyncEntry, SyncMessage, field};
use super::{HEADER_LEN, MAX_CONNS, MAX_MAXLEN, MIN_BUFFER, SEQ_DATA_LEN, SyncConn, flags, opt};

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

/// Writes IPv4 entries into one message, in a buffer the caller reuses: push
/// until [`Full`], send [`as_bytes`](Self::as_bytes), [`clear`](Self::clear),
/// push again. Nothing is allocated.
///
/// The room for entries is `ip_vs_sync_conn`'s: an entry fits if its pad and
/// its bytes end within `maxlen`, or, in an empty message, within the header
/// plus the entry (`ip_vs_sync_buff_create` grows a buffer for one entry that
/// `maxlen` cannot hold), so pushing to an empty message never fails.
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
    /// as it was and says it is [`Full`].
    pub fn push(&mut self, c: &SyncConn) -> Result<(), Full> {
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
        e.set_type(0);
        e.set_protocol(c.proto);
        e.set_size(elen);
        e.set_flags(c.flags & !flags::HASHED);
        e.set_state(c.state);
        e.set_cport(c.cport);
        e.set_vport(c.vport);
        e.set_dport(c.dport);
        e.set_fwmark(c.fwmark);
        e.set_timeout(c.timeout);
        e.set_caddr(c.caddr);
        e.set_vaddr(c.vaddr);
        e.set_daddr(c.daddr);
        if let Some(s) = c.seq {
            let o = e.options_mut();
            o[0] = opt::SEQ_DATA;
            o[1] = SEQ_DATA_LEN as u8;
            let words = [s.in_seq, s.out_seq]
                .into_iter()
                .flat_map(|q| [q.init_seq, q.delta, q.previous_delta]);
            for (dst, w) in o[2..].chunks_exact_mut(4).zip(words) {
                dst.copy_from_slice(&w.to_be_bytes());
            }
        }
        self.len = end;
        self.nr += 1;
        let mut m = SyncMessage::new_unchecked(&mut self.buf[..]);
        m.set_size(end as u16);
        m.set_nr_conns(self.nr);
        Ok(())
    }
}
