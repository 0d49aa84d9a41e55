//! The null-I/O rig: a one-worker director built by `dataplane::Director` over
//! in-memory queues that cost nothing per packet — [`ReplayRx`] replays a
//! pre-built ring of frames (no copy, no allocation), [`SinkTx`] takes every
//! frame into one reused slot and counts it — so what is timed is the real
//! `Worker::poll_once` loop and nothing else.
//!
//! All addresses are RFC 2544 benchmarking space, as in the lab.

use ringvs::config::Config;
use ringvs::config::ipvsadm::{apply, parse};
use ringvs::dataplane::{Director, Env, Plan, TxPair, Worker};
use ringvs::io::mem::SinkTx;
use ringvs::io::{RxFrame, RxMeta, RxQueue};
use ringvs::nat::{FlowKey, Snapshot, Timeouts};
use ringvs::neigh::NeighTable;
use ringvs::wire::Mac;
use ringvs::wire::checksum;
use ringvs::{Nic, NicPair};
use std::net::Ipv4Addr;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Instant;

pub const VIP: Ipv4Addr = ringvs::lab::VIP;
pub const RS: [Ipv4Addr; 2] = [Ipv4Addr::new(198, 19, 0, 2), Ipv4Addr::new(198, 19, 0, 3)];
const RS_MAC: [[u8; 6]; 2] = [[0x02, 0x55, 0, 0, 0, 0x02], [0x02, 0x55, 0, 0, 0, 0x03]];
const EXT_MAC: [u8; 6] = [0x02, 0xee, 0, 0, 0, 0x02];
const INT_MAC: [u8; 6] = [0x02, 0x11, 0, 0, 0, 0x01];
const CLIENT_MAC: [u8; 6] = [0x02, 0xcc, 0, 0, 0, 0x01];
/// Client ports per client address; more clients use more addresses.
const PORTS_PER_CLIENT: usize = 60_000;
/// Client addresses start at 198.18.0.10 (and stay below .110, the VIP).
const FIRST_CLIENT: usize = 10;

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;

/// A TCP segment without payload: Ethernet + IPv4 + TCP, 54 bytes.
pub const FRAME_LEN: usize = 14 + 20 + 20;
/// Frames lie one cache line apart in a replayed ring.
pub const STRIDE: usize = 64;

/// The `i`th client endpoint.
pub fn client(i: usize) -> (Ipv4Addr, u16) {
    let host = FIRST_CLIENT + i / PORTS_PER_CLIENT;
    assert!(host < 110, "too many clients for 198.18.0.10-109");
    (
        Ipv4Addr::new(198, 18, 0, host as u8),
        1024 + (i % PORTS_PER_CLIENT) as u16,
    )
}

/// An Ethernet + IPv4 (DF, TTL 64) + TCP frame, no payload, complete checksums.
pub fn tcp_frame(
    (src_mac, dst_mac): ([u8; 6], [u8; 6]),
    (src, sport): (Ipv4Addr, u16),
    (dst, dport): (Ipv4Addr, u16),
    flags: u8,
    (seq, ack): (u32, u32),
) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0..6].copy_from_slice(&dst_mac);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&40u16.to_be_bytes());
    ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = checksum::checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let tcp = &mut f[34..];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&ack.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    let ph = checksum::pseudo_header_v4(src, dst, 6, 20);
    let c = !checksum::fold(checksum::combine(ph, checksum::sum(tcp)));
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    f
}

/// Client `i`'s SYN to VIP:80.
pub fn syn(i: usize) -> [u8; FRAME_LEN] {
    tcp_frame((CLIENT_MAC, EXT_MAC), client(i), (VIP, 80), SYN, (1000, 0))
}

/// What the ring says about every replayed frame: complete, and (`verified`)
/// checksum-checked by the NIC.
pub fn meta(verified: bool) -> RxMeta {
    let mut m = RxMeta {
        wire_len: FRAME_LEN as u32,
        ..RxMeta::default()
    };
    set_verified(&mut m, verified);
    m
}

/// Mark `m` as checksum-verified by the NIC (`TP_STATUS_CSUM_VALID`).
fn set_verified(m: &mut RxMeta, verified: bool) {
    m.csum_valid = verified;
}

