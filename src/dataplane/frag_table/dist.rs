//! The kernel's `ipfrag_max_dist` for the table of
//! [`frag_table.rs`](super): each IPv4 source's fragments counted per
//! worker (`inet_peer`'s `rid`), and a datagram whose source sent more than
//! `--ipfrag-max-dist` ([`FRAG_MAX_DIST`](super::FRAG_MAX_DIST) by default)
//! fragments since its last started over (`ip_fragment.c`:
//! `ip_frag_too_far`, `ip_frag_reinit`); none counted with 0, as there.

use super::{FRAG_TIMEOUT_S, Frags, Held, Key, PEER_SETS, WAYS, hash};

/// A source's fragments so far (IPv4), as the kernel's `inet_peer` counts
/// them (`rid`): which making of its place in [`Frags::peers`] it is, so a
/// count lost to a source pushed out is never compared with a new one.
#[derive(Clone, Copy, Debug, Default)]
pub(in crate::dataplane) struct Peer {
    pub(super) src: u32,
    pub(super) live: bool,
    made: u32,
    rid: u32,
    /// The second its last fragment came.
    last: u32,
}

/// Where a datagram stood in its source's count at its last fragment: the
/// source's place's making and its count then (the kernel's `ipq.rid`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(in crate::dataplane) struct Mark {
    made: u32,
    rid: u32,
}

impl Frags {
    /// One more fragment from IPv4 source `src`, counted in its place (a
    /// free one in its set, one silent for [`FRAG_TIMEOUT_S`], whose
    /// datagrams are all forgotten, else the one heard least recently, its
    /// count lost); where the count stands.
    fn count(&mut self, src: u32, now: u32) -> Mark {
        let k = Key {
            src: u128::from(src),
            ..Key::default()
        };
        let s = (hash(&k, self.secret) as usize % PEER_SETS) * WAYS;
        let set = &mut self.peers[s..s + WAYS];
        let at = match set.iter().position(|p| p.live && p.src == src) {
            Some(i) => i,
            None => {
                let free = |p: &Peer| !p.live || now.saturating_sub(p.last) >= FRAG_TIMEOUT_S;
                let i = set
                    .iter()
                    .position(free)
                    .or_else(|| (0..WAYS).min_by_key(|&i| set[i].last))
                    .unwrap_or_default();
                self.made = self.made.wrapping_add(1);
                let made = self.made;
                set[i] = Peer {
                    src,
                    live: true,
                    made,
                    ..Peer::default()
                };
                i
            }
        };
        let p = &mut set[at];
        p.rid = p.rid.wrapping_add(1);
        p.last = now;
        Mark {
            made: p.made,
            rid: p.rid,
        }
    }

    /// An IPv4 fragment of datagram `k` at its tracker: counted for its
    /// source, and its datagram (in the table, or fragments of it held)
    /// checked as `ip_frag_too_far` checks a queue a fragment joins: the
    /// count more than `max` (`--ipfrag-max-dist`) on from the datagram's
    /// last (as counted here: not if its source lost its place since)
    /// starts it over. Its entry is forgotten and its held
    /// fragments dropped (how many: `Some`), as `ip_frag_reinit` empties
    /// the queue; the fragment then starts it afresh. With `max` 0 nothing
    /// is counted nor started over (the kernel then gives the queue no
    /// `inet_peer`, and `ip_frag_too_far` returns at once).
    pub(in crate::dataplane) fn too_far(&mut self, k: &Key, now: u32, max: u32) -> Option<u64> {
        if max == 0 {
            return None;
        }
        let mark = self.count(k.src as u32, now);
        self.mark = mark;
        let since = |m: Mark| (m.made == mark.made).then(|| mark.rid.wrapping_sub(m.rid));
        let dist = match self.find(k, now) {
            Some(e) => {
                let m = std::mem::replace(&mut e.mark, mark);
                since(m)
            }
            None => self
                .held
                .iter()
                .filter(|h| h.nic.is_some() && h.piece.key == *k)
                .filter_map(|h| since(h.mark))
                .min(),
        };
        if dist.is_none_or(|d| d <= max) {
            return None;
        }
        if let Some(e) = self.find(k, now) {
            e.live = false;
        }
        let mut n = 0;
        for h in &mut self.held {
            if h.nic.is_some() && h.piece.key == *k {
                *h = Held::default();
                n += 1;
            }
        }
        Some(n)
    }
}
