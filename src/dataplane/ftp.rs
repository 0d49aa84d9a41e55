//! The FTP helper in the NAT path, IPVS's `ip_vs_ftp` (`ip_vs_ftp.c`):
//! control connections to a virtual port of `--ftp-ports` are read here
//! (`ip_vs_ftp_in` for the client's commands, `ip_vs_ftp_out` for the real
//! server's replies, called from `tcp_dnat_handler`/`tcp_snat_handler` of
//! NAT only, as IPVS calls its applications); what they say is in
//! `nat::ftp`.
//!
//! * A client's `PASV`/`EPSV` arms its connection; the server's `227`/`229`
//!   reply that follows is rewritten to the VIP, and the data connection
//!   expected from the client (any port) to VIP:port, for the same real
//!   server at the port its reply named.
//! * A client's `PORT`/`EPRT` naming its own address expects the real
//!   server's connection from its control port less one (20) to that port;
//!   it leaves from VIP:20.
//! * After a rewrite that changed the reply's length, the server's sequence
//!   numbers and the client's acknowledgements (SACK blocks too) of that
//!   control connection are shifted ([`Shift`]).
//!
//! The expected connection is made when its first packet comes
//! (`ftp_expected`), by whichever worker owns it, in
//! state LISTEN as `ip_vs_tcp_conn_listen` leaves IPVS's. The helper's
//! per-connection state (the armed reply, the shift) lives beside the table
//! in a map of this worker, only for control connections that have any.
//! A rewritten packet is built in a scratch frame, so it is copied, never
//! sent from its RX buffer.
//!
//! A control connection does not expire while a data connection made of it
//! is in some worker's table (IPVS's `n_control`, `ip_vs_conn_expire`):
//! `ftp_holds` at expiry, `ftp_left` when a connection leaves.
//!
//! A control connection's shift travels with it in connection sync (IPVS's
//! `out_seq` in the entry's `IPVS_OPT_SEQ_DATA` option), reported as soon as
//! a rewrite moves it (`ftp_shift`, `ftp_install`): a standby taking over
//! goes on shifting the stream.

use super::family::{Family, Seg};
use super::shared::Shared;
use super::tx::TxPair;
use super::worker::Core;
use crate::io::TxQueue;
use crate::nat::ftp::{self, Command, Control, Expects, Mode, Shift};
use crate::nat::{Conn, Dir, FlowKey, State};
use crate::stats::Ctr;
use crate::wire::checksum;
use crate::wire::ethernet::HEADER_LEN;
use crate::wire::tcp::flags::{ACK, RST, SYN};
use hashbrown::HashMap;
use std::net::IpAddr;

/// Control connections with helper state a worker keeps at most.
const MAX_CONTROLS: usize = 1 << 14;

/// A control connection, by its client side: (client, client port, VIP,
/// virtual port), either family.
type CtlKey = (IpAddr, u16, IpAddr, u16);

/// A worker's FTP helper state.
pub(super) struct Helper {
    ctl: HashMap<CtlKey, Control>,
    /// The rewritten frame.
    buf: Vec<u8>,
    /// Second of the last sweep.
    swept_s: u32,
    /// Second of the last sweep made because the map was full.
    full_s: u32,
}

impl Default for Helper {
    fn default() -> Self {
        Self {
            ctl: HashMap::new(),
            buf: Vec::with_capacity(crate::io::FRAME_MAX + 64),
            swept_s: 0,
            full_s: u32::MAX,
        }
    }
}

/// What a packet of a control connection needs changed.
#[derive(Default)]
struct Edit {
    seq: Option<u32>,
    /// The client's acknowledgement and SACK edges, through this shift.
    ack: Option<Shift>,
    /// Payload bytes `start..end` become `text[..len]`.
    replace: Option<(usize, usize, [u8; 32], usize)>,
}

fn ctl_key<A: Family>(c: &Conn<A>) -> CtlKey {
    (c.client.to_ip(), c.cport, c.vip.to_ip(), c.vport)
}

