//! Connection sync and the HA role, the workers' side (the daemons that send
//! and receive IPVS sync messages are `crate::sync`).
//!
//! * **Master** (a `--start-daemon master` runs, the director is active): a
//!   worker reports a connection when it enters a state IPVS syncs
//!   (`ip_vs_sync_conn_needed`, `ip_vs_sync.c`: TCP ESTABLISHED, FIN_WAIT,
//!   CLOSE, CLOSE_WAIT and TIME_WAIT; and, a ringvs choice where IPVS counts
//!   packets, a UDP connection when it is created),
//!   with its persistence template if it has one, and when the expiry keeps
//!   it 60 s more for the connections it controls (`ip_vs_conn_expire`'s
//!   `expire_later`, `ip_vs_conn.c`); and re-reports every
//!   connection of those states once per resend period (the *resend sweep*, a
//!   ringvs addition: see `docs/ha.md`). Reports go into a bounded channel per
//!   worker that the daemon drains; a full channel is counted
//!   (`sync_queue_full`), never waited on.
//! * **Backup**: the daemon resolves each received entry to a service and real
//!   server of the current rules and queues it to the worker owning its client
//!   key; the worker installs it in its table (state, real server; its timeout
//!   is the backup's own for that state). An active director keeps the
//!   connections it already has (its own packets are newer than any message);
//!   a standby takes the entry's state.
//! * **Standby**: a worker answers no ARP or ping and forwards nothing
//!   (`drop_standby`), not even what it held for a next hop's MAC
//!   (`Core::expire_pending`); it still learns the ARP it hears and installs synced
//!   connections, so that on becoming active it serves them at once.
//!
//! IPv4 and IPv6 connections are synced alike, as IPVS syncs both
//! (`ip_vs_sync_conn` packs `struct ip_vs_sync_v6` entries for `AF_INET6`):
//! every step above is written once, generic over the family (`Family`, and
//! its [`SyncFamily`] lane here: each family's table has its own report and
//! install channels and its own resend sweep; the install budget is shared).
//!
//! Per packet this costs one predictable branch on a cached flag; the channel
//! operations happen on state changes and new connections only.

use super::family::Family;
use super::template::{template_dest, template_sync_entry};
use super::worker::Core;
use crate::nat::conn::TEMPLATE_ASSURED;
use crate::nat::ftp::Shift;
use crate::nat::persist::TemplateKey;
use crate::nat::sip::PeData;
use crate::nat::table::EXPIRE_LATER;
use crate::nat::{Addr, Conn, State};
use crate::stats::Ctr;
use crossbeam_channel::{Receiver, Sender, bounded};
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

mod install;
pub use install::{Install, Resolved};

/// Entries in flight from a worker to the master daemon, and from the backup
/// daemon to a worker, at most.
pub const SYNC_DEPTH: usize = 16384;
/// SIP templates in flight from a worker to the master daemon, at most (their
/// own channel: a report with its Call-ID takes some 300 bytes).
pub const PE_DEPTH: usize = 1024;
/// Synced connections a worker installs per pass at most.
pub const INSTALL_BUDGET: usize = 1024;
/// Slab entries the resend sweep looks at per pass at most.
const RESEND_CHUNK: usize = 2048;
/// Default resend period (seconds).
pub const RESEND_DEFAULT_S: u32 = 10;

/// A connection (or persistence template) as sync carries it, in host order:
/// IPv4 (`u32` addresses, as the IPv4 table holds them) by default, or IPv6
/// (`SyncEntry<Ipv6Addr>`, over the IPv6 channels of [`SyncLink`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncEntry<A = u32> {
    /// IP protocol number (6, 17 or 132; a template may carry 0).
    pub proto: u8,
    /// Client address and port (a template: the masked address and port 0).
    pub client: (A, u16),
    /// Virtual address and port (a template: the service's port, 0 for a
    /// port-0 service).
    pub vip: (A, u16),
    /// Real server address and port.
    pub rip: (A, u16),
    /// The connection's state; a template's is `Established` when it is
    /// assured (`IP_VS_CTPL_S_ASSURED`), else `None`.
    pub state: State,
    /// A persistence template, not a connection.
    pub template: bool,
    /// Seconds it has to live, IPVS's `cp->timeout`: the state's timeout at
    /// a state change, 60 as the expiry re-arms a connection it keeps for
    /// those it controls (`Conn::kept`), what is left of either when the
    /// resend sweep sends it; a template's `-p`, or 60 once the expiry
    /// re-armed it.
    pub timeout: u32,
    /// How the real server is reached (IPVS's forwarding bits of the flags).
    pub forward: crate::config::Forward,
    /// The FTP helper's shift of the real server's stream (IPVS's
    /// `out_seq`): a control connection whose stream a rewritten reply
    /// moved; `None` for any other.
    pub out_seq: Option<Shift>,
    /// The mark of a firewall-mark service's connection or template (IPVS
    /// sends `cp->fwmark`, the packet's mark); 0 for any other.
    pub fwmark: u32,
}

