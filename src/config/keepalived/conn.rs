//! A checker's connection keywords (keepalived's `check_api.c`
//! `install_checker_common_keywords`, the part only checkers that connect
//! take: `connect_ip`, `connect_port`, `bindto`, `bind_port`, `bind_if`)
//! and what ringvs makes of them. ringvs's checks leave from the DIP, the
//! only address it holds on the internal NIC (`crate::health`):
//!
//! * `connect_ip` (`co_ip_handler`) is where the real server is checked, its
//!   `--check-ip` (a server's own: keepalived's checker belongs to one real
//!   server); its own address is none;
//! * `connect_port` (`co_port_handler`) is the check's `--check-port`
//!   (`check::service_check` compares it between the servers);
//! * `bindto` (`co_srcip_handler`) names the check's source: the DIP of the
//!   checked address's family is what ringvs sends from anyway, so naming it
//!   says nothing more; any other address is warned about and ignored, as
//!   ringvs holds no other (a file shared with keepalived, whose `bindto`
//!   names a director's own address, still loads);
//! * `bind_port` and `bind_if` are warned about and ignored: a check's
//!   source port is one of ringvs's check ports, which the workers hand
//!   back to the health thread, and it leaves by the internal NIC.
//!
//! Deliberate differences: an address that is not unicast (multicast,
//! broadcast, unspecified, IPv6 link-local) is an error (keepalived takes
//! it, with `bind_if` for a link-local one); keepalived drops a `bindto` or
//! `connect_ip` of the other family than the one before it, ringvs checks
//! the `connect_ip` from its DIP of that family.

use std::net::IpAddr;

use super::super::unicast;
use super::lexer::Stmt;
use super::values::Cx;
use super::{KaError, Pos};

/// The connection keywords of one checker, as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Conn {
    /// `connect_ip`.
    pub ip: Option<IpAddr>,
    /// `connect_port`.
    pub port: Option<u16>,
    /// `bindto`, with its place (judged once the address checked is known).
    pub bindto: Option<(IpAddr, Pos)>,
}

impl Conn {
    /// Takes `k` if it is one of the connection keywords (in checker `name`).
    pub fn take(&mut self, cx: &mut Cx<'_>, k: &Stmt, name: &str) -> Result<bool, KaError> {
        match k.keyword() {
            "connect_port" => self.port = Some(cx.number(k, 1, 65535)? as u16),
            "connect_ip" => self.ip = Some(address(cx, k)?),
            "bindto" => self.bindto = Some((address(cx, k)?, k.pos.clone())),
            "bind_port" => cx.w.at(
                &k.pos,
                format!(
                    "bind_port (in {name}): ringvs's checks take their source ports from its own range (61000-61999), whose answers the workers hand to the health thread; ignored"
                ),
            ),
            "bind_if" => cx.w.at(
                &k.pos,
                format!("bind_if (in {name}): ringvs's checks leave by the internal NIC; ignored"),
            ),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Where the checker of `name` checks the real server at `addr`: its
    /// `connect_ip` unless that is `addr` (`None`: the server's own
    /// address). A `bindto` other than the DIP the check leaves from is
    /// warned about here.
    pub fn check_ip(&self, cx: &mut Cx<'_>, addr: IpAddr, name: &str) -> Option<IpAddr> {
        let at = self.ip.unwrap_or(addr);
        if let Some((b, pos)) = &self.bindto {
            let dip = cx.dips.iter().find(|d| d.is_ipv6() == at.is_ipv6());
            let from = match dip {
                Some(d) if d == b => None,
                Some(d) => Some(format!("its DIP {d}")),
                None if cx.dips.is_empty() => Some("its DIP".to_string()),
                None => Some("a DIP of that family, which it has not".to_string()),
            };
            if let Some(from) = from {
                cx.w.at(
                    pos,
                    format!(
                        "bindto {b} (in {name}): ringvs checks {at} from {from}, the only address it holds on the internal NIC; ignored"
                    ),
                );
            }
        }
        self.ip.filter(|&ip| ip != addr)
    }
}

/// The address of `k`, a unicast one as a real server's.
fn address(cx: &mut Cx<'_>, k: &Stmt) -> Result<IpAddr, KaError> {
    let v = cx.value(k)?;
    v.parse().ok().filter(|&ip| unicast(ip)).ok_or_else(|| {
        KaError::at(
            &k.pos,
            format!("{} {v}: not a unicast IP address", k.keyword()),
        )
    })
}
