//! One worker on the in-memory backend, fed hostile bytes as frames on both NICs,
//! with a check that every frame has exactly one outcome: forwarded or answered
//! (a frame sent), parked for ARP, handed off, passed to the neighbor table as an
//! ARP reply, or counted under one `drop_*` reason.
//!
//! Shared by the cargo-fuzz target (`fuzz/fuzz_targets/worker.rs`) and the
//! bounded property test run in CI (`tests/hostile.rs`). Addresses are RFC 2544
//! benchmarking space; nothing leaves the process.

#![allow(dead_code)]

use crossbeam_channel::Receiver;
use ringvs::config::Config;
use ringvs::config::ipvsadm::{apply, parse};
use ringvs::dataplane::{Director, Env, Plan, Worker};
use ringvs::io::RxMeta;
use ringvs::io::mem::{MemRx, MemTx};
use ringvs::nat::{Snapshot, Timeouts};
use ringvs::neigh::{NeighEvent, NeighTable};
use ringvs::stats::{Counters, Ctr};
use ringvs::wire::Mac;
use ringvs::wire::checksum::{combine, fold, pseudo_header_v4, sum};
use ringvs::{Nic, NicPair};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const EXT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 110);
pub const DIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
pub const RS1: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
pub const EXT_MAC: [u8; 6] = [0x02, 0xee, 0, 0, 0, 0x02];
pub const INT_MAC: [u8; 6] = [0x02, 0x11, 0, 0, 0, 0x01];
pub const CLIENT_MAC: [u8; 6] = [0x02, 0xcc, 0, 0, 0, 0x01];
pub const RS1_MAC: [u8; 6] = [0x02, 0x55, 0, 0, 0, 0x02];

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

/// An Ethernet frame carrying IPv4 `l4` of `proto` with valid checksums.
pub fn ip_frame(
    macs: ([u8; 6], [u8; 6]),
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    mut l4: Vec<u8>,
) -> Vec<u8> {
    let csum_at = match proto {
        6 => Some(16),
        17 => Some(6),
        1 => Some(2),
        _ => None,
    };
    if let Some(at) = csum_at {
        l4[at] = 0;
        l4[at + 1] = 0;
        let pseudo = if proto == 1 {
            0
        } else {
            pseudo_header_v4(src, dst, proto, l4.len() as u16)
        };
        let c = !fold(combine(pseudo, sum(&l4)));
        let c = if proto == 17 && c == 0 { 0xffff } else { c };
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    let mut ip = vec![0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = !fold(sum(&ip));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = Vec::with_capacity(14 + ip.len() + l4.len());
    f.extend_from_slice(&macs.1);
    f.extend_from_slice(&macs.0);
    f.extend_from_slice(&[8, 0]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&l4);
    f
}

pub fn tcp(
    macs: ([u8; 6], [u8; 6]),
    (src, sport): (Ipv4Addr, u16),
    (dst, dport): (Ipv4Addr, u16),
    flags: u8,
    data: &[u8],
) -> Vec<u8> {
    let mut l4 = vec![0u8; 20];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    l4[4..8].copy_from_slice(&1u32.to_be_bytes());
    l4[12] = 5 << 4;
    l4[13] = flags;
    l4[14..16].copy_from_slice(&8192u16.to_be_bytes());
    l4.extend_from_slice(data);
    ip_frame(macs, src, dst, 6, l4)
}

pub fn udp(
    macs: ([u8; 6], [u8; 6]),
    (src, sport): (Ipv4Addr, u16),
    (dst, dport): (Ipv4Addr, u16),
    data: &[u8],
) -> Vec<u8> {
    let mut l4 = vec![0u8; 8];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    l4[4..6].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    l4.extend_from_slice(data);
    ip_frame(macs, src, dst, 17, l4)
}

pub fn arp(
    op: u8,
    sha: [u8; 6],
    spa: Ipv4Addr,
    tha: [u8; 6],
    tpa: Ipv4Addr,
    dst: [u8; 6],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&[8, 6, 0, 1, 8, 0, 6, 4, 0, op]);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa.octets());
    f
}

