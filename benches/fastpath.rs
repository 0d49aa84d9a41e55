//! Fast-path benches: one criterion entry, one module per area.
//!
//! * `checksum`: the RFC 1624 incremental update the NAT applies per packet,
//!   against a full recompute of the TCP checksum, for 64- and 1460-byte segments.
//! * `established`: one data segment of an established connection through the real
//!   worker code ([`Core::handle`]), client → server (`in`) and server → client
//!   (`out`), with 1 000, 100 000 and 1 000 000 connections in the table.
//! * `new_conn`: one SYN that schedules (`rr`, `wrr`) and inserts a connection.
//! * `wrr_cycle`: building a `wrr` cycle (`sched::wrr_sequence`), which the
//!   control thread does at every publish that changes a `wrr` service's
//!   weights or servers (one cycle per iteration, not one packet).
//!
//! Every bench counts one packet per iteration (`Throughput::Elements(1)`), so
//! criterion's time per iteration is the cost per packet and its throughput line
//! (`Melem/s`) is millions of packets per second on one core.
//!
//! ```text
//! cargo bench --bench fastpath -- --quick          # all of it, about 3 minutes
//! cargo bench --bench fastpath -- established/in
//! ```
//!
//! Setting up the 1M population (three million handshake frames, 256 MB of data
//! frames) takes a few seconds and about 400 MB of memory.
//!
//! All addresses are RFC 2544 benchmarking space (198.18.0.0/15), as in the lab;
//! nothing is sent anywhere.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_channel::Receiver;
use ringvs::config::Config;
use ringvs::config::ipvsadm::{apply, parse};
use ringvs::dataplane::{Env, Worker};
use ringvs::io::mem::{MemRx, MemTx, SinkTx, shuffled};
use ringvs::io::{RxMeta, TxQueue};
use ringvs::nat::{FlowKey, Snapshot, State, Timeouts};
use ringvs::neigh::{NeighEvent, NeighTable};
use ringvs::stats::Ctr;
use ringvs::wire::Mac;
use ringvs::wire::checksum::{self, Delta};
use ringvs::{Nic, NicPair};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Frame builders and a worker on the in-memory backend, wired like
/// `control::run` wires the real ones.
mod lab {
    use super::*;

    pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 110);
    pub const RS: [Ipv4Addr; 2] = [Ipv4Addr::new(198, 19, 0, 2), Ipv4Addr::new(198, 19, 0, 3)];
    pub const RS_MAC: [[u8; 6]; 2] = [[0x02, 0x55, 0, 0, 0, 0x02], [0x02, 0x55, 0, 0, 0, 0x03]];
    pub const EXT_MAC: [u8; 6] = [0x02, 0xee, 0, 0, 0, 0x02];
    pub const INT_MAC: [u8; 6] = [0x02, 0x11, 0, 0, 0, 0x01];
    pub const CLIENT_MAC: [u8; 6] = [0x02, 0xcc, 0, 0, 0, 0x01];
    /// Client ports used per client address; more connections use more addresses.
    pub const PORTS_PER_CLIENT: usize = 50_000;
    /// Client addresses start at 198.18.0.10.
    pub const FIRST_CLIENT: u8 = 10;

    pub const SYN: u8 = 0x02;
    pub const ACK: u8 = 0x10;
    pub const PSH: u8 = 0x08;

    /// Payload of the data segments of `established`.
    pub const DATA_LEN: usize = 64;

    /// The `i`th client endpoint.
    pub fn client(i: usize) -> (Ipv4Addr, u16) {
        let host = usize::from(FIRST_CLIENT) + i / PORTS_PER_CLIENT;
        assert!(host < 255, "too many connections for one /24");
        (
            Ipv4Addr::new(198, 18, 0, host as u8),
            1024 + (i % PORTS_PER_CLIENT) as u16,
        )
    }

    /// Client addresses needed for `n` connections.
    pub fn clients(n: usize) -> impl Iterator<Item = Ipv4Addr> {
        (0..n.div_ceil(PORTS_PER_CLIENT)).map(|k| client(k * PORTS_PER_CLIENT).0)
    }

    /// An Ethernet + IPv4 (20 bytes, DF) + TCP (20 bytes) frame with `data_len`
    /// bytes of payload and complete checksums.
    #[allow(clippy::too_many_arguments)]
    pub fn tcp_frame(
        (src_mac, dst_mac): ([u8; 6], [u8; 6]),
        (src, sport): (Ipv4Addr, u16),
        (dst, dport): (Ipv4Addr, u16),
        flags: u8,
        seq: u32,
        ack: u32,
        data_len: usize,
    ) -> Vec<u8> {
        let l4_len = 20 + data_len;
        let mut f = vec![0u8; 14 + 20 + l4_len];
        f[0..6].copy_from_slice(&dst_mac);
        f[6..12].copy_from_slice(&src_mac);
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((20 + l4_len) as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
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
        for (k, b) in tcp[20..].iter_mut().enumerate() {
            *b = k as u8;
        }
        let c = tcp_checksum(src, dst, tcp);
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        f
    }

    /// The complete TCP checksum of `seg` (its checksum field must be zero).
    #[inline]
    pub fn tcp_checksum(src: Ipv4Addr, dst: Ipv4Addr, seg: &[u8]) -> u16 {
        let ph = checksum::pseudo_header_v4(src, dst, 6, seg.len() as u16);
        !checksum::fold(checksum::combine(ph, checksum::sum(seg)))
    }

    pub fn meta(frame: &[u8]) -> RxMeta {
        RxMeta {
            wire_len: frame.len() as u32,
            csum_partial: false,
            csum_valid: false,
            vlan: None,
        }
    }

    /// A one-worker director on in-memory queues with `rules` (ipvsadm syntax) and
    /// every neighbor of `n` connections resolved.
    pub struct Director {
        pub w: Worker<MemRx, MemTx>,
        /// What the measured packets are sent into (the worker's own `MemTx`
        /// queues serve the `mem_tx` comparison).
        pub tx: NicPair<SinkTx>,
        // Kept so the workers' sends find their channels open, as in `run`.
        _neigh_rx: Receiver<NeighEvent>,
    }

    impl Director {
        pub fn new(rules: &[&str], n: usize, max_conns: usize) -> Self {
            let mut cfg = Config::new();
            for r in rules {
                let args: Vec<String> = r.split_whitespace().map(String::from).collect();
                let cmd = parse(&args).unwrap_or_else(|e| panic!("{r}: {e}"));
                apply(&mut cfg, &cmd).unwrap_or_else(|e| panic!("{r}: {e}"));
            }
            let env = Env::new(
                [Mac(EXT_MAC), Mac(INT_MAC)],
                "198.18.0.2/24".parse().expect("prefix"),
                "198.19.0.1/24".parse().expect("prefix"),
            );
            // Built as `ringvs run` builds it, for one worker.
            let plan = ringvs::dataplane::Plan::new(1, env, max_conns);
            let start = plan.start;
            let mut dp =
                ringvs::dataplane::Director::new(plan, Snapshot::build(&cfg, Timeouts::default()));

            // Neighbors resolved the way the control thread does it.
            let mut neigh = NeighTable::new();
            let hosts = RS
                .iter()
                .zip(RS_MAC)
                .map(|(ip, mac)| (Nic::Int, *ip, mac))
                .chain(clients(n).map(|ip| (Nic::Ext, ip, CLIENT_MAC)));
            for (nic, ip, mac) in hosts {
                let ip = u32::from(ip);
                neigh.event(NeighEvent::Resolve { nic, ip }, start);
                neigh.event(
                    NeighEvent::Heard {
                        nic,
                        ip,
                        mac: Mac(mac),
                        reply: true,
                    },
                    start,
                );
            }
            let snap = neigh.take_snapshot().expect("neighbors learned");
            dp.shared.neigh.store(Arc::new(snap));
            dp.shared.bump();
            let queues = (
                NicPair::new(MemRx::new(), MemRx::new()),
                NicPair::new(MemTx::new(), MemTx::new()),
            );
            let mut w = dp.workers([queues]).pop().expect("one worker");
            // Pick up the snapshots (a no-op when `new` already saw them). The worker
            // clock stays at second 0 from here on: connections are "seen" in the
            // same second, as most packets of a busy flow are.
            w.poll_once(start);
            Self {
                w,
                tx: NicPair::new(SinkTx::new(), SinkTx::new()),
                _neigh_rx: dp.neigh_rx.clone(),
            }
        }

        /// Hand one frame to the worker as if read from `nic`'s ring.
        #[inline]
        pub fn handle(&mut self, nic: Nic, frame: &[u8]) {
            self.w
                .core
                .handle(nic, frame, meta(frame), false, &mut self.tx);
        }

        pub fn ctr(&self, c: Ctr) -> u64 {
            self.w.core.ctr.get(c)
        }
    }

    /// The usual service: TCP VIP:80 over two real servers on port 80.
    pub fn rules(sched: &str) -> Vec<String> {
        // ovf takes a server only while its active connections (SYN_RECV
        // ones too, `tcp_state_active_table`) do not exceed its weight.
        let w = |k: usize| match sched {
            "wrr" => [" -w 3", " -w 1"][k],
            "ovf" => [" -w 20000", " -w 10000"][k],
            _ => "",
        };
        vec![
            format!("-A -t {VIP}:80 -s {sched}"),
            format!("-a -t {VIP}:80 -r {}:80 -m{}", RS[0], w(0)),
            format!("-a -t {VIP}:80 -r {}:80 -m{}", RS[1], w(1)),
        ]
    }

    pub fn syn(i: usize) -> Vec<u8> {
        tcp_frame((CLIENT_MAC, EXT_MAC), client(i), (VIP, 80), SYN, 1000, 0, 0)
    }
}

