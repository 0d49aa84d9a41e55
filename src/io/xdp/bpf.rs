//! The XDP program that redirects IPv4, IPv6 and ARP to the AF_XDP sockets, and
//! the `bpf(2)` calls that load it, attach it and fill its socket map.
//!
//! # IPv6
//!
//! IPv6 frames (EtherType 0x86DD) go to the socket as IPv4 ones do, all of
//! them: not only the flows to VIPs but neighbor discovery too, since the
//! worker answers solicitations for the VIPs and the DIP itself, as it answers
//! ARP (the kernel's own NDP and IPv6 on these NICs are not used, as its IPv4
//! is not). The program looks no further than the EtherType: the worker, not
//! the program, walks extension headers and hands a frame to the worker that
//! owns its flow. Everything that is neither IPv4, IPv6 nor ARP (LLDP,
//! VLAN-tagged frames, ...) stays with the kernel.

use super::XskRx;
use super::owned;
use crate::io::{cvt, with_context};
use crate::wire::ethernet::{ETHERTYPE_OFFSET, HEADER_LEN, ethertype};
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, OwnedFd};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
const BPF_PSEUDO_MAP_FD: u8 = 1;
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
const XDP_PASS: i32 = 2;
/// Entries in the socket map: receive queues a NIC may have.
const XSKMAP_ENTRIES: u32 = 256;

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct MapUpdateAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// bpf(2) with one of the attribute structs above; returns the new fd, if any.
fn bpf<T>(cmd: libc::c_long, attr: &mut T, what: &str) -> io::Result<libc::c_int> {
    // SAFETY: `attr` is a live, fully initialised repr(C) struct whose layout is a
    // prefix of the kernel's `union bpf_attr` for `cmd`; the size passed is its own,
    // and the kernel treats the bytes it knows beyond that as zero.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            (attr as *mut T).cast::<libc::c_void>(),
            size_of::<T>() as libc::c_uint,
        )
    };
    cvt(ret as libc::c_int).map_err(|e| with_context(e, what))
}

/// One eBPF instruction (`struct bpf_insn`).
const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let regs = if cfg!(target_endian = "little") {
        dst | (src << 4)
    } else {
        (dst << 4) | src
    };
    let o = off.to_ne_bytes();
    let i = imm.to_ne_bytes();
    [code, regs, o[0], o[1], i[0], i[1], i[2], i[3]]
}

/// The redirect program: IPv4, IPv6 and ARP frames go to the socket in `map` at
/// the frame's receive queue (or to the kernel if there is none); everything
/// else goes to the kernel.
fn program(map_fd: i32) -> [[u8; 8]; 17] {
    // EtherTypes as a 16-bit load from the frame reads them (network order).
    let ipv4 = i32::from(ethertype::IPV4.to_be());
    let ipv6 = i32::from(ethertype::IPV6.to_be());
    let arp = i32::from(ethertype::ARP.to_be());
    let (eth_len, ty_at) = (HEADER_LEN as i32, ETHERTYPE_OFFSET as i16);
    [
        insn(0x61, 2, 1, 0, 0),                      // 0: r2 = ctx->data
        insn(0x61, 3, 1, 4, 0),                      // 1: r3 = ctx->data_end
        insn(0xbf, 4, 2, 0, 0),                      // 2: r4 = r2
        insn(0x07, 4, 0, 0, eth_len),                // 3: r4 += Ethernet header
        insn(0x2d, 4, 3, 10, 0),                     // 4: if r4 > r3 goto pass
        insn(0x69, 4, 2, ty_at, 0),                  // 5: r4 = *(u16 *)(r2 + ty_at)
        insn(0x15, 4, 0, 2, ipv4),                   // 6: if r4 == IPv4 goto redirect
        insn(0x15, 4, 0, 1, ipv6),                   // 7: if r4 == IPv6 goto redirect
        insn(0x55, 4, 0, 6, arp),                    // 8: if r4 != ARP goto pass
        insn(0x61, 2, 1, 16, 0),                     // 9: redirect: r2 = ctx->rx_queue_index
        insn(0x18, 1, BPF_PSEUDO_MAP_FD, 0, map_fd), // 10: r1 = map (ld_imm64,
        insn(0x00, 0, 0, 0, 0),                      // 11:   second half)
        insn(0xb7, 3, 0, 0, XDP_PASS),               // 12: r3 = XDP_PASS (if no socket)
        insn(0x85, 0, 0, 0, BPF_FUNC_REDIRECT_MAP),  // 13: call bpf_redirect_map
        insn(0x95, 0, 0, 0, 0),                      // 14: exit
        insn(0xb7, 0, 0, 0, XDP_PASS),               // 15: pass: r0 = XDP_PASS
        insn(0x95, 0, 0, 0, 0),                      // 16: exit
    ]
}

