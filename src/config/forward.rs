//! How a real server's packets are forwarded: IPVS's three methods and, for
//! tunnelling, the encapsulation.
//!
//! The names are ipvsadm 1.31's (`ipvsadm.c`: `fwd_name` for the Forward
//! column, `fwd_switch` for `-S`, `tunnames` and `tunflags` for `--tun-info`,
//! `tun_flags_opts` for `-S`); the values are the kernel's
//! (`include/uapi/linux/ip_vs.h`: `IP_VS_CONN_F_MASQ`, `_DROUTE`, `_TUNNEL`;
//! `IP_VS_CONN_F_TUNNEL_TYPE_IPIP`, `_GUE`, `_GRE`;
//! `IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM`, `_CSUM`, `_REMCSUM`).
//!
//! A [`Tunnel`] held by a [`Config`](super::Config) is always one
//! [`Tunnel::check`] accepts: `port` is non-zero exactly for GUE, IPIP has no
//! checksum option and GRE no remote checksum (the combinations ipvsadm's
//! `tunnel_types_v_options` and keepalived's `svr_forwarding_handler` allow).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::AdmError;

/// The forwarding method of a real server (ipvsadm's `-m`, `-g`, `-i`).
///
/// One service may mix methods, one per real server, as IPVS allows. For
/// [`Forward::Route`] and [`Forward::Tunnel`] the packet's ports are never
/// rewritten: the real server's port is its identity in the table and the
/// port its health check connects to, nothing more.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Forward {
    /// Masquerading (LVS-NAT, `-m`): addresses and ports rewritten both ways;
    /// replies come back through the director. ringvs's default (ipvsadm's
    /// is `-g`).
    #[default]
    Masq,
    /// Direct routing (LVS-DR, `-g`, "gatewaying"): only the destination MAC
    /// is rewritten; the real server is on-link and answers the client itself.
    Route,
    /// Tunnelling (LVS-TUN, `-i`): the packet is encapsulated towards the real
    /// server's address; the real server answers the client itself.
    Tunnel(Tunnel),
}

/// How a tunnelled packet is encapsulated (`--tun-type`, `--tun-port`,
/// `--tun-nocsum|--tun-csum|--tun-remcsum`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tunnel {
    pub kind: TunKind,
    /// GUE's UDP destination port (`--tun-port`, 1..65535); 0 for IPIP and GRE.
    pub port: u16,
    pub csum: TunCsum,
}

/// The encapsulation of a tunnel (`IP_VS_CONN_F_TUNNEL_TYPE_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TunKind {
    /// IP in IP (protocol 4), ipvsadm's default tunnel type.
    #[default]
    Ipip,
    /// Generic UDP Encapsulation: outer IP, UDP to `port`, GUE header.
    Gue,
    /// GRE (protocol 47), optionally with its checksum.
    Gre,
}

/// The checksum option of a GUE or GRE tunnel (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TunCsum {
    /// No checksum (GUE: UDP checksum 0; GRE: no checksum field).
    #[default]
    NoCsum,
    /// GUE: a UDP checksum; GRE: the GRE checksum.
    Csum,
    /// GUE remote checksum offload (GUE only).
    RemCsum,
}

impl TunKind {
    /// ipvsadm's name (`tunnames`): `ipip`, `gue`, `gre`.
    pub fn name(self) -> &'static str {
        match self {
            TunKind::Ipip => "ipip",
            TunKind::Gue => "gue",
            TunKind::Gre => "gre",
        }
    }

    /// The type named `s` (exactly, as ipvsadm's `parse_tun_type`).
    pub fn from_name(s: &str) -> Option<TunKind> {
        [TunKind::Ipip, TunKind::Gue, TunKind::Gre]
            .into_iter()
            .find(|k| k.name() == s)
    }
}

impl TunCsum {
    /// ipvsadm's `--tun-info` flag (`tunflags`): `-c`, `+c`, `r+c`.
    pub fn flag(self) -> &'static str {
        match self {
            TunCsum::NoCsum => "-c",
            TunCsum::Csum => "+c",
            TunCsum::RemCsum => "r+c",
        }
    }

    /// The ipvsadm option (`tun_flags_opts`): `--tun-nocsum`, `--tun-csum`,
    /// `--tun-remcsum`.
    pub fn option(self) -> &'static str {
        match self {
            TunCsum::NoCsum => "--tun-nocsum",
            TunCsum::Csum => "--tun-csum",
            TunCsum::RemCsum => "--tun-remcsum",
        }
    }

    /// keepalived's word in `lvs_method TUN ...`: `nocsum`, `csum`, `remcsum`.
    pub fn keyword(self) -> &'static str {
        &self.option()["--tun-".len()..]
    }
}

impl Tunnel {
    /// An IPIP tunnel (what `-i` alone means).
    pub const IPIP: Tunnel = Tunnel {
        kind: TunKind::Ipip,
        port: 0,
        csum: TunCsum::NoCsum,
    };

    /// Refuses a combination the kernel or ipvsadm would not set up: a GUE
    /// tunnel without port is the kernel's `EINVAL` (`ip_vs_add_dest`,
    /// `ip_vs_edit_dest`: "tunnel port is zero"); the others (a port for IPIP
    /// or GRE, a checksum for IPIP, a remote checksum for GRE) the kernel
    /// would store and ignore, but neither ipvsadm nor keepalived produce
    /// them, so ringvs refuses them the same way.
    pub fn check(&self) -> Result<(), AdmError> {
        let ok = match self.kind {
            TunKind::Ipip => self.port == 0 && self.csum == TunCsum::NoCsum,
            TunKind::Gue => self.port != 0,
            TunKind::Gre => self.port == 0 && self.csum != TunCsum::RemCsum,
        };
        if ok {
            Ok(())
        } else {
            Err(AdmError::InvalidOperation)
        }
    }
}