/// A SIP template as a worker reports it, with its Call-ID (IPVS sends it
/// as `IPVS_OPT_PE_DATA`, `ip_vs_sync_conn`), of either family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeReport {
    V4(SyncEntry<u32>, PeData),
    V6(SyncEntry<Ipv6Addr>, PeData),
}

/// The role and sync switches the control plane sets and the workers follow
/// (re-read when the shared epoch moves).
#[derive(Debug)]
pub struct Ha {
    standby: AtomicBool,
    master: AtomicBool,
    resend_s: AtomicU32,
    /// Times the director was made active (the control thread announces
    /// the addresses when it moves, however fast the role flapped).
    activations: AtomicU32,
}

impl Default for Ha {
    fn default() -> Self {
        Self {
            standby: AtomicBool::new(false),
            master: AtomicBool::new(false),
            resend_s: AtomicU32::new(RESEND_DEFAULT_S),
            activations: AtomicU32::new(0),
        }
    }
}

impl Ha {
    pub fn standby(&self) -> bool {
        self.standby.load(Ordering::Acquire)
    }
    /// Set the role (the caller bumps the shared epoch); returns the role
    /// it had.
    pub fn set_standby(&self, standby: bool) -> bool {
        let was = self.standby.swap(standby, Ordering::AcqRel);
        if !standby {
            self.activations.fetch_add(1, Ordering::AcqRel);
        }
        was
    }
    /// How many times the director was made active.
    pub fn activations(&self) -> u32 {
        self.activations.load(Ordering::Acquire)
    }
    pub fn master(&self) -> bool {
        self.master.load(Ordering::Acquire)
    }
    /// A master daemon runs (or stopped): workers report (or stop).
    pub fn set_master(&self, on: bool) {
        self.master.store(on, Ordering::Release);
    }
    pub fn resend_s(&self) -> u32 {
        self.resend_s.load(Ordering::Relaxed)
    }
    /// The resend sweep's period (0: no sweep).
    pub fn set_resend_s(&self, s: u32) {
        self.resend_s.store(s, Ordering::Relaxed);
    }
}

/// The daemons' ends of every worker's sync channels, in worker order. Each
/// family has its own channels, so IPv4 entries stay as small as they were.
#[derive(Debug)]
pub struct SyncPorts {
    /// What each worker reports (the master daemon drains these).
    pub reports: Vec<Receiver<SyncEntry>>,
    /// Where the backup daemon queues each worker's installs.
    pub installs: Vec<Sender<Install>>,
    /// What each worker reports of its IPv6 connections.
    pub reports6: Vec<Receiver<SyncEntry<Ipv6Addr>>>,
    /// Where the backup daemon queues each worker's IPv6 installs (the
    /// owner of an IPv6 client key, `Env::owner6`).
    pub installs6: Vec<Sender<Install<Ipv6Addr>>>,
    /// What each worker reports of its SIP templates.
    pub pe_reports: Vec<Receiver<PeReport>>,
}

/// A worker's ends, and what it caches of [`Ha`].
pub struct SyncLink {
    v4: Lane<u32>,
    v6: Lane<Ipv6Addr>,
    pe_report: Sender<PeReport>,
    /// Cached flags (see [`Core::refresh_ha`]).
    pub(super) standby: bool,
    reporting: bool,
    resend_s: u32,
    /// Which family installs first this pass (they alternate, so that
    /// neither waits behind the other's backlog).
    v6_first: bool,
}

/// One family's sync channels in a worker, and its resend sweep over that
/// family's table.
pub(super) struct Lane<A> {
    report: Sender<SyncEntry<A>>,
    install: Receiver<Install<A>>,
    /// The install held back until the worker loads the rules again
    /// (`install.rs`).
    waiting: Option<install::Waiting<A>>,
    sweep: Sweep,
}