/// RFC 1624 incremental update against a full recompute.
mod checksum_area {
    use super::lab::*;
    use super::*;

    pub fn benches(c: &mut Criterion) {
        let mut g = c.benchmark_group("checksum");
        g.throughput(Throughput::Elements(1));
        let (cip, vip, rip) = (
            Ipv4Addr::new(198, 18, 0, 10),
            VIP,
            Ipv4Addr::new(198, 19, 0, 2),
        );
        for size in [64usize, 1460] {
            // A TCP segment of `size` bytes (header included) from the client to the VIP.
            let frame = tcp_frame(
                (CLIENT_MAC, EXT_MAC),
                (cip, 40000),
                (vip, 80),
                ACK | PSH,
                1,
                1,
                size - 20,
            );
            let seg = frame[34..].to_vec();
            // The rewrite of the inbound direction: VIP:80 → RIP:8080.
            let delta = Delta::new().add_addr(vip, rip).add16(80, 8080);
            let mut check = seg.clone();
            let hc = u16::from_be_bytes([check[16], check[17]]);
            check[2..4].copy_from_slice(&8080u16.to_be_bytes());
            check[16..18].fill(0);
            assert_eq!(delta.apply(hc), tcp_checksum(cip, rip, &check));

            g.bench_with_input(BenchmarkId::new("incremental", size), &seg, |b, seg| {
                let mut seg = seg.clone();
                b.iter(|| {
                    let d = black_box(delta);
                    let hc = u16::from_be_bytes([seg[16], seg[17]]);
                    seg[16..18].copy_from_slice(&d.apply(hc).to_be_bytes());
                    black_box(&mut seg);
                })
            });
            // What a NAT without deltas does: pseudo-header sum plus the whole
            // segment (`checksum::sum`, folded and complemented as `checksum::checksum`).
            g.bench_with_input(BenchmarkId::new("full", size), &seg, |b, seg| {
                let mut seg = seg.clone();
                b.iter(|| {
                    seg[16..18].fill(0);
                    let c = tcp_checksum(black_box(cip), black_box(rip), &seg);
                    seg[16..18].copy_from_slice(&c.to_be_bytes());
                    black_box(&mut seg);
                })
            });
        }
        g.finish();
    }
}

/// A data segment of an established connection, through `Core::handle`.
///
/// The connections are made by a real handshake (SYN in, SYN-ACK out, ACK in), so
/// the table, the expiry lists and the gauges are as traffic leaves them. Each
/// iteration hands the worker the next of `n` prebuilt 118-byte frames, one per
/// connection. The frames lie back to back in the order they are used, but visit
/// the connections in a random order, so at 100 000 and 1 000 000 connections
/// the cost includes the cache (and TLB) misses of the index lookup and of the
/// slab entry. The
/// worker clock stays on one second, so `touch` finds nothing to relink, as for
/// the packets of a busy flow within the same second.
mod established {
    use super::lab::*;
    use super::*;

    pub const POPULATIONS: [usize; 3] = [1_000, 100_000, 1_000_000];
    /// The `MemTx` comparison runs for the smaller populations only.
    const MEM_TX_UP_TO: usize = 100_000;

    /// A director holding `n` established connections, and one data frame per
    /// connection in each direction.
    struct Setup {
        d: Director,
        /// Frames stored back to back, `stride` bytes apart, in a random order.
        input: Vec<u8>,
        output: Vec<u8>,
        stride: usize,
        n: usize,
    }

