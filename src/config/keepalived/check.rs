//! The checkers of a `real_server` (`TCP_CHECK`, `HTTP_GET`, `SSL_GET`,
//! `UDP_CHECK`, `PING_CHECK`, `DNS_CHECK`) and the one check per service
//! that ringvs runs.
//!
//! keepalived (`check_api.c` `install_checker_common_keywords`, `check_tcp.c`,
//! `check_http.c` `install_http_ssl_check_keyword`) runs checkers per real
//! server, each with its own times; a time not given on the checker comes from
//! the real server, then from the virtual server, then from the checker's
//! default (`check_data.c` `validate_check_config`): `delay_loop` 60 s,
//! `connect_timeout` 5 s, `retry` 1, `delay_before_retry` 1 s for
//! the other checkers and 3 s for `HTTP_GET` (`http_get_handler`), `warmup`
//! 0 (keepalived's: the `delay_loop`; `docs/health.md`). A server goes
//! down after `retry + 1` failures in a row (`tcp_epilog`), as in ringvs.
//!
//! ringvs runs one check per service (see `docs/health.md`), on each real
//! server's own address and port. So: the service's check is that of its
//! first real server with a checker; a real server whose check differs, or
//! that has none (keepalived would never take it out), is named in a warning;
//! so is a second checker in one real server (keepalived needs them all up,
//! ringvs runs the first). `inhibit_on_failure` belongs to the real server in
//! keepalived and to the check in ringvs, so it is compared with the rest.
//! `UDP_CHECK` takes `payload`, `require_reply`, `min_reply_length` and
//! `max_reply_length` (`check_udp.c`); `PING_CHECK` only the common
//! keywords, and no port (`connect_port` there is ignored, unwarned);
//! `connect_port` is the check's `--check-port` (`PING_CHECK` takes none),
//! `connect_ip` the real server's `--check-ip` (`conn.rs`);
//! `DNS_CHECK` `type` and `name`, with its own defaults (3 retries,
//! `delay_before_retry` as `delay_loop`); `HTTP_GET` and `SSL_GET` their
//! urls (`http.rs`); `SMTP_CHECK` its `helo_name`; `MISC_CHECK` its
//! command. `FILE_CHECK` is a real server's own, beside this check
//! (`track.rs`); `BFD_CHECK` is warned about and not run.

use std::net::IpAddr;

use super::super::ipvsadm::MAX_CHECK_SECS;
use super::super::notify::quote;
use super::super::{
    CheckKind, DEFAULT_MAX_REPLY_LEN, DEFAULT_MIN_REPLY_LEN, DnsCheck, DnsType,
    HTTP_DELAY_BEFORE_RETRY, HealthCheck, MAX_PAYLOAD, MiscCheck, Script, ScriptUser, SmtpCheck,
    UdpCheck, UdpReply, parse_hex, sni_name, unescape,
};
use super::conn::Conn;
use super::http::HttpArgs;
use super::lexer::Stmt;
use super::values::Cx;
pub(crate) use super::values::Times;
use super::{KaError, Pos};

/// keepalived's checkers that ringvs does not run (`FILE_CHECK` is read
/// apart, `track.rs`).
const OTHER_CHECKERS: [&str; 1] = ["BFD_CHECK"];

/// The checkers ringvs runs.
const RUN: [&str; 8] = [
    "TCP_CHECK",
    "HTTP_GET",
    "SSL_GET",
    "UDP_CHECK",
    "PING_CHECK",
    "DNS_CHECK",
    "SMTP_CHECK",
    "MISC_CHECK",
];

/// Whether `kw` names one of keepalived's checkers.
pub(crate) fn is_checker(kw: &str) -> bool {
    RUN.contains(&kw) || OTHER_CHECKERS.contains(&kw)
}

/// One checker of a real server, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Checker {
    pub pos: Pos,
    pub kind: CheckKind,
    pub times: Times,
    /// `connect_ip`, `connect_port`, `bindto` (`conn.rs`).
    pub conn: Conn,
}

