//! Client-keyed flow affinity: the classic-BPF fanout program and its twin in Rust.
//!
//! Both NICs' fanout groups (`PACKET_FANOUT_CBPF`) run a program that hashes the
//! *client* end of the tuple: on the external NIC the source address and port, on the
//! internal NIC the destination address and port. A request (CIP:cport → VIP:vport)
//! and its reply (RIP:rport → CIP:cport) therefore hash alike and reach the same
//! member index in both groups, i.e. the same worker, whose connection table is the
//! only one that holds the connection.
//!
//! The kernel takes the program's return value modulo the member count
//! (`fanout_demux_bpf`). [`owner`] computes the same value in Rust, so a worker can
//! tell which worker owns a flow whose tuple the program could not see (an ICMP
//! error carries it inside its payload) and hand the frame over.
//!
//! Loads are relative to `SKF_NET_OFF` (the network header): inside a fanout program
//! offset 0 is not the Ethernet header. The program first reads the IP version
//! (the high nibble of the network header's first byte). Anything but 6 takes the
//! IPv4 path, whose port loads assume a 20-byte header; frames with IP options are
//! dropped by the worker anyway, so whichever member gets them is fine. A load past
//! the end of the frame ends the program with 0 (member 0).
//!
//! # IPv6
//!
//! Version 6 takes its own path: the client's 128-bit address is folded to 32
//! bits ([`fold6`]: the XOR of its four big-endian words), the client port is read
//! behind the 40-byte fixed header, and the two are hashed exactly as an IPv4
//! address and port are. So [`owner6`] (= [`owner`] of the folded address) names
//! the member, and an IPv6 request and its reply meet on one worker as IPv4 ones
//! do. The fold keeps every address bit but, like IPv4's `address ^ port`, lets a
//! client that owns many addresses line flows up on one (unknown) worker; the key
//! still stops a single address from choosing its ports to do so.
//!
//! A classic-BPF program cannot walk IPv6 extension headers (they chain with
//! variable lengths), so the port load trusts the fixed header's next header to
//! be the transport. A frame whose next header is anything else (hop-by-hop,
//! routing, destination options, a fragment) reads two unrelated bytes as its
//! port and may land on any member: the worker that receives it walks the headers
//! to the transport and hands the frame to [`owner6`] of the client it finds, as
//! it does for ICMP errors.

use crate::wire::{ipv4, udp};
use libc::sock_filter;
use std::net::Ipv6Addr;

/// Which end of the tuple the program hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// External NIC: the client is the source.
    Ext,
    /// Internal NIC: the client is the destination.
    Int,
}

// Classic BPF opcodes (linux/filter.h, bpf_common.h).
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const LD_H_ABS: u16 = 0x28; // BPF_LD | BPF_H | BPF_ABS
const LD_B_ABS: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
const TAX: u16 = 0x07; // BPF_MISC | BPF_TAX
const ALU_XOR_X: u16 = 0xac; // BPF_ALU | BPF_XOR | BPF_X
const ALU_RSH_K: u16 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU_MUL_K: u16 = 0x24; // BPF_ALU | BPF_MUL | BPF_K
const ALU_XOR_K: u16 = 0xa4; // BPF_ALU | BPF_XOR | BPF_K
const JMP_JA: u16 = 0x05; // BPF_JMP | BPF_JA
const JMP_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const RET_A: u16 = 0x16; // BPF_RET | BPF_A

const NET_OFF: i32 = libc::SKF_NET_OFF;

/// The IPv6 fixed header (RFC 8200 section 3): its length and where the
/// addresses sit in it.
const IPV6_HEADER_LEN: usize = 40;
const IPV6_SRC_OFFSET: usize = 8;
const IPV6_DST_OFFSET: usize = 24;

/// Fibonacci hashing's multiplier. Linux hands out even ephemeral ports to
/// `connect()`, so the low bits of `address ^ port` alone would not spread flows.
const GOLDEN: u32 = 0x9e37_79b1;