/// Valid frames to mutate, with the NIC each arrives on.
pub fn templates() -> Vec<(Nic, Vec<u8>)> {
    let c = (CLIENT_MAC, EXT_MAC);
    let r = (RS1_MAC, INT_MAC);
    let mut echo = vec![8u8, 0, 0, 0, 0, 1, 0, 1];
    echo.extend_from_slice(b"ping");
    let quoted = tcp((EXT_MAC, CLIENT_MAC), (VIP, 80), (CLIENT, 40000), ACK, b"");
    let mut unreach = vec![3u8, 4, 0, 0, 0, 0, 5, 0x78];
    unreach.extend_from_slice(&quoted[14..14 + 28]);
    vec![
        (Nic::Ext, tcp(c, (CLIENT, 40001), (VIP, 80), SYN, b"")),
        (
            Nic::Ext,
            tcp(c, (CLIENT, 40000), (VIP, 80), ACK | PSH, b"data"),
        ),
        (
            Nic::Int,
            tcp(r, (RS1, 80), (CLIENT, 40000), ACK | PSH, b"reply"),
        ),
        (Nic::Ext, udp(c, (CLIENT, 5000), (VIP, 53), b"query")),
        (Nic::Int, udp(r, (RS1, 53), (CLIENT, 5000), b"answer")),
        (Nic::Ext, ip_frame(c, CLIENT, VIP, 1, echo.clone())),
        (Nic::Int, ip_frame(r, RS1, DIP, 1, echo)),
        (Nic::Ext, ip_frame(c, CLIENT, VIP, 1, unreach)),
        (Nic::Ext, arp(1, CLIENT_MAC, CLIENT, [0; 6], VIP, [0xff; 6])),
        (Nic::Int, arp(2, RS1_MAC, RS1, INT_MAC, DIP, INT_MAC)),
    ]
}

pub struct Harness {
    pub w: Worker<MemRx, MemTx>,
    neigh_rx: Receiver<NeighEvent>,
    now: Instant,
    templates: Vec<(Nic, Vec<u8>)>,
    /// Frames fed and frames that came out, over the harness's life.
    pub fed: u64,
    pub sent: u64,
}

fn config() -> Config {
    let mut cfg = Config::new();
    for r in [
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
        "-A -u 198.18.0.110:53 -s rr",
        "-a -u 198.18.0.110:53 -r 198.19.0.2:53 -m",
    ] {
        let args: Vec<String> = r.split_whitespace().map(String::from).collect();
        let cmd = parse(&args).expect("rule parses");
        apply(&mut cfg, &cmd).expect("rule applies");
    }
    cfg
}

impl Harness {
    /// A worker (table of 64) with an established TCP connection
    /// (CLIENT:40000 ↔ RS1:80) and a UDP flow (CLIENT:5000 ↔ RS1:53).
    pub fn new() -> Self {
        let env = Env {
            mac: [Mac(EXT_MAC), Mac(INT_MAC)],
            mtu: [1500, 1500],
            ext_net: "198.18.0.2/24".parse().expect("prefix"),
            gateway: None,
            int_net: "198.19.0.1/24".parse().expect("prefix"),
            io_only: false,
            fanout_key: 0,
            sysctl: Default::default(),
        };
        let plan = Plan {
            handoff_depth: 4,
            ..Plan::new(1, env, 64)
        };
        let now = plan.start;
        let mut dp = Director::new(plan, Snapshot::build(&config(), Timeouts::default()));
        let mut neigh = NeighTable::new();
        for (nic, ip, mac) in [(Nic::Ext, CLIENT, CLIENT_MAC), (Nic::Int, RS1, RS1_MAC)] {
            let ip = u32::from(ip);
            neigh.event(NeighEvent::Resolve { nic, ip }, now);
            neigh.event(
                NeighEvent::Heard {
                    nic,
                    ip,
                    mac: Mac(mac),
                    reply: true,
                },
                now,
            );
        }
        if let Some(s) = neigh.take_snapshot() {
            dp.shared.neigh.store(Arc::new(s));
        }
        dp.shared.bump();
        let queues = (
            NicPair::new(MemRx::new(), MemRx::new()),
            NicPair::new(MemTx::new(), MemTx::new()),
        );
        let Some(w) = dp.workers([queues]).pop() else {
            unreachable!("a plan of one worker builds one")
        };
        let neigh_rx = dp.neigh_rx.clone();
        let mut h = Self {
            w,
            neigh_rx,
            now,
            templates: templates(),
            fed: 0,
            sent: 0,
        };
        let c = (CLIENT_MAC, EXT_MAC);
        let r = (RS1_MAC, INT_MAC);
        for (nic, f) in [
            (Nic::Ext, tcp(c, (CLIENT, 40000), (VIP, 80), SYN, b"")),
            (Nic::Int, tcp(r, (RS1, 80), (CLIENT, 40000), SYN | ACK, b"")),
            (Nic::Ext, tcp(c, (CLIENT, 40000), (VIP, 80), ACK, b"")),
            (Nic::Ext, udp(c, (CLIENT, 5000), (VIP, 53), b"q")),
        ] {
            assert_eq!(h.one(nic, &f, false), 1, "set-up frame forwarded");
        }
        h
    }

