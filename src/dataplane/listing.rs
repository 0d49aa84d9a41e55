//! Connection listings (`ringvs adm -L -c`, `ipvsadm -L -c`) served by the
//! worker that owns the connections, in steps between bursts: each pass
//! walks at most [`LISTING_CHUNK`] slab entries of its table into a buffer the
//! requester gave, so a listing of a million connections never holds up the
//! packets.

use super::shared::{LISTING_CHUNK, ListingJob};
use super::worker::Core;
use crate::nat::{ConnInfo, ConnTable};
use std::sync::atomic::Ordering;

/// A listing request being served: where the walk of the table goes on from.
pub(super) struct Walk {
    job: ListingJob,
    at: u32,
    /// The IPv4 table was walked; the IPv6 one is being walked.
    v6: bool,
}

/// One step of a listing over `table` from slab entry `at`: at most `room`
/// entries looked at, the live ones into `buf`. Returns where the next step
/// goes on, `None` at the end of the table. Every connection is listed, as
/// `ip_vs_conn_seq_show` (`ip_vs_conn.c`) shows each in
/// `/proc/net/ip_vs_conn`: the listing is as large as the table.
fn list_step<A: crate::nat::Addr>(
    table: &ConnTable<A>,
    at: u32,
    room: usize,
    (to, now): (&crate::nat::Timeouts, u32),
    buf: &mut Vec<ConnInfo>,
) -> Option<u32> {
    table.walk(at, room, |c| {
        buf.push(ConnInfo {
            proto: c.proto,
            client: (c.client.to_ip(), c.cport),
            vip: (c.vip.to_ip(), c.vport),
            dest: (c.rip.to_ip(), c.rport),
            state: c.state,
            expires_in: c.expires_in(now, to),
            template: false,
            assured: false,
            pe: None,
        });
    })
}

impl Core {
    /// A listing step can be taken now (the one being served has a buffer
    /// to fill, or none is served and a request waits): the loop does not
    /// sleep. One whose requester is still reading lets it sleep, requests
    /// queued behind it too: giving a buffer back rings (`Listing::poll`),
    /// so a slow reader does not keep the worker spinning.
    pub(super) fn listing(&self) -> bool {
        match &self.walk {
            // The next request is taken only once this one ends.
            Some(w) => w.job.ready(),
            // SeqCst: read after `Handoffs::sleep` says the worker sleeps,
            // against `queue_listing`'s store before it rings.
            None => self.out.listings_queued.load(Ordering::SeqCst) > 0,
        }
    }

    /// One step of the listing being served (the next request's first step if
    /// none is): at most [`LISTING_CHUNK`] slab entries looked at, the live ones
    /// copied into a buffer the requester gave, sent. Requests are served in
    /// turn; a requester that gave up is dropped at the next send.
    pub(super) fn listings(&mut self) {
        if self.walk.is_none() {
            self.walk = self.out.next_listing().map(|job| Walk {
                job,
                at: 0,
                v6: false,
            });
        }
        let Some(w) = &mut self.walk else { return };
        let mut buf = match w.job.buffer() {
            Ok(Some(b)) => b,
            // The requester is still reading the last ones: next pass.
            Ok(None) => return,
            Err(()) => {
                self.walk = None;
                return;
            }
        };
        buf.clear();
        let now = self.clock.now_s;
        let to = &self.snap.cfg.timeouts;
        let room = LISTING_CHUNK.min(buf.capacity());
        // The IPv4 table, then the IPv6 one.
        let next = if w.v6 {
            list_step(&self.table6, w.at, room, (to, now), &mut buf)
        } else {
            list_step(&self.table, w.at, room, (to, now), &mut buf)
        };
        let done = match next {
            Some(at) => {
                w.at = at;
                None
            }
            None if !w.v6 && !self.table6.is_empty() => {
                (w.v6, w.at) = (true, 0);
                None
            }
            _ => Some(now),
        };
        if !w.job.send(buf, done) || done.is_some() {
            self.walk = None;
        }
    }
}
