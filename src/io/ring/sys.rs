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

/// Sets `SOL_PACKET` option `opt`: every one of them (`packet_setsockopt`,
/// net/packet/af_packet.c) copies its value in during the call and keeps no
/// address of ours (`PACKET_FANOUT_DATA` copies the program its
/// `sock_fprog` points to; the rings are the kernel's own memory).
pub(super) fn setsockopt<T>(fd: &OwnedFd, opt: libc::c_int, val: &T, what: &str) -> io::Result<()> {
    // SAFETY: a SOL_PACKET option keeps nothing of `val` (above).
    unsafe { sockopt::set(fd.as_raw_fd(), libc::SOL_PACKET, opt, val) }
        .map_err(|e| with_context(e, what))
}

pub(super) fn getsockopt<T: sockopt::Pod>(
    fd: RawFd,
    opt: libc::c_int,
    val: &mut T,
) -> io::Result<()> {
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

/// Sleep until one of `fds` is readable or `timeout_ms` passes; how many
/// socket errors it cleared (see below).
///
/// A socket in error wakes `poll(2)` at once (`POLLERR`) for as long as the
/// error is pending, and nothing else clears it with a ring: the kernel's
/// `packet_notifier` (net/packet/af_packet.c) sets `ENETDOWN` on every bound
/// packet socket of a NIC that goes down, `packet_poll` reports it through
/// `datagram_poll` (net/core/datagram.c) until `sock_error()` takes it, and
/// only a `recvmsg(2)` or a `getsockopt(SO_ERROR)` calls that. Left there,
/// every idle pass of every worker returned at once, for good (the NIC back
/// up or not): 100% CPU. So an fd that says `POLLERR` has its `SO_ERROR`
/// read, which clears it, with one line on stderr per error (per socket
/// per event, not per pass); the ring itself needs nothing: the kernel
/// hooks the socket in again (and into its fanout group) when the NIC comes
/// up. AF_XDP's `xsk_poll` (net/xdp/xsk.c) does not report `sk_err`, but
/// an fd of it in error is cleared the same way.
pub fn poll_readable(fds: &[RawFd], timeout_ms: i32) -> u32 {
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
    let ready = unsafe { libc::poll(pfds.as_mut_ptr(), n as libc::nfds_t, timeout_ms) };
    if ready <= 0 {
        return 0;
    }
    let mut cleared = 0;
    for p in &pfds[..n] {
        let err = (p.revents & libc::POLLERR != 0)
            .then(|| take_error(p.fd))
            .flatten();
        if let Some(err) = err {
            crate::log!(
                "ringvs: socket fd {} reported {} (its NIC went down or away): \
                 cleared; its ring receives again once the NIC is up",
                p.fd,
                io::Error::from_raw_os_error(err)
            );
            cleared += 1;
        }
    }
    cleared
}

/// Read (and so clear, `sock_error()` in include/net/sock.h) the pending
/// error of socket `fd`; `None` if there was none or `fd` is no socket (an
/// eventfd never reports `POLLERR`).
fn take_error(fd: RawFd) -> Option<libc::c_int> {
    let mut err: libc::c_int = 0;
    match sockopt::get(fd, libc::SOL_SOCKET, libc::SO_ERROR, &mut err) {
        Ok(_) if err != 0 => Some(err),
        _ => None,
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(super) mod test {
    use super::super::{Fanout, RingSize, RxRing, RxVersion};
    use super::*;
    use crate::io::fanout::Side;
    use std::process::Command;
    use std::time::{Duration, Instant};

    /// Runs `f` on a thread of its own in a fresh network namespace (the
    /// thread's alone: `unshare(CLONE_NEWNET)`; the `ip` commands it spawns
    /// inherit it, and it goes with the thread). `None` when this is not
    /// root, which fails under `CI=true` (a test must not pass by skipping).
    pub(in crate::io) fn in_fresh_netns<T: Send>(
        test: &str,
        f: impl FnOnce() -> T + Send,
    ) -> Option<T> {
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: plain unshare(2) of this thread's network namespace.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                    let e = io::Error::last_os_error();
                    assert!(
                        std::env::var("CI").as_deref() != Ok("true"),
                        "{test} needs root (a network namespace) under CI: {e}"
                    );
                    eprintln!("skipping {test}: unshare(CLONE_NEWNET): {e}");
                    return None;
                }
                Some(f())
            })
            .join()
            .expect("the namespace thread")
        })
    }

    /// Runs `cmd args` (in the calling thread's namespace), which must succeed.
    pub(in crate::io) fn run(cmd: &str, args: &[&str]) {
        let out = Command::new(cmd).args(args).output().expect(cmd);
        assert!(
            out.status.success(),
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// An RX ring (V2, one block) on `index` in an ext fanout group of its
    /// own, emptied of what came before.
    pub(in crate::io) fn fanout_ring(index: i32) -> RxRing {
        let fanout = Fanout {
            id: None,
            side: Side::Ext,
            key: 1,
        };
        let (mut ring, _) =
            RxRing::open(index, RxVersion::V2, RingSize::new(1), Some(fanout)).unwrap();
        ring.discard_ready();
        ring
    }

    /// A veth pair `rva`/`rvb` in the calling thread's (fresh) namespace, with
    /// IPv6 off so that the kernel sends no DAD or MLD frame on it; `rva` up,
    /// `rvb` down (so nothing comes in on `rva`). `rva`'s index.
    pub(in crate::io) fn quiet_veth() -> i32 {
        run(
            "sysctl",
            &[
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ],
        );
        run(
            "ip",
            &["link", "add", "rva", "type", "veth", "peer", "name", "rvb"],
        );
        run("ip", &["link", "set", "rva", "up"]);
        // SAFETY: a NUL-terminated name; the call only reads it.
        let index = unsafe { libc::if_nametoindex(c"rva".as_ptr()) };
        assert_ne!(index, 0, "veth rva has an index");
        i32::try_from(index).unwrap()
    }

    /// A NIC that goes down sets `ENETDOWN` on its packet sockets
    /// (`packet_notifier`): the idle poll clears it, and then sleeps its
    /// whole timeout again, the NIC back up, rather than returning at once
    /// for good (without reading `SO_ERROR` every poll returned at once).
    #[test]
    fn a_nic_down_and_up_leaves_the_idle_poll_sleeping() {
        in_fresh_netns("a_nic_down_and_up_leaves_the_idle_poll_sleeping", || {
            let index = quiet_veth();
            let ring = fanout_ring(index);
            let fd = crate::io::RxQueue::poll_fd(&ring).unwrap();
            run("ip", &["link", "set", "rva", "down"]);
            run("ip", &["link", "set", "rva", "up"]);
            // The first poll finds the error and clears it ...
            assert_eq!(poll_readable(&[fd], 500), 1, "ENETDOWN was pending");
            // ... then a poll sleeps its timeout (nothing comes in on `rva`):
            // a bound on a blocking wait, not a performance figure.
            for _ in 0..2 {
                let t = Instant::now();
                assert_eq!(poll_readable(&[fd], 500), 0);
                let slept = t.elapsed();
                assert!(
                    slept >= Duration::from_millis(300),
                    "poll returned after {slept:?}"
                );
            }
        });
    }
}