impl Checker {
    /// The check this checker runs with the times of its real server `rs`
    /// and the virtual server `vs`.
    pub fn check(
        &self,
        cx: &mut Cx<'_>,
        (rs, vs): (Times, Times),
        inhibit: bool,
        vhost: Option<&str>,
    ) -> HealthCheck {
        let name = self.name();
        // PING_CHECK has no port (keepalived takes and ignores one); MISC_CHECK
        // none, nor a connection for a server's `connect_timeout` (`co`).
        let check_port = self.conn.port.filter(|_| self.kind.has_port());
        let t = self.times.or(rs).or(vs);
        let conn_to = t
            .connect_timeout
            .filter(|_| !matches!(self.kind, CheckKind::Misc(_)));
        let mut kind = self.kind.clone();
        if let CheckKind::Http(h) = &mut kind {
            // The real server's `virtualhost`, else the virtual server's,
            // where the checker names none; SNI names it, or nothing.
            if h.vhost.is_none() {
                h.vhost = vhost.map(str::to_string);
            }
            if let Some(v) = h.vhost.as_deref().filter(|_| h.sni)
                && sni_name(v).is_none()
            {
                cx.w.at(
                    &self.pos,
                    format!(
                        "enable_sni (in {name}): virtualhost {v} is not a host name SNI can send, none is sent"
                    ),
                );
                h.sni = false;
            }
            h.sni &= h.vhost.is_some();
        }
        let d = HealthCheck::new(kind);
        let delay_loop = t.delay_loop.unwrap_or(d.delay_loop);
        // `queue_checker`'s default (`check_api.c`), but HTTP_GET's, and
        // DNS_CHECK's `delay_loop` (`validate_check_config`).
        let default_dbr = match self.kind {
            CheckKind::Http(_) => HTTP_DELAY_BEFORE_RETRY,
            CheckKind::Dns(_) => delay_loop,
            CheckKind::Tcp
            | CheckKind::Udp(_)
            | CheckKind::Ping
            | CheckKind::Smtp(_)
            | CheckKind::Misc(_) => 1,
        };
        HealthCheck {
            delay_loop,
            connect_timeout: conn_to.unwrap_or(d.connect_timeout),
            retry: t.retry.unwrap_or(d.retry),
            delay_before_retry: t.delay_before_retry.unwrap_or(default_dbr),
            // keepalived's default is the `delay_loop`; ringvs's is 0, a
            // first check at once (`docs/health.md`).
            warmup: t.warmup.unwrap_or(d.warmup),
            inhibit_on_failure: inhibit,
            // The checker's `alpha`, else the real server's, else the
            // virtual server's (`Times`).
            alpha: t.alpha.unwrap_or(false),
            port: check_port,
            kind: d.kind,
        }
    }

    /// Where it checks the real server at `addr`, if not there (its
    /// `connect_ip`, [`Conn::check_ip`]).
    pub fn check_ip(&self, cx: &mut Cx<'_>, addr: IpAddr) -> Option<IpAddr> {
        self.conn.check_ip(cx, addr, self.name())
    }

    fn name(&self) -> &'static str {
        match &self.kind {
            CheckKind::Tcp => "TCP_CHECK",
            CheckKind::Http(h) if h.tls => "SSL_GET",
            CheckKind::Http(_) => "HTTP_GET",
            CheckKind::Udp(_) => "UDP_CHECK",
            CheckKind::Ping => "PING_CHECK",
            CheckKind::Dns(_) => "DNS_CHECK",
            CheckKind::Smtp(_) => "SMTP_CHECK",
            CheckKind::Misc(_) => "MISC_CHECK",
        }
    }
}

