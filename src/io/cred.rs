//! The credentials room: who is at the other end of a unix socket
//! (`SO_PEERCRED`) and who we are (`geteuid(2)`), for the control socket's check
//! that only root (or the director's own user) configures it. One of the crate's
//! three modules with `unsafe` code (see [`super`]).
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd};

/// Who is at the other end of a connected unix socket: the process, user and
/// group that called `connect(2)` (or `socketpair(2)`), as the kernel recorded
/// them at that moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

/// The peer credentials of `sock` (a connected `AF_UNIX` socket).
pub fn peer_cred(sock: &impl AsFd) -> io::Result<PeerCred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: the fd is borrowed from a live socket for the call; `cred` is a
    // valid, writable `ucred` and `len` tells the kernel its size.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if len as usize != size_of::<libc::ucred>() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "SO_PEERCRED returned a short ucred",
        ));
    }
    Ok(PeerCred {
        pid: cred.pid,
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// The effective user id of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid(2) takes no arguments, cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_socketpair_peer_is_this_process() {
        let (a, b) = UnixStream::pair().expect("socketpair");
        let c = peer_cred(&a).expect("SO_PEERCRED");
        assert_eq!(c.pid as u32, std::process::id());
        assert_eq!(c.uid, euid());
        assert_eq!(peer_cred(&b).expect("SO_PEERCRED"), c);
    }

    #[test]
    fn a_file_has_no_peer_credentials() {
        let f = std::fs::File::open("/proc/self/stat").expect("open");
        let e = peer_cred(&f).expect_err("not a socket");
        assert_eq!(e.raw_os_error(), Some(libc::ENOTSOCK));
    }
}