    fn setup(n: usize) -> Setup {
        let rules = rules("rr");
        let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
        let mut d = Director::new(&rules, n, n);
        // Three-way handshake for every connection: SYN in, SYN-ACK out, ACK in.
        let mut servers = Vec::with_capacity(n);
        for i in 0..n {
            d.handle(Nic::Ext, &syn(i));
            let (cip, cport) = client(i);
            let key = FlowKey::new(0, 6, u32::from(cip), cport, u32::from(VIP), 80);
            let idx = d.w.core.table.lookup(&key).expect("SYN made a connection");
            let c = d.w.core.table.get(idx);
            let (rip, rport) = (Ipv4Addr::from(c.rip), c.rport);
            let k = RS.iter().position(|r| *r == rip).expect("one of ours");
            servers.push((k, rip, rport));
            d.handle(
                Nic::Int,
                &tcp_frame(
                    (RS_MAC[k], INT_MAC),
                    (rip, rport),
                    (cip, cport),
                    SYN | ACK,
                    5000,
                    1001,
                    0,
                ),
            );
            d.handle(
                Nic::Ext,
                &tcp_frame(
                    (CLIENT_MAC, EXT_MAC),
                    (cip, cport),
                    (VIP, 80),
                    ACK,
                    1001,
                    5001,
                    0,
                ),
            );
        }
        assert_eq!(d.w.core.state_count(State::Established) as usize, n);
        assert_eq!(d.ctr(Ctr::ConnNew) as usize, n);

        // Visit connections in a random order (a fixed shuffle), so that the
        // slab is walked neither sequentially nor with a constant stride,
        // which the CPU's stride prefetcher would follow (docs/benchmarks.md,
        // "Where the 1M gap goes").
        let order = shuffled(n);
        let len = 14 + 20 + 20 + DATA_LEN;
        let stride = len.next_multiple_of(64);
        let mut input = vec![0u8; stride * n];
        let mut output = vec![0u8; stride * n];
        for (j, &i) in order.iter().enumerate() {
            let (cip, cport) = client(i);
            let (k, rip, rport) = servers[i];
            let f = tcp_frame(
                (CLIENT_MAC, EXT_MAC),
                (cip, cport),
                (VIP, 80),
                ACK | PSH,
                1001,
                5001,
                DATA_LEN,
            );
            input[j * stride..j * stride + len].copy_from_slice(&f);
            let f = tcp_frame(
                (RS_MAC[k], INT_MAC),
                (rip, rport),
                (cip, cport),
                ACK | PSH,
                5001,
                1001 + DATA_LEN as u32,
                DATA_LEN,
            );
            output[j * stride..j * stride + len].copy_from_slice(&f);
        }
        Setup {
            d,
            input,
            output,
            stride,
            n,
        }
    }

    impl Setup {
        fn frame(&self, nic: Nic, j: usize) -> &[u8] {
            let len = 14 + 20 + 20 + DATA_LEN;
            let buf = match nic {
                Nic::Ext => &self.input,
                Nic::Int => &self.output,
            };
            &buf[j * self.stride..j * self.stride + len]
        }

        /// One pass over every connection, checking that each packet went out.
        fn check(&mut self, nic: Nic) {
            let (fwd, before) = match nic {
                Nic::Ext => (Ctr::FwdIn, self.d.tx[Nic::Int].committed),
                Nic::Int => (Ctr::FwdOut, self.d.tx[Nic::Ext].committed),
            };
            let c0 = self.d.ctr(fwd);
            for j in 0..self.n {
                let f = self.frame(nic, j).to_vec();
                self.d.handle(nic, &f);
            }
            let after = match nic {
                Nic::Ext => self.d.tx[Nic::Int].committed,
                Nic::Int => self.d.tx[Nic::Ext].committed,
            };
            assert_eq!((self.d.ctr(fwd) - c0) as usize, self.n);
            assert_eq!((after - before) as usize, self.n);
            let out = match nic {
                Nic::Ext => &self.d.tx[Nic::Int],
                Nic::Int => &self.d.tx[Nic::Ext],
            };
            let sent = out.last(14 + 20 + 20 + DATA_LEN);
            assert_eq!(checksum::checksum(&sent[14..34]), 0, "IPv4 checksum");
            assert_eq!(
                self.d.w.core.state_count(State::Established) as usize,
                self.n
            );
        }
    }

