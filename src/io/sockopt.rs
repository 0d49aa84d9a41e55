//! The socket-options room: integer options of a kernel socket that
//! `socket2` has no call for. The sync daemons' sockets use it for path-MTU
//! discovery (`IP_MTU_DISCOVER`, `IPV6_MTU_DISCOVER`; `crate::sync`). One of
//! the crate's four modules with `unsafe` code (see [`super`]).
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd};

/// Sets the `int` option `name` of `level` (`IPPROTO_IP`, `IPPROTO_IPV6`,
/// ...) on `sock` to `value`.
pub fn set_int(
    sock: &impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the fd is borrowed from a live socket for the call; the kernel
    // reads at most `optlen` bytes, the size of `value`, which lives on the
    // stack for the whole call. A wrong level or name is an error, not UB.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_fd().as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The `int` option `name` of `level` on `sock`.
pub fn int(sock: &impl AsFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the fd is borrowed from a live socket for the call; `value` is
    // a valid, writable `int` and `len` tells the kernel its size, so it
    // writes no more than that.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_fd().as_raw_fd(),
            level,
            name,
            (&raw mut value).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
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