/// An RX queue that replays a ring of pre-built frames, `STRIDE` bytes apart,
/// round and round, until `left` frames were handed out.
pub struct ReplayRx {
    buf: Vec<u8>,
    n: usize,
    at: usize,
    /// Frames still to hand out (0: the queue looks empty).
    pub left: u64,
    pub meta: RxMeta,
}

impl ReplayRx {
    /// An empty ring.
    pub fn empty() -> Self {
        Self::new(Vec::new(), RxMeta::default())
    }

    /// A ring of `frames.len() / STRIDE` frames.
    pub fn new(buf: Vec<u8>, meta: RxMeta) -> Self {
        Self {
            n: buf.len() / STRIDE,
            buf,
            at: 0,
            left: 0,
            meta,
        }
    }

    /// Hand out the next `n` frames (from where the last replay stopped).
    pub fn replay(&mut self, n: u64) {
        self.left = if self.n == 0 { 0 } else { n };
    }
}

impl RxQueue for ReplayRx {
    #[inline]
    fn peek(&mut self) -> Option<RxFrame<'_>> {
        if self.left == 0 {
            return None;
        }
        let off = self.at * STRIDE;
        Some(RxFrame {
            data: &self.buf[off..off + FRAME_LEN],
            meta: self.meta,
        })
    }

    #[inline]
    fn advance(&mut self) {
        if self.left > 0 {
            self.left -= 1;
            self.at += 1;
            if self.at == self.n {
                self.at = 0;
            }
        }
    }

    #[inline]
    fn peek_ahead(&self, k: usize) -> Option<&[u8]> {
        if k as u64 >= self.left {
            return None;
        }
        let off = (self.at + k) % self.n * STRIDE;
        Some(&self.buf[off..off + FRAME_LEN])
    }

    fn poll_fd(&self) -> Option<RawFd> {
        None
    }

    fn take_kernel_drops(&mut self) -> u64 {
        0
    }
}

/// A one-worker director on replaying queues, built as `ringvs run` builds it,
/// TCP VIP:80 round robin over two real servers, every neighbor resolved.
pub struct Rig {
    pub w: Worker<ReplayRx, SinkTx>,
    pub start: Instant,
    /// Kept so the worker's channels stay open, as in `run`.
    _dp: Director,
}

impl Rig {
    /// Room for `max_conns` connections; neighbors for `clients` client endpoints.
    pub fn new(max_conns: usize, clients: usize) -> Result<Self, String> {
        Self::with_method(max_conns, clients, "-m")
    }

    /// [`Rig::new`] with the real servers reached by `method` (ipvsadm's
    /// options: `-m`, `-g`, `-i [--tun-type …]`).
    pub fn with_method(max_conns: usize, clients: usize, method: &str) -> Result<Self, String> {
        let mut cfg = Config::new();
        let rules = [
            format!("-A -t {VIP}:80 -s rr"),
            format!("-a -t {VIP}:80 -r {}:80 {method}", RS[0]),
            format!("-a -t {VIP}:80 -r {}:80 {method}", RS[1]),
        ];
        for r in &rules {
            let args: Vec<String> = r.split_whitespace().map(String::from).collect();
            let cmd = parse(&args).map_err(|e| format!("{r}: {e}"))?;
            apply(&mut cfg, &cmd).map_err(|e| format!("{r}: {e}"))?;
        }
        let prefix = |s: &str| s.parse().map_err(|e| format!("{s}: {e:?}"));
        let env = Env::new(
            [Mac(EXT_MAC), Mac(INT_MAC)],
            prefix(ringvs::lab::EXT_ADDR_CIDR)?,
            prefix(ringvs::lab::INT_ADDR_CIDR)?,
        );
        let plan = Plan::new(1, env, max_conns);
        let start = plan.start;
        let mut dp = Director::new(plan, Snapshot::build(&cfg, Timeouts::default()));
        // Neighbors learned as the control thread learns them.
        let hosts = (0..clients.div_ceil(PORTS_PER_CLIENT))
            .map(|k| (Nic::Ext, client(k * PORTS_PER_CLIENT).0, Mac(CLIENT_MAC)))
            .chain(
                RS.iter()
                    .zip(RS_MAC)
                    .map(|(ip, mac)| (Nic::Int, *ip, Mac(mac))),
            );
        let mut neigh = NeighTable::learned(hosts, start);
        let snap = neigh.take_snapshot().ok_or("no neighbors learned")?;
        dp.shared.neigh.store(Arc::new(snap));
        dp.shared.bump();
        let queues = (
            NicPair::new(ReplayRx::empty(), ReplayRx::empty()),
            NicPair::new(SinkTx::new(), SinkTx::new()),
        );
        let mut w = dp.workers([queues]).pop().ok_or("no worker built")?;
        w.poll_once(Instant::now());
        Ok(Self { w, start, _dp: dp })
    }