/// The client-side key of a connection, by which a data connection is
/// linked to its control connection (`Expects::link`).
fn data_key<A: Family>(c: &Conn<A>) -> FlowKey<A> {
    FlowKey::new(0, c.proto, c.client, c.cport, c.vip, c.vport)
}

/// Connection `c` left its table (expired, evicted, dropped): if the helper
/// made it, its control connection has one data connection fewer. One flag
/// test with the helper off, one atomic load for a client without any.
pub(super) fn ftp_left<A: Family>(ftp: &crate::nat::ftp::FtpPorts, shared: &Shared, c: &Conn<A>) {
    if ftp.on() && c.proto == crate::wire::ipv4::protocol::TCP {
        A::expects(shared).unlink(&data_key(c));
    }
}

/// Whether connection `c` is a data connection the helper made, which IPVS
/// gives its control connection as `cp->control` (`ip_vs_control_add` in
/// `ip_vs_ftp_out`, `ip_vs_ftp_in`). One flag test with the helper off, one
/// atomic load for a client without any.
pub(super) fn ftp_data<A: Family>(
    ftp: &crate::nat::ftp::FtpPorts,
    shared: &Shared,
    c: &Conn<A>,
) -> bool {
    ftp.on()
        && c.proto == crate::wire::ipv4::protocol::TCP
        && A::expects(shared).is_data(&data_key(c))
}

/// Whether control connection `c`, whose timeout has passed, is kept: the
/// helper made data connections of it that are still in some worker's
/// table (IPVS's `n_control`: `ip_vs_conn_expire` re-arms such a
/// connection's timer).
pub(super) fn ftp_holds<A: Family>(
    ftp: &crate::nat::ftp::FtpPorts,
    shared: &Shared,
    c: &Conn<A>,
) -> bool {
    is_control(ftp, c) && A::expects(shared).controls(&(c.client, c.cport, c.vip, c.vport))
}

/// Whether `c` may be a control connection: TCP to a port the helper
/// reads (none with the helper off).
fn is_control<A: Family>(ftp: &crate::nat::ftp::FtpPorts, c: &Conn<A>) -> bool {
    ftp.on() && c.proto == crate::wire::ipv4::protocol::TCP && ftp.has(c.vport)
}

/// The owner of a control connection's expectations: its client port and
/// virtual port (with the client address of the key, the connection).
fn owner<A: Family>(c: &Conn<A>) -> u32 {
    u32::from(c.cport) << 16 | u32::from(c.vport)
}

fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

