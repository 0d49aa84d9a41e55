//! ringvs's health-check options (`--check` and its settings, a ringvs
//! extension of ipvsadm's syntax) and its sorry server's (`--sorry-server`,
//! keepalived's `sorry_server`, with the `--quorum` and `--hysteresis` that
//! call it in): gathered one by one, then checked against each other and
//! the command.

use super::super::names::Names;
use super::super::tls;
use super::super::{
    AdmError, CheckKind, ClientCert, DEFAULT_CHECK_PATH, DEFAULT_CHECK_STATUS, DEFAULT_DNS_NAME,
    DEFAULT_MAX_REPLY_LEN, DEFAULT_MIN_REPLY_LEN, DIGEST_LEN, DnsCheck, DnsType, Forward,
    HealthCheck, HttpCheck, HttpProtocol, HttpUrl, MAX_PAYLOAD, MiscCheck, Proto, Quorum, Script,
    SmtpCheck, SorryOpts, UdpCheck, UdpReply, parse_digest, parse_hex, parse_status, sni_name,
    valid_path, valid_vhost,
};
use super::messages::usage;
use super::options::{Cmd, Tag};
use super::values::{number_in, server_address};

/// Largest `--delay-loop`, `--connect-timeout`, `--delay-before-retry`,
/// `--warmup` (one day).
pub const MAX_CHECK_SECS: i64 = 86400;
/// Largest `--retry`.
pub const MAX_CHECK_RETRY: i64 = 100;
/// Longest `--check-path`.
pub const MAX_CHECK_PATH: usize = 255;

/// The health-check options of one command line, before they are checked
/// against each other.
#[derive(Default)]
pub(super) struct CheckArgs {
    /// Every health-check option seen, by long name, in order (for messages).
    seen: Vec<&'static str>,
    kind: Option<String>,
    /// The urls: each `--check-path` after the first starts another, and
    /// `--check-status` and `--check-digest` belong to the last one.
    urls: Vec<UrlArgs>,
    /// `--check-virtualhost`, `--check-sni`.
    vhost: Option<String>,
    sni: bool,
    /// `--check-http-protocol`.
    proto: Option<HttpProtocol>,
    /// `--check-cert`, `--check-key`: the files, as given.
    cert: Option<String>,
    key: Option<String>,
    delay_loop: Option<u32>,
    connect_timeout: Option<u32>,
    retry: Option<u32>,
    delay_before_retry: Option<u32>,
    warmup: Option<u32>,
    inhibit: bool,
    alpha: bool,
    /// `--payload` and `--require-reply` (its hex string, if any), with
    /// their mask; `--min-reply-length`, `--max-reply-length`.
    payload: Option<Vec<u8>>,
    reply: Option<(Vec<u8>, Vec<u8>)>,
    min_reply: Option<u16>,
    max_reply: Option<u16>,
    /// `--dns-type`, `--dns-name`.
    dns_type: Option<DnsType>,
    dns_name: Option<String>,
    /// `--helo-name`.
    helo: Option<String>,
    /// `--check-port`.
    port: Option<u16>,
    /// `--misc-path`, `--misc-timeout`, `--misc-dynamic`.
    misc_path: Option<Script>,
    misc_timeout: Option<u32>,
    misc_dynamic: bool,
}

/// One url's options.
#[derive(Default)]
struct UrlArgs {
    path: Option<String>,
    status: Option<Vec<(u16, u16)>>,
    digest: Option<[u8; DIGEST_LEN]>,
}

impl CheckArgs {
    /// The url a `--check-status` or `--check-digest` belongs to: the last.
    fn url(&mut self) -> &mut UrlArgs {
        if self.urls.is_empty() {
            self.urls.push(UrlArgs::default());
        }
        let last = self.urls.len() - 1;
        &mut self.urls[last]
    }

