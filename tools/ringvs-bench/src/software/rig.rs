//! The null-I/O rig: a one-worker director built by `dataplane::Director` over
//! in-memory queues that cost nothing per packet — [`ReplayRx`] replays a
//! pre-built ring of frames (no copy, no allocation), [`SinkTx`] takes every
//! frame into one reused slot and counts it — so what is timed is the real
//! `Worker::poll_once` loop and nothing else.
//!
//! The director is dual stack (the lab's `--ext-addr`/`--int-addr` of both
//! families) with the same service over each: TCP VIP:80 and [VIP6]:80, round
//! robin over two real servers, so the IPv4 and IPv6 figures come from one
//! worker, one process, interleaved run by run. What differs between the
//! families is the [`Family`] trait: addresses and frames.
//!
//! All addresses are benchmarking space (RFC 2544's 198.18.0.0/15, RFC 5180's
//! 2001:2::/48), as in the lab.

use ringvs::config::Config;
use ringvs::config::ipvsadm::{apply, parse};
use ringvs::dataplane::{Core, Director, Env, Plan, TxPair, Worker};
use ringvs::io::mem::{SinkTx, shuffled};
use ringvs::io::{RxFrame, RxMeta, RxQueue};
use ringvs::nat::{FlowKey, Snapshot, Timeouts};
use ringvs::neigh::NeighTable;
use ringvs::wire::Mac;
use ringvs::wire::checksum;
use ringvs::{Nic, NicPair};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Instant;

pub const VIP: Ipv4Addr = ringvs::lab::VIP;
pub const RS: [Ipv4Addr; 2] = [Ipv4Addr::new(198, 19, 0, 2), Ipv4Addr::new(198, 19, 0, 3)];
pub const VIP6: Ipv6Addr = ringvs::lab::VIP6;
/// The lab's `rs_addr6(1)` and `rs_addr6(2)`.
pub const RS6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 2),
    Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 3),
];
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
/// The IPv6 twin of [`FRAME_LEN`]: Ethernet + IPv6 + TCP, 74 bytes.
pub const FRAME_LEN6: usize = 14 + 40 + 20;
/// IPv6 frames lie two cache lines apart (74 bytes do not fit in one).
pub const STRIDE6: usize = 128;

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

/// The `i`th IPv6 client endpoint: as [`client`], the address
/// 2001:2:0:1::1:k instead of 198.18.0.(10 + k), so that both families have as
/// many neighbors and as many connections per client address.
pub fn client6(i: usize) -> (Ipv6Addr, u16) {
    let host = i / PORTS_PER_CLIENT;
    (
        Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 1, host as u16),
        1024 + (i % PORTS_PER_CLIENT) as u16,
    )
}

/// An Ethernet + IPv6 (hop limit 64) + TCP frame, no payload, complete checksum.
pub fn tcp_frame6(
    (src_mac, dst_mac): ([u8; 6], [u8; 6]),
    (src, sport): (Ipv6Addr, u16),
    (dst, dport): (Ipv6Addr, u16),
    flags: u8,
    (seq, ack): (u32, u32),
) -> [u8; FRAME_LEN6] {
    let mut f = [0u8; FRAME_LEN6];
    f[0..6].copy_from_slice(&dst_mac);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    let ip = &mut f[14..54];
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&20u16.to_be_bytes());
    ip[6] = 6;
    ip[7] = 64;
    ip[8..24].copy_from_slice(&src.octets());
    ip[24..40].copy_from_slice(&dst.octets());
    let tcp = &mut f[54..];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&ack.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    let ph = checksum::pseudo_header_v6(src, dst, 6, 20);
    let c = !checksum::fold(checksum::combine(ph, checksum::sum(tcp)));
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    f
}