impl Forward {
    /// The Forward column of `-L` (ipvsadm's `fwd_name`).
    pub fn name(self) -> &'static str {
        match self {
            Forward::Masq => "Masq",
            Forward::Route => "Route",
            Forward::Tunnel(_) => "Tunnel",
        }
    }

    /// The option that selects the method (ipvsadm's `fwd_switch`).
    pub fn option(self) -> &'static str {
        match self {
            Forward::Masq => "-m",
            Forward::Route => "-g",
            Forward::Tunnel(_) => "-i",
        }
    }

    /// The TunnelInfo column of `-L --tun-info` (ipvsadm's `fwd_tun_info`):
    /// `ipip`, `gue:PORT:FLAG`, `gre:FLAG`; `None` (printed `n/a`) unless
    /// tunnelling.
    pub fn tun_info(self) -> Option<String> {
        let Forward::Tunnel(t) = self else {
            return None;
        };
        Some(match t.kind {
            TunKind::Ipip => t.kind.name().to_string(),
            TunKind::Gue => format!("{}:{}:{}", t.kind.name(), t.port, t.csum.flag()),
            TunKind::Gre => format!("{}:{}", t.kind.name(), t.csum.flag()),
        })
    }

    /// What `-S` writes after `-w WEIGHT` (ipvsadm's `print_tunnel_rule`):
    /// ` --tun-type ipip`, ` --tun-type gue --tun-port P --tun-xxx`,
    /// ` --tun-type gre --tun-xxx`; nothing unless tunnelling.
    pub fn save_options(self) -> String {
        let mut out = String::new();
        if let Forward::Tunnel(t) = self {
            let _ = write!(out, " --tun-type {}", t.kind.name());
            match t.kind {
                TunKind::Ipip => {}
                TunKind::Gue => {
                    let _ = write!(out, " --tun-port {} {}", t.port, t.csum.option());
                }
                TunKind::Gre => {
                    let _ = write!(out, " {}", t.csum.option());
                }
            }
        }
        out
    }

    /// [`Tunnel::check`] for a tunnel; the other methods are always valid.
    pub fn check(&self) -> Result<(), AdmError> {
        match self {
            Forward::Tunnel(t) => t.check(),
            Forward::Masq | Forward::Route => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tun(kind: TunKind, port: u16, csum: TunCsum) -> Forward {
        Forward::Tunnel(Tunnel { kind, port, csum })
    }

    #[test]
    fn names_are_ipvsadms() {
        assert_eq!(Forward::default(), Forward::Masq);
        let all = [
            (Forward::Masq, "Masq", "-m"),
            (Forward::Route, "Route", "-g"),
            (Forward::Tunnel(Tunnel::IPIP), "Tunnel", "-i"),
        ];
        for (f, name, opt) in all {
            assert_eq!((f.name(), f.option()), (name, opt));
        }
        for k in [TunKind::Ipip, TunKind::Gue, TunKind::Gre] {
            assert_eq!(TunKind::from_name(k.name()), Some(k));
        }
        assert_eq!(TunKind::from_name("GUE"), None);
        assert_eq!(TunCsum::RemCsum.keyword(), "remcsum");
        assert_eq!(TunCsum::NoCsum.keyword(), "nocsum");
    }

    #[test]
    fn tun_info_and_save_options() {
        let cases = [
            (Forward::Masq, None, ""),
            (Forward::Route, None, ""),
            (
                Forward::Tunnel(Tunnel::IPIP),
                Some("ipip"),
                " --tun-type ipip",
            ),
            (
                tun(TunKind::Gue, 65535, TunCsum::RemCsum),
                Some("gue:65535:r+c"),
                " --tun-type gue --tun-port 65535 --tun-remcsum",
            ),
            (
                tun(TunKind::Gue, 6080, TunCsum::NoCsum),
                Some("gue:6080:-c"),
                " --tun-type gue --tun-port 6080 --tun-nocsum",
            ),
            (
                tun(TunKind::Gre, 0, TunCsum::Csum),
                Some("gre:+c"),
                " --tun-type gre --tun-csum",
            ),
        ];
        for (f, info, save) in cases {
            assert_eq!(f.tun_info().as_deref(), info, "{f:?}");
            assert_eq!(f.save_options(), save, "{f:?}");
        }
    }

    #[test]
    fn check_allows_what_ipvsadm_allows() {
        use TunCsum::*;
        use TunKind::*;
        for (kind, port, csum, ok) in [
            (Ipip, 0, NoCsum, true),
            (Ipip, 1, NoCsum, false),
            (Ipip, 0, Csum, false),
            (Gue, 0, NoCsum, false),
            (Gue, 6080, RemCsum, true),
            (Gue, 1, Csum, true),
            (Gre, 0, Csum, true),
            (Gre, 0, RemCsum, false),
            (Gre, 5, NoCsum, false),
        ] {
            let f = tun(kind, port, csum);
            assert_eq!(f.check().is_ok(), ok, "{f:?}");
        }
        assert_eq!(
            tun(Gue, 0, NoCsum).check().map_err(|e| e.to_string()),
            Err(
                "Invalid operation.  Possibly wrong module version, address not unicast, ..."
                    .into()
            )
        );
        assert!(Forward::Route.check().is_ok());
    }
}