    pub(super) fn take(&mut self, tag: Tag, val: &str) -> Result<bool, AdmError> {
        let secs = |name: &str, min: i64| {
            number_in(val, min, MAX_CHECK_SECS)
                .map(|v| v as u32)
                .ok_or_else(|| usage(format!("illegal {name} specified")))
        };
        let name = match tag {
            Tag::Check => {
                self.kind = Some(val.to_string());
                "check"
            }
            // Given again, these are another url's (`--check-path`), or a
            // url's second (the others): not `seen_once`.
            Tag::CheckPath => {
                if !valid_path(val) {
                    return Err(usage("illegal check-path specified"));
                }
                if self.urls.last().is_none_or(|u| u.path.is_some()) {
                    self.urls.push(UrlArgs::default());
                }
                self.url().path = Some(val.to_string());
                return Ok(self.seen_too("check-path"));
            }
            Tag::CheckStatus => {
                let v = parse_status(val).ok_or_else(|| usage("illegal check-status specified"))?;
                if self.url().status.replace(v).is_some() {
                    return Err(usage(
                        "multiple 'check-status' options specified for one check-path",
                    ));
                }
                return Ok(self.seen_too("check-status"));
            }
            Tag::CheckDigest => {
                let v = parse_digest(val).ok_or_else(|| usage("illegal check-digest specified"))?;
                if self.url().digest.replace(v).is_some() {
                    return Err(usage(
                        "multiple 'check-digest' options specified for one check-path",
                    ));
                }
                return Ok(self.seen_too("check-digest"));
            }
            Tag::CheckVirtualhost => {
                if !valid_vhost(val) {
                    return Err(usage("illegal check-virtualhost specified"));
                }
                self.vhost = Some(val.to_string());
                "check-virtualhost"
            }
            Tag::CheckSni => {
                self.sni = true;
                "check-sni"
            }
            Tag::CheckHttpProtocol => {
                self.proto = Some(
                    HttpProtocol::parse(val)
                        .ok_or_else(|| usage("illegal check-http-protocol specified"))?,
                );
                "check-http-protocol"
            }
            Tag::CheckCert | Tag::CheckKey => {
                let (name, slot) = if tag == Tag::CheckCert {
                    ("check-cert", &mut self.cert)
                } else {
                    ("check-key", &mut self.key)
                };
                // The director reads it, whose directory is not the
                // caller's: a relative path would name another file.
                if !valid_file(val) {
                    return Err(usage(format!(
                        "illegal {name} specified (an absolute path)"
                    )));
                }
                *slot = Some(val.to_string());
                name
            }
            Tag::MiscPath => {
                let script = Script::parse(val)
                    .map_err(|e| usage(format!("illegal misc-path specified: {e}")))?;
                self.misc_path = Some(script);
                "misc-path"
            }
            Tag::MiscTimeout => {
                self.misc_timeout = Some(secs("misc-timeout", 1)?);
                "misc-timeout"
            }
            Tag::MiscDynamic => {
                self.misc_dynamic = true;
                "misc-dynamic"
            }
            Tag::CheckPort => {
                self.port = Some(
                    number_in(val, 1, i64::from(u16::MAX))
                        .map(|v| v as u16)
                        .ok_or_else(|| usage("illegal check-port specified"))?,
                );
                "check-port"
            }
            Tag::DelayLoop => {
                self.delay_loop = Some(secs("delay-loop", 1)?);
                "delay-loop"
            }
            Tag::ConnectTimeout => {
                self.connect_timeout = Some(secs("connect-timeout", 1)?);
                "connect-timeout"
            }
            Tag::Retry => {
                self.retry = Some(
                    number_in(val, 0, MAX_CHECK_RETRY)
                        .map(|v| v as u32)
                        .ok_or_else(|| usage("illegal retry specified"))?,
                );
                "retry"
            }
            Tag::DelayBeforeRetry => {
                self.delay_before_retry = Some(secs("delay-before-retry", 0)?);
                "delay-before-retry"
            }
            Tag::Warmup => {
                self.warmup = Some(secs("warmup", 0)?);
                "warmup"
            }
            Tag::InhibitOnFailure => {
                self.inhibit = true;
                "inhibit-on-failure"
            }
            Tag::Alpha => {
                self.alpha = true;
                "alpha"
            }
            Tag::Payload => {
                let (data, _) = parse_hex(val, false)
                    .filter(|(d, _)| d.len() <= MAX_PAYLOAD)
                    .ok_or_else(|| usage("illegal payload specified"))?;
                self.payload = Some(data);
                "payload"
            }
            Tag::RequireReply => {
                self.reply = match val {
                    "" => Some((Vec::new(), Vec::new())),
                    v => Some(
                        parse_hex(v, true)
                            .filter(|(d, _)| d.len() <= MAX_PAYLOAD)
                            .ok_or_else(|| usage("illegal require-reply specified"))?,
                    ),
                };
                "require-reply"
            }
            Tag::MinReplyLength | Tag::MaxReplyLength => {
                let min = tag == Tag::MinReplyLength;
                let name = if min {
                    "min-reply-length"
                } else {
                    "max-reply-length"
                };
                let n = number_in(val, 0, i64::from(u16::MAX))
                    .map(|v| v as u16)
                    .ok_or_else(|| usage(format!("illegal {name} specified")))?;
                *(if min {
                    &mut self.min_reply
                } else {
                    &mut self.max_reply
                }) = Some(n);
                name
            }
            Tag::DnsType => {
                self.dns_type =
                    Some(DnsType::parse(val).ok_or_else(|| usage("illegal dns-type specified"))?);
                "dns-type"
            }
            Tag::HeloName => {
                if !SmtpCheck::valid_helo(val) {
                    return Err(usage("illegal helo-name specified"));
                }
                self.helo = Some(val.to_string());
                "helo-name"
            }
            Tag::DnsName => {
                if !DnsCheck::valid_name(val) {
                    return Err(usage("illegal dns-name specified"));
                }
                self.dns_name = Some(val.to_string());
                "dns-name"
            }
            _ => return Ok(false),
        };
        seen_once(&mut self.seen, name)
    }