/// Where the XDP program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    /// Native (driver) mode where the driver has it, generic otherwise.
    Auto,
    /// In the driver, before an `sk_buff` exists (fails if the driver lacks it).
    Native,
    /// In the core receive path, after the `sk_buff` is built (any NIC; on the
    /// CPU that RPS picks).
    Generic,
}

impl XdpMode {
    fn flags(self) -> u32 {
        match self {
            Self::Auto => 0,
            Self::Native => 1 << 2,  // XDP_FLAGS_DRV_MODE
            Self::Generic => 1 << 1, // XDP_FLAGS_SKB_MODE
        }
    }
}

/// A refused attach, with the likely reason where the errno tells it:
/// EBUSY, a program in the same mode; EEXIST, one in the other mode (e.g.
/// generic while native is asked for); EINVAL, most likely a kernel older
/// than Linux 5.9, which has no BPF link for XDP (`BPF_LINK_CREATE` is
/// unknown before 5.7, and `link_create` in `kernel/bpf/syscall.c` knows no
/// `BPF_XDP` attach type before 5.9), else a driver refusing the program.
fn attach_refused(e: io::Error) -> io::Error {
    let hint = match crate::io::errno(&e) {
        Some(libc::EBUSY | libc::EEXIST) => "another XDP program is attached to this NIC",
        Some(libc::EINVAL) => {
            "--io xdp needs Linux 5.9 or later, for BPF links to XDP programs; on a \
             newer kernel the driver refused the program: see dmesg"
        }
        _ => return e,
    };
    io::Error::new(e.kind(), format!("{e} ({hint})"))
}

/// The XDP program of one NIC, with its socket map: loaded first
/// ([`XdpProgram::load`]), attached only once every socket is bound and in
/// the map ([`XdpProgram::attach`]). Dropping it detaches the program (it is
/// held by a BPF link, not pinned): a director that dies leaves no program
/// behind.
///
/// Why that order: an attached program redirects every IPv4, IPv6 and ARP
/// frame by its receive queue; while the map's slot for a queue is empty, the
/// lookup fails and the frame goes to the kernel's stack (the program's
/// `XDP_PASS` default), which the director's NICs keep out of the way (see
/// the module doc). A socket leaves its map slot when it closes
/// (`xsk_release` -> `xsk_delete_from_maps`, `net/xdp/xsk.c`), so at shutdown
/// the program is detached before the sockets close: none is redirected to a
/// socket nobody reads any more, and the workers forward what their RX rings
/// already hold (`Worker::drain_at_stop`).
pub struct XdpProgram {
    /// The attachment, once made (dropped first: detach, then the rest).
    link: Option<OwnedFd>,
    map: OwnedFd,
    prog: OwnedFd,
}