impl Core {
    /// A packet of an FTP control connection: track it, read it, change
    /// what the helper must, send it on.
    #[cold]
    #[inline(never)]
    pub(super) fn ftp_forward<A: Family, T: TxQueue>(
        &mut self,
        idx: u32,
        dir: Dir,
        seg: Seg<'_, A>,
        tx: &mut TxPair<T>,
    ) {
        // A server's reply is read in the state it found (`handle_response`,
        // `ip_vs_core.c`: `ip_vs_ftp_out`, then `ip_vs_set_state`; a `227` with
        // a FIN is read), a client's in the one it made (as `ip_vs_in_hook`).
        let found = A::table(self).get(idx).state;
        self.track::<A>(idx, dir, seg.proto, seg.flags);
        let c = A::table(self).get(idx).clone();
        let key = ctl_key(&c);
        // A new connection's SYN: no state of an earlier one of the same
        // ports applies (one reused at once, `conn_reuse_mode`). A SYN on a
        // connection past its handshake changes nothing.
        if seg.flags & SYN != 0 && dir == Dir::Input && c.state == State::SynRecv {
            self.ftp.ctl.remove(&key);
        }
        // A fragment (only a first one comes here, with at least its TCP
        // header's first 20 bytes: `frag.rs`) is not read (its text may
        // not even be in it), but its sequence number and acknowledgement
        // are shifted, the checksum updated for them (it covers the
        // datagram). TCP avoids fragments.
        let frag = is_fragment(&seg);
        let hl = seg
            .frame
            .get(seg.l4_off + 12)
            .map_or(usize::MAX, |b| usize::from(b >> 4) * 4);
        let payload = match seg.frame.get(seg.l4_off.saturating_add(hl)..) {
            _ if frag => &[][..],
            Some(p) => p,
            None => return self.nat_send(idx, dir, seg, tx),
        };
        let Some(tcp) = seg.frame.get(seg.l4_off..seg.l4_off + 20) else {
            return self.nat_send(idx, dir, seg, tx);
        };
        let before = self.ftp.ctl.get(&key).copied();
        // No room for one more control connection's state: this one is
        // not read (what it would expect could not be remembered).
        if before.is_none() && !payload.is_empty() && !self.ftp_room() {
            self.ctr.inc(Ctr::FtpRefused);
            return self.nat_send(idx, dir, seg, tx);
        }
        let before = before.unwrap_or_default();
        let mut ctl = before;
        let established = (if dir == Dir::Input { c.state } else { found }) == State::Established;
        let mut edit = Edit::default();
        match dir {
            Dir::Input => {
                if established && !payload.is_empty() {
                    match ftp::command(payload, A::V4) {
                        Some(Command::Pasv) => ctl.mode = Mode::Pasv,
                        Some(Command::Epsv) => ctl.mode = Mode::Epsv,
                        Some(Command::Port(addr, port)) => {
                            ctl.mode = Mode::None;
                            self.ftp_expect_active(&c, &mut ctl, addr, port);
                        }
                        None => {}
                    }
                }
                if !ctl.out.is_zero() && seg.flags & ACK != 0 {
                    edit.ack = Some(ctl.out);
                }
            }
            Dir::Output => {
                let seq = get32(tcp, 4);
                let shifted = ctl.out.seq(seq);
                let (mode, again) = ctl.reply_mode(seq);
                if established
                    && mode != Mode::None
                    && let Some(r) = ftp::reply(payload, mode, A::V4)
                {
                    let ours = r.addr.is_none_or(|a| a == c.rip.to_ip());
                    if ours && (again || self.ftp_expect_passive(&c, &mut ctl, mode, r.port)) {
                        let mut text = [0u8; 32];
                        let n = ftp::replacement(mode, c.vip.to_ip(), r.port, &mut text);
                        let diff = n as i32 - (r.end - r.start) as i32;
                        ctl.out.update(seq, diff);
                        ctl.last = Some((seq, mode));
                        edit.replace = Some((r.start, r.end, text, n));
                        self.ctr.inc(Ctr::FtpRewritten);
                    } else {
                        // Another server's address, or nothing could be expected:
                        // the reply goes as it came, and so does any copy of it.
                        if !ours {
                            self.ctr.inc(Ctr::FtpRefused);
                        }
                        ctl.last = Some((seq, Mode::None));
                    }
                    // The armed command is answered (a copy of an earlier
                    // reply leaves it armed).
                    if !again {
                        ctl.mode = Mode::None;
                    }
                }
                if shifted != seq {
                    edit.seq = Some(shifted);
                }
            }
        }
        if ctl != before && self.ftp_keep(key, ctl) {
            // The stream moved: a standby taking over must go on moving it
            // (in IPVS's `out_seq` encoding; a kernel master shifts through
            // conntrack's seqadj and never syncs it: docs/ipvsadm.md).
            if ctl.out != before.out && self.sync.reporting() {
                self.sync_report_of::<A>(idx);
            }
        }
        if edit.seq.is_none() && edit.ack.is_none() && edit.replace.is_none() {
            return self.nat_send(idx, dir, seg, tx);
        }
        if frag {
            let mut buf = std::mem::take(&mut self.ftp.buf);
            shift_fragment(seg.frame, (seg.l4_off, seg.partial), &edit, &mut buf);
            self.zc.out = None;
            self.nat_send(idx, dir, Seg { frame: &buf, ..seg }, tx);
            self.ftp.buf = buf;
            return;
        }
        let mut buf = std::mem::take(&mut self.ftp.buf);
        if edit_frame(&seg, hl, &edit, &mut buf) {
            // Built here, so copied out: not sent from the RX buffer.
            self.zc.out = None;
            let edited = Seg {
                frame: &buf,
                partial: false,
                ..seg
            };
            self.nat_send(idx, dir, edited, tx);
        } else {
            self.ctr.inc(Ctr::DropTooBig);
        }
        self.ftp.buf = buf;
    }