    /// Notes option `name` seen (again, where that is allowed).
    fn seen_too(&mut self, name: &'static str) -> bool {
        if !self.seen.contains(&name) {
            self.seen.push(name);
        }
        true
    }

    /// A real server's own `--misc-path` (`-a`, `-e`: keepalived's
    /// `misc_path` of its `MISC_CHECK`), taken out of the check options.
    pub(super) fn server_path(&mut self, cmd: Cmd) -> Option<Script> {
        if !matches!(cmd, Cmd::AddDest | Cmd::EditDest) || self.seen != ["misc-path"] {
            return None;
        }
        self.seen.clear();
        self.misc_path.take()
    }

    /// The check these options describe (`None`: no `--check`).
    pub(super) fn build(self, cmd: Cmd) -> Result<Option<HealthCheck>, AdmError> {
        let Some(first) = self.seen.first() else {
            return Ok(None);
        };
        service_command(first, cmd)?;
        let Some(kind) = self.kind.clone() else {
            return Err(usage(format!(
                "the '{first}' option needs the 'check' option"
            )));
        };
        let http = kind == "http" || kind == "https";
        let http_only = !self.urls.is_empty() || self.vhost.is_some();
        if !http && http_only {
            return Err(usage(
                "check-path, check-status, check-digest and check-virtualhost need --check http or https",
            ));
        }
        if self.sni && kind != "https" {
            return Err(usage("check-sni needs --check https"));
        }
        if !http && self.proto.is_some() {
            return Err(usage("check-http-protocol needs --check http or https"));
        }
        if (self.cert.is_some() || self.key.is_some()) && kind != "https" {
            return Err(usage("check-cert and check-key need --check https"));
        }
        match (&self.cert, &self.key) {
            (Some(_), None) => return Err(usage("check-cert needs check-key (its private key)")),
            (None, Some(_)) => return Err(usage("check-key needs check-cert (its certificate)")),
            _ => {}
        }
        // keepalived's `enable_sni` names the virtual host, if there is one
        // (`check_ssl.c` `ssl_connect`); without one it would name nothing.
        if self.sni && self.vhost.is_none() {
            return Err(usage(
                "check-sni needs check-virtualhost (the name it sends)",
            ));
        }
        if self.sni && self.vhost.as_deref().and_then(sni_name).is_none() {
            return Err(usage(
                "check-sni needs a host name in check-virtualhost, not an address",
            ));
        }
        let udp_only = self.payload.is_some()
            || self.reply.is_some()
            || self.min_reply.is_some()
            || self.max_reply.is_some();
        if kind != "dns" && (self.dns_type.is_some() || self.dns_name.is_some()) {
            return Err(usage("dns-type and dns-name need --check dns"));
        }
        if kind != "smtp" && self.helo.is_some() {
            return Err(usage("helo-name needs --check smtp"));
        }
        // keepalived's PING_CHECK has no `connect_port` (an echo has no
        // port), nor its MISC_CHECK (a command).
        if (kind == "ping" || kind == "misc") && self.port.is_some() {
            return Err(usage(
                "check-port needs a check with a port (not ping or misc)",
            ));
        }
        let misc_only =
            self.misc_path.is_some() || self.misc_timeout.is_some() || self.misc_dynamic;
        if kind != "misc" && misc_only {
            return Err(usage(
                "misc-path, misc-timeout and misc-dynamic need --check misc",
            ));
        }
        if kind != "udp" && udp_only {
            return Err(usage(
                "payload, require-reply, min-reply-length and max-reply-length need --check udp",
            ));
        }
        let kind = match kind.as_str() {
            "tcp" => CheckKind::Tcp,
            "http" | "https" => {
                let mut urls = self.urls.iter().map(|u| HttpUrl {
                    path: u
                        .path
                        .clone()
                        .unwrap_or_else(|| DEFAULT_CHECK_PATH.to_string()),
                    status: u
                        .status
                        .clone()
                        .unwrap_or_else(|| vec![(DEFAULT_CHECK_STATUS, DEFAULT_CHECK_STATUS)]),
                    digest: u.digest,
                });
                let first = urls.next();
                let mut h = HttpCheck {
                    tls: kind == "https",
                    vhost: self.vhost.clone(),
                    sni: self.sni,
                    more: urls.collect(),
                    proto: self.proto.unwrap_or_default(),
                    ..HttpCheck::get(DEFAULT_CHECK_PATH, DEFAULT_CHECK_STATUS)
                };
                if let Some(u) = first {
                    (h.path, h.status, h.digest) = (u.path, u.status, u.digest);
                }
                if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
                    h.client = Some(client_cert(cert, key)?);
                }
                CheckKind::Http(h)
            }
            "udp" => {
                let (min_len, max_len) = (
                    self.min_reply.unwrap_or(DEFAULT_MIN_REPLY_LEN),
                    self.max_reply.unwrap_or(DEFAULT_MAX_REPLY_LEN),
                );
                // keepalived warns that such a check always fails
                // (`udp_check_end_handler`); refused here.
                if min_len > max_len {
                    return Err(usage(format!(
                        "min-reply-length {min_len} > max-reply-length {max_len}"
                    )));
                }
                let Some((data, mask)) = self.reply.clone() else {
                    if self.min_reply.is_some() || self.max_reply.is_some() {
                        return Err(usage(
                            "min-reply-length and max-reply-length need --require-reply",
                        ));
                    }
                    return Ok(Some(self.times(CheckKind::Udp(UdpCheck {
                        payload: self.payload.clone().unwrap_or_default(),
                        reply: None,
                    }))));
                };
                CheckKind::Udp(UdpCheck {
                    payload: self.payload.clone().unwrap_or_default(),
                    reply: Some(UdpReply {
                        data,
                        mask,
                        min_len,
                        max_len,
                    }),
                })
            }
            "ping" => CheckKind::Ping,
            "misc" => CheckKind::Misc(MiscCheck {
                path: self
                    .misc_path
                    .clone()
                    .ok_or_else(|| usage("check misc needs --misc-path (the command)"))?,
                timeout: self.misc_timeout,
                dynamic: self.misc_dynamic,
            }),
            "smtp" => CheckKind::Smtp(SmtpCheck {
                helo: self.helo.clone().unwrap_or_else(|| SmtpCheck::new().helo),
            }),
            "dns" => CheckKind::Dns(DnsCheck {
                qtype: self.dns_type.unwrap_or(DnsType::Soa),
                name: self
                    .dns_name
                    .clone()
                    .unwrap_or_else(|| DEFAULT_DNS_NAME.to_string()),
            }),
            _ => {
                return Err(usage(format!(
                    "illegal check `{kind}' specified (tcp, http, https, udp, ping, dns, smtp or misc)"
                )));
            }
        };
        Ok(Some(self.times(kind)))
    }

    /// The check of kind `kind` with the times and flags given.
    fn times(&self, kind: CheckKind) -> HealthCheck {
        let dns = matches!(kind, CheckKind::Dns(_));
        let d = HealthCheck::new(kind);
        let delay_loop = self.delay_loop.unwrap_or(d.delay_loop);
        // DNS_CHECK's retries wait `delay_loop` unless told (keepalived).
        let dbr = if dns {
            delay_loop
        } else {
            d.delay_before_retry
        };
        HealthCheck {
            delay_loop,
            connect_timeout: self.connect_timeout.unwrap_or(d.connect_timeout),
            retry: self.retry.unwrap_or(d.retry),
            delay_before_retry: self.delay_before_retry.unwrap_or(dbr),
            warmup: self.warmup.unwrap_or(d.warmup),
            inhibit_on_failure: self.inhibit,
            alpha: self.alpha,
            port: self.port,
            ..d
        }
    }
}

