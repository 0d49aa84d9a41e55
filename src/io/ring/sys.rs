//! The packet socket's system calls, and the calls both kinds of socket need:
//! the empty `sendto(2)` that kicks a TX ring, the idle `poll(2)` and the
//! `eventfd(2)` that ends it early.

use crate::io::{cvt, sockopt, with_context};
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub(super) fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; protocol 0 so nothing is received before bind.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    })
    .map_err(|e| with_context(e, "socket(AF_PACKET)"))?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(super) fn setsockopt<T>(fd: &OwnedFd, opt: libc::c_int, val: &T, what: &str) -> io::Result<()> {
    sockopt::set(fd.as_raw_fd(), libc::SOL_PACKET, opt, val).map_err(|e| with_context(e, what))
}

pub(super) fn getsockopt<T: Copy>(fd: RawFd, opt: libc::c_int, val: &mut T) -> io::Result<()> {
    sockopt::get(fd, libc::SOL_PACKET, opt, val).map(drop)
}

pub(super) fn bind(fd: &OwnedFd, ifindex: i32, protocol: u16) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex;
    // SAFETY: `sll` is a valid sockaddr_ll and the length given is its size.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })
    .map(drop)
    .map_err(|e| with_context(e, "bind(AF_PACKET)"))
}

/// `sendto(2)` with no buffer: asks the kernel to transmit what the socket's TX
/// ring holds (frames marked for sending, or published AF_XDP descriptors).
pub(in crate::io) fn kick(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: no buffer and no address are passed; the kernel reads only our ring.
    let ret = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Sleep until one of `fds` is readable or `timeout_ms` passes.
pub fn poll_readable(fds: &[RawFd], timeout_ms: i32) {
    let mut pfds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; 4];
    let n = fds.len().min(pfds.len());
    for (p, &fd) in pfds.iter_mut().zip(fds) {
        p.fd = fd;
        p.events = libc::POLLIN;
    }
    // SAFETY: `pfds` holds `n` initialised pollfd entries and lives across the call.
    unsafe { libc::poll(pfds.as_mut_ptr(), n as libc::nfds_t, timeout_ms) };
}

/// An `eventfd(2)` that wakes a worker sleeping in [`poll_readable`]: another
/// worker rings it after handing it a frame, only when the sleeper said it was
/// going to sleep (so never per frame under load).
#[derive(Debug)]
pub struct Doorbell(OwnedFd);

impl Doorbell {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain eventfd(2) call.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })
            .map_err(|e| with_context(e, "eventfd"))?;
        // SAFETY: `fd` was just returned by eventfd(2) and is owned by nobody else.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Make the descriptor readable (wakes a `poll` on it).
    pub fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of `one`, which lives across the call. A
        // full counter (EAGAIN) is as good as a ring.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Make it unreadable again (after the wake-up).
    pub fn clear(&self) {
        let mut n: u64 = 0;
        // SAFETY: reads at most 8 bytes into `n`, which lives across the call;
        // EAGAIN (not rung) leaves it untouched.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut n as *mut u64).cast(), 8) };
    }

    pub fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// A NIC's multicast filter opened to every group for as long as this lives:
/// an otherwise idle packet socket (protocol 0, receives nothing) holding a
/// `PACKET_MR_ALLMULTI` membership, which the kernel drops when the socket
/// closes (`packet(7)`). The NIC then accepts the solicited-node multicast
/// frames (33:33:ff:xx:xx:xx) that carry IPv6 neighbor solicitations, which
/// it would filter out with the kernel's IPv6 off on it; both `--io` backends
/// see only what the NIC accepts.
///
/// All groups rather than one `PACKET_MR_MULTICAST` membership per address:
/// VIPs come and go at run time and would each need the control thread to
/// join and leave their group, and a NIC's exact multicast filter holds a few
/// dozen entries before it falls back to accepting every group anyway.
#[derive(Debug)]
pub struct AllMulti {
    /// Kept open only: closing it leaves the membership.
    _socket: OwnedFd,
}

impl AllMulti {
    /// Open the filter of the NIC `ifindex`.
    pub fn join(ifindex: i32) -> io::Result<Self> {
        let fd = packet_socket()?;
        let mr = libc::packet_mreq {
            mr_ifindex: ifindex,
            mr_type: libc::PACKET_MR_ALLMULTI as libc::c_ushort,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        setsockopt(
            &fd,
            libc::PACKET_ADD_MEMBERSHIP,
            &mr,
            "PACKET_ADD_MEMBERSHIP(PACKET_MR_ALLMULTI)",
        )?;
        Ok(Self { _socket: fd })
    }
}

/// Put the calling thread under `SCHED_FIFO` at `priority` (1..=99), so that
/// when it wakes it preempts the kernel's receive threads (`ksoftirqd`, threaded
/// NAPI) on its CPU instead of waiting for their time slice to end.
pub fn set_fifo(priority: u8) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: libc::c_int::from(priority),
    };
    // SAFETY: `param` is a valid sched_param for the call; pid 0 is this thread.
    cvt(unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) })
        .map(drop)
        .map_err(|e| with_context(e, "sched_setscheduler(SCHED_FIFO)"))
}