/// What differs between the families in the rig: addresses, frames, the
/// connection table.
pub trait Family: Copy + PartialEq + std::fmt::Debug {
    /// `"ipv4"` or `"ipv6"`.
    const NAME: &'static str;
    /// Bytes of each replayed frame (a TCP segment without payload).
    const FRAME_LEN: usize;
    /// Bytes between frames in a replayed ring.
    const STRIDE: usize;
    const VIP: Self;
    const RS: [Self; 2];
    /// The `i`th client endpoint.
    fn client(i: usize) -> (Self, u16);
    /// A TCP frame, no payload, checksums complete, into `out` (`FRAME_LEN` bytes).
    fn frame(
        macs: ([u8; 6], [u8; 6]),
        src: (Self, u16),
        dst: (Self, u16),
        flags: u8,
        seq_ack: (u32, u32),
        out: &mut [u8],
    );
    /// The real server (address, port) of `client`'s connection to VIP:80.
    fn server_of(core: &Core, client: (Self, u16)) -> Option<(Self, u16)>;
    /// Connections in this family's table.
    fn tracked(core: &Core) -> usize;
    /// Whether a frame the worker sent carries a well-formed network header
    /// (IPv4: its checksum; IPv6: version and payload length).
    fn sent_ok(frame: &[u8]) -> bool;
}

impl Family for Ipv4Addr {
    const NAME: &'static str = "ipv4";
    const FRAME_LEN: usize = FRAME_LEN;
    const STRIDE: usize = STRIDE;
    const VIP: Self = VIP;
    const RS: [Self; 2] = RS;
    fn client(i: usize) -> (Self, u16) {
        client(i)
    }
    fn frame(
        macs: ([u8; 6], [u8; 6]),
        src: (Self, u16),
        dst: (Self, u16),
        flags: u8,
        seq_ack: (u32, u32),
        out: &mut [u8],
    ) {
        out.copy_from_slice(&tcp_frame(macs, src, dst, flags, seq_ack));
    }
    fn server_of(core: &Core, (cip, cport): (Self, u16)) -> Option<(Self, u16)> {
        let key = FlowKey::new(0, 6, u32::from(cip), cport, u32::from(VIP), 80);
        let c = core.table.get(core.table.lookup(&key)?);
        Some((Ipv4Addr::from(c.rip), c.rport))
    }
    fn tracked(core: &Core) -> usize {
        core.table.len()
    }
    fn sent_ok(frame: &[u8]) -> bool {
        frame.len() >= 34 && checksum::checksum(&frame[14..34]) == 0
    }
}

impl Family for Ipv6Addr {
    const NAME: &'static str = "ipv6";
    const FRAME_LEN: usize = FRAME_LEN6;
    const STRIDE: usize = STRIDE6;
    const VIP: Self = VIP6;
    const RS: [Self; 2] = RS6;
    fn client(i: usize) -> (Self, u16) {
        client6(i)
    }
    fn frame(
        macs: ([u8; 6], [u8; 6]),
        src: (Self, u16),
        dst: (Self, u16),
        flags: u8,
        seq_ack: (u32, u32),
        out: &mut [u8],
    ) {
        out.copy_from_slice(&tcp_frame6(macs, src, dst, flags, seq_ack));
    }
    fn server_of(core: &Core, (cip, cport): (Self, u16)) -> Option<(Self, u16)> {
        let key = FlowKey::new(0, 6, cip, cport, VIP6, 80);
        let c = core.table6.get(core.table6.lookup(&key)?);
        Some((c.rip, c.rport))
    }
    fn tracked(core: &Core) -> usize {
        core.table6.len()
    }
    fn sent_ok(frame: &[u8]) -> bool {
        frame.len() >= 54
            && frame[12..14] == [0x86, 0xdd]
            && frame[14] >> 4 == 6
            && usize::from(u16::from_be_bytes([frame[18], frame[19]])) == frame.len() - 54
    }
}

/// Client `i`'s SYN to VIP:80 (of family `A`).
pub fn syn<A: Family>(i: usize, out: &mut [u8]) {
    A::frame(
        (CLIENT_MAC, EXT_MAC),
        A::client(i),
        (A::VIP, 80),
        SYN,
        (1000, 0),
        out,
    );
}

/// What the ring says about every replayed frame of `len` bytes: complete,
/// and (`verified`) checksum-checked by the NIC.
pub fn meta(len: usize, verified: bool) -> RxMeta {
    let mut m = RxMeta {
        wire_len: len as u32,
        ..RxMeta::default()
    };
    set_verified(&mut m, verified);
    m
}

/// Mark `m` as checksum-verified by the NIC (`TP_STATUS_CSUM_VALID`).
fn set_verified(m: &mut RxMeta, verified: bool) {
    m.csum_valid = verified;
}