/// Where a resend sweep is: the next slab index, the second it last ran,
/// slab entries left to look at in that second, and the second the next
/// pass over the table may start.
#[derive(Default)]
struct Sweep {
    at: u32,
    s: u32,
    left: usize,
    pass_due: u32,
}

/// The family's lane of a worker's [`SyncLink`]: what lets the reporting,
/// installing and sweeping below be written once for both families (a
/// supertrait of the connection path's `Family`).
pub(super) trait SyncFamily: Addr {
    fn lane(link: &SyncLink) -> &Lane<Self>;
    fn lane_mut(link: &mut SyncLink) -> &mut Lane<Self>;
    fn pe_report(e: SyncEntry<Self>, d: PeData) -> PeReport;
}

/// [`SyncFamily`] for a family whose lane is field `$lane` of [`SyncLink`]
/// and whose SIP reports are [`PeReport::$pe`].
macro_rules! sync_family {
    ($a:ty, $lane:ident, $pe:ident) => {
        impl SyncFamily for $a {
            #[inline]
            fn lane(link: &SyncLink) -> &Lane<Self> {
                &link.$lane
            }
            #[inline]
            fn lane_mut(link: &mut SyncLink) -> &mut Lane<Self> {
                &mut link.$lane
            }
            fn pe_report(e: SyncEntry<Self>, d: PeData) -> PeReport {
                PeReport::$pe(e, d)
            }
        }
    };
}
sync_family!(u32, v4, V4);
sync_family!(Ipv6Addr, v6, V6);

/// The channels of `workers` workers: the daemons' ends and each worker's.
pub(super) fn channels(workers: usize) -> (SyncPorts, Vec<SyncLink>) {
    let mut ports = SyncPorts {
        reports: Vec::with_capacity(workers),
        installs: Vec::with_capacity(workers),
        reports6: Vec::with_capacity(workers),
        installs6: Vec::with_capacity(workers),
        pe_reports: Vec::with_capacity(workers),
    };
    let mut links = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (report, reports) = bounded(SYNC_DEPTH);
        let (installs, install) = bounded(SYNC_DEPTH);
        let (report6, reports6) = bounded(SYNC_DEPTH);
        let (installs6, install6) = bounded(SYNC_DEPTH);
        let (pe_report, pe_reports) = bounded(PE_DEPTH);
        ports.pe_reports.push(pe_reports);
        ports.reports.push(reports);
        ports.installs.push(installs);
        ports.reports6.push(reports6);
        ports.installs6.push(installs6);
        links.push(SyncLink {
            v4: Lane {
                report,
                install,
                waiting: None,
                sweep: Sweep::default(),
            },
            v6: Lane {
                report: report6,
                install: install6,
                waiting: None,
                sweep: Sweep::default(),
            },
            pe_report,
            standby: false,
            reporting: false,
            resend_s: 0,
            v6_first: false,
        });
    }
    (ports, links)
}

impl SyncLink {
    /// A master reports connection changes (one cached flag).
    #[inline]
    pub(super) fn reporting(&self) -> bool {
        self.reporting
    }

    /// Queue `e` for the master daemon; false if the channel is full.
    pub(super) fn report_of<A: SyncFamily>(&self, e: SyncEntry<A>) -> bool {
        A::lane(self).report.try_send(e).is_ok()
    }

    /// Report an IPv6 connection (or template) to the master daemon; false
    /// if the channel is full. The workers report through
    /// `Core::sync_report_of`, which counts `Ctr::SyncQueueFull` or
    /// `Ctr::SyncReported`.
    pub fn report6(&self, e: SyncEntry<Ipv6Addr>) -> bool {
        self.v6.report.try_send(e).is_ok()
    }

    /// The next IPv6 connection the backup daemon queued for this worker
    /// (the workers drain it in `Core::sync_installs`).
    pub fn next_install6(&self) -> Option<Install<Ipv6Addr>> {
        self.v6.install.try_recv().ok()
    }
}

/// Whether a connection entering `state` is reported: the TCP and SCTP
/// states IPVS syncs (`ip_vs_sync_conn_needed`), and UDP (ringvs reports a
/// UDP connection when it is created; IPVS on its 3rd packet and every 50th).
#[inline]
pub fn syncs(state: State) -> bool {
    matches!(
        state,
        State::Established
            | State::FinWait
            | State::Close
            | State::CloseWait
            | State::TimeWait
            | State::Udp
            | State::SctpEstablished
            | State::SctpShutdownSent
            | State::SctpShutdownReceived
            | State::SctpShutdownAckSent
            | State::SctpClosed
    )
}