/// Reads a checker block (`s` is a keyword [`is_checker`] accepts). `None`:
/// not run by ringvs (warned about).
pub(crate) fn checker(cx: &mut Cx<'_>, s: &Stmt) -> Result<Option<Checker>, KaError> {
    let mut http = match s.keyword() {
        "HTTP_GET" => Some(HttpArgs::new(false)),
        "SSL_GET" => Some(HttpArgs::new(true)),
        "TCP_CHECK" | "UDP_CHECK" | "PING_CHECK" | "DNS_CHECK" | "SMTP_CHECK" => None,
        "MISC_CHECK" => return misc_checker(cx, s),
        other => {
            cx.w.at(
                &s.pos,
                format!(
                    "{other} (in real_server): checker not supported by ringvs, ignored (the real server is not checked by it)"
                ),
            );
            return Ok(None);
        }
    };
    let name = s.keyword();
    let mut c = Checker {
        pos: s.pos.clone(),
        kind: match name {
            "PING_CHECK" => CheckKind::Ping,
            "DNS_CHECK" => CheckKind::Dns(DnsCheck::new()),
            "SMTP_CHECK" => CheckKind::Smtp(SmtpCheck::new()),
            _ => CheckKind::Tcp,
        },
        times: Times::default(),
        conn: Conn::default(),
    };
    let mut udp = (name == "UDP_CHECK").then(UdpArgs::default);
    for k in s.children() {
        if c.times.take(cx, k, 0)? {
            continue;
        }
        if let Some(u) = udp.as_mut()
            && u.take(cx, k)?
        {
            continue;
        }
        if let CheckKind::Dns(d) = &mut c.kind
            && dns_keyword(cx, k, d)?
        {
            continue;
        }
        if let Some(h) = http.as_mut()
            && h.take(cx, k)?
        {
            continue;
        }
        if let CheckKind::Smtp(m) = &mut c.kind
            && smtp_keyword(cx, k, m)?
        {
            continue;
        }
        if c.conn.take(cx, k, name)? {
            continue;
        }
        match k.keyword() {
            "nb_get_retry" if http.is_some() => {
                cx.w.at(&k.pos, "nb_get_retry: deprecated, taken as 'retry'");
                c.times.retry = Some(cx.number(k, 0, u32::MAX)?);
            }
            // `install_checker_common_keywords`: this checker starts failed.
            "alpha" => c.times.alpha = Some(cx.boolean(k)?),
            _ => cx.unsupported(k, name),
        }
    }
    if let Some(u) = udp {
        c.kind = CheckKind::Udp(u.check(&s.pos)?);
    }
    let Some(h) = http else {
        return Ok(Some(c));
    };
    Ok(h.check(cx, &s.pos, name).map(|h| Checker {
        kind: CheckKind::Http(h),
        ..c
    }))
}

/// Reads a `MISC_CHECK` block (`check_misc.c` `install_misc_check_keyword`):
/// `misc_path` (the command and its arguments, quoted and escaped as a
/// notify script), `misc_timeout` (0: `delay_loop`, as keepalived's
/// `misc_check_thread`), `misc_dynamic` and the common times. Without a
/// `misc_path` it is skipped, as keepalived's `misc_end_handler` does; its
/// `user USER [GROUP]` runs it as that user (`misc_user_handler`).
fn misc_checker(cx: &mut Cx<'_>, s: &Stmt) -> Result<Option<Checker>, KaError> {
    let mut times = Times::default();
    let (mut path, mut timeout, mut dynamic, mut user) = (None, None, false, None);
    for k in s.children() {
        // Not a MISC_CHECK keyword: `install_misc_check_keyword`
        // (`check_misc.c`) installs the common keywords without the
        // connection ones, so keepalived calls it unknown; warned as any.
        if k.keyword() == "connect_timeout" {
            cx.unsupported(k, "MISC_CHECK");
            continue;
        }
        if times.take(cx, k, 0)? {
            continue;
        }
        match k.keyword() {
            "misc_path" => path = Some(command(k)?),
            "misc_timeout" => {
                timeout = Some(cx.number(k, 0, MAX_CHECK_SECS as u32)?).filter(|&t| t > 0);
            }
            "misc_dynamic" => dynamic = true,
            "alpha" => times.alpha = Some(cx.boolean(k)?),
            // keepalived: "No user specified" (the check stays), and
            // "Failed to set uid/gid … - removing".
            "user" if k.args().is_empty() => {
                cx.w.at(&k.pos, "user (in MISC_CHECK): no user given, skipped");
            }
            "user" => match user_words(cx, k, k.args()) {
                Ok(u) => user = u,
                Err(e) => {
                    let e = format!("user (in MISC_CHECK): {e}; this check is not run");
                    cx.w.at(&k.pos, e);
                    return Ok(None);
                }
            },
            _ => cx.unsupported(k, "MISC_CHECK"),
        }
    }
    let Some(path) = path else {
        cx.w.at(
            &s.pos,
            "MISC_CHECK without misc_path: skipped (as keepalived does)",
        );
        return Ok(None);
    };
    Ok(Some(Checker {
        pos: s.pos.clone(),
        kind: CheckKind::Misc(MiscCheck {
            path: path.with_user(user),
            timeout,
            dynamic,
        }),
        times,
        conn: Conn::default(),
    }))
}

