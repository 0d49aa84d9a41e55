//! The observation hooks (`ringvs capture` / `ringvs trace`, see
//! `crate::observe`), reached only while something is attached: the plain path
//! never sees them. The frame is handled as usual, through TX queues that show
//! the capture what is sent, and the trace gets one record per matching packet
//! with the counters it moved and the connection before and after.

use super::tx::TxPair;
use super::worker::Core;
use crate::Nic;
use crate::io::{RxMeta, TxQueue};
use crate::nat::FlowKey;
use crate::stats::Ctr;
use std::net::Ipv6Addr;

impl Core {
    /// [`Core::handle`] with a tap attached: offer the received frame to the
    /// capture, run the usual handling through TX queues that show what is sent,
    /// and describe the packet to the trace if it matches.
    #[cold]
    #[inline(never)]
    pub(super) fn handle_tapped<T: TxQueue>(
        &mut self,
        nic: Nic,
        data: &[u8],
        meta: RxMeta,
        handed: bool,
        tx: &mut TxPair<T>,
    ) {
        use crate::observe::{Point, TraceRec, filter};
        // Taken out for the call (no refcount traffic), put back after.
        let Some(tap) = self.snap.tap.take() else {
            return self.handle_frame(nic, data, meta, handed, tx);
        };
        let cap = tap.capture.as_deref();
        if let Some(c) = cap.filter(|_| !handed)
            && !c.offer_rx(
                self.id,
                Point { nic, tx: false },
                data,
                meta.wire_len as usize,
                meta.vlan,
            )
        {
            self.ctr.inc(Ctr::CaptureDropped);
        }
        let trace = tap.trace.as_deref().filter(|t| t.filter.matches(data));
        let mut rec = TraceRec::default();
        // The counters before, to diff (about 1 KB): only for a trace.
        let before = trace.map(|_| self.ctr.0);
        let key = if trace.is_some() {
            rec.sum = filter::summarize(data);
            rec.id = crate::observe::frame_id(data);
            let key = TraceKey::of(nic, &rec.sum);
            rec.before = key.as_ref().and_then(|k| self.snap_of(k));
            Some(key)
        } else {
            None
        };
        let traced = trace.map(|_| [None; 2]);
        let [ext, int] = self.through_tap(tx, cap, traced, |core, taps| {
            core.handle_frame(nic, data, meta, handed, taps)
        });
        if let (Some(t), Some(key), Some(before)) = (trace, key, before) {
            rec.ts_ns = crate::observe::stamp();
            rec.worker = self.id as u16;
            rec.nic = nic as u8;
            rec.handed = handed;
            rec.len = data.len() as u16;
            for (i, (a, b)) in self.ctr.0.iter().zip(before.iter()).enumerate() {
                if a != b {
                    rec.moved |= 1u128 << i;
                }
            }
            // The connection may have been created under the reply's key too;
            // looking up the same key finds it either way (IPv6 packets in the
            // IPv6 table).
            rec.after = key.as_ref().and_then(|k| self.snap_of(k));
            let sent = ext.into_iter().chain(int).flatten().flatten();
            for (slot, s) in rec.tx.iter_mut().zip(sent) {
                *slot = Some(s);
            }
            if !t.push(rec) {
                self.ctr.inc(Ctr::TraceDropped);
            }
        }
        self.snap.tap = Some(tap);
    }

    /// [`Core::release_stalled`] and [`Core::expire_pending`], once a pass:
    /// through the tap when one is attached.
    #[inline]
    pub(super) fn housekeep<T: TxQueue>(&mut self, tx: &mut TxPair<T>) {
        if self.snap.tap.is_some() {
            return self.housekeep_tapped(tx);
        }
        self.release_stalled(tx);
        self.expire_pending(tx);
    }