    /// Hand one frame to the worker's core, outside the replay (set-up).
    pub fn handle(&mut self, nic: Nic, frame: &[u8], tx: &mut TxPair<SinkTx>) {
        self.w.core.handle(nic, frame, meta(false), false, tx);
    }

    /// Connections `from..to` through a three-way handshake (SYN in, SYN-ACK
    /// out, ACK in); for each, its real server's index and address.
    pub fn establish(
        &mut self,
        from: usize,
        to: usize,
    ) -> Result<Vec<(usize, Ipv4Addr, u16)>, String> {
        self.establish_with(from, to, true)
    }

    /// [`Rig::establish`]; without `replies` (DR, TUN: the real server answers
    /// the client directly) the SYN-ACK does not cross the director.
    pub fn establish_with(
        &mut self,
        from: usize,
        to: usize,
        replies: bool,
    ) -> Result<Vec<(usize, Ipv4Addr, u16)>, String> {
        let mut tx = NicPair::new(SinkTx::new(), SinkTx::new());
        let mut servers = Vec::with_capacity(to - from);
        for i in from..to {
            self.handle(Nic::Ext, &syn(i), &mut tx);
            let (cip, cport) = client(i);
            let key = FlowKey::new(0, 6, u32::from(cip), cport, u32::from(VIP), 80);
            let idx = self
                .w
                .core
                .table
                .lookup(&key)
                .ok_or_else(|| format!("the SYN of client {i} made no connection"))?;
            let c = self.w.core.table.get(idx);
            let (rip, rport) = (Ipv4Addr::from(c.rip), c.rport);
            let k = RS.iter().position(|r| *r == rip).ok_or("unknown server")?;
            let synack = tcp_frame(
                (RS_MAC[k], INT_MAC),
                (rip, rport),
                (cip, cport),
                SYN | ACK,
                (5000, 1001),
            );
            if replies {
                self.handle(Nic::Int, &synack, &mut tx);
            }
            let ack = tcp_frame(
                (CLIENT_MAC, EXT_MAC),
                (cip, cport),
                (VIP, 80),
                ACK,
                (1001, 5001),
            );
            self.handle(Nic::Ext, &ack, &mut tx);
            servers.push((k, rip, rport));
        }
        Ok(servers)
    }

    /// One ACK per connection `0..servers.len()` in each direction, in a
    /// scattered order (a step coprime to their number, so neither the slab nor
    /// the index is walked in order), the two directions half a ring apart.
    pub fn ack_rings(servers: &[(usize, Ipv4Addr, u16)]) -> (Vec<u8>, Vec<u8>) {
        let n = servers.len();
        let step = (7919..).find(|s| gcd(*s, n) == 1).unwrap_or(1);
        let mut input = vec![0u8; STRIDE * n];
        let mut output = vec![0u8; STRIDE * n];
        for j in 0..n {
            let i = (j * step) % n;
            let (cip, cport) = client(i);
            let f = tcp_frame(
                (CLIENT_MAC, EXT_MAC),
                (cip, cport),
                (VIP, 80),
                ACK,
                (1001, 5001),
            );
            input[j * STRIDE..j * STRIDE + FRAME_LEN].copy_from_slice(&f);
            let i = (j * step + n / 2) % n;
            let (cip, cport) = client(i);
            let (k, rip, rport) = servers[i];
            let f = tcp_frame(
                (RS_MAC[k], INT_MAC),
                (rip, rport),
                (cip, cport),
                ACK,
                (5001, 1001),
            );
            output[j * STRIDE..j * STRIDE + FRAME_LEN].copy_from_slice(&f);
        }
        (input, output)
    }

    /// Run the worker loop (`poll_once` at the current time, or at `at`) until
    /// both RX queues ran dry; the frames it handled.
    pub fn run(&mut self, at: Option<Instant>) -> u64 {
        let mut n = 0;
        loop {
            let m = self.w.poll_once(at.unwrap_or_else(Instant::now));
            if m == 0 {
                return n;
            }
            n += m as u64;
        }
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}
