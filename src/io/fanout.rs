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
//! offset 0 is not the Ethernet header. The port loads assume a 20-byte IPv4 header;
//! frames with IP options are dropped by the worker anyway, so whichever member gets
//! them is fine. A load past the end of the frame ends the program with 0 (member 0).

use crate::wire::{ipv4, udp};
use libc::sock_filter;

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
const TAX: u16 = 0x07; // BPF_MISC | BPF_TAX
const ALU_XOR_X: u16 = 0xac; // BPF_ALU | BPF_XOR | BPF_X
const ALU_RSH_K: u16 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU_MUL_K: u16 = 0x24; // BPF_ALU | BPF_MUL | BPF_K
const ALU_XOR_K: u16 = 0xa4; // BPF_ALU | BPF_XOR | BPF_K
const RET_A: u16 = 0x16; // BPF_RET | BPF_A

const NET_OFF: i32 = libc::SKF_NET_OFF;

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

/// The fanout program for one side. `key` is a secret chosen at start, so nobody
/// outside can pick source ports that all land on one worker.
pub fn program(side: Side, key: u32) -> Vec<sock_filter> {
    // The client's address and port: the source on the external side, the
    // destination on the internal one (behind a 20-byte IPv4 header).
    let (addr, port) = match side {
        Side::Ext => (ipv4::SRC_OFFSET, ipv4::HEADER_LEN + udp::SRC_PORT_OFFSET),
        Side::Int => (ipv4::DST_OFFSET, ipv4::HEADER_LEN + udp::DST_PORT_OFFSET),
    };
    let abs = |off: usize| (NET_OFF + off as i32) as u32;
    vec![
        insn(LD_W_ABS, abs(addr)), // A = client address
        insn(TAX, 0),              // X = A
        insn(LD_H_ABS, abs(port)), // A = client port
        insn(ALU_XOR_X, 0),        // A ^= X
        insn(ALU_XOR_K, key),      // A ^= key
        insn(ALU_MUL_K, GOLDEN),   // A *= 2^32 / phi: every input bit reaches the top
        insn(ALU_RSH_K, 16),       // A >>= 16: keep the well-mixed high half
        insn(RET_A, 0),            // kernel: member = A % members
    ]
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

#[cfg(test)]
mod test {
    use super::*;

    /// A tiny interpreter for the subset of classic BPF the program uses, over an
    /// IPv4 packet that starts at the network header.
    fn run(prog: &[sock_filter], net: &[u8]) -> u32 {
        let (mut a, mut x) = (0u32, 0u32);
        for i in prog {
            let off = |k: u32| (k as i32 - NET_OFF) as usize;
            match i.code {
                LD_W_ABS => {
                    let o = off(i.k);
                    a = u32::from_be_bytes([net[o], net[o + 1], net[o + 2], net[o + 3]]);
                }
                LD_H_ABS => {
                    let o = off(i.k);
                    a = u32::from(u16::from_be_bytes([net[o], net[o + 1]]));
                }
                TAX => x = a,
                ALU_XOR_X => a ^= x,
                ALU_RSH_K => a >>= i.k,
                ALU_MUL_K => a = a.wrapping_mul(i.k),
                ALU_XOR_K => a ^= i.k,
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
}
