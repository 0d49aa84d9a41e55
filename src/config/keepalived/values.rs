//! The values of keywords: numbers, seconds, booleans, addresses, ports, each
//! refused with `FILE:LINE: keyword: ...` when malformed or out of range.
//!
//! keepalived reads numbers with `read_unsigned_strvec` and times with
//! `read_timer` (decimal seconds, microsecond resolution) and, for most
//! keywords, logs a bad value and goes on with the default; ringvs refuses the
//! file instead (a reload then keeps the rules running). ringvs counts whole
//! seconds: a fractional time is rounded up, with a warning.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::super::ipvsadm::MAX_CHECK_SECS;
use super::super::{Forward, Netmask, TunCsum, TunKind, Tunnel};
use super::lexer::Stmt;
use super::{KaError, Warnings};

/// Reads the values of statements, collecting warnings.
pub(crate) struct Cx<'a> {
    pub w: &'a mut Warnings,
    /// The director's DIPs, if known (a checker's `bindto`, `conn.rs`).
    pub dips: &'a [IpAddr],
    /// The `track_file` blocks, which a `FILE_CHECK` names (`track.rs`).
    pub files: &'a [super::track::TrackFile],
}

impl Cx<'_> {
    /// The one value of `s`; words after it are ignored with a warning.
    pub fn value<'s>(&mut self, s: &'s Stmt) -> Result<&'s str, KaError> {
        let v = self.value_of(s)?;
        self.no_more(s, 1);
        Ok(v)
    }

    /// The first value of `s`, whatever follows it.
    pub fn value_of<'s>(&mut self, s: &'s Stmt) -> Result<&'s str, KaError> {
        s.args()
            .first()
            .map(String::as_str)
            .ok_or_else(|| KaError::at(&s.pos, format!("{}: a value is missing", s.keyword())))
    }

    /// Warns about the words of `s` after its first `n` arguments.
    pub fn no_more(&mut self, s: &Stmt, n: usize) {
        if s.args().len() > n {
            let extra = s.args()[n..].join(" ");
            self.w.at(
                &s.pos,
                format!("{}: extra words '{extra}' ignored", s.keyword()),
            );
        }
    }

    /// An unsigned number in `min..=max`.
    pub fn number(&mut self, s: &Stmt, min: u32, max: u32) -> Result<u32, KaError> {
        let v = self.value(s)?;
        v.parse::<u32>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                KaError::at(
                    &s.pos,
                    format!("{} {v}: not a number in {min}..{max}", s.keyword()),
                )
            })
    }

    /// Whole seconds in `min..=max`, from keepalived's decimal seconds.
    pub fn seconds(&mut self, s: &Stmt, min: u32, max: u32) -> Result<u32, KaError> {
        let v = self.value(s)?;
        let bad = || {
            KaError::at(
                &s.pos,
                format!("{} {v}: not a time in {min}..{max} seconds", s.keyword()),
            )
        };
        let (int, frac) = v.split_once('.').unwrap_or((v, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
            return Err(bad());
        }
        let whole: u64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        let up = frac.bytes().any(|b| b != b'0');
        let secs = whole + u64::from(up);
        let secs = u32::try_from(secs)
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(bad)?;
        if up {
            self.w.at(
                &s.pos,
                format!(
                    "{} {v}: ringvs counts whole seconds, using {secs}",
                    s.keyword()
                ),
            );
        }
        Ok(secs)
    }

    /// keepalived's `<BOOL>` (on|off|true|false|yes|no); no value means true.
    pub fn boolean(&mut self, s: &Stmt) -> Result<bool, KaError> {
        let Some(v) = s.args().first() else {
            return Ok(true);
        };
        self.no_more(s, 1);
        match v.as_str() {
            "on" | "true" | "yes" => Ok(true),
            "off" | "false" | "no" => Ok(false),
            _ => Err(KaError::at(
                &s.pos,
                format!("{} {v}: not one of on|off|true|false|yes|no", s.keyword()),
            )),
        }
    }

    /// A virtual server's `inhibit_on_failure`: on whatever follows it, as
    /// keepalived's `vs_inhibit_handler` ignores the value (a real server's
    /// `rs_inhibit_handler` reads a boolean: [`Cx::boolean`]); a value is
    /// warned about.
    pub fn vs_inhibit(&mut self, s: &Stmt) -> bool {
        if let Some(v) = s.args().first() {
            self.w.at(
                &s.pos,
                format!(
                    "inhibit_on_failure {v}: keepalived ignores the value in a virtual_server, inhibit is on"
                ),
            );
        }
        true
    }

    /// Warns that `s` (inside `within`) is not carried out.
    pub fn unsupported(&mut self, s: &Stmt, within: &str) {
        self.w.at(
            &s.pos,
            format!(
                "{} (in {within}): not supported by ringvs, ignored",
                s.keyword()
            ),
        );
    }

    /// `tun_type`, `tun_port`, `tun_flags`: ipvsadm's tunnel options spelled
    /// as keywords, which keepalived does not know (it would log an unknown
    /// keyword); ignored with a warning that shows keepalived's way of
    /// saying it.
    pub fn not_keepalived(&mut self, k: &Stmt) {
        self.w.at(
            &k.pos,
            format!(
                "{}: not a keepalived keyword, ignored (keepalived writes the tunnel after the method: lvs_method TUN type ipip|gue|gre [port N] [nocsum|csum|remcsum])",
                k.keyword()
            ),
        );
    }
}