/// Whether `p` can name a `--check-cert` or `--check-key` file: an
/// absolute path of printable characters (blanks too: `-S` quotes them),
/// at most `PATH_MAX` bytes.
fn valid_file(p: &str) -> bool {
    p.starts_with('/') && p.len() < 4096 && !p.chars().any(char::is_control)
}

/// The client certificate in `cert` with its key in `key`, read now (the
/// director reads them, when the rule is given): a file that cannot be
/// read or does not hold what it should refuses the command, named.
fn client_cert(cert: &str, key: &str) -> Result<ClientCert, AdmError> {
    tls::load_named(cert, key, ("check-cert", "check-key")).map_err(usage)
}

/// Option `name` seen (once: a second time is ipvsadm's error).
fn seen_once(seen: &mut Vec<&'static str>, name: &'static str) -> Result<bool, AdmError> {
    if seen.contains(&name) {
        return Err(usage(format!("multiple '{name}' options specified")));
    }
    seen.push(name);
    Ok(true)
}

/// Options of a service's setup (`first` the first given) with `cmd`: only
/// `-A` and `-E` take them, in ipvsadm's words.
fn service_command(first: &str, cmd: Cmd) -> Result<(), AdmError> {
    if cmd != Cmd::Add && cmd != Cmd::Edit {
        return Err(usage(format!(
            "Illegal '{first}' option with the '{}' command",
            cmd.name()
        )));
    }
    Ok(())
}

