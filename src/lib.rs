//! ringvs: a userspace LVS-NAT director on AF_PACKET mmap rings.
//!
//! See `docs/design.md` for the shape of the data plane and the reasons behind it.

pub mod config;
pub mod control;
pub mod health;
pub mod io;
pub mod lab;
pub mod nat;
pub mod neigh;
pub mod observe;
pub mod sched;
pub mod stats;
pub mod wire;
pub mod worker;

/// The director's two NICs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Nic {
    /// Clients and VIPs.
    Ext = 0,
    /// Real servers; the DIP is their gateway.
    Int = 1,
}

impl Nic {
    pub fn name(self) -> &'static str {
        match self {
            Nic::Ext => "ext",
            Nic::Int => "int",
        }
    }
}
