//! The credentials room: who is at the other end of a unix socket
//! (`SO_PEERCRED`) and who we are (`geteuid(2)`, `getegid(2)`), for the control
//! socket's check that only root (or the director's own user) configures it;
//! and the user and group a name stands for (`getpwnam_r(3)`, `getgrnam_r(3)`,
//! through the host's name service), for the user scripts run as
//! (`crate::health::scripts`). One of the crate's four modules with `unsafe`
//! code (see [`super`]).
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
    let len = super::sockopt::get(
        sock.as_fd().as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_PEERCRED,
        &mut cred,
    )?;
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

/// The effective group id of this process.
pub fn egid() -> u32 {
    // SAFETY: getegid(2) takes no arguments, cannot fail and touches no memory.
    unsafe { libc::getegid() }
}

/// The longest buffer a name lookup is given (its strings: name, password,
/// home, shell or members); past it the entry is taken as not readable.
const MAX_ENTRY: usize = 1 << 20;

/// A user found by name: its id and its primary group's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
}

/// The user called `name` (`getpwnam_r(3)`), `None` if there is none.
pub fn user_by_name(name: &str) -> io::Result<Option<User>> {
    let cname = c_name(name)?;
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: `passwd` is plain old data, valid when zeroed.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: `cname` is a NUL-terminated string; `pw`, `buf` (with its
        // true length) and `found` are valid and writable for the call, which
        // points `found` at `pw` or leaves it null. Only `pw`'s ids are read
        // after it, not the strings it points at inside `buf`.
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &raw mut pw,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &raw mut found,
            )
        };
        match rc {
            0 if found.is_null() => return Ok(None),
            0 => {
                return Ok(Some(User {
                    uid: pw.pw_uid,
                    gid: pw.pw_gid,
                }));
            }
            libc::ERANGE if buf.len() < MAX_ENTRY => buf.resize(buf.len() * 4, 0),
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    }
}

/// The id of the group called `name` (`getgrnam_r(3)`), `None` if there is
/// none.
pub fn group_by_name(name: &str) -> io::Result<Option<u32>> {
    let cname = c_name(name)?;
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: `group` is plain old data, valid when zeroed.
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: as in `user_by_name`: valid, writable arguments for the
        // call, and only the id is read after it.
        let rc = unsafe {
            libc::getgrnam_r(
                cname.as_ptr(),
                &raw mut gr,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &raw mut found,
            )
        };
        match rc {
            0 if found.is_null() => return Ok(None),
            0 => return Ok(Some(gr.gr_gid)),
            libc::ERANGE if buf.len() < MAX_ENTRY => buf.resize(buf.len() * 4, 0),
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    }
}

/// `name` as a C string; a name with a NUL in it names nobody.
fn c_name(name: &str) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the name"))
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
    fn root_and_its_group_are_found_by_name_and_nonsense_is_not() {
        let root = user_by_name("root").expect("getpwnam_r").expect("root");
        assert_eq!(root, User { uid: 0, gid: 0 });
        assert_eq!(group_by_name("root").expect("getgrnam_r"), Some(0));
        assert_eq!(user_by_name("no-such-user-ringvs").expect("lookup"), None);
        assert_eq!(group_by_name("no-such-group-ringvs").expect("lookup"), None);
        assert!(user_by_name("a\0b").is_err());
    }

    #[test]
    fn a_file_has_no_peer_credentials() {
        let f = std::fs::File::open("/proc/self/stat").expect("open");
        let e = peer_cred(&f).expect_err("not a socket");
        assert_eq!(e.raw_os_error(), Some(libc::ENOTSOCK));
    }
}