    /// The shift of control connection `c`'s server stream, if a rewrite
    /// moved it: what a sync entry of `c` carries (IPVS's `out_seq`).
    pub(super) fn ftp_shift<A: Family>(&self, c: &Conn<A>) -> Option<Shift> {
        if !is_control(&self.env.ftp, c) {
            return None;
        }
        let ctl = self.ftp.ctl.get(&ctl_key(c))?;
        ctl.out.parts().map(|_| ctl.out)
    }

    /// Synced connection `c` was installed (`fresh`: new in the table) or
    /// updated, its entry carrying shift `out`: the shift is this
    /// director's now, as IPVS's backup copies the entry's sequence option
    /// into its connection, new or not (`ip_vs_proc_conn`, `ip_vs_sync.c`).
    /// A fresh connection without one keeps nothing of an earlier one of
    /// the same ports. The command awaiting a reply and the last reply
    /// rewritten are not synced (nor are they by IPVS: `cp->app_data`).
    pub(super) fn ftp_install<A: Family>(&mut self, c: &Conn<A>, out: Option<Shift>, fresh: bool) {
        if !is_control(&self.env.ftp, c) {
            return;
        }
        let key = ctl_key(c);
        let kept = self.ftp.ctl.get(&key).copied().filter(|_| !fresh);
        match out {
            // Counted when the shift is new to this director, not on every
            // resend of it.
            Some(out) if kept.is_none_or(|k| k.out != out) => {
                let ctl = Control {
                    out,
                    ..kept.unwrap_or_default()
                };
                if self.ftp_keep(key, ctl) {
                    self.ctr.inc(Ctr::FtpSynced);
                }
            }
            Some(_) => {}
            None if fresh => {
                self.ftp.ctl.remove(&key);
            }
            // An entry without the option (nor `IP_VS_CONN_F_OUT_SEQ`: with
            // the flag alone the worker keeps the shift and does not come
            // here, `Install::keep_seq`) clears the shift, as IPVS's update
            // of a known connection takes the entry's `SEQ_MASK` bits
            // (`IP_VS_CONN_F_BACKUP_UPD_MASK`): the master's connection of
            // these ports does not shift (a new one, say, of reused ports).
            None => {
                if let Some(ctl) = self.ftp.ctl.get_mut(&key) {
                    ctl.out = Shift::default();
                }
            }
        }
    }

    /// Whether one more control connection's state fits (room made by
    /// letting go of connections no longer in the table when it is full, at
    /// most once a second).
    fn ftp_room(&mut self) -> bool {
        if self.ftp.ctl.len() >= MAX_CONTROLS && self.ftp.full_s != self.clock.now_s {
            self.ftp.full_s = self.clock.now_s;
            self.ftp_sweep_controls();
        }
        self.ftp.ctl.len() < MAX_CONTROLS
    }

    /// Remember a control connection's helper state (false: no room, the
    /// refusal counted).
    fn ftp_keep(&mut self, key: CtlKey, ctl: Control) -> bool {
        if self.ftp.ctl.contains_key(&key) || self.ftp_room() {
            self.ftp.ctl.insert(key, ctl);
            true
        } else {
            self.ctr.inc(Ctr::FtpRefused);
            false
        }
    }

    /// Let go of the helper state of control connections that left the
    /// table.
    fn ftp_sweep_controls(&mut self) {
        let (t4, t6) = (&self.table, &self.table6);
        self.ftp.ctl.retain(|&(client, cport, vip, vport), _| {
            let tcp = crate::wire::ipv4::protocol::TCP;
            match (client, vip) {
                (IpAddr::V4(c), IpAddr::V4(v)) => t4
                    .lookup(&FlowKey::new(
                        0,
                        tcp,
                        c.to_bits(),
                        cport,
                        v.to_bits(),
                        vport,
                    ))
                    .is_some(),
                (IpAddr::V6(c), IpAddr::V6(v)) => t6
                    .lookup(&FlowKey::new(0, tcp, c, cport, v, vport))
                    .is_some(),
                _ => false,
            }
        });
    }