/// Whether the resend sweep sends a connection in `state` again: those that
/// still carry data (a connection in TIME_WAIT or CLOSE is reported when it
/// gets there, not again: at 1k new connections/s the two minutes of
/// TIME_WAIT alone would hold 120k entries to resend). Nor one the expiry
/// keeps in those states for the connections it controls: it is reported
/// at each 60 s re-arm ([`Core::sync_report_rearmed`]), the only time the
/// kernel syncs a connection that gets no packets (`expire_later` in
/// `ip_vs_conn_expire` calls `ip_vs_sync_conn`; else `ip_vs_in_hook`, per
/// packet).
#[inline]
fn resends(state: State) -> bool {
    matches!(
        state,
        State::Established
            | State::FinWait
            | State::CloseWait
            | State::Udp
            | State::SctpEstablished
            | State::SctpShutdownSent
            | State::SctpShutdownReceived
            | State::SctpShutdownAckSent
    )
}

impl Core {
    /// Re-read the role and sync switches (when the epoch moved).
    pub(super) fn refresh_ha(&mut self) {
        let ha = &self.shared.ha;
        let s = &mut self.sync;
        s.standby = ha.standby();
        s.reporting = ha.master() && !s.standby;
        s.resend_s = ha.resend_s();
    }

    /// Report connection `idx` of the family's table (and its template)
    /// to the master daemon, with what is left of its timeout
    /// (`Conn::expires_in`): its state's from its last packet, or, while
    /// the expiry keeps it for the connections it controls (`Conn::kept`:
    /// `expire_later` in `ip_vs_conn_expire` set `cp->timeout` to 60 s),
    /// of those [`EXPIRE_LATER`] seconds. A state change is reported at
    /// its packet, so with the whole timeout, as `ip_vs_sync_conn` sends
    /// `cp->timeout`; the resend sweep, ringvs's own, reports an idle
    /// connection at any point of its timeout, and the whole of it would
    /// have a kernel backup, which arms its copy with the message's
    /// timeout, keep it up to that long past the master's (the kernel
    /// sends a kept one only as it re-arms it, with all 60:
    /// [`Core::sync_report_rearmed`]).
    #[cold]
    pub(super) fn sync_report_of<A: Family>(&mut self, idx: u32) {
        let c = A::table(self).get(idx);
        let timeout = c.expires_in(self.clock.now_s, &self.snap.cfg.timeouts);
        self.sync_report_timed::<A>(idx, timeout.max(1));
    }

    /// Report the connections of the family's table at `idxs`, which the
    /// expiry just kept for [`EXPIRE_LATER`] seconds more (FTP control
    /// connections with data connections: `later.rs`), as IPVS's
    /// `ip_vs_conn_expire` (`ip_vs_conn.c`) syncs a connection it re-arms
    /// (`expire_later`: `ip_vs_sync_conn` with the sync threshold when the
    /// master is on): those in a state IPVS syncs
    /// (`ip_vs_sync_conn_needed`), with the re-armed timeout as theirs, and
    /// their templates. The caller asks only while [`SyncLink::reporting`].
    #[cold]
    pub(super) fn sync_report_rearmed<A: Family>(&mut self, idxs: &[u32]) {
        for &idx in idxs {
            if syncs(A::table(self).get(idx).state) {
                self.sync_report_timed::<A>(idx, EXPIRE_LATER);
            }
        }
    }

    /// [`Core::sync_report_of`], the connection's timeout `timeout`.
    fn sync_report_timed<A: Family>(&mut self, idx: u32, timeout: u32) {
        let c = A::table(self).get(idx);
        let entry = SyncEntry {
            proto: c.proto,
            client: (c.client, c.cport),
            vip: (c.vip, c.vport),
            rip: (c.rip, c.rport),
            state: c.state,
            template: false,
            timeout,
            forward: self.snap.cfg.forward_of(c.dest()),
            out_seq: self.ftp_shift(c),
            fwmark: A::conn_service(&self.snap.cfg, c).map_or(0, |s| A::mark_of(s.id)),
        };
        let current = (c.template != 0)
            .then(|| self.template_current::<A>(idx))
            .flatten();
        let template = current.and_then(|(timeout, held, assured, client)| {
            let e = self.template_entry(c, Some(held))?;
            // The template's own state and client, as `ip_vs_sync_conn`
            // sends `cp->control`'s: assured by any of its connections
            // (`ip_vs_control_assure_ct`), not only by this one; its client
            // masked by the `-M` it was made under, which may not be the
            // service's now.
            let state = if assured { State::Established } else { e.state };
            Some(SyncEntry {
                timeout,
                state,
                client: (client, 0),
                ..e
            })
        });
        for e in std::iter::once(entry).chain(template) {
            self.sync_send::<A>(e);
        }
    }