/// The sorry-server options of one command line.
#[derive(Default)]
pub(super) struct SorryArgs {
    /// Every one seen, by long name, in order (for messages).
    seen: Vec<&'static str>,
    server: Option<(std::net::IpAddr, u16)>,
    gatewaying: bool,
    inhibit: bool,
    /// `--quorum` and `--hysteresis`, given without a sorry server too.
    quorum: Option<u32>,
    hysteresis: Option<u32>,
}

impl SorryArgs {
    /// Takes option `tag` if it is one of the sorry server's; `--sorry-server
    /// ADDR[:PORT]` reads its address as `-r` does (the port: the service's
    /// as parsed so far, `svc_port`; a port name only once the service's
    /// protocol is known, `proto`).
    pub(super) fn take(
        &mut self,
        tag: Tag,
        val: &str,
        (proto, names, svc_port): (Option<Proto>, &Names, u16),
    ) -> Result<bool, AdmError> {
        let name = match tag {
            Tag::SorryServer => {
                let at = server_address(val, proto, names, svc_port).map_err(|e| match e {
                    AdmError::Usage(_) => usage("illegal sorry-server address[:port] specified"),
                    e => e,
                })?;
                self.server = Some(at);
                "sorry-server"
            }
            Tag::SorryGatewaying => {
                self.gatewaying = true;
                "sorry-gatewaying"
            }
            Tag::SorryInhibit => {
                self.inhibit = true;
                "sorry-inhibit"
            }
            // keepalived's ranges (`check_parser.c`, `quorum_handler`,
            // `hysteresis_handler`).
            Tag::Quorum => {
                let q = number_in(val, 1, i64::from(u32::MAX));
                self.quorum = Some(q.ok_or_else(|| usage("illegal quorum specified"))? as u32);
                "quorum"
            }
            Tag::Hysteresis => {
                let h = number_in(val, 0, i64::from(u32::MAX));
                self.hysteresis =
                    Some(h.ok_or_else(|| usage("illegal hysteresis specified"))? as u32);
                "hysteresis"
            }
            _ => return Ok(false),
        };
        seen_once(&mut self.seen, name)
    }

