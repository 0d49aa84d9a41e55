//! ringvs: a userspace LVS-NAT director on AF_PACKET mmap rings.
//!
//! See `docs/design.md` for the shape of the data plane and the reasons behind it.

pub mod config;
pub mod control;
pub mod dataplane;
pub mod health;
pub mod io;
pub mod lab;
pub mod nat;
pub mod neigh;
pub mod observe;
pub mod proto;
pub mod sched;
pub mod stats;
pub mod sync;
pub mod wire;

/// `eprintln!` that never panics: one line on standard error, or nothing if
/// it cannot be written. `eprintln!` panics when the write fails (EPIPE once
/// the reader of `ringvs run 2>&1 | logger` is gone; Rust ignores SIGPIPE),
/// and the release profile aborts on a panic, so a role change, a health
/// event or a reload would take the whole director down with it. Every line
/// of `src/` goes through this (`tests/layers.rs` checks that no
/// `eprintln!` or `println!` is left outside tests); a lost log line is the
/// lesser harm.
#[macro_export]
macro_rules! log {
    ($($t:tt)*) => {
        $crate::log_to(&mut ::std::io::stderr().lock(), ::std::format_args!($($t)*))
    };
}

/// Write `args` and a newline to `w`, dropping a failed write ([`log!`]).
pub fn log_to(w: &mut dyn std::io::Write, args: std::fmt::Arguments<'_>) {
    let _ = writeln!(w, "{args}");
}

/// The director's two NICs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Nic {
    /// Clients and VIPs.
    Ext = 0,
    /// Real servers; the DIP is their gateway.
    Int = 1,
}

impl Nic {
    /// The other NIC.
    #[inline]
    pub fn other(self) -> Nic {
        match self {
            Nic::Ext => Nic::Int,
            Nic::Int => Nic::Ext,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Nic::Ext => "ext",
            Nic::Int => "int",
        }
    }
}

/// One thing per NIC (a worker's RX queues, its TX queues), indexed by [`Nic`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NicPair<T>(pub [T; 2]);

impl<T> NicPair<T> {
    pub fn new(ext: T, int: T) -> Self {
        NicPair([ext, int])
    }
}

impl<T> std::ops::Index<Nic> for NicPair<T> {
    type Output = T;
    #[inline]
    fn index(&self, nic: Nic) -> &T {
        &self.0[nic as usize]
    }
}

impl<T> std::ops::IndexMut<Nic> for NicPair<T> {
    #[inline]
    fn index_mut(&mut self, nic: Nic) -> &mut T {
        &mut self.0[nic as usize]
    }
}

#[cfg(test)]
mod test {
    use std::io::{ErrorKind, Write};

    /// `log!`'s writer dropping what a closed pipe refuses: the write
    /// `eprintln!` would panic on (EPIPE, SIGPIPE being ignored) is an error
    /// here, and `log_to` returns as if it had been written.
    #[test]
    fn a_log_line_to_a_closed_pipe_is_dropped() {
        let (mut w, r) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(r);
        let e = writeln!(w, "refused").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BrokenPipe);
        crate::log_to(&mut w, format_args!("ringvs: now {}", "standby"));
        let mut v = Vec::new();
        crate::log_to(&mut v, format_args!("ringvs: now {}", "active"));
        assert_eq!(v, b"ringvs: now active\n");
        crate::log!("ringvs: a line on the test's own stderr");
    }
}