/// The mark of `virtual_server fwmark N`, if it is one: 1..=2^32-1. Its
/// service takes the packets of its `mark_dest PROTO:ADDR[/LEN][:PORTS]`
/// lines (a ringvs keyword, `--mark-dest`'s: the marks come from netfilter
/// rules ringvs's workers never see; `keepalived --vrrp` skips the block).
pub(super) fn fwmark(s: &Stmt) -> Result<Option<u32>, KaError> {
    if s.args().first().map(String::as_str) != Some("fwmark") {
        return Ok(None);
    }
    let v = s.args().get(1).map(String::as_str).unwrap_or_default();
    match v.parse::<u32>() {
        Ok(m) if m != 0 => Ok(Some(m)),
        _ => Err(KaError::at(
            &s.pos,
            format!("virtual_server fwmark {v}: not a mark (1..4294967295)"),
        )),
    }
}

/// Whether a `virtual_server fwmark` is IPv6, as keepalived decides it
/// (`check_parser.c`): the family the block says ([`said_v6`]); else, all
/// its servers tunnelled, the family they share, else IPv4
/// (`vs_end_handler`).
pub(super) fn fwmark_v6(s: &Stmt) -> bool {
    let (said, servers) = families(s);
    said.unwrap_or_else(|| {
        let mut all = servers.into_iter();
        match all.next() {
            Some(f) => all.all(|g| g == f) && f,
            None => false,
        }
    })
}

/// The family a virtual server block says it is of (IPv6: true), in the
/// order of the block: the first of `ip_family` (`ip_family_handler`),
/// `persistence_granularity` (`pgr_handler`: IPv4 if it has a dot) and a
/// real server that is not tunnelled (`rs_end_handler`; a tunnel may cross
/// families); then a sorry server that is not tunnelled (`vs_end_handler`).
/// `None`: it says none (all its servers are tunnelled).
pub(super) fn said_v6(s: &Stmt) -> Option<bool> {
    families(s).0
}

/// [`said_v6`], and the families of the block's sorry server and real
/// servers (the sorry server's first).
fn families(s: &Stmt) -> (Option<bool>, Vec<bool>) {
    let first_is = |k: &Stmt, v: &str| k.args().first().is_some_and(|a| a == v);
    let v6 = |k: &Stmt| k.args().first().is_some_and(|a| a.contains(':'));
    let mut af: Option<bool> = None;
    // The virtual server's method so far: a real or sorry server takes it
    // when it starts (`alloc_rs`, `alloc_ssvr`), its own `lvs_method` wins.
    let mut vs_tun = false;
    let mut sorry: Option<(bool, bool)> = None;
    let mut servers = Vec::new();
    for k in s.children() {
        match k.keyword() {
            "ip_family" if af.is_none() => af = Some(first_is(k, "inet6")),
            "persistence_granularity" if af.is_none() => {
                af = k.args().first().map(|g| !g.contains('.'));
            }
            "lb_kind" | "lvs_method" => vs_tun = first_is(k, "TUN"),
            "real_server" => {
                let tun = k
                    .children()
                    .iter()
                    .rfind(|c| c.keyword() == "lvs_method")
                    .map_or(vs_tun, |c| first_is(c, "TUN"));
                if !tun && af.is_none() {
                    af = Some(v6(k));
                }
                servers.push(v6(k));
            }
            "sorry_server" => sorry = Some((v6(k), vs_tun)),
            "sorry_server_lvs_method" => {
                if let Some(s) = &mut sorry {
                    s.1 = first_is(k, "TUN");
                }
            }
            _ => {}
        }
    }
    if let (None, Some((v6, false))) = (af, sorry) {
        af = Some(v6);
    }
    let all = sorry.map(|s| s.0).into_iter().chain(servers).collect();
    (af, all)
}

