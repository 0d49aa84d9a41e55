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
