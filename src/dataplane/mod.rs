//! The packet path: per-core workers that take frames from both NICs, translate
//! them as LVS-NAT does and send them on, with no lock, allocation or syscall per
//! packet (TX queues are kicked once per burst).
//!
//! The files follow a packet:
//!
//! | file | step |
//! |------|------|
//! | `shared.rs` | the contract with the control thread: snapshots in, counters out |
//! | `build.rs` | the one constructor of a director's workers and their wiring |
//! | `worker.rs` | the core loop: RX bursts, handoffs, TX kicks, expiry, requests |
//! | `batch.rs` | a burst's table lookups started ahead, so their cache misses overlap |
//! | `classify.rs` | counting and validating a frame, dispatch by protocol |
//! | `arp.rs` | ARP replies for our addresses, what we heard to the control thread |
//! | `ndp.rs` | the same for IPv6: neighbor advertisements answering solicitations |
//! | `nat.rs` | TCP/UDP: connection lookup or scheduling, state, NAT rewrite |
//! | `nat6.rs` | the same for IPv6, and ICMPv6 errors about IPv6 connections |
//! | `overload.rs` | IPVS's overload flag per real server, kept at every bind and unbind of a connection and read when one is scheduled |
//! | `ops.rs` | one-packet scheduling (`-o`): a UDP datagram scheduled on its own, its replies translated without a connection |
//! | `direct.rs` | DR (`-g`: a new destination MAC) and TUN (`-i`: IPIP/GUE/GRE) instead of NAT |
//! | `direct_icmp.rs` | ICMP errors about DR/TUN connections and about our tunnel packets; path MTUs kept per tunnel endpoint |
//! | `frag.rs` | fragments of TCP/UDP, IPv4 and IPv6: each forwarded with its datagram's connection, held until its first |
//! | `frag_nat.rs` | a fragment on its connection: the first through `nat.rs`, the others by the IP half of the rewrite or to DR/TUN |
//! | `frag_table.rs` | the datagrams in flight and the held fragments of `frag.rs`, the keyed hash that places them |
//! | `icmp.rs` | echo replies, ICMP error translation (handed to the owning worker) |
//! | `icmp6.rs` | ICMPv6: echo replies, errors to `nat6.rs`, router discovery ignored |
//! | `handoff.rs` | rings per worker pair to the owning worker, steering by client key |
//! | `tx.rs` | into a TX slot with the next hop's MAC, or parked until ARP answers |
//! | `listing.rs` | connection listings served in steps between bursts |
//! | `tap.rs` | the capture/trace hooks, only while something is attached |
//! | `divert.rs` | health-check replies handed to the health thread, suspects |
//! | `sync.rs` | connection sync (reports to the master daemon, installs from the backup) and the standby role |
//!
//! A worker reads the configuration and neighbor snapshots the control thread
//! publishes, re-loading them only when the shared epoch moves (one relaxed load
//! per pass). Per real server it counts connections, packets and bytes into its
//! own `DestTraffic` (relaxed load + store, single writer). New connections are
//! scheduled from views that sum every worker's `DestGauges` (through
//! [`Shared::peers`]) and keep IPVS's overload flag per server in
//! [`Shared::overload`], only for schedulers and services that need them. The one
//! lock a worker takes outside control requests is a persistence-template shard
//! (`nat::persist`), when a connection of a persistent service is created or
//! leaves its table. Control requests (`-Z`, connection listings) are flags the
//! loop checks once per pass.

mod arp;
mod batch;
pub mod build;
mod classify;
mod direct;
mod direct_icmp;
pub mod divert;
mod family;
mod frag;
mod frag_nat;
mod frag_table;
mod ftp;
pub mod handoff;
mod icmp;
mod icmp6;
mod io_only;
mod listing;
mod nat;
mod nat6;
mod ndp;
pub mod nodest;
mod ops;
mod ours;
mod overload;
mod pending;
pub mod shared;
pub mod sync;
mod tap;
mod template;
pub mod tx;
pub mod worker;

pub use build::{Director, HANDOFF_DEPTH, Plan};
pub use direct_icmp::PMTU_EXPIRES;
pub use frag::{FRAG_MAX_DIST, FRAG_TIMEOUT_S, FRAG6_TIMEOUT_S, FragHop, HELD as FRAGS_HELD};
pub use ndp::ROUTER_FLAG;
pub use shared::{
    Env, Handoff, LISTING_CHUNK, Listing, ListingChunk, MAX_QUEUED_LISTINGS, Published, Shared,
    Sysctl,
};
pub use tx::TxPair;
pub use worker::{BURST, Core, Worker};
