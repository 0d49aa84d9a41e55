//! Connection sync between two directors, in IPVS's own wire format (issue 13):
//! a master multicasts its connections, a backup installs them, so a standby
//! can take over without dropping established connections.
//!
//! [`wire`] is the message format (`net/netfilter/ipvs/ip_vs_sync.c`, protocol
//! version 1): building messages into a reused buffer and parsing received
//! ones, and reading version 0, which a kernel master may send (`wire::v0`).
//! [`daemon`] runs the master and backup daemons on the sync link, between the
//! workers' sync channels (`dataplane::sync`) and the network; the control
//! plane starts and stops them (`ipvsadm --start-daemon`). Both carry IPv4
//! and IPv6 connections, as IPVS's version 1 does; `family` is what differs.
//! `socket` makes the daemons' sockets, over an IPv4 or an IPv6 group.

pub mod daemon;
mod family;
mod intake;
mod socket;
pub mod wire;