    pub fn benches(c: &mut Criterion) {
        let mut g = c.benchmark_group("established");
        g.throughput(Throughput::Elements(1));
        for n in POPULATIONS {
            let mut s = setup(n);
            for (name, nic) in [("in", Nic::Ext), ("out", Nic::Int)] {
                s.check(nic);
                // The TX slot is reused: no allocation per packet (see `SinkTx`).
                g.bench_function(BenchmarkId::new(format!("{name}/zero_tx"), n), |b| {
                    let mut j = 0;
                    let Setup {
                        d,
                        input,
                        output,
                        stride,
                        n,
                    } = &mut s;
                    let buf = match nic {
                        Nic::Ext => &input[..],
                        Nic::Int => &output[..],
                    };
                    let len = 14 + 20 + 20 + DATA_LEN;
                    b.iter(|| {
                        let f = &buf[j * *stride..j * *stride + len];
                        d.w.core.handle(nic, f, meta(f), false, &mut d.tx);
                        j += 1;
                        if j == *n {
                            j = 0;
                        }
                    })
                });
            }
            if n > MEM_TX_UP_TO {
                continue;
            }
            // The same through `MemTx`, the test backend: every committed frame is
            // copied into a new `Vec` (an allocation per packet, by design), and the
            // queue is drained every 256 frames (its capacity). Compare with
            // `memtx_push_only` below for what that part costs on its own.
            g.bench_function(BenchmarkId::new("in/mem_tx", n), |b| {
                let mut j = 0;
                let mut k = 0u32;
                let Setup {
                    d,
                    input,
                    stride,
                    n,
                    ..
                } = &mut s;
                let Worker { core, tx, .. } = &mut d.w;
                b.iter(|| {
                    let len = 14 + 20 + 20 + DATA_LEN;
                    let f = &input[j * *stride..j * *stride + len];
                    core.handle(Nic::Ext, f, meta(f), false, tx);
                    j += 1;
                    if j == *n {
                        j = 0;
                    }
                    k += 1;
                    if k == 256 {
                        k = 0;
                        tx[Nic::Int].flush();
                        tx[Nic::Int].sent.clear();
                    }
                })
            });
        }
        // Baseline for `in/mem_tx`: the same frame pushed into a MemTx, no worker.
        g.bench_function("memtx_push_only", |b| {
            let f = tcp_frame(
                (CLIENT_MAC, EXT_MAC),
                client(0),
                (VIP, 80),
                ACK | PSH,
                1,
                1,
                DATA_LEN,
            );
            let mut tx = MemTx::new();
            let mut k = 0u32;
            b.iter(|| {
                let slot = tx.slot().expect("room");
                slot[..f.len()].copy_from_slice(black_box(&f));
                tx.commit(f.len());
                k += 1;
                if k == 256 {
                    k = 0;
                    tx.flush();
                    tx.sent.clear();
                }
            })
        });
        g.finish();
    }
}

/// A SYN that creates a connection, through the worker, for every scheduler
/// `ipvsadm -s` accepts; and (`new_conn/pick`) the scheduler's choice alone for
/// every IPVS scheduler over eight servers.
mod new_conn {
    use super::lab::*;
    use super::*;
    use ringvs::config::{ALL_SCHEDULERS, SchedFlags, Scheduler};
    use ringvs::sched::{Candidate, Flow, SchedState};

    /// Connections made before the table is emptied (outside the timing).
    pub const CYCLE: usize = 16_384;