/// An RX queue that replays a ring of pre-built frames of `meta.wire_len`
/// bytes, `stride` bytes apart, round and round, until `left` frames were
/// handed out.
pub struct ReplayRx {
    buf: Vec<u8>,
    stride: usize,
    len: usize,
    n: usize,
    at: usize,
    /// Frames still to hand out (0: the queue looks empty).
    pub left: u64,
    pub meta: RxMeta,
}

impl ReplayRx {
    /// An empty ring.
    pub fn empty() -> Self {
        Self::new(Vec::new(), STRIDE, RxMeta::default())
    }

    /// A ring of `buf.len() / stride` frames of `meta.wire_len` bytes.
    pub fn new(buf: Vec<u8>, stride: usize, meta: RxMeta) -> Self {
        Self {
            n: buf.len() / stride,
            stride,
            len: (meta.wire_len as usize).min(stride),
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
        let off = self.at * self.stride;
        Some(RxFrame {
            data: &self.buf[off..off + self.len],
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
        let off = (self.at + k) % self.n * self.stride;
        Some(&self.buf[off..off + self.len])
    }

    fn poll_fd(&self) -> Option<RawFd> {
        None
    }

    fn take_kernel_drops(&mut self) -> ringvs::io::KernelDrops {
        ringvs::io::KernelDrops::default()
    }
}

/// A one-worker director on replaying queues, built as `ringvs run` builds it,
/// dual stack: TCP VIP:80 round robin over two real servers (and, for NAT, the
/// same over IPv6: [VIP6]:80 over two IPv6 real servers), every neighbor
/// resolved.
pub struct Rig {
    pub w: Worker<ReplayRx, SinkTx>,
    pub start: Instant,
    /// Kept so the worker's channels stay open, as in `run`.
    _dp: Director,
}

/// One client endpoint's connection: its real server's index and endpoint.
pub type Server<A> = (usize, A, u16);

impl Rig {
    /// Room for `max_conns` connections of each family; neighbors for
    /// `clients` client endpoints of each family; the real servers reached by `method` (ipvsadm's
    /// options: `-m`, `-g`, `-i [--tun-type …]`); the IPv6 service only with
    /// `-m` (the other methods are measured over IPv4). The worker drains up
    /// to `burst` frames per NIC a pass.
    pub fn with_method(
        max_conns: usize,
        clients: usize,
        method: &str,
        burst: usize,
    ) -> Result<Self, String> {
        let mut cfg = Config::new();
        let mut rules = vec![
            format!("-A -t {VIP}:80 -s rr"),
            format!("-a -t {VIP}:80 -r {}:80 {method}", RS[0]),
            format!("-a -t {VIP}:80 -r {}:80 {method}", RS[1]),
        ];
        if method == "-m" {
            rules.extend([
                format!("-A -t [{VIP6}]:80 -s rr"),
                format!("-a -t [{VIP6}]:80 -r [{}]:80 -m", RS6[0]),
                format!("-a -t [{VIP6}]:80 -r [{}]:80 -m", RS6[1]),
            ]);
        }
        for r in &rules {
            let args: Vec<String> = r.split_whitespace().map(String::from).collect();
            let cmd = parse(&args).map_err(|e| format!("{r}: {e}"))?;
            apply(&mut cfg, &cmd).map_err(|e| format!("{r}: {e}"))?;
        }
        let prefix = |s: &str| s.parse().map_err(|e| format!("{s}: {e:?}"));
        let prefix6 = |s: &str| s.parse().map_err(|e| format!("{s}: {e:?}"));
        // `ringvs run --ext-addr 198.18.0.2/24 --ext-addr 2001:2:0:1::2/64
        // --int-addr 198.19.0.1/24 --int-addr 2001:2:0:2::1/64`, as the lab.
        let env = Env {
            ext_net6: Some(prefix6(ringvs::lab::EXT_ADDR6_CIDR)?),
            int_net6: Some(prefix6(ringvs::lab::INT_ADDR6_CIDR)?),
            ..Env::new(
                [Mac(EXT_MAC), Mac(INT_MAC)],
                prefix(ringvs::lab::EXT_ADDR_CIDR)?,
                prefix(ringvs::lab::INT_ADDR_CIDR)?,
            )
        };
        let mut plan = Plan::new(1, env, max_conns);
        plan.burst = burst.max(1);
        let start = plan.start;
        let mut dp = Director::new(plan, Snapshot::build(&cfg, Timeouts::default()));
        // Neighbors learned as the control thread learns them (ARP, NDP).
        let hosts = (0..clients.div_ceil(PORTS_PER_CLIENT))
            .map(|k| (Nic::Ext, client(k * PORTS_PER_CLIENT).0, Mac(CLIENT_MAC)))
            .chain(
                RS.iter()
                    .zip(RS_MAC)
                    .map(|(ip, mac)| (Nic::Int, *ip, Mac(mac))),
            );
        let mut neigh = NeighTable::learned(hosts, start);
        for k in 0..clients.div_ceil(PORTS_PER_CLIENT) {
            let ip = client6(k * PORTS_PER_CLIENT).0;
            neigh.learn(Nic::Ext, ip, Mac(CLIENT_MAC), start);
        }
        for (ip, mac) in RS6.iter().zip(RS_MAC) {
            neigh.learn(Nic::Int, *ip, Mac(mac), start);
        }
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
        self.w
            .core
            .handle(nic, frame, meta(frame.len(), false), false, tx);
    }

    /// Connections `from..to` of family `A` through a three-way handshake
    /// (SYN in, SYN-ACK out, ACK in); for each, its real server.
    pub fn establish<A: Family>(
        &mut self,
        from: usize,
        to: usize,
    ) -> Result<Vec<Server<A>>, String> {
        self.establish_with::<A>(from, to, true)
    }

    /// [`Rig::establish`]; without `replies` (DR, TUN: the real server answers
    /// the client directly) the SYN-ACK does not cross the director.
    pub fn establish_with<A: Family>(
        &mut self,
        from: usize,
        to: usize,
        replies: bool,
    ) -> Result<Vec<Server<A>>, String> {
        let mut tx = NicPair::new(SinkTx::new(), SinkTx::new());
        let mut servers = Vec::with_capacity(to - from);
        let mut f = vec![0u8; A::FRAME_LEN];
        for i in from..to {
            syn::<A>(i, &mut f);
            self.handle(Nic::Ext, &f, &mut tx);
            let c = A::client(i);
            let (rip, rport) = A::server_of(&self.w.core, c)
                .ok_or_else(|| format!("the {} SYN of client {i} made no connection", A::NAME))?;
            let k = A::RS
                .iter()
                .position(|r| *r == rip)
                .ok_or("unknown server")?;
            if replies {
                A::frame(
                    (RS_MAC[k], INT_MAC),
                    (rip, rport),
                    c,
                    SYN | ACK,
                    (5000, 1001),
                    &mut f,
                );
                self.handle(Nic::Int, &f, &mut tx);
            }
            A::frame(
                (CLIENT_MAC, EXT_MAC),
                c,
                (A::VIP, 80),
                ACK,
                (1001, 5001),
                &mut f,
            );
            self.handle(Nic::Ext, &f, &mut tx);
            servers.push((k, rip, rport));
        }
        Ok(servers)
    }

    /// One ACK per connection `0..servers.len()` in each direction, in a
    /// random order (a fixed shuffle: traffic arrives in no order related to
    /// where the connections sit in the slab or the index), the two
    /// directions half a ring apart; at least `frames` frames a ring, going
    /// round the connections again where there are more frames than
    /// connections. (A fixed step through the connections, as this used to
    /// be, puts consecutive entries a constant distance apart, and the CPU's
    /// stride prefetcher then takes the misses the worker should: 61 against
    /// 106 ns/packet at 1M connections, docs/benchmarks.md.)
    pub fn ack_rings<A: Family>(servers: &[Server<A>], frames: usize) -> (Vec<u8>, Vec<u8>) {
        let n = servers.len();
        let (len, stride) = (A::FRAME_LEN, A::STRIDE);
        let order = shuffled(n);
        let m = n.max(frames);
        let mut input = vec![0u8; stride * m];
        let mut output = vec![0u8; stride * m];
        for j in 0..m {
            let i = order[j % n];
            A::frame(
                (CLIENT_MAC, EXT_MAC),
                A::client(i),
                (A::VIP, 80),
                ACK,
                (1001, 5001),
                &mut input[j * stride..j * stride + len],
            );
            let i = order[(j + n / 2) % n];
            let (k, rip, rport) = servers[i];
            A::frame(
                (RS_MAC[k], INT_MAC),
                (rip, rport),
                A::client(i),
                ACK,
                (5001, 1001),
                &mut output[j * stride..j * stride + len],
            );
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