impl XdpProgram {
    /// Make the socket map and load the redirect program into the kernel,
    /// attached to nothing yet.
    pub fn load() -> io::Result<Self> {
        let mut name = [0u8; 16];
        name[..6].copy_from_slice(b"ringvs");
        let mut m = MapCreateAttr {
            map_type: BPF_MAP_TYPE_XSKMAP,
            key_size: 4,
            value_size: 4,
            max_entries: XSKMAP_ENTRIES,
            map_name: name,
            ..Default::default()
        };
        let map = bpf(BPF_MAP_CREATE, &mut m, "bpf(BPF_MAP_CREATE xskmap)")?;
        // SAFETY: a new fd, just returned to us by bpf(2).
        let map = unsafe { owned(map) };
        let insns = program(map.as_raw_fd());
        let license = c"Dual MIT/GPL";
        let mut log = vec![0u8; 1 << 14];
        let mut p = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_XDP,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: 1,
            log_size: log.len() as u32,
            log_buf: log.as_mut_ptr() as u64,
            prog_name: name,
            expected_attach_type: BPF_XDP,
            ..Default::default()
        };
        let prog = match bpf(BPF_PROG_LOAD, &mut p, "bpf(BPF_PROG_LOAD xdp)") {
            // SAFETY: a new fd, just returned to us by bpf(2).
            Ok(fd) => unsafe { owned(fd) },
            Err(e) => {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                let text = String::from_utf8_lossy(&log[..end]);
                return Err(io::Error::new(
                    e.kind(),
                    format!("{e}; verifier: {}", text.trim()),
                ));
            }
        };
        Ok(Self {
            link: None,
            map,
            prog,
        })
    }

    /// Attach the program to `ifindex`: from now on it redirects. Call it
    /// once the sockets it redirects to are in its map ([`XdpProgram::register`]).
    /// Through a BPF link (`BPF_LINK_CREATE`, attach type `BPF_XDP`), which
    /// XDP has since Linux 5.9: an older kernel answers EINVAL, said so by
    /// [`attach_refused`].
    pub fn attach(&mut self, ifindex: u32, mode: XdpMode) -> io::Result<()> {
        let mut l = LinkCreateAttr {
            prog_fd: self.prog.as_raw_fd() as u32,
            target_ifindex: ifindex,
            attach_type: BPF_XDP,
            flags: mode.flags(),
        };
        let link =
            bpf(BPF_LINK_CREATE, &mut l, "attaching the XDP program").map_err(attach_refused)?;
        // SAFETY: a new fd, just returned to us by bpf(2).
        self.link = Some(unsafe { owned(link) });
        Ok(())
    }

    /// Send frames received on `queue` to `sock`.
    pub fn register(&self, queue: u32, sock: &XskRx) -> io::Result<()> {
        let key = queue;
        let value = sock.fd.as_raw_fd() as u32;
        let mut u = MapUpdateAttr {
            map_fd: self.map.as_raw_fd() as u32,
            key: &key as *const u32 as u64,
            value: &value as *const u32 as u64,
            ..Default::default()
        };
        bpf(
            BPF_MAP_UPDATE_ELEM,
            &mut u,
            "bpf(BPF_MAP_UPDATE_ELEM xskmap)",
        )
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_layout() {
        let p = program(7);
        // Jumps land where the comments say.
        let target =
            |i: usize| (i as i64 + 1 + i64::from(i16::from_ne_bytes([p[i][2], p[i][3]]))) as usize;
        let imm = |i: usize| i32::from_ne_bytes([p[i][4], p[i][5], p[i][6], p[i][7]]);
        assert_eq!(target(4), 15);
        assert_eq!(target(6), 9);
        assert_eq!(target(7), 9);
        assert_eq!(target(8), 15);
        // The EtherTypes compared, as the 16-bit load reads them off the wire.
        let wire = |t: u16| i32::from(u16::from_ne_bytes(t.to_be_bytes()));
        assert_eq!(imm(6), wire(0x0800));
        assert_eq!(imm(7), wire(0x86dd));
        assert_eq!(imm(8), wire(0x0806));
        assert_eq!(imm(10), 7);
        assert_eq!(p[14][0], 0x95);
        assert_eq!(p[16][0], 0x95);
    }

    /// A link refused because the NIC has a program says so, through the
    /// call's name put in front of the errno (which once hid it).
    /// EINVAL from `BPF_LINK_CREATE` is what a kernel before Linux 5.9
    /// answers (no XDP links): the message names the kernel needed.
    #[test]
    fn an_attach_refused_as_invalid_names_the_kernel_needed() {
        let e = with_context(
            io::Error::from_raw_os_error(libc::EINVAL),
            "attaching the XDP program",
        );
        let m = attach_refused(e).to_string();
        assert!(m.starts_with("attaching the XDP program: "), "{m}");
        assert!(m.contains("(--io xdp needs Linux 5.9 or later"), "{m}");
    }

    #[test]
    fn an_attach_refused_for_another_program_says_so() {
        let hint = "(another XDP program is attached to this NIC)";
        for (errno, hinted) in [
            (libc::EBUSY, true),
            (libc::EEXIST, true),
            (libc::EPERM, false),
        ] {
            let e = with_context(
                io::Error::from_raw_os_error(errno),
                "attaching the XDP program",
            );
            let m = attach_refused(e).to_string();
            assert!(m.starts_with("attaching the XDP program: "), "{m}");
            assert_eq!(m.ends_with(hint), hinted, "{m}");
        }
    }
}