    /// Once a second: expectations that expired go, and so does the state
    /// of control connections that left the table (a new connection of the
    /// same ports must not inherit it).
    pub(super) fn ftp_sweep(&mut self) {
        let now = self.clock.now_s;
        if !self.env.ftp.on() || now == self.ftp.swept_s {
            return;
        }
        self.ftp.swept_s = now;
        self.shared.expects.sweep(now);
        self.shared.expects6.sweep(now);
        if !self.ftp.ctl.is_empty() {
            self.ftp_sweep_controls();
        }
    }

    /// The server's `227`/`229` reply on control connection `c` named
    /// `port`: expect the client's data connection from any port to
    /// VIP:port, for the server at that port (`ip_vs_ftp_out`).
    fn ftp_expect_passive<A: Family>(
        &mut self,
        c: &Conn<A>,
        ctl: &mut Control,
        mode: Mode,
        port: u16,
    ) -> bool {
        let mut data = Conn::new(
            c.proto,
            (c.client, 0),
            (c.vip, port),
            (c.rip, port),
            c.dest(),
        );
        data.state = State::Listen;
        let key = Expects::passive_key(c.client, c.vip, port);
        self.ftp_put(c, ctl, (mode, port), key, data)
    }

    /// The client's `PORT`/`EPRT` on control connection `c` named
    /// `addr:port`: expect the real server's connection from its port one
    /// below the control connection's, to leave from the VIP's port one
    /// below the virtual one (`ip_vs_ftp_in`). Only to the client's own
    /// address (see `nat::ftp`).
    fn ftp_expect_active<A: Family>(
        &mut self,
        c: &Conn<A>,
        ctl: &mut Control,
        addr: IpAddr,
        port: u16,
    ) {
        if addr != c.client.to_ip() || c.vport < 2 || c.rport < 2 {
            return self.ctr.inc(Ctr::FtpRefused);
        }
        let (vport, rport) = (c.vport - 1, c.rport - 1);
        let mut data = Conn::new(
            c.proto,
            (c.client, port),
            (c.vip, vport),
            (c.rip, rport),
            c.dest(),
        );
        data.state = State::Listen;
        let key = Expects::active_key(c.rip, rport, c.client, port);
        self.ftp_put(c, ctl, (Mode::None, port), key, data);
    }

    /// Expect `data` under `key` for control connection `c`, in place of
    /// what it expected before (one at a time, so a client repeating `PORT`
    /// cannot fill the map).
    fn ftp_put<A: Family>(
        &mut self,
        c: &Conn<A>,
        ctl: &mut Control,
        what: (Mode, u16),
        key: FlowKey<A>,
        data: Conn<A>,
    ) -> bool {
        let expects = A::expects(&self.shared);
        if let Some((mode, port)) = ctl.expecting.take() {
            expects.forget(
                &match mode {
                    Mode::None => {
                        Expects::active_key(c.rip, c.rport.wrapping_sub(1), c.client, port)
                    }
                    _ => Expects::passive_key(c.client, c.vip, port),
                },
                owner(c),
            );
        }
        let ok = expects.put(key, (data, owner(c)), self.clock.now_s).is_ok();
        if ok {
            ctl.expecting = Some(what);
        }
        self.ctr.inc(if ok {
            Ctr::FtpExpected
        } else {
            Ctr::FtpRefused
        });
        ok
    }