    pub fn templates(&self) -> &[(Nic, Vec<u8>)] {
        &self.templates
    }

    /// Feed one frame and check its outcome; returns the frames it caused to be sent.
    pub fn one(&mut self, nic: Nic, frame: &[u8], partial: bool) -> u64 {
        let before: Counters = self.w.core.ctr.clone();
        let meta = RxMeta {
            wire_len: frame.len() as u32,
            csum_partial: partial,
            vlan: false,
        };
        match nic {
            Nic::Ext => self.w.rx[Nic::Ext].push_with(frame, meta),
            Nic::Int => self.w.rx[Nic::Int].push_with(frame, meta),
        }
        self.now += Duration::from_millis(7);
        self.w.poll_once(self.now);
        let sent =
            (self.w.tx[Nic::Ext].take_sent().len() + self.w.tx[Nic::Int].take_sent().len()) as u64;
        let after = &self.w.core.ctr;
        let d = |c: Ctr| after.get(c) - before.get(c);
        let drops: u64 = Ctr::ALL
            .iter()
            .filter(|c| c.name().starts_with("drop_"))
            .map(|&c| d(c))
            .sum();
        let heard = self
            .neigh_rx
            .try_iter()
            .filter(|e| matches!(e, NeighEvent::Heard { reply: true, .. }))
            .count() as u64;
        assert_eq!(d(Ctr::RxExt) + d(Ctr::RxInt), 1, "received once");
        assert_eq!(d(Ctr::TxExt) + d(Ctr::TxInt), sent, "sent as counted");
        let outcomes = sent + d(Ctr::NeighQueued) + d(Ctr::HandoffOut) + drops + heard;
        assert_eq!(
            outcomes,
            1,
            "one outcome per frame: sent {sent}, queued {}, handed off {}, drops {drops}, heard {heard}; frame {frame:02x?}",
            d(Ctr::NeighQueued),
            d(Ctr::HandoffOut)
        );
        self.fed += 1;
        self.sent += sent;
        sent
    }

    /// Interpret fuzzer bytes as a run of frames: per frame a header byte (bit 0:
    /// internal NIC; bit 1: partial checksum; bit 2: mutate a template, chosen by
    /// the next byte, with the following (offset, value) pairs, else raw bytes;
    /// bit 3: address the raw bytes to our MAC as IPv4) and a length byte.
    pub fn run(&mut self, mut data: &[u8]) {
        while let [hdr, len, rest @ ..] = data {
            let n = usize::from(*len).min(rest.len());
            let (body, tail) = rest.split_at(n);
            data = tail;
            let partial = hdr & 2 != 0;
            if hdr & 4 != 0 {
                let Some((which, edits)) = body.split_first() else {
                    continue;
                };
                let (nic, mut f) =
                    self.templates[usize::from(*which) % self.templates.len()].clone();
                for e in edits.chunks_exact(2) {
                    let at = usize::from(e[0]);
                    if at < f.len() {
                        f[at] = e[1];
                    } else if e[1] & 1 == 0 {
                        f.truncate(at % (f.len() + 1));
                    }
                }
                self.one(nic, &f, partial);
            } else {
                let nic = if hdr & 1 != 0 { Nic::Int } else { Nic::Ext };
                let mut f = body.to_vec();
                if hdr & 8 != 0 && f.len() >= 14 {
                    f[..6].copy_from_slice(if nic == Nic::Ext { &EXT_MAC } else { &INT_MAC });
                    f[12] = 8;
                    f[13] = 0;
                }
                self.one(nic, &f, partial);
            }
        }
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}