/// A script's `USER [GROUP]`, the words `words` of `k` (`MISC_CHECK`'s
/// `user`, `misc_user_handler`; a notify script's after its command,
/// `set_script_uid_gid`): none, or a user and maybe a group; words after
/// them are ignored, as keepalived ignores them (warned).
pub(super) fn user_words(
    cx: &mut Cx<'_>,
    k: &Stmt,
    words: &[String],
) -> Result<Option<ScriptUser>, String> {
    match words {
        [] => Ok(None),
        [user] => ScriptUser::new(user, None).map(Some),
        [user, group, rest @ ..] => {
            if !rest.is_empty() {
                let e = format!("{}: the words after USER GROUP are ignored", k.keyword());
                cx.w.at(&k.pos, e);
            }
            ScriptUser::new(user, Some(group)).map(Some)
        }
    }
}

/// `misc_path`'s command: its words as keepalived reads them
/// (`alloc_strvec_quoted_escaped` over the rest of the line), so one quoted
/// word holding the whole command line and several words alike.
fn command(k: &Stmt) -> Result<Script, KaError> {
    let bad = |e: String| KaError::at(&k.pos, format!("misc_path: {e}"));
    let words: Vec<String> = k
        .args()
        .iter()
        .map(|w| unescape(w))
        .collect::<Result<_, _>>()
        .map_err(bad)?;
    let text = match words.as_slice() {
        [] => return Err(bad("a value is missing".into())),
        [one] => one.clone(),
        many => {
            let plain = |w: &str| {
                !w.is_empty() && !w.contains(|c: char| c.is_whitespace() || "\\\"'".contains(c))
            };
            let quoted: Vec<String> = many
                .iter()
                .map(|w| if plain(w) { w.clone() } else { quote(w) })
                .collect();
            quoted.join(" ")
        }
    };
    Script::parse(&text).map_err(bad)
}