    /// The first packet of a connection that found none (`dir` Input: a
    /// client's SYN, a passive data connection; Output: a real server's
    /// SYN, an active one): the data connection the helper expects, if it
    /// does, in the table now (`Some(Err(()))`: it was expected but could
    /// not be made, its drop counted).
    #[cold]
    #[inline(never)]
    pub(super) fn ftp_expected<A: Family>(
        &mut self,
        dir: Dir,
        seg: &Seg<'_, A>,
    ) -> Option<Result<u32, ()>> {
        let client = match dir {
            Dir::Input => seg.src,
            Dir::Output => seg.dst,
        };
        let expects = A::expects(&self.shared);
        if !expects.pending_for(client)
            || seg.proto != crate::wire::ipv4::protocol::TCP
            || seg.flags & (SYN | ACK | RST) != SYN
        {
            return None;
        }
        let key = match dir {
            Dir::Input => Expects::passive_key(seg.src, seg.dst, seg.dport),
            Dir::Output => Expects::active_key(seg.src, seg.sport, seg.dst, seg.dport),
        };
        let (mut conn, owner) = expects.take(&key, self.clock.now_s)?;
        if dir == Dir::Input {
            conn.cport = seg.sport;
        }
        let data = data_key(&conn);
        let control = (conn.client, (owner >> 16) as u16, conn.vip, owner as u16);
        let opened = self.ftp_open(conn);
        if opened.is_ok() {
            A::expects(&self.shared).link(data, control);
        }
        Some(opened)
    }

    /// Make an expected connection; if its server is gone or the table
    /// refuses it, the packet is dropped and counted.
    fn ftp_open<A: Family>(&mut self, conn: Conn<A>) -> Result<u32, ()> {
        let made = match self.snap.cfg.dest_live(conn.dest()) {
            // Not in the server's `Conns` (`ip_vs_ftp` never calls
            // `ip_vs_conn_stats`).
            true => self.admit(conn, 0, false),
            false => Err(Ctr::DropNoDest),
        };
        match made {
            Ok(i) => {
                self.ctr.inc(Ctr::FtpData);
                Ok(i)
            }
            Err(why) => {
                self.ctr.inc(why);
                Err(())
            }
        }
    }
}

/// Whether `seg` is a fragment of its datagram (IPv4: more fragments or an
/// offset; IPv6: a fragment header in its chain, which `classify` checked
/// leads to the TCP header at `l4_off`, with an offset or more to come). An
/// IPv6 atomic fragment (offset 0, M clear, RFC 6946) holds its whole
/// packet and is read as one, as IPVS reads past the header to the TCP
/// payload (`ipv6_find_hdr` in `ip_vs_fill_iph_skb_off`) before the FTP
/// helper (`ip_vs_ftp_in`, `ip_vs_ftp_out`) looks at it.
fn is_fragment<A: Family>(seg: &Seg<'_, A>) -> bool {
    let f = seg.frame;
    if A::V4 {
        // Flags and fragment offset: MF (0x2000) or an offset; DF aside.
        let word = f.get(HEADER_LEN + 6..HEADER_LEN + 8);
        return word.is_none_or(|w| u16::from_be_bytes([w[0], w[1]]) & 0x3fff != 0);
    }
    let (mut next, mut at) = (f.get(HEADER_LEN + 6).copied(), HEADER_LEN + 40);
    while at < seg.l4_off {
        let (Some(kind), Some(&len)) = (next, f.get(at + 1)) else {
            return true;
        };
        next = f.get(at).copied();
        if kind == 44 {
            // Offset (13 bits) and M: either makes it a piece.
            let word = f.get(at + 2..at + 4);
            if word.is_none_or(|w| u16::from_be_bytes([w[0], w[1]]) & 0xfff9 != 0) {
                return true;
            }
            at += 8;
            continue;
        }
        at += (usize::from(len) + 1) * 8;
    }
    false
}

