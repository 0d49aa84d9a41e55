//! What a worker's table keeps of the persistence template a connection is
//! counted on: its generation and whether the connection assured it, in
//! the entry (`Conn::template`, 2 bytes that were padding), and where the
//! template is (`nat::persist::Link`'s `at`) beside the slab, in `links`:
//! written when a connection is made (0, or where its template is) and read
//! when it assures its template or leaves the table (expiry and eviction
//! read it for every connection, a cache line more for each), never by a
//! packet of an established flow, so the entry the fast path reads stays
//! 36 bytes (72 for IPv6).

use super::{Addr, ConnTable};

impl<A: Addr> ConnTable<A> {
    /// Connection `idx` has assured its persistence template
    /// ([`super::super::conn::TEMPLATE_ASSURED`]).
    pub fn set_template_assured(&mut self, idx: u32) {
        self.slab[idx as usize].template |= super::super::conn::TEMPLATE_ASSURED;
    }

    /// Connection `idx` is counted on the persistence template of
    /// `template` (its generation, and
    /// [`super::super::conn::TEMPLATE_ASSURED`] if assured) at `at` (the
    /// template's `Link`).
    pub fn set_template(&mut self, idx: u32, template: u16, at: u32) {
        self.slab[idx as usize].template = template;
        self.links[idx as usize] = at;
    }

    /// Where the persistence template connection `idx` is counted on is
    /// (meaningful while its `Conn::template` is not 0).
    #[inline]
    pub fn link(&self, idx: u32) -> u32 {
        self.links.get(idx as usize).copied().unwrap_or(0)
    }
}