    /// [`Core::release_stalled`] and [`Core::expire_pending`] with a tap
    /// attached: what they send outside [`Core::handle`] (held fragments
    /// released, the host-unreachable errors for frames that waited too
    /// long for their next hop) goes through TX queues that show it to the
    /// capture, as tcpdump sees every frame sent. No packet is traced here.
    #[cold]
    #[inline(never)]
    fn housekeep_tapped<T: TxQueue>(&mut self, tx: &mut TxPair<T>) {
        let tap = self.snap.tap.take();
        let Some(cap) = tap.as_ref().and_then(|t| t.capture.as_deref()) else {
            self.snap.tap = tap;
            self.release_stalled(tx);
            return self.expire_pending(tx);
        };
        self.through_tap(tx, Some(cap), None, |core, taps| {
            core.release_stalled(taps);
            core.expire_pending(taps);
        });
        self.snap.tap = tap;
    }

    /// Run `f` with `tx` behind queues that show what it sends to the
    /// capture `cap` and keep the frames sent for a traced packet
    /// (`traced`), counting what the capture could not take; each NIC's
    /// frames kept for the trace.
    fn through_tap<'a, T: TxQueue>(
        &mut self,
        tx: &'a mut TxPair<T>,
        cap: Option<&'a crate::observe::Capture>,
        traced: Option<[Option<crate::observe::TxSnap>; 2]>,
        f: impl FnOnce(&mut Self, &mut TxPair<crate::observe::TapTx<'a, T>>),
    ) -> [Option<[Option<crate::observe::TxSnap>; 2]>; 2] {
        use crate::observe::TapTx;
        let [ext_tx, int_tx] = &mut tx.0;
        let tap_tx = |inner, nic| TapTx {
            inner,
            nic,
            worker: self.id,
            capture: cap,
            traced,
            dropped: 0,
        };
        let mut taps = TxPair::new(tap_tx(ext_tx, Nic::Ext), tap_tx(int_tx, Nic::Int));
        f(self, &mut taps);
        let [ext, int] = taps.0;
        self.ctr.add(Ctr::CaptureDropped, ext.dropped + int.dropped);
        [ext.traced, int.traced]
    }

    /// The connection `key` names, in the table of its family.
    fn snap_of(&self, key: &TraceKey) -> Option<crate::observe::ConnSnap> {
        use crate::observe::ConnSnap;
        // A DR or TUN connection's real server as its packets go (a tunnel
        // endpoint of the other family is not the placeholder it holds).
        fn snap<A: crate::nat::Addr>(core: &Core, c: &crate::nat::Conn<A>) -> ConnSnap {
            let fwd = core.snap.cfg.forward_of(c.dest());
            let mut s = ConnSnap::of(c, fwd);
            if fwd != crate::config::Forward::Masq {
                s.rip.0 = core.direct_rip(c);
            }
            s
        }
        match key {
            TraceKey::V4(k) => self.table.lookup(k).map(|i| snap(self, self.table.get(i))),
            TraceKey::V6(k) => self
                .table6
                .lookup(k)
                .map(|i| snap(self, self.table6.get(i))),
        }
    }
}

/// The flow key a traced packet is looked up under, in its family's table.
enum TraceKey {
    V4(FlowKey),
    V6(FlowKey<Ipv6Addr>),
}

impl TraceKey {
    /// The key of a TCP or UDP packet received on `nic` (its ports read), in
    /// the direction the NIC gives; none for anything else.
    fn of(nic: Nic, s: &crate::observe::filter::Summary) -> Option<Self> {
        let (sp, dp) = s.ports?;
        let dir = match nic {
            Nic::Ext => 0,
            Nic::Int => 1,
        };
        Some(if s.ip6 {
            let (a, b) = (Ipv6Addr::from_bits(s.src6), Ipv6Addr::from_bits(s.dst6));
            Self::V6(FlowKey::new(dir, s.proto, a, sp, b, dp))
        } else {
            Self::V4(FlowKey::new(dir, s.proto, s.src, sp, s.dst, dp))
        })
    }
}