/// `persistence_granularity` of the virtual server at `vs_addr`: a netmask
/// for IPv4, a prefix length 1..128 for IPv6 (keepalived's `pgr_handler`).
pub(super) fn granularity(cx: &mut Cx<'_>, k: &Stmt, vs_addr: IpAddr) -> Result<Netmask, KaError> {
    let v = cx.value(k)?;
    if vs_addr.is_ipv6() {
        return v
            .parse::<u8>()
            .ok()
            .filter(|p| (1..=128).contains(p))
            .map(Netmask::V6)
            .ok_or_else(|| {
                KaError::at(
                    &k.pos,
                    format!("persistence_granularity {v}: not an IPv6 prefix length (1..128)"),
                )
            });
    }
    v.parse::<Ipv4Addr>().map(Netmask::V4).map_err(|_| {
        KaError::at(
            &k.pos,
            format!("persistence_granularity {v}: not an IPv4 netmask"),
        )
    })
}

/// An address and an optional port, as `virtual_server` and `real_server`
/// take them; `what` names the statement in errors. As keepalived's
/// `inet_stosockaddr` (`lib/utils.c`): a word with a `:` is an IPv6 address,
/// written bare (`2001:2:0:1::110 80`, no brackets), any other an IPv4 one.
pub(crate) fn addr_port(s: &Stmt, what: &str) -> Result<(IpAddr, Option<u16>), KaError> {
    let Some(a) = s.args().first() else {
        return Err(KaError::at(
            &s.pos,
            format!("{what}: an address is missing"),
        ));
    };
    let addr = if a.contains(':') {
        a.parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| KaError::at(&s.pos, format!("{what} {a}: not an IPv6 address")))?
    } else {
        a.parse::<Ipv4Addr>()
            .map(IpAddr::V4)
            .map_err(|_| KaError::at(&s.pos, format!("{what} {a}: not an IPv4 address")))?
    };
    let port =
        match s.args().get(1) {
            None => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| {
                KaError::at(&s.pos, format!("{what} {a} {p}: not a port (0..65535)"))
            })?),
        };
    Ok((addr, port))
}

