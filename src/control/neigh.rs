//! Neighbor resolution, the control thread's main loop once the director runs:
//! it feeds what the workers report (`NeighEvent`) to the neighbor table,
//! sends the ARP probes the table asks for, announces our addresses and new
//! VIPs with gratuitous ARP, and publishes the table's snapshot to the workers.
//! It also watches the workers: the director stops when one does.

use super::Ctl;
use super::adm::vips;
use crate::Nic;
use crate::dataplane::Shared;
use crate::io::TxQueue;
use crate::io::ring::TxRing;
use crate::neigh::{NeighEvent, NeighTable, Probe};
use crate::wire::{Mac, arp};
use crossbeam_channel::Receiver;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The control thread's ARP: its sockets, addresses and queues.
pub(super) struct Resolver {
    /// The control thread's own TX rings on ext and int (AF_PACKET whatever
    /// the workers use).
    pub(super) tx: [TxRing; 2],
    /// Our MAC address on ext and int.
    pub(super) macs: [Mac; 2],
    /// Our address on ext and int (the DIP).
    pub(super) own: [Ipv4Addr; 2],
    /// What the workers (and health checks) report: neighbors to resolve, ARP seen.
    pub(super) events: Receiver<NeighEvent>,
    /// New VIPs to announce (`Ctl::changed`).
    pub(super) garp: Receiver<Ipv4Addr>,
}

/// When a director that became active announces its addresses again after
/// the first time (gratuitous ARP can be lost; keepalived repeats its own
/// too, `vrrp_garp_master_repeat`).
const GARP_REPEATS: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(2)];

impl Resolver {
    /// Gratuitous ARP for `ip` on `nic`.
    fn garp(&mut self, nic: Nic, ip: Ipv4Addr) {
        let i = nic as usize;
        let (f, len) = arp_frame(self.macs[i], ip, ip, None);
        self.tx[i].send_one(&f[..len]);
    }

    /// Announce our addresses, and every VIP on the external NIC (a standby
    /// announces nothing: the addresses are the active director's).
    pub(super) fn announce(&mut self, ctl: &Ctl) {
        if ctl.shared.ha.standby() {
            return;
        }
        self.garp(Nic::Ext, self.own[Nic::Ext as usize]);
        self.garp(Nic::Int, self.own[Nic::Int as usize]);
        if let Ok(st) = ctl.adm.lock() {
            for v in vips(&st.cfg) {
                self.garp(Nic::Ext, v);
            }
        }
    }

    /// Resolve neighbors until `term` is set or a worker stops; returns the
    /// index of the worker that stopped, if one did.
    pub(super) fn run(
        &mut self,
        ctl: &Ctl,
        term: &AtomicBool,
        workers: &[JoinHandle<()>],
    ) -> Option<usize> {
        let shared: &Shared = &ctl.shared;
        let mut table = NeighTable::new();
        let mut probes: Vec<Probe> = Vec::new();
        let mut last_tick = Instant::now();
        let mut failed = None;
        let mut activations = shared.ha.activations();
        // Announcements still to repeat after becoming active.
        let mut repeats: Vec<Instant> = Vec::new();
        while !term.load(Ordering::Relaxed) {
            if let Some(k) = workers.iter().position(|t| t.is_finished()) {
                failed = Some(k);
                break;
            }
            let now = Instant::now();
            match self.events.recv_timeout(Duration::from_millis(20)) {
                Ok(ev) => {
                    probes.extend(table.event(ev, now));
                    while let Ok(ev) = self.events.try_recv() {
                        probes.extend(table.event(ev, now));
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
            if now.duration_since(last_tick) >= Duration::from_millis(100) {
                last_tick = now;
                table.tick(now, &mut probes);
            }
            // The role: a standby sends no ARP at all (its probes would claim
            // the DIP for its own MAC); made active (however briefly it was
            // standby), it announces every address at once, then twice more.
            let standby = shared.ha.standby();
            let a = shared.ha.activations();
            if a != activations && !standby {
                activations = a;
                self.announce(ctl);
                repeats = GARP_REPEATS.iter().map(|d| now + *d).collect();
            }
            if !standby && repeats.first().is_some_and(|t| now >= *t) {
                repeats.remove(0);
                self.announce(ctl);
            }
            if standby {
                probes.clear();
                while self.garp.try_recv().is_ok() {}
            } else {
                for p in probes.drain(..) {
                    let i = p.nic as usize;
                    let (f, len) = arp_frame(self.macs[i], self.own[i], Ipv4Addr::from(p.ip), p.to);
                    self.tx[i].send_one(&f[..len]);
                }
                while let Ok(v) = self.garp.try_recv() {
                    self.garp(Nic::Ext, v);
                }
            }
            if let Some(snap) = table.take_snapshot() {
                shared.neigh.store(Arc::new(snap));
                shared.bump();
            }
        }
        failed
    }
}

/// An ARP frame from the director: a request for `probe`, or gratuitous for `ip`.
fn arp_frame(mac: Mac, sip: Ipv4Addr, tip: Ipv4Addr, to: Option<Mac>) -> ([u8; 64], usize) {
    let mut buf = [0u8; 64];
    let len = arp::emit_arp(
        &mut buf,
        arp::operation::REQUEST,
        mac,
        sip,
        Mac([0; 6]),
        tip,
        to.unwrap_or(Mac::BROADCAST),
    );
    (buf, len.max(60))
}
