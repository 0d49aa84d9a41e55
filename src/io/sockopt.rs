//! The socket-options room: options of a kernel socket that `socket2` has
//! no call for. The sync daemons' sockets use it for path-MTU
//! discovery (`IP_MTU_DISCOVER`, `IPV6_MTU_DISCOVER`) and for the IPv4
//! master's outgoing interface by index (`IP_MULTICAST_IF`; `crate::sync`),
//! and the backup waits on its sockets here ([`Readable`], `poll(2)`). One of
//! the crate's four modules with `unsafe` code (see [`super`]).
#![allow(unsafe_code)]

use super::cvt;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, RawFd};

/// Sets option `name` of `level` on `fd` to the bytes of `val`: the one
/// `setsockopt(2)` of the crate's rooms (rings, AF_XDP, sync sockets).
///
/// # Safety
/// The option must not make the kernel keep an address found in `val`'s
/// bytes to write through later, unless the memory there is the caller's
/// to give it: `XDP_UMEM_REG` pins the pages at `xdp_umem_reg.addr` and
/// writes received frames into them (net/xdp/xdp_umem.c), whatever Rust
/// value lives there. The options that only copy their value in during
/// the call (ints, `tpacket_req`, `ip_mreqn`, a `sock_fprog` whose program
/// is copied) are sound with any `val`.
pub(crate) unsafe fn set<T>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    val: &T,
) -> io::Result<()> {
    // SAFETY: `val` points to a live `T` of `size_of::<T>()` bytes for the
    // call, which the kernel only reads; a wrong fd, level or name is an
    // error, not UB; what the kernel keeps of it is the caller's promise.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (val as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

mod sealed {
    /// Keeps [`super::Pod`] to the types this module lists.
    pub trait Sealed {}
}

/// Plain old data a `getsockopt(2)` may fill ([`get`]): every pattern of
/// `size_of::<Self>()` bytes is a valid value (integers, and C structs of
/// integers only, padding included). Sealed, and implemented here only for
/// the types the crate reads, so that [`get`], a safe function, cannot be
/// asked to let the kernel write into a `bool`, an enum or a reference (a
/// byte other than 0 or 1 in a `bool` is undefined behaviour).
///
/// # Safety
/// Any bytes of its size are a valid `Self`.
pub(crate) unsafe trait Pod: Copy + sealed::Sealed {}

macro_rules! pod {
    ($($t:ty),* $(,)?) => {
        $(
            impl sealed::Sealed for $t {}
            // SAFETY: an integer, or a C struct (linux uapi, as the libc
            // crate declares it) whose fields are all integers: any bytes
            // are a valid value.
            unsafe impl Pod for $t {}
        )*
    };
}

pod!(
    i32,
    u32,
    libc::ucred,
    libc::tpacket_stats,
    libc::tpacket_stats_v3,
    libc::xdp_statistics,
    libc::xdp_mmap_offsets,
);

/// Reads option `name` of `level` on `fd` into `val` (plain data, [`Pod`]:
/// any bytes the kernel writes are a valid `T`); how many bytes it wrote.
/// The one `getsockopt(2)` of the crate's rooms.
pub(crate) fn get<T: Pod>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    val: &mut T,
) -> io::Result<libc::socklen_t> {
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `val` is a valid, writable `T` and `len` tells the kernel its
    // size, so it writes no more than that; whatever bytes it writes are a
    // valid `T` (`T: Pod`).
    cvt(unsafe { libc::getsockopt(fd, level, name, (val as *mut T).cast(), &mut len) })?;
    Ok(len)
}

/// Sets the `int` option `name` of `level` (`IPPROTO_IP`, `IPPROTO_IPV6`,
/// ...) on `sock` to `value`.
pub fn set_int(
    sock: &impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: an int is no address: whatever the option, the kernel keeps
    // none of ours from it (an option that takes one reads a larger struct,
    // and refuses a shorter `optlen`).
    unsafe { set(sock.as_fd().as_raw_fd(), level, name, &value) }
}

/// Sends `sock`'s IPv4 multicast out of the interface of index `index`
/// (`IP_MULTICAST_IF` with an `ip_mreqn` naming the index and no address, as
/// IPVS's `set_mcast_if` sets the socket's multicast index): unlike the
/// address form, it needs no IPv4 address on the interface.
pub fn set_multicast_if_v4_index(sock: &impl AsFd, index: u32) -> io::Result<()> {
    let index = libc::c_int::try_from(index)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index"))?;
    let mreqn = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: index,
    };
    let fd = sock.as_fd().as_raw_fd();
    // SAFETY: IP_MULTICAST_IF copies the `ip_mreqn` (no address of ours in
    // it) during the call (`do_ip_setsockopt`, net/ipv4/ip_sockglue.c).
    unsafe { set(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreqn) }
}

/// A set of sockets to wait on until one is readable (`poll(2)` with
/// `POLLIN`): the sync backup's, one a port. Built once; a wait makes no
/// allocation.
#[derive(Debug)]
pub struct Readable {
    pfds: Vec<libc::pollfd>,
}

impl Readable {
    /// The set of `socks`, in order (index `i` in [`Readable::ready`] is
    /// `socks[i]`). The sockets must outlive the set's waits.
    pub fn new<S: AsFd>(socks: &[S]) -> Self {
        let pfds = socks
            .iter()
            .map(|s| libc::pollfd {
                fd: s.as_fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        Self { pfds }
    }

    /// Waits until one of the sockets is readable (or in error) or
    /// `timeout_ms` passes; how many are ready (0: the time passed).
    pub fn wait(&mut self, timeout_ms: i32) -> io::Result<usize> {
        for p in &mut self.pfds {
            p.revents = 0;
        }
        // SAFETY: `pfds` holds `pfds.len()` initialised pollfd entries and
        // lives across the call, which writes only their `revents`.
        let n = cvt(unsafe {
            libc::poll(
                self.pfds.as_mut_ptr(),
                self.pfds.len() as libc::nfds_t,
                timeout_ms,
            )
        })?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Whether socket `i` was ready at the last [`Readable::wait`].
    pub fn ready(&self, i: usize) -> bool {
        self.pfds.get(i).is_some_and(|p| p.revents != 0)
    }
}

/// The `int` option `name` of `level` on `sock`.
pub fn int(sock: &impl AsFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let len = get(sock.as_fd().as_raw_fd(), level, name, &mut value)?;
    if len as usize != size_of::<libc::c_int>() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the option is not an int",
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod test {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn an_ip_option_is_set_and_read_back() {
        let s = UdpSocket::bind("127.0.0.1:0").expect("socket");
        let (ip, mtu) = (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER);
        set_int(&s, ip, mtu, libc::IP_PMTUDISC_PROBE).expect("set");
        assert_eq!(int(&s, ip, mtu).expect("get"), libc::IP_PMTUDISC_PROBE);
        set_int(&s, ip, mtu, libc::IP_PMTUDISC_DONT).expect("set");
        assert_eq!(int(&s, ip, mtu).expect("get"), libc::IP_PMTUDISC_DONT);
        // Out of range, or no such option: the kernel says so.
        assert_eq!(
            set_int(&s, ip, mtu, 99).map_err(|e| e.raw_os_error()),
            Err(Some(libc::EINVAL))
        );
        assert!(int(&s, ip, -1).is_err());
    }

    #[test]
    fn a_file_has_no_socket_options() {
        let f = std::fs::File::open("/proc/self/stat").expect("open");
        let e = int(&f, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER).expect_err("not a socket");
        assert_eq!(e.raw_os_error(), Some(libc::ENOTSOCK));
    }
}