    /// The timeout of connection `idx`'s template as IPVS sends a template's
    /// (`cp->timeout`: the service's `-p`, 60 s once the expiry re-armed it,
    /// `expire_later`), the address and port of the server it holds,
    /// whether it is assured (`IP_VS_CTPL_S_ASSURED`) and its client as it
    /// was masked, if
    /// it is still the one the connection is counted on (its `Link`): one
    /// replaced since (its server left and came back, the client went
    /// elsewhere) is not sent, or a report of `c` would roll a backup's
    /// template back to the old server, where IPVS syncs the connection's
    /// actual control template (`ip_vs_sync_conn`).
    fn template_current<A: Family>(&self, idx: u32) -> Option<(u32, (A, u16), bool, A)> {
        let link = super::template::link_of(A::table(self), idx);
        let now = self.clock.now_s;
        let (period, dest, assured, client) = A::templates(&self.shared).current_at(link, now)?;
        Some((period, (dest.addr, dest.port), assured, client))
    }

    /// Report the persistence template of `c`, a datagram of a
    /// one-packet-scheduling service, which leaves no connection to report
    /// it with: when the template is new, and then once per resend period
    /// while datagrams use it ([`Templates::sync_due`]). IPVS never syncs a
    /// one-packet connection itself (`ip_vs_sync_conn`, `ip_vs_sync.c`: "Do
    /// not sync ONE PACKET"), only its template, which
    /// `ip_vs_sync_conn_needed` exempts from the packet count (so, with the
    /// default `sync_refresh_period` 0, with every datagram); ringvs counts
    /// seconds instead, as its resend sweep does for connections.
    ///
    /// [`Templates::sync_due`]: crate::nat::persist::Templates::sync_due
    #[cold]
    pub(super) fn sync_report_template<A: Family>(&mut self, c: &Conn<A>) {
        let Some(key) = super::template::template_key(&self.snap.cfg, c) else {
            return;
        };
        let full = A::lane(&self.sync).report.is_full();
        if !self.template_due::<A>((key, c.template_gen()), full) {
            return;
        }
        if let Some(e) = self.template_entry(c, None) {
            self.sync_send::<A>(e);
        }
    }

    /// Whether template `key` of `generation` is to be reported now, its
    /// report channel `full` or not ([`Templates::sync_due`], which marks it
    /// reported): a full channel is counted first and marks nothing, since a
    /// report lost after the mark would wait a resend period (or for ever).
    ///
    /// [`Templates::sync_due`]: crate::nat::persist::Templates::sync_due
    fn template_due<A: Family>(
        &mut self,
        (key, generation): (TemplateKey<A>, u16),
        full: bool,
    ) -> bool {
        if full {
            self.ctr.inc(Ctr::SyncQueueFull);
            return false;
        }
        let (now, period) = (self.clock.now_s, self.sync.resend_s);
        A::templates(&self.shared).sync_due(key, generation, now, period)
    }

    /// Count a report queued (`sent`) or lost to a full channel.
    fn count_report(&mut self, sent: bool) {
        self.ctr.inc(if sent {
            Ctr::SyncReported
        } else {
            Ctr::SyncQueueFull
        });
    }

    /// Report SIP template `key` of `generation` (used just now by a
    /// datagram of `c`, which leaves it at once) with its Call-ID `call_id`,
    /// as [`Core::sync_report_template`] reports a one-packet service's
    /// template: when new, then once per resend period while in use. A
    /// connection cannot report it (it holds none), so it goes here for
    /// `-o` or not; its own channel, as the Call-ID makes the report ten
    /// times an entry's size.
    #[cold]
    pub(super) fn sync_report_sip<A: Family>(
        &mut self,
        c: &Conn<A>,
        (key, generation): (TemplateKey<A>, u16),
        call_id: &[u8],
    ) {
        let full = self.sync.pe_report.is_full();
        if generation == 0 || !self.template_due::<A>((key, generation), full) {
            return;
        }
        let (Some(e), Some(d)) = (self.template_entry(c, None), PeData::new(call_id)) else {
            return;
        };
        let sent = self.sync.pe_report.try_send(A::pe_report(e, d)).is_ok();
        self.count_report(sent);
    }