/// `lb_kind`/`lvs_method METHOD [type ipip|gue|gre] [port N]
/// [nocsum|csum|remcsum]`, with keepalived's checks
/// (`svr_forwarding_handler`, `check_parser.c`); a malformed one is an error
/// that quotes the statement.
pub(crate) fn forwarding(cx: &mut Cx<'_>, k: &Stmt) -> Result<Forward, KaError> {
    let args = k.args();
    let Some(method) = args.first() else {
        return Err(KaError::at(
            &k.pos,
            format!("{}: a value is missing", k.keyword()),
        ));
    };
    let fwd = match method.as_str() {
        "NAT" => Forward::Masq,
        "DR" => Forward::Route,
        "TUN" => Forward::Tunnel(Tunnel::IPIP),
        m => {
            return Err(KaError::at(
                &k.pos,
                format!("{} {m}: not NAT, DR or TUN", k.keyword()),
            ));
        }
    };
    let bad =
        |msg: String| KaError::at(&k.pos, format!("{} {}: {msg}", k.keyword(), args.join(" ")));
    let mut t = Tunnel::IPIP;
    let mut words = args[1..].iter();
    while let Some(w) = words.next() {
        match w.as_str() {
            "type" => {
                let v = words
                    .next()
                    .ok_or_else(|| bad("the tunnel type is missing after 'type'".into()))?;
                t.kind = TunKind::from_name(v)
                    .ok_or_else(|| bad(format!("unknown tunnel type {v} (ipip, gue or gre)")))?;
            }
            "port" => {
                let v = words
                    .next()
                    .ok_or_else(|| bad("the gue tunnel port is missing after 'port'".into()))?;
                t.port = v
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| bad(format!("invalid gue tunnel port {v} (1..65535)")))?;
            }
            "nocsum" => t.csum = TunCsum::NoCsum,
            "csum" => t.csum = TunCsum::Csum,
            "remcsum" => t.csum = TunCsum::RemCsum,
            _ => {
                return Err(bad(format!(
                    "invalid tunnel option {w} (type, port, nocsum, csum or remcsum)"
                )));
            }
        }
    }
    // keepalived's words for the combinations it refuses.
    if (t.kind == TunKind::Gue) != (t.port != 0) {
        return Err(bad(
            "gue tunnels require port, otherwise cannot have port".into()
        ));
    }
    if t.kind == TunKind::Ipip && t.csum != TunCsum::NoCsum {
        return Err(bad("ipip tunnels do not support checksum option".into()));
    }
    if t.kind == TunKind::Gre && t.csum == TunCsum::RemCsum {
        return Err(bad(
            "gre tunnels do not support remote checksum option".into()
        ));
    }
    if let Forward::Tunnel(_) = fwd {
        return Ok(Forward::Tunnel(t));
    }
    if args.len() > 1 {
        cx.w.at(
            &k.pos,
            format!(
                "{} {}: tunnel options apply to TUN only, ignored",
                k.keyword(),
                args.join(" ")
            ),
        );
    }
    Ok(fwd)
}

/// The check times set at one level (checker, real server or virtual
/// server), and `alpha`, each taken from the first level that sets it
/// (`check.rs`), as keepalived's `validate_check_config` fills a checker's
/// unset ones from its real server's, and those from the virtual server's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Times {
    pub delay_loop: Option<u32>,
    pub connect_timeout: Option<u32>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<u32>,
    /// `warmup` (`warmup_handler`, `vs_warmup_handler`, `rs_warmup_handler`).
    pub warmup: Option<u32>,
    /// `alpha`: the server starts down (`check_data.c`
    /// `validate_check_config`).
    pub alpha: Option<bool>,
}

