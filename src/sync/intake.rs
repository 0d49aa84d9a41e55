//! The backup daemon's intake, apart from its socket: a received datagram
//! checked (`wire::parse`), each entry resolved against the current rules
//! and handed to the worker that owns it, or into the shared persistence
//! templates; every drop counted under its reason (`super::daemon`).

use super::daemon::SyncCounters;
use super::family::{Family, ftp_data, fwd_bits, keeps_seq, out_seq};
use super::wire::{self, AnyConn, SyncConn, flags};
use crate::dataplane::sync::{Install, Resolved, SyncEntry, SyncPorts};
use crate::dataplane::{Env, Shared};
use crate::nat::persist::{TemplateDest, TemplateKey, Wanted};
use crate::nat::{Snapshot, State};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Seconds a synced template without a timeout lives (`ip_vs_proc_conn`:
/// `3*60*HZ`), at most its service's persistence timeout.
const TEMPLATE_NO_TIMEOUT_S: u32 = 180;

/// What a backup does with a received datagram, apart from the socket: check
/// it, resolve each entry against the current rules and hand it to the
/// worker that owns it (or to the shared templates), counting every drop.
pub struct Intake {
    /// The backup's syncid (0 takes every message).
    pub syncid: u8,
    pub shared: Arc<Shared>,
    pub env: Arc<Env>,
    pub ports: Arc<SyncPorts>,
    pub counters: Arc<SyncCounters>,
    /// The workers' clock origin (persistence templates count from it).
    pub start: Instant,
}

impl Intake {
    /// One datagram, now.
    pub fn message(&self, datagram: &[u8]) {
        self.message_at(datagram, self.start.elapsed().as_secs() as u32);
    }

    /// One datagram at `now`, seconds on the workers' clock (from
    /// [`Intake::start`]): what persistence templates count from. The
    /// daemon passes the wall clock ([`Intake::message`]); a test drives its
    /// own.
    pub fn message_at(&self, datagram: &[u8], now: u32) {
        let c = &self.counters;
        c.bytes_received
            .fetch_add(datagram.len() as u64, Ordering::Relaxed);
        let entries = match wire::parse(datagram, self.syncid) {
            Ok(e) => e,
            Err(e) => return c.dropped(e.kind()),
        };
        c.msgs_received.fetch_add(1, Ordering::Relaxed);
        if entries.version() == 0 {
            c.msgs_received_v0.fetch_add(1, Ordering::Relaxed);
        }
        let snap = self.shared.config.load();
        for e in entries {
            match e {
                Ok(conn) => {
                    c.conns_received.fetch_add(1, Ordering::Relaxed);
                    let r = match &conn {
                        AnyConn::V4(conn) => self.entry(&snap, conn, now),
                        AnyConn::V6(conn) => self.entry(&snap, conn, now),
                    };
                    if let Err(why) = r {
                        c.dropped(why);
                    }
                }
                Err(e) => {
                    c.dropped(e.kind());
                    if e.ends_message() {
                        return;
                    }
                }
            }
        }
    }

    /// One entry: resolved against the rules of its family and handed on,
    /// or why not. An entry's three addresses are of one family, so a real
    /// server of the other family than its service is never found here; no
    /// daemon starts while one exists, and none is added (`-a`, `-e`, `-R`)
    /// while a daemon runs (`control/ha.rs`, as IPVS's
    /// `ip_vs_genl_new_daemon` and `ip_vs_genl_set_cmd`).
    pub(super) fn entry<A: Family>(
        &self,
        snap: &Snapshot,
        c: &SyncConn<A>,
        now: u32,
    ) -> Result<(), &'static str> {
        if !A::enabled(&self.env) {
            return Err("ipv6_off");
        }
        // No service or real server for it: an FTP data connection, whose
        // port no service holds (a VIP's port-0 service may hold it, but
        // not the control connection's real server).
        let t = match A::resolve(snap, c) {
            Ok(t) => t,
            Err(why) => ftp_data(snap, &self.env.ftp, c).ok_or(why)?,
        };
        // The backup's own server must be reached the way the master's is.
        if c.flags & flags::FWD_MASK != fwd_bits(t.forward) {
            return Err("method_differs");
        }
        let server = Resolved {
            svc: t.svc,
            addr: t.addr,
            port: t.port,
        };
        if c.is_template() {
            let (timeout, mask) = t.persist.ok_or("not_persistent")?;
            let templates = A::templates(&self.shared).ok_or("no_template_table")?;
            let key = TemplateKey::new(t.svc, c.caddr.to_nat(), mask);
            // A SIP template (`IPVS_OPT_PE_DATA`): keyed by its Call-ID, as
            // this director's engine keys its own; for a service without
            // the engine it would stand for every call of the client.
            let (key, call_id) = match (&c.pe, t.pe_sip) {
                (Some(call_id), true) => (
                    templates.with_call_id(key, call_id.as_bytes()),
                    Some(call_id.as_bytes()),
                ),
                (Some(_), false) => return Err("persistence_engine"),
                (None, _) => (key, None),
            };
            // Resolved against the rules of the message's start: installed
            // only if the rules now still give the id to that server, as a
            // worker checks a connection's (`Resolved`), for the kernel
            // binds the template to its dest as it makes it
            // (`ip_vs_proc_conn`). Once in, the trash sees it (`held`).
            let rules = self.shared.config.load();
            if !std::ptr::eq(&**rules, snap) && !A::names(&rules, t.dest, &server) {
                return Err("dest_changed");
            }
            let to = TemplateDest {
                id: t.dest,
                addr: t.addr,
                port: t.port,
            };
            // An active director's own live templates win (as its connections
            // do): it only extends one to the same server. A dead one, or one
            // of another netmask, counts as none (`Templates::install`).
            let replace = self.shared.ha.standby();
            // An entry without a timeout lives 3 minutes (`ip_vs_proc_conn`).
            let secs = match c.timeout {
                0 => TEMPLATE_NO_TIMEOUT_S,
                t => t,
            };
            // At most the service's own -p (a deliberate bound: a message
            // does not pin a client longer than this director would), but
            // never below IPVS's 60 s re-arm (`expire_later`), which a
            // master reports for a template its connections outlived: a
            // `-p` under 60 must not cut the report short.
            let cap = timeout.max(crate::nat::persist::EXPIRE_LATER);
            let expires = now.saturating_add(secs.min(cap));
            let want = Wanted { key, call_id };
            if !templates.install(want, to, mask, now, expires, replace) {
                return Err("template_kept_or_full");
            }
            if c.state & wire::ipvs_state::CTPL_ASSURED != 0 {
                templates.assure(key);
            }
            self.counters
                .templates_installed
                .fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let state = c.nat_state().ok_or("bad_state")?;
        if matches!(state, State::None | State::SctpNone) {
            return Err("bad_state");
        }
        let client = (c.caddr.to_nat(), c.cport);
        let install = Install {
            entry: SyncEntry {
                proto: c.proto,
                client,
                vip: (c.vaddr.to_nat(), c.vport),
                rip: (c.daddr.to_nat(), c.dport),
                state,
                template: false,
                timeout: c.timeout,
                forward: t.forward,
                out_seq: out_seq(c),
                fwmark: c.fwmark,
            },
            dest: t.dest,
            server,
            keep_seq: keeps_seq(c),
        };
        let installs = A::installs(&self.ports);
        let owner = A::owner(&self.env, client, installs.len());
        let q = installs.get(owner).ok_or("no_worker")?;
        q.try_send(install).map_err(|_| "queue_full")?;
        self.counters.conns_queued.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