fn insn(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// A conditional jump: `jt`/`jf` instructions forward from the next one.
fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// The fanout program for one side. `key` is a secret chosen at start, so nobody
/// outside can pick source ports that all land on one worker.
pub fn program(side: Side, key: u32) -> Vec<sock_filter> {
    // The client's address and port: the source on the external side, the
    // destination on the internal one, behind a 20-byte IPv4 or the 40-byte
    // IPv6 header.
    let (addr4, port4, addr6, port6) = match side {
        Side::Ext => (
            ipv4::SRC_OFFSET,
            ipv4::HEADER_LEN + udp::SRC_PORT_OFFSET,
            IPV6_SRC_OFFSET,
            IPV6_HEADER_LEN + udp::SRC_PORT_OFFSET,
        ),
        Side::Int => (
            ipv4::DST_OFFSET,
            ipv4::HEADER_LEN + udp::DST_PORT_OFFSET,
            IPV6_DST_OFFSET,
            IPV6_HEADER_LEN + udp::DST_PORT_OFFSET,
        ),
    };
    let abs = |off: usize| (NET_OFF + off as i32) as u32;
    // Both paths leave X = the client address (folded for IPv6), A = the port.
    let v4 = [
        insn(LD_W_ABS, abs(addr4)), // A = client address
        insn(TAX, 0),               // X = A
        insn(LD_H_ABS, abs(port4)), // A = client port
    ];
    let mut v6 = vec![
        insn(LD_W_ABS, abs(addr6)), // A = the address's first word
        insn(TAX, 0),               // X = A
    ];
    for word in 1..4 {
        v6.extend([
            insn(LD_W_ABS, abs(addr6 + 4 * word)), // A = the next word
            insn(ALU_XOR_X, 0),                    // A ^= X
            insn(TAX, 0),                          // X = A: fold6 so far
        ]);
    }
    v6.push(insn(LD_H_ABS, abs(port6))); // A = client port
    let mut p = vec![
        insn(LD_B_ABS, abs(0)), // A = version and IHL / traffic class
        insn(ALU_RSH_K, 4),     // A = IP version
        // Version 6: jump over the IPv4 path and its `ja`.
        jump(JMP_JEQ_K, 6, v4.len() as u8 + 1, 0),
    ];
    p.extend(v4);
    p.push(insn(JMP_JA, v6.len() as u32)); // IPv4 done: to the hash
    p.extend(v6);
    p.extend([
        insn(ALU_XOR_X, 0),      // A ^= X
        insn(ALU_XOR_K, key),    // A ^= key
        insn(ALU_MUL_K, GOLDEN), // A *= 2^32 / phi: every input bit reaches the top
        insn(ALU_RSH_K, 16),     // A >>= 16: keep the well-mixed high half
        insn(RET_A, 0),          // kernel: member = A % members
    ]);
    p
}

/// The program's value for a client address (as a big-endian number) and port.
#[inline]
pub fn hash(client_addr: u32, client_port: u16, key: u32) -> u32 {
    (client_addr ^ u32::from(client_port) ^ key).wrapping_mul(GOLDEN) >> 16
}

/// The worker (fanout member index) that owns a client's flows.
#[inline]
pub fn owner(client_addr: u32, client_port: u16, workers: usize, key: u32) -> usize {
    if workers <= 1 {
        return 0;
    }
    (hash(client_addr, client_port, key) % workers as u32) as usize
}

/// An IPv6 address folded to the 32 bits the program hashes: the XOR of its four
/// big-endian words.
#[inline]
pub fn fold6(addr: Ipv6Addr) -> u32 {
    let x = u128::from(addr);
    (x >> 96) as u32 ^ (x >> 64) as u32 ^ (x >> 32) as u32 ^ x as u32
}

/// The program's value for an IPv6 client address and port.
#[inline]
pub fn hash6(client_addr: Ipv6Addr, client_port: u16, key: u32) -> u32 {
    hash(fold6(client_addr), client_port, key)
}

/// The worker (fanout member index) that owns an IPv6 client's flows.
#[inline]
pub fn owner6(client_addr: Ipv6Addr, client_port: u16, workers: usize, key: u32) -> usize {
    owner(fold6(client_addr), client_port, workers, key)
}

#[cfg(test)]
mod test {
    use super::*;

    /// A tiny interpreter for the subset of classic BPF the program uses, over a
    /// packet that starts at the network header. As the kernel's, it refuses
    /// backward jumps and ends the program with 0 at a load past the end.
    fn run(prog: &[sock_filter], net: &[u8]) -> u32 {
        let (mut a, mut x) = (0u32, 0u32);
        let load = |k: u32, n: usize| -> Option<u32> {
            let o = usize::try_from(k as i32 - NET_OFF).ok()?;
            let b = net.get(o..o + n)?;
            Some(b.iter().fold(0u32, |v, &b| v << 8 | u32::from(b)))
        };
        let mut pc = 0;
        while let Some(i) = prog.get(pc) {
            pc += 1;
            match i.code {
                LD_W_ABS | LD_H_ABS | LD_B_ABS => {
                    let n = match i.code {
                        LD_W_ABS => 4,
                        LD_H_ABS => 2,
                        _ => 1,
                    };
                    match load(i.k, n) {
                        Some(v) => a = v,
                        None => return 0,
                    }
                }
                TAX => x = a,
                ALU_XOR_X => a ^= x,
                ALU_RSH_K => a >>= i.k,
                ALU_MUL_K => a = a.wrapping_mul(i.k),
                ALU_XOR_K => a ^= i.k,
                JMP_JA => pc += i.k as usize,
                JMP_JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                RET_A => return a,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
        panic!("program fell off the end")
    }

    fn ipv4_tcp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[9] = 6;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p[20..22].copy_from_slice(&sport.to_be_bytes());
        p[22..24].copy_from_slice(&dport.to_be_bytes());
        p
    }

    #[test]
    fn request_and_reply_pick_the_same_member() {
        let key = 0x5eed_1234;
        let ext = program(Side::Ext, key);
        let int = program(Side::Int, key);
        for cport in [1u16, 80, 40000, 65535] {
            for last in [1u8, 7, 200] {
                let cip = [198, 18, 0, last];
                let req = ipv4_tcp(cip, cport, [198, 18, 0, 110], 80);
                let rep = ipv4_tcp([198, 19, 0, 2], 8080, cip, cport);
                let (h1, h2) = (run(&ext, &req), run(&int, &rep));
                assert_eq!(h1, h2);
                assert_eq!(h1, hash(u32::from_be_bytes(cip), cport, key));
            }
        }
    }

    #[test]
    fn even_ports_of_one_client_spread_over_workers() {
        let cip = u32::from_be_bytes([198, 18, 0, 1]);
        for workers in [2, 3, 4] {
            let mut seen = vec![0usize; workers];
            for port in (40000..42000).step_by(2) {
                seen[owner(cip, port, workers, 0x5eed_1234)] += 1;
            }
            let fair = 1000 / workers;
            assert!(
                seen.iter()
                    .all(|&n| n > fair * 8 / 10 && n < fair * 12 / 10),
                "{workers} workers: {seen:?}"
            );
        }
    }

    fn ipv6_tcp(src: Ipv6Addr, sport: u16, dst: Ipv6Addr, dport: u16) -> Vec<u8> {
        let mut p = vec![0u8; 60];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&20u16.to_be_bytes());
        p[6] = 6;
        p[7] = 64;
        p[8..24].copy_from_slice(&src.octets());
        p[24..40].copy_from_slice(&dst.octets());
        p[40..42].copy_from_slice(&sport.to_be_bytes());
        p[42..44].copy_from_slice(&dport.to_be_bytes());
        p
    }

    /// Clients all over 2001:2::/48: the prefix, the subnet and the interface
    /// identifier vary, so every word of the address matters.
    fn clients6(n: usize) -> impl Iterator<Item = Ipv6Addr> {
        let mut s = 0x0123_4567_89ab_cdefu64;
        (0..n).map(move |_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let subnet = (s >> 48) as u16;
            Ipv6Addr::from(
                0x2001_0002_0000_0000_0000_0000_0000_0000u128
                    | u128::from(subnet) << 64
                    | u128::from(s ^ s >> 29),
            )
        })
    }

    #[test]
    fn fold6_xors_the_four_words() {
        // 2001:2:0:1:: with interface identifier 0:0:1:110 by hand: the words are
        // 2001_0002, 0000_0001, 0000_0000 and 0001_0110.
        let a: Ipv6Addr = "2001:2:0:1::1:110".parse().expect("address");
        assert_eq!(fold6(a), 0x2001_0002 ^ 0x0000_0001 ^ 0x0001_0110);
        assert_eq!(hash6(a, 80, 7), hash(fold6(a), 80, 7));
    }

    #[test]
    fn ipv6_request_and_reply_pick_the_same_member() {
        let key = 0x5eed_1234;
        let ext = program(Side::Ext, key);
        let int = program(Side::Int, key);
        let vip: Ipv6Addr = "2001:2:0:1::110".parse().expect("vip");
        let rip: Ipv6Addr = "2001:2:0:2::2".parse().expect("rip");
        for (n, cip) in clients6(500).enumerate() {
            let cport = (n as u16).wrapping_mul(7919) | 1024;
            let req = ipv6_tcp(cip, cport, vip, 80);
            let rep = ipv6_tcp(rip, 8080, cip, cport);
            let (h1, h2) = (run(&ext, &req), run(&int, &rep));
            assert_eq!(h1, h2, "{cip} port {cport}");
            assert_eq!(h1, hash6(cip, cport, key), "{cip} port {cport}");
            for workers in 1..=5 {
                assert_eq!(
                    owner6(cip, cport, workers, key),
                    (h1 % workers as u32) as usize
                );
            }
        }
    }

    #[test]
    fn the_version_nibble_picks_the_path() {
        let key = 0x5eed_1234;
        let ext = program(Side::Ext, key);
        let cip: Ipv6Addr = "2001:2:0:1::1".parse().expect("client");
        let vip: Ipv6Addr = "2001:2:0:1::110".parse().expect("vip");
        let p = ipv6_tcp(cip, 40000, vip, 80);
        // Read as IPv4, the same bytes would hash part of the source address
        // (bytes 12..16) with two more of it (20..22) as the port.
        let as_v4 = hash(
            u32::from_be_bytes([p[12], p[13], p[14], p[15]]),
            u16::from_be_bytes([p[20], p[21]]),
            key,
        );
        assert_ne!(as_v4, hash6(cip, 40000, key));
        assert_eq!(run(&ext, &p), hash6(cip, 40000, key));
        // Flipping the version to 4 takes the IPv4 path over the same bytes.
        let mut v4 = p.clone();
        v4[0] = 0x45;
        assert_eq!(run(&ext, &v4), as_v4);
    }

    #[test]
    fn ipv6_extension_headers_read_the_bytes_behind_the_fixed_header() {
        // Hop-by-hop options before TCP: the program takes the first two bytes
        // of the options header for the port, so the member is arbitrary and
        // the worker hands the frame to its owner.
        let key = 0x5eed_1234;
        let cip: Ipv6Addr = "2001:2:0:1::1".parse().expect("client");
        let vip: Ipv6Addr = "2001:2:0:1::110".parse().expect("vip");
        let mut p = ipv6_tcp(cip, 40000, vip, 80);
        p[6] = 0; // hop-by-hop
        p[40] = 6; // its next header: TCP
        p[41] = 0; // 8 bytes long
        let seen = u16::from_be_bytes([p[40], p[41]]);
        assert_eq!(run(&program(Side::Ext, key), &p), hash6(cip, seen, key));
    }

    #[test]
    fn truncated_frames_go_to_member_zero() {
        let key = 0x5eed_1234;
        let cip: Ipv6Addr = "2001:2:0:1::1".parse().expect("client");
        let vip: Ipv6Addr = "2001:2:0:1::110".parse().expect("vip");
        let v6 = ipv6_tcp(cip, 40000, vip, 80);
        let v4 = ipv4_tcp([198, 18, 0, 1], 40000, [198, 18, 0, 110], 80);
        for side in [Side::Ext, Side::Int] {
            let prog = program(side, key);
            assert_eq!(run(&prog, &[]), 0);
            // Cut inside the address and inside the port.
            for cut in [10, 30, 41] {
                assert_eq!(run(&prog, &v6[..cut]), 0, "{side:?} v6 cut at {cut}");
            }
            for cut in [14, 21] {
                assert_eq!(run(&prog, &v4[..cut]), 0, "{side:?} v4 cut at {cut}");
            }
            assert_ne!(run(&prog, &v6[..44]), 0, "{side:?}");
        }
    }

    #[test]
    fn jumps_go_forward_and_land_inside() {
        for side in [Side::Ext, Side::Int] {
            let p = program(side, 1);
            assert_eq!(p.last().map(|i| i.code), Some(RET_A));
            for (pc, i) in p.iter().enumerate() {
                let targets = match i.code {
                    JMP_JA => vec![pc + 1 + i.k as usize],
                    JMP_JEQ_K => vec![pc + 1 + usize::from(i.jt), pc + 1 + usize::from(i.jf)],
                    _ => continue,
                };
                assert!(targets.iter().all(|&t| t < p.len()), "{pc}: {targets:?}");
            }
        }
    }

    #[test]
    fn ipv6_clients_spread_over_workers() {
        for workers in [2, 3, 4] {
            let mut seen = vec![0usize; workers];
            for cip in clients6(3000) {
                seen[owner6(cip, 40000, workers, 0x5eed_1234)] += 1;
            }
            let fair = 3000 / workers;
            assert!(
                seen.iter()
                    .all(|&n| n > fair * 8 / 10 && n < fair * 12 / 10),
                "{workers} workers: {seen:?}"
            );
        }
    }
}