    /// Queue `e` for the master daemon, or count the full queue.
    fn sync_send<A: Family>(&mut self, e: SyncEntry<A>) {
        let sent = A::lane(&self.sync).report.try_send(e).is_ok();
        self.count_report(sent);
    }

    /// The persistence template a connection of a persistent service is
    /// controlled by, as IPVS syncs it (`ip_vs_sync_conn` sends `cp->control`
    /// too): client address masked by `-M` (an IPv4 netmask, an IPv6 prefix
    /// length: [`Addr::masked`]), client port 0, the service's port; a
    /// firewall-mark service's: protocol 0, the mark as the address, port 0
    /// (its id, `nat::mark`), as `ip_vs_sched_persist` makes it. `held`:
    /// the address and port of the server the template holds, if the caller
    /// looked it up ([`Core::template_current`]).
    fn template_entry<A: Family>(
        &self,
        c: &Conn<A>,
        held: Option<(A, u16)>,
    ) -> Option<SyncEntry<A>> {
        let svc = A::conn_service(&self.snap.cfg, c)?;
        let p = svc.entry.persist?;
        // Its server removed since, the template still names it, as the
        // kernel's `cp->control` keeps its dest (`template_dest`): at the
        // address and port it holds, or, not looked up (a datagram's
        // report, whose server was live to schedule it), the connection's,
        // which are the server's but on a port-0 or firewall-mark service,
        // whose connections keep the client's port: none known there.
        let held = held.or_else(|| (svc.id.2 != 0).then_some((c.rip, c.rport)));
        let to = template_dest(&self.snap.cfg, &svc, c.dest(), held)?;
        // Assured by this connection (established, or a UDP reply).
        let assured = c.template & TEMPLATE_ASSURED != 0;
        Some(template_sync_entry(
            &svc,
            to,
            c.client.masked(p.mask),
            assured,
            p.timeout,
        ))
    }

    /// The resend sweep: look at a share of each family's table each second
    /// so that every connection in a synced state is reported again once per
    /// period.
    pub(super) fn sync_resend(&mut self) {
        if !self.sync.reporting || self.sync.resend_s == 0 {
            return;
        }
        self.sync_resend_of::<u32>();
        self.sync_resend_of::<Ipv6Addr>();
    }

    /// [`Core::sync_resend`] over the family's table.
    fn sync_resend_of<A: Family>(&mut self) {
        let now = self.clock.now_s;
        let capacity = A::table(self).capacity();
        let resend_s = self.sync.resend_s;
        let lane = A::lane_mut(&mut self.sync);
        let s = &mut lane.sweep;
        if now != s.s {
            s.s = now;
            s.left = capacity.div_ceil(resend_s as usize).max(1);
        }
        if s.left == 0 || (s.at == 0 && now < s.pass_due) {
            return;
        }
        // Leave room in the channel for the reports of state changes, and
        // resume where the sweep stopped once the daemon has drained it: a
        // sweep never pushes the same connections out of a full channel
        // period after period.
        let room = (SYNC_DEPTH / 2).saturating_sub(lane.report.len());
        if room < 64 {
            return;
        }
        if s.at == 0 {
            s.pass_due = now.saturating_add(resend_s);
        }
        // At most half the room: a persistent connection reports its template too.
        let n = s.left.min(RESEND_CHUNK).min(room / 2);
        s.left -= n;
        let mut found = [0u32; 64];
        let mut k = 0;
        let from = s.at;
        // Collect the indexes first (the walk borrows the table), in rounds
        // of at most 64.
        let mut at = from;
        let end = from.saturating_add(n as u32);
        while at < end {
            let step = (end - at).min(64) as usize;
            let next = A::table(self).walk_indexed(at, step, |i, c| {
                if resends(c.state) && k < found.len() {
                    found[k] = i;
                    k += 1;
                }
            });
            for &i in &found[..k] {
                self.sync_report_of::<A>(i);
            }
            k = 0;
            match next {
                Some(x) => at = x,
                None => {
                    at = 0;
                    break;
                }
            }
        }
        A::lane_mut(&mut self.sync).sweep.at = at;
    }
}