/// Build `seg`'s frame with `edit` into `buf` (TCP header `hl` bytes): the
/// payload's text replaced, sequence number and acknowledgement (and SACK
/// blocks) shifted, the IP length and the checksums made right. `false` if
/// it would not fit a frame.
fn edit_frame<A: Family>(seg: &Seg<'_, A>, hl: usize, edit: &Edit, buf: &mut Vec<u8>) -> bool {
    let (frame, l4) = (seg.frame, seg.l4_off);
    let pay = l4 + hl;
    let payload = &frame[pay..];
    let grown = match edit.replace {
        Some((s, e, _, n)) => frame.len() - (e - s) + n,
        None => frame.len(),
    };
    if grown > buf.capacity() {
        return false;
    }
    buf.clear();
    buf.extend_from_slice(&frame[..pay]);
    match edit.replace {
        Some((s, e, text, n)) => {
            buf.extend_from_slice(&payload[..s]);
            buf.extend_from_slice(&text[..n]);
            buf.extend_from_slice(&payload[e..]);
        }
        None => buf.extend_from_slice(payload),
    }
    if let Some(seq) = edit.seq {
        put32(buf, l4 + 4, seq);
    }
    if let Some(shift) = edit.ack {
        let ack = shift.ack(get32(buf, l4 + 8));
        put32(buf, l4 + 8, ack);
        shift_sack(&mut buf[l4 + 20..pay], &shift);
    }
    let l4_len = buf.len() - l4;
    if A::V4 {
        let total = (buf.len() - HEADER_LEN) as u16;
        buf[HEADER_LEN + 2..HEADER_LEN + 4].copy_from_slice(&total.to_be_bytes());
        buf[HEADER_LEN + 10..HEADER_LEN + 12].fill(0);
        let c = checksum::checksum(&buf[HEADER_LEN..l4]);
        buf[HEADER_LEN + 10..HEADER_LEN + 12].copy_from_slice(&c.to_be_bytes());
    } else {
        let plen = (buf.len() - HEADER_LEN - 40) as u16;
        buf[HEADER_LEN + 4..HEADER_LEN + 6].copy_from_slice(&plen.to_be_bytes());
    }
    let pseudo = match (seg.src.to_ip(), seg.dst.to_ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => checksum::pseudo_header_v4(s, d, 6, l4_len as u16),
        (IpAddr::V6(s), IpAddr::V6(d)) => checksum::pseudo_header_v6(s, d, 6, l4_len as u32),
        _ => return false,
    };
    buf[l4 + 16..l4 + 18].fill(0);
    let c = !checksum::fold(checksum::combine(pseudo, checksum::sum(&buf[l4..])));
    buf[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
    true
}

/// Copy the first fragment `frame` (TCP header at `l4`, its first 20 bytes
/// in it) into `buf` with its sequence number and acknowledgement shifted
/// as `edit` says, the TCP checksum updated for the change (RFC 1624; it
/// covers the whole datagram; a `partial` one holds the pseudo-header's sum
/// alone, which the change leaves as it is). SACK blocks are left: they may
/// not be whole in the fragment.
fn shift_fragment(frame: &[u8], (l4, partial): (usize, bool), edit: &Edit, buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(frame);
    let mut delta = checksum::Delta::default();
    let mut set = |at: usize, new: u32, buf: &mut Vec<u8>| {
        delta = delta.add32(get32(buf, at), new);
        put32(buf, at, new);
    };
    if let Some(seq) = edit.seq {
        set(l4 + 4, seq, buf);
    }
    if let Some(shift) = edit.ack {
        let ack = shift.ack(get32(buf, l4 + 8));
        set(l4 + 8, ack, buf);
    }
    if !partial {
        let hc = u16::from_be_bytes([buf[l4 + 16], buf[l4 + 17]]);
        buf[l4 + 16..l4 + 18].copy_from_slice(&delta.apply(hc).to_be_bytes());
    }
}

/// Map the edges of the SACK blocks in TCP options `opts` through `shift`.
fn shift_sack(opts: &mut [u8], shift: &Shift) {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => return,
            1 => i += 1,
            kind => {
                let Some(&len) = opts.get(i + 1) else { return };
                let len = usize::from(len);
                if len < 2 || i + len > opts.len() {
                    return;
                }
                if kind == 5 {
                    let mut at = i + 2;
                    while at + 4 <= i + len {
                        put32(opts, at, shift.ack(get32(opts, at)));
                        at += 4;
                    }
                }
                i += len;
            }
        }
    }
}