/// Takes `k` if it is one of `DNS_CHECK`'s own keywords (`type`, `name`:
/// `check_dns.c` `install_dns_check_keyword`). An unknown type or a name
/// with an empty label is an error here (keepalived ignores it).
fn dns_keyword(cx: &mut Cx<'_>, k: &Stmt, d: &mut DnsCheck) -> Result<bool, KaError> {
    match k.keyword() {
        "type" => {
            let v = cx.value(k)?;
            d.qtype = DnsType::parse(v).ok_or_else(|| {
                KaError::at(
                    &k.pos,
                    format!(
                        "type {v}: not a DNS_CHECK type (A, NS, CNAME, SOA, MX, TXT, AAAA, RRSIG, DNSKEY)"
                    ),
                )
            })?;
        }
        "name" => {
            let v = cx.value(k)?;
            if !DnsCheck::valid_name(v) {
                return Err(KaError::at(
                    &k.pos,
                    format!("name {v}: not a domain name (an empty label, or too long)"),
                ));
            }
            d.name = v.to_string();
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Takes `k` if it is one of `SMTP_CHECK`'s own keywords (`helo_name`,
/// and the deprecated `host` blocks: `install_smtp_check_keyword`). A
/// `host` block names another address or port to check: warned about and
/// ignored (the checker's own `connect_ip` and `connect_port` say it).
fn smtp_keyword(cx: &mut Cx<'_>, k: &Stmt, m: &mut SmtpCheck) -> Result<bool, KaError> {
    match k.keyword() {
        "helo_name" => {
            let v = cx.value(k)?;
            if SmtpCheck::valid_helo(v) {
                m.helo = v.to_string();
            } else {
                // keepalived sends it as written; ringvs will not put a
                // blank or a line break in the command.
                cx.w.at(
                    &k.pos,
                    format!(
                        "helo_name {v}: not a name HELO can give (printable, no blanks), using {}",
                        m.helo
                    ),
                );
            }
        }
        "host" => cx.w.at(
            &k.pos,
            "host (in SMTP_CHECK): deprecated by keepalived, not supported by ringvs (give the SMTP_CHECK connect_ip and connect_port); ignored",
        ),
        _ => return Ok(false),
    }
    Ok(true)
}

/// The keywords of a `UDP_CHECK` (`check_udp.c` `install_udp_check_keyword`).
#[derive(Default)]
struct UdpArgs {
    payload: Vec<u8>,
    reply: Option<(Vec<u8>, Vec<u8>)>,
    min_len: Option<u16>,
    max_len: Option<u16>,
}

impl UdpArgs {
    /// Takes `k` if it is one of `UDP_CHECK`'s own keywords. A hex string
    /// is all the words after the keyword, as keepalived joins them
    /// (`make_strvec_str`); one it cannot read is an error here.
    fn take(&mut self, cx: &mut Cx<'_>, k: &Stmt) -> Result<bool, KaError> {
        let hex = |wildcard: bool| {
            let words = k.args().join(" ");
            parse_hex(&words, wildcard)
                .filter(|(d, _)| d.len() <= MAX_PAYLOAD)
                .ok_or_else(|| {
                    KaError::at(
                        &k.pos,
                        format!(
                            "{} {words}: not a hex string of 1..{MAX_PAYLOAD} bytes",
                            k.keyword()
                        ),
                    )
                })
        };
        match k.keyword() {
            "payload" => self.payload = hex(false)?.0,
            "require_reply" if k.args().is_empty() => self.reply = Some((Vec::new(), Vec::new())),
            "require_reply" => self.reply = Some(hex(true)?),
            "min_reply_length" => self.min_len = Some(cx.number(k, 0, u32::from(u16::MAX))? as u16),
            "max_reply_length" => self.max_len = Some(cx.number(k, 0, u32::from(u16::MAX))? as u16),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The check: the lengths bound only an answer `require_reply` asks
    /// for. `min_reply_length` above `max_reply_length` is an error
    /// (keepalived's `udp_check_end_handler` warns that the check will
    /// always fail, and runs it).
    fn check(self, pos: &Pos) -> Result<UdpCheck, KaError> {
        let min_len = self.min_len.unwrap_or(DEFAULT_MIN_REPLY_LEN);
        let max_len = self.max_len.unwrap_or(DEFAULT_MAX_REPLY_LEN);
        if min_len > max_len {
            return Err(KaError::at(
                pos,
                format!(
                    "UDP_CHECK: min_reply_length {min_len} > max_reply_length {max_len} (it would always fail)"
                ),
            ));
        }
        let reply = self.reply.map(|(data, mask)| UdpReply {
            data,
            mask,
            min_len,
            max_len,
        });
        Ok(UdpCheck {
            payload: self.payload,
            reply,
        })
    }
}

/// One real server's part in choosing the service's check.
pub(crate) struct ServerCheck {
    /// The real server's statement, and its `addr:port` for messages.
    pub pos: Pos,
    pub name: String,
    /// Its port (the service's where it has none).
    pub port: u16,
    /// Its check and the checker's position, if it has one.
    pub check: Option<(HealthCheck, Pos)>,
}

/// The service's check: that of its first real server with one; the others
/// are compared with it and each difference is a warning. Ports are
/// compared as checked: the first server's `connect_port` is the check's,
/// unless it is that server's own port and some server is checked on
/// another (its `connect_port`, else its own port; then every server is
/// checked on its own), and one
/// server's `connect_port` equals another's lack of one where that is the
/// other's own port. A port-0 virtual server (`vs`: its
/// statement and port; every port) checks on a port of the check's, as
/// `--check-port` must give one there: its servers' common port, else the
/// check is dropped (warned).
pub(crate) fn service_check(
    cx: &mut Cx<'_>,
    servers: &[ServerCheck],
    vs: (&Pos, u16),
) -> Option<HealthCheck> {
    let (first, at, own) = servers
        .iter()
        .find_map(|s| s.check.as_ref().map(|(c, at)| (c, at, s.port)))?;
    let mut chosen = first.clone();
    let checked_on = |s: &ServerCheck| s.check.as_ref().map(|(c, _)| c.port.unwrap_or(s.port));
    // A server without a checker is checked on its own port here.
    if chosen.port == Some(own)
        && servers
            .iter()
            .map(|s| checked_on(s).unwrap_or(s.port))
            .any(|p| Some(p) != chosen.port)
    {
        chosen.port = None;
    }
    if vs.1 == 0 && chosen.port.is_none() && chosen.kind.has_port() {
        match servers.iter().map(|s| s.port).min() {
            Some(p) if p != 0 && servers.iter().all(|s| s.port == p) => chosen.port = Some(p),
            _ => {
                cx.w.at(
                    vs.0,
                    format!(
                        "virtual_server port 0: its check (of {at}) has no connect_port and its real servers no common port to check; not checked by ringvs"
                    ),
                );
                return None;
            }
        }
    }
    for s in servers {
        // As carried out: the port checked, and a MISC_CHECK's command is
        // each server's own (`--misc-path` of `-a`).
        let on = |c: &HealthCheck| {
            let mut c = HealthCheck {
                port: Some(c.port.unwrap_or(s.port)).filter(|_| c.kind.has_port()),
                ..c.clone()
            };
            if let (CheckKind::Misc(m), CheckKind::Misc(first)) = (&mut c.kind, &chosen.kind) {
                m.path = first.path.clone();
            }
            c
        };
        match &s.check.as_ref().map(|(c, at)| (on(c), at)) {
            // Under a MISC_CHECK it runs `true` (`lvs::own_commands` warns).
            None if chosen.kind.is_command() => {}
            None => cx.w.at(
                &s.pos,
                format!(
                    "real_server {} has no checker ringvs runs ({}): ringvs checks every real server of a virtual_server, this one with the check of {at}",
                    s.name,
                    RUN.join(", ")
                ),
            ),
            Some((c, _)) if *c != on(&chosen) => {
                let diff = differences(&on(&chosen), c).join(", ");
                cx.w.at(
                    &s.pos,
                    format!(
                        "real_server {}: its check differs ({diff}) from the one of {at}; ringvs runs one check per virtual_server and uses that one",
                        s.name
                    ),
                )
            }
            Some(_) => {}
        }
    }
    Some(chosen)
}

/// Each real server's own `--misc-path` (`servers` in order) under a
/// `MISC_CHECK` service (`chosen`, whose command is its first server's):
/// none where it is the service's; `true`, which always passes, for a
/// server without a `MISC_CHECK` ringvs runs (none, another checker, one
/// not run; warned), as keepalived never takes out a server it does not
/// check, rather than another server's command. None at all under another
/// check: a server's `MISC_CHECK` there is not run (its difference warned).
pub(crate) fn own_commands(
    cx: &mut Cx<'_>,
    servers: &[ServerCheck],
    chosen: Option<&HealthCheck>,
) -> Vec<Option<Script>> {
    let Some(CheckKind::Misc(service)) = chosen.map(|c| &c.kind) else {
        return vec![None; servers.len()];
    };
    let own = |s: &ServerCheck| match s.check.as_ref().map(|(c, _)| &c.kind) {
        Some(CheckKind::Misc(m)) => Some(m.path.clone()),
        _ => None,
    };
    servers
        .iter()
        .map(|s| match own(s) {
            Some(p) => Some(p).filter(|p| *p != service.path),
            None => {
                cx.w.at(
                    &s.pos,
                    format!(
                        "real_server {}: no MISC_CHECK of its own; ringvs runs 'true' for it (always up, as keepalived leaves a server it does not check)",
                        s.name
                    ),
                );
                Script::parse("true").ok()
            }
        })
        .collect()
}

/// The names of the settings in which two checks differ.
fn differences(a: &HealthCheck, b: &HealthCheck) -> Vec<&'static str> {
    let mut v = Vec::new();
    match (&a.kind, &b.kind) {
        (CheckKind::Misc(p), CheckKind::Misc(q)) => {
            let fields = [
                (p.timeout != q.timeout, "misc_timeout"),
                (p.dynamic != q.dynamic, "misc_dynamic"),
            ];
            v.extend(fields.iter().filter(|(d, _)| *d).map(|&(_, n)| n));
        }
        (CheckKind::Http(p), CheckKind::Http(q)) if p.tls == q.tls => {
            let fields = [
                (p.path != q.path, "path"),
                (p.status != q.status, "status_code"),
                (p.digest != q.digest, "digest"),
                (p.vhost != q.vhost, "virtualhost"),
                (p.sni != q.sni, "enable_sni"),
                (p.more != q.more, "url"),
                (p.proto != q.proto, "http_protocol"),
            ];
            v.extend(fields.iter().filter(|(d, _)| *d).map(|&(_, n)| n));
        }
        (x, y) if x != y => v.push("checker"),
        _ => {}
    }
    let fields = [
        (a.delay_loop != b.delay_loop, "delay_loop"),
        (a.connect_timeout != b.connect_timeout, "connect_timeout"),
        (a.retry != b.retry, "retry"),
        (
            a.delay_before_retry != b.delay_before_retry,
            "delay_before_retry",
        ),
        (a.warmup != b.warmup, "warmup"),
        (
            a.inhibit_on_failure != b.inhibit_on_failure,
            "inhibit_on_failure",
        ),
        (a.port != b.port, "connect_port"),
        (a.alpha != b.alpha, "alpha"),
    ];
    v.extend(fields.iter().filter(|(d, _)| *d).map(|&(_, n)| n));
    v
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_and_ranges() {
        use super::super::http::status_code;
        assert_eq!(status_code("200"), Some((200, 200)));
        assert_eq!(status_code("200-299"), Some((200, 299)));
        assert_eq!(status_code("299-200"), None);
        assert_eq!(status_code("99"), None);
        assert_eq!(status_code("600"), None);
        assert_eq!(status_code("2xx"), None);
    }

    #[test]
    fn differences_name_the_settings() {
        let a = HealthCheck::new(CheckKind::Http(crate::config::HttpCheck::get("/", 200)));
        let mut b = a.clone();
        b.retry = 3;
        b.inhibit_on_failure = true;
        b.kind = CheckKind::Http(crate::config::HttpCheck::get("/x", 200));
        assert_eq!(
            differences(&a, &b),
            vec!["path", "retry", "inhibit_on_failure"]
        );
        // `http_protocol` alone: named, not an empty list.
        b = a.clone();
        b.kind = CheckKind::Http(crate::config::HttpCheck {
            proto: crate::config::HttpProtocol::V11,
            ..crate::config::HttpCheck::get("/", 200)
        });
        assert_eq!(differences(&a, &b), vec!["http_protocol"]);
        // Their defaults differ in `delay_before_retry` too (3 and 1).
        let t = HealthCheck::new(CheckKind::Tcp);
        assert_eq!(differences(&a, &t), vec!["checker", "delay_before_retry"]);
        assert!(differences(&a, &a).is_empty());
    }
}
