//! Connection sync between two directors, in IPVS's own wire format (issue 13):
//! a master multicasts its connections, a backup installs them, so a standby
//! can take over without dropping established connections.
//!
//! [`wire`] is the message format (`net/netfilter/ipvs/ip_vs_sync.c`, protocol
//! version 1): building messages into a reused buffer and parsing received ones.

pub mod daemon;
pub mod wire;
