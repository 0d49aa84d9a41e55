//! ipvsadm's command line: parsing and applying.
//!
//! [`parse`] accepts ipvsadm's syntax (short and long options, clustered
//! short options such as `-Ln`, `--opt=value`, `-p` with an optional
//! argument) and reports errors with ipvsadm's own messages and exit codes
//! where ipvsadm has one.  Behaviour follows ipvsadm 1.31 with popt option
//! processing:
//!
//! * The first option must be a command; a command after the first is an
//!   "invalid option".
//! * `-p` without a timeout means 360 seconds (ipvsadm's
//!   `IPVS_SVC_PERSISTENT_TIMEOUT`, 6*60; the man page says 300 but the code
//!   uses 360).  Its optional argument is the next word unless that word
//!   starts with `-`.
//! * `-r HOST` without a port takes the service port *as parsed so far*:
//!   with `-r` before `-t` the real port is 0 (the data plane then keeps
//!   the packet's destination port, as the kernel does).
//! * `-A`/`-E` without `-s` mean ipvsadm's default scheduler `wlc`.  `-E`
//!   replaces the whole service setup, as in ipvsadm: an `-E` without `-p`
//!   makes the service non-persistent, without `-M` resets the netmask,
//!   without `-b` clears the scheduler flags.
//! * `-e` without `-w` sets the weight back to 1 and without `-x`/`-y` the
//!   thresholds back to 0 (ipvsadm's defaults).
//! * `-a`/`-e` without a forwarding option mean masquerading (`-m`) here,
//!   where ipvsadm picks `-g`: ringvs started as a NAT director and its
//!   rules files rely on that.  `-e` sets the method too (without `-m`,
//!   `-g`, `-i`: masquerading).  `-g` and `-i` replace the real server's
//!   port with the service's, as ipvsadm does.  The tunnel options are
//!   checked as ipvsadm checks them (`Tunnel options conflict with forward
//!   method` without `-i`; `tunnel_types_v_options` per tunnel type).
//! * Host and service names are looked up in `/etc/hosts` and
//!   `/etc/services` only (see [`Names`](super::names::Names)), never in DNS.
//! * IPv6 as ipvsadm takes it (`parse_service`): `[ADDR]:PORT`, or a bare
//!   address without port; `-M` after an IPv6 service is a prefix length
//!   1..128; a real server of the other family than its service is refused
//!   unless `-i` (`Different address family is allowed only for tunneling
//!   servers`). See `docs/ipvsadm.md`, "IPv6".
//!
//! Listings are in [`super::format`].
//!
//! The parser's files, each on the ones before it: `command` (what a
//! command line means), `messages` (help texts, error kinds), `values`
//! (option values), `options` (ipvsadm's option table and which options
//! each command takes), `check` (the health-check options), `notify` (the
//! notify-script options), `files` (a real server's `FILE_CHECK`
//! options), `scanner`
//! (popt's splitting of argv), `parse` (one command line), `apply` (a
//! command onto a [`Config`](super::Config)), `rules` (`-S` files and `-R`).
//! This file only names what the others make public.

mod apply;
mod check;
mod command;
mod files;
pub(crate) use files::unsaveable;
mod messages;
mod notify;
mod options;
mod parse;
mod rules;
mod scanner;
mod values;

pub use apply::apply;
pub use check::{MAX_CHECK_PATH, MAX_CHECK_RETRY, MAX_CHECK_SECS};
pub use command::{
    AdmCommand, DEFAULT_PERSISTENT_TIMEOUT, DEFAULT_SCHEDULER, DaemonOpts, DestOpts, MAX_TIMEOUT,
    ServiceOpts, SyncRole,
};
pub use parse::{parse, parse_with};
pub use rules::{
    Restored, apply_line, check_rules, parse_numbered, parse_rules, parse_rules_with, restore,
    restore_checked, restore_parsed, rule_commands, rule_lines,
};

// What `-L` asks for; defined below both this parser and the listings.
pub use super::listing::{CONN_TAB_SIZE, IPVS_VERSION, ListOpts};