    /// The sorry server these options describe (`None`: none given) and the
    /// quorum (keepalived's defaults when not given).
    pub(super) fn build(self, cmd: Cmd) -> Result<(Option<SorryOpts>, Quorum), AdmError> {
        let Some(first) = self.seen.first() else {
            return Ok((None, Quorum::default()));
        };
        service_command(first, cmd)?;
        let d = Quorum::default();
        let quorum = Quorum {
            quorum: self.quorum.unwrap_or(d.quorum),
            hysteresis: self.hysteresis.unwrap_or(d.hysteresis),
        };
        let sorry_options = ["sorry-server", "sorry-gatewaying", "sorry-inhibit"];
        let Some(first) = self.seen.iter().find(|o| sorry_options.contains(o)) else {
            return Ok((None, quorum));
        };
        let Some((addr, port)) = self.server else {
            return Err(usage(format!(
                "the '{first}' option needs the 'sorry-server' option"
            )));
        };
        let sorry = SorryOpts {
            addr,
            port,
            forward: if self.gatewaying {
                Forward::Route
            } else {
                Forward::Masq
            },
            inhibit: self.inhibit,
        };
        Ok((Some(sorry), quorum))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::super::Config;
    use super::super::super::format::format_save;
    use super::super::{AdmCommand, apply, parse, restore};
    use super::*;

    /// A file of `tests/data/tls/`.
    fn tls_file(name: &str) -> String {
        format!("{}/tests/data/tls/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    fn argv(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn check_of(line: &str) -> Result<Option<HealthCheck>, AdmError> {
        match parse(&argv(line))? {
            AdmCommand::AddService { opts, .. } | AdmCommand::EditService { opts, .. } => {
                Ok(opts.check)
            }
            other => panic!("{line}: {other:?}"),
        }
    }

    /// `--check-cert` and `--check-key`: read when the rule is given, kept
    /// with the check, written by `-S` and read back the same.
    #[test]
    fn a_client_certificate_is_read_saved_and_restored() {
        let (cert, key) = (tls_file("client.crt"), tls_file("client.key"));
        let line = format!(
            "-A -t 198.18.0.110:443 -s rr --check https --check-cert {cert} --check-key {key}"
        );
        let c = check_of(&line).unwrap().unwrap();
        let CheckKind::Http(h) = &c.kind else {
            panic!("{c:?}")
        };
        let client = h.client.as_ref().unwrap();
        assert_eq!(
            (client.cert.as_str(), client.key.as_str()),
            (&cert[..], &key[..])
        );
        assert!(client.resolver().is_some(), "the key is read");
        let mut cfg = Config::new();
        apply(&mut cfg, &parse(&argv(&line)).unwrap()).unwrap();
        let saved = format_save(&cfg, true, &Names::none());
        assert!(
            saved.contains(&format!(
                "--check https --check-path / --check-status 200 --check-cert {cert} --check-key {key} --delay-loop"
            )),
            "{saved}"
        );
        let mut back = Config::new();
        restore(&mut back, &saved, &Names::none(), &mut |_, _, _| {}).unwrap();
        assert_eq!(format_save(&back, true, &Names::none()), saved);
        assert_eq!(back.services()[0].check, cfg.services()[0].check);
        // A path with a blank is quoted, and read back.
        let spaced = std::env::temp_dir().join(format!("ringvs cert {}.pem", std::process::id()));
        std::fs::copy(&cert, &spaced).unwrap();
        let spaced = spaced.to_string_lossy().into_owned();
        let mut words = argv("-A -t 198.18.0.110:443 -s rr --check https --check-key");
        words.extend([key.clone(), "--check-cert".into(), spaced.clone()]);
        let mut cfg = Config::new();
        let r = parse(&words).and_then(|c| apply(&mut cfg, &c));
        let saved = format_save(&cfg, true, &Names::none());
        let mut back = Config::new();
        let restored = restore(&mut back, &saved, &Names::none(), &mut |_, _, _| {});
        let _ = std::fs::remove_file(&spaced);
        r.unwrap();
        restored.unwrap();
        assert!(
            saved.contains(&format!("--check-cert \"{spaced}\"")),
            "{saved}"
        );
        assert_eq!(back.services()[0].check, cfg.services()[0].check);
    }

    #[test]
    fn client_certificate_errors_name_the_option_and_file() {
        let (cert, key) = (tls_file("client.crt"), tls_file("client.key"));
        let svc = "-A -t 198.18.0.110:443 -s rr";
        let missing = tls_file("missing.pem");
        let enc = tls_file("client_encrypted.key");
        let other = format!(
            "{}/tests/data/dr/https_test.key",
            env!("CARGO_MANIFEST_DIR")
        );
        for (opts, want) in [
            (
                format!("--check http --check-cert {cert} --check-key {key}"),
                "check-cert and check-key need --check https".to_string(),
            ),
            (
                format!("--check https --check-cert {cert}"),
                "check-cert needs check-key (its private key)".into(),
            ),
            (
                format!("--check https --check-key {key}"),
                "check-key needs check-cert (its certificate)".into(),
            ),
            (
                "--check https --check-cert client.crt --check-key /k".into(),
                "illegal check-cert specified (an absolute path)".into(),
            ),
            (
                format!("--check https --check-cert {cert} --check-key {key} --check-key {key}"),
                "multiple 'check-key' options specified".into(),
            ),
            (
                format!("--check https --check-cert {missing} --check-key {key}"),
                format!("check-cert {missing}: No such file or directory (os error 2)"),
            ),
            (
                format!("--check https --check-cert {key} --check-key {key}"),
                format!("check-cert {key}: no certificate in it (PEM CERTIFICATE)"),
            ),
            (
                format!("--check https --check-cert {cert} --check-key {other}"),
                format!("check-key {other}: not the key of the certificate in {cert}"),
            ),
        ] {
            let e = check_of(&format!("{svc} {opts}")).unwrap_err();
            assert_eq!((e.to_string(), e.exit_code()), (want, 2), "{opts}");
        }
        let e = check_of(&format!(
            "{svc} --check https --check-cert {cert} --check-key {enc}"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(&format!("check-key {enc}: an encrypted private key")),
            "{e}"
        );
    }
}