impl Times {
    /// Takes `s` if it is one of the five times; `retry_min` is 1 on virtual
    /// and real servers and 0 on checkers (keepalived's ranges).
    pub fn take(&mut self, cx: &mut Cx<'_>, s: &Stmt, retry_min: u32) -> Result<bool, KaError> {
        let max = MAX_CHECK_SECS as u32;
        match s.keyword() {
            "delay_loop" => self.delay_loop = Some(cx.seconds(s, 1, max)?),
            "connect_timeout" => self.connect_timeout = Some(cx.seconds(s, 1, max)?),
            "retry" => self.retry = Some(cx.number(s, retry_min, u32::MAX)?),
            "delay_before_retry" => self.delay_before_retry = Some(cx.seconds(s, 0, max)?),
            "warmup" => self.warmup = Some(cx.seconds(s, 0, max)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Each time of `self`, else of `then`.
    pub fn or(self, then: Times) -> Times {
        Times {
            delay_loop: self.delay_loop.or(then.delay_loop),
            connect_timeout: self.connect_timeout.or(then.connect_timeout),
            retry: self.retry.or(then.retry),
            delay_before_retry: self.delay_before_retry.or(then.delay_before_retry),
            warmup: self.warmup.or(then.warmup),
            alpha: self.alpha.or(then.alpha),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::keepalived::Pos;
    use std::path::Path;
    use std::sync::Arc;

    fn stmt(line: &str) -> Stmt {
        Stmt {
            words: line.split_whitespace().map(str::to_string).collect(),
            pos: Pos {
                file: Arc::from(Path::new("f.conf")),
                line: 7,
            },
            block: None,
        }
    }

    #[test]
    fn numbers_and_seconds() {
        let mut w = Warnings::default();
        let mut cx = Cx {
            w: &mut w,
            dips: &[],
            files: &[],
        };
        assert_eq!(cx.number(&stmt("weight 3"), 0, 65535).unwrap(), 3);
        assert_eq!(
            cx.number(&stmt("weight 65536"), 0, 65535)
                .unwrap_err()
                .to_string(),
            "f.conf:7: weight 65536: not a number in 0..65535"
        );
        assert!(cx.number(&stmt("weight -1"), 0, 65535).is_err());
        assert!(cx.number(&stmt("weight x"), 0, 65535).is_err());
        assert_eq!(
            cx.number(&stmt("weight"), 0, 65535)
                .unwrap_err()
                .to_string(),
            "f.conf:7: weight: a value is missing"
        );
        assert_eq!(cx.seconds(&stmt("delay_loop 6"), 1, 86400).unwrap(), 6);
        assert_eq!(cx.seconds(&stmt("delay_loop 6.000"), 1, 86400).unwrap(), 6);
        assert_eq!(cx.seconds(&stmt("delay_loop 0.5"), 1, 86400).unwrap(), 1);
        assert_eq!(cx.seconds(&stmt("delay_loop 2.25"), 1, 86400).unwrap(), 3);
        assert_eq!(cx.seconds(&stmt("delay_loop .5"), 1, 86400).unwrap(), 1);
        assert!(cx.seconds(&stmt("delay_loop 0"), 1, 86400).is_err());
        assert!(cx.seconds(&stmt("delay_loop ."), 1, 86400).is_err());
        assert!(cx.seconds(&stmt("delay_loop 1e3"), 1, 86400).is_err());
        assert!(cx.seconds(&stmt("delay_loop 86401"), 1, 86400).is_err());
        assert_eq!(
            cx.seconds(&stmt("delay_before_retry 0"), 0, 86400).unwrap(),
            0
        );
        assert_eq!(cx.number(&stmt("retry 2 3"), 0, 100).unwrap(), 2);
        assert_eq!(
            w.into_strings(),
            vec![
                "f.conf:7: delay_loop 0.5: ringvs counts whole seconds, using 1",
                "f.conf:7: delay_loop 2.25: ringvs counts whole seconds, using 3",
                "f.conf:7: delay_loop .5: ringvs counts whole seconds, using 1",
                "f.conf:7: retry: extra words '3' ignored",
            ]
        );
    }

    #[test]
    fn booleans_and_addresses() {
        let mut w = Warnings::default();
        let mut cx = Cx {
            w: &mut w,
            dips: &[],
            files: &[],
        };
        assert!(cx.boolean(&stmt("inhibit_on_failure")).unwrap());
        assert!(!cx.boolean(&stmt("inhibit_on_failure off")).unwrap());
        assert!(cx.boolean(&stmt("inhibit_on_failure maybe")).is_err());
        let a = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 110));
        assert_eq!(
            addr_port(&stmt("vs 198.18.0.110 80"), "vs").unwrap(),
            (a, Some(80))
        );
        assert_eq!(
            addr_port(&stmt("vs 198.18.0.110"), "vs").unwrap(),
            (a, None)
        );
        let a6: IpAddr = "2001:2:0:1::110".parse().unwrap();
        assert_eq!(
            addr_port(&stmt("virtual_server 2001:2:0:1::110 80"), "vs").unwrap(),
            (a6, Some(80))
        );
        assert_eq!(
            addr_port(&stmt("real_server 2001:2:0:1::110"), "vs").unwrap(),
            (a6, None)
        );
        assert_eq!(
            addr_port(&stmt("virtual_server [2001:2::110] 80"), "virtual_server")
                .unwrap_err()
                .to_string(),
            "f.conf:7: virtual_server [2001:2::110]: not an IPv6 address"
        );
        assert_eq!(
            addr_port(&stmt("real_server 2001:2::1::2 80"), "real_server")
                .unwrap_err()
                .to_string(),
            "f.conf:7: real_server 2001:2::1::2: not an IPv6 address"
        );
        assert_eq!(
            addr_port(&stmt("real_server 198.19.0.300 80"), "real_server")
                .unwrap_err()
                .to_string(),
            "f.conf:7: real_server 198.19.0.300: not an IPv4 address"
        );
        assert_eq!(
            addr_port(&stmt("real_server 198.19.0.3 http"), "real_server")
                .unwrap_err()
                .to_string(),
            "f.conf:7: real_server 198.19.0.3 http: not a port (0..65535)"
        );
    }
}
