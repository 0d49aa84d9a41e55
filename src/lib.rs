//! ringvs: a userspace LVS-NAT director on AF_PACKET mmap rings.
//!
//! See `docs/design.md` for the shape of the data plane and the reasons behind it.

pub mod config;
pub mod lab;
pub mod wire;