    pub fn benches(c: &mut Criterion) {
        let mut g = c.benchmark_group("new_conn");
        g.throughput(Throughput::Elements(1));
        let syns: Vec<Vec<u8>> = (0..CYCLE).map(syn).collect();
        // Every scheduler `ipvsadm -s` accepts (the others join once enabled).
        for sched in ALL_SCHEDULERS
            .iter()
            .map(|s| s.name())
            .filter(|n| n.parse::<Scheduler>().is_ok())
        {
            let rules = rules(sched);
            let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
            let mut d = Director::new(&rules, CYCLE, CYCLE);
            for f in &syns {
                d.handle(Nic::Ext, f);
            }
            let drops: Vec<(&str, u64)> = Ctr::ALL
                .iter()
                .map(|&c| (c.name(), d.ctr(c)))
                .filter(|&(n, v)| n.starts_with("drop_") && v > 0)
                .collect();
            assert_eq!(d.ctr(Ctr::ConnNew) as usize, CYCLE, "{sched}: {drops:?}");
            assert_eq!(d.w.core.state_count(State::SynRecv) as usize, CYCLE);
            let reset = |d: &mut Director| {
                let t = Timeouts::default();
                d.w.core.table.expire(u32::MAX, &t, usize::MAX, |_, _| {});
                assert!(d.w.core.table.is_empty());
            };
            reset(&mut d);
            let mut next = 0;
            g.bench_function(BenchmarkId::new(sched, CYCLE), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    let mut left = iters as usize;
                    while left > 0 {
                        if next == CYCLE {
                            reset(&mut d);
                            next = 0;
                        }
                        let m = left.min(CYCLE - next);
                        let t = Instant::now();
                        for f in &syns[next..next + m] {
                            d.handle(Nic::Ext, f);
                        }
                        total += t.elapsed();
                        next += m;
                        left -= m;
                    }
                    total
                })
            });
            assert_eq!(d.ctr(Ctr::DropTableFull), 0);
            assert_eq!(d.ctr(Ctr::DropConnClash), 0);
        }
        g.finish();
        pick(c);
    }

    /// A real server with the counters the connection-counting schedulers read.
    struct Rs {
        w: u32,
        act: u32,
        inact: u32,
        addr: u32,
    }

    impl Candidate for Rs {
        fn weight(&self) -> u32 {
            self.w
        }
        fn active(&self) -> u32 {
            self.act
        }
        fn inactive(&self) -> u32 {
            self.inact
        }
        fn addr(&self) -> u32 {
            self.addr
        }
        fn port(&self) -> u16 {
            80
        }
    }

    /// Servers in the `pick` benches.
    pub const SERVERS: usize = 8;
    /// Distinct destination addresses (`dh`, `lblc`, `lblcr` keys) in the mix.
    pub const VADDRS: u32 = 1024;

    /// The scheduler's choice alone (`SchedState::pick`), for every scheduler,
    /// over eight servers of mixed weights and loads: new clients each time,
    /// destinations cycling over 1024 addresses (so `lblc`/`lblcr` mostly hit
    /// their cache, as a cache cluster would).
    fn pick(c: &mut Criterion) {
        let mut g = c.benchmark_group("new_conn/pick");
        g.throughput(Throughput::Elements(1));
        let dests: Vec<Rs> = (0..SERVERS as u32)
            .map(|i| Rs {
                w: 1 + i % 3,
                act: 10 + 7 * i,
                inact: 3 * i,
                addr: u32::from(RS[0]) + i,
            })
            .collect();
        for kind in ALL_SCHEDULERS {
            let s = SchedState::new(kind, SchedFlags::default(), &dests);
            let mut i = 0u32;
            g.bench_function(BenchmarkId::new(kind.name(), SERVERS), |b| {
                b.iter(|| {
                    i = i.wrapping_add(1);
                    let flow = Flow {
                        client: u32::from(client(0).0) + i,
                        cport: 1024 + (i & 0x7fff) as u16,
                        vaddr: u32::from(VIP) + i % VADDRS,
                        vaddr_wide: (u32::from(VIP) + i % VADDRS).into(),
                        vport: 80,
                        now_s: 1000,
                    };
                    black_box(s.pick(black_box(&flow), &dests))
                })
            });
        }
        g.finish();
    }
}

/// Building a `wrr` cycle over one heavy server and many of weight 1: the
/// heaviest takes a pass of its own at each of its weights, so a builder
/// that visits every server in every pass costs servers × weight.
mod wrr_cycle {
    use super::*;
    use ringvs::sched::wrr_sequence;

    pub fn benches(c: &mut Criterion) {
        let mut g = c.benchmark_group("wrr_cycle");
        g.sample_size(10);
        for (heavy, n) in [(8, 8), (65_535, 5_000), (i32::MAX as u32, 1_000)] {
            let mut w = vec![1u32; n];
            w[0] = heavy;
            g.bench_function(BenchmarkId::new(format!("w{heavy}"), n), |b| {
                b.iter(|| black_box(wrr_sequence(black_box(&w))).len())
            });
        }
        g.finish();
    }
}

criterion_group!(
    benches,
    checksum_area::benches,
    established::benches,
    wrr_cycle::benches,
    new_conn::benches
);
criterion_main!(benches);
