//! The keywords of `HTTP_GET` and `SSL_GET` (`check_http.c`
//! `install_http_ssl_check_keyword`): `virtualhost`, `enable_sni`,
//! `http_protocol` and the `url` blocks with `path`, `status_code`, `digest`
//! and `virtualhost`.
//!
//! As keepalived: a `url` without `path` is ignored (`url_check`), a checker
//! without a url is ignored (`http_get_check_end`), a url without
//! `status_code` passes on 200-299 (`HTTP_DEFAULT_STATUS_CODE_MIN`..`_MAX`),
//! and the `Host` header names the url's `virtualhost`, else the checker's,
//! the real server's, the virtual server's (`http_request_thread`), else
//! the server's address and port. `enable_sni` sends that name, without a
//! port, in the TLS handshake, and nothing without one; keepalived's
//! `ssl_connect` passes over the real server's `virtualhost` there and
//! keeps the port (a deliberate difference, `docs/health.md`). Every url is
//! checked in turn, each over a connection of its own, as keepalived does;
//! the check passes when all of them do. `http_protocol` is the request's
//! HTTP version for every url (`http_protocol_handler`); without it ringvs
//! sends its default 1.0C where keepalived's `alloc_http_get` starts from
//! 1.0 (a deliberate difference, `docs/health.md`).
//! A digest not of 32 hex digits, a status outside 100..599 and an
//! `http_protocol` keepalived does not know are errors here (keepalived
//! logs them and goes on).

use super::super::ipvsadm::MAX_CHECK_PATH;
use super::super::{
    DIGEST_LEN, HttpCheck, HttpProtocol, HttpUrl, merge_status, parse_digest, valid_path,
    valid_vhost,
};
use super::lexer::Stmt;
use super::values::Cx;
use super::{KaError, Pos};

/// keepalived's status codes of a url without `status_code`
/// (`HTTP_DEFAULT_STATUS_CODE_MIN`, `..._MAX`, `check_http.h`).
pub(crate) const DEFAULT_STATUS: (u16, u16) = (200, 299);

/// One `url` block as written.
struct Url {
    pos: Pos,
    path: Option<String>,
    status: Vec<(u16, u16)>,
    digest: Option<[u8; DIGEST_LEN]>,
    vhost: Option<String>,
}

/// The keywords of one `HTTP_GET` or `SSL_GET` block, as read.
pub(crate) struct HttpArgs {
    tls: bool,
    vhost: Option<String>,
    sni: bool,
    /// `http_protocol`, if given.
    proto: Option<HttpProtocol>,
    urls: Vec<Url>,
}

impl HttpArgs {
    pub fn new(tls: bool) -> Self {
        HttpArgs {
            tls,
            vhost: None,
            sni: false,
            proto: None,
            urls: Vec::new(),
        }
    }

    /// Takes `k` if it is one of the checker's HTTP keywords.
    pub fn take(&mut self, cx: &mut Cx<'_>, k: &Stmt) -> Result<bool, KaError> {
        match k.keyword() {
            "virtualhost" => self.vhost = Some(vhost(cx, k)?),
            "enable_sni" => {
                let on = cx.boolean(k)?;
                if self.tls {
                    self.sni = on;
                } else {
                    cx.w.at(&k.pos, "enable_sni (in HTTP_GET): no TLS there, ignored");
                }
            }
            "http_protocol" => {
                let v = cx.value(k)?;
                self.proto = Some(HttpProtocol::parse(v).ok_or_else(|| {
                    KaError::at(&k.pos, format!("http_protocol {v}: not 1.0, 1.0C or 1.1"))
                })?);
            }
            "url" => self.urls.push(url(cx, k)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The check of the urls with a path, in order; `None` (warned about)
    /// when there is none, as keepalived ignores such a checker.
    pub fn check(self, cx: &mut Cx<'_>, pos: &Pos, name: &str) -> Option<HttpCheck> {
        let mut with_path = Vec::new();
        for u in self.urls {
            if u.path.is_some() {
                with_path.push(u);
            } else {
                cx.w.at(&u.pos, "url without path: ignored (as keepalived does)");
            }
        }
        let mut with_path = with_path.into_iter();
        let Some(first) = with_path.next() else {
            cx.w.at(
                pos,
                format!(
                    "{name} without a url path: keepalived ignores such a checker, so does ringvs"
                ),
            );
            return None;
        };
        let status = |s: Vec<(u16, u16)>| {
            if s.is_empty() {
                vec![DEFAULT_STATUS]
            } else {
                merge_status(s)
            }
        };
        let vhost = first.vhost.or(self.vhost.clone());
        let mut more = Vec::new();
        for u in with_path {
            // One `Host` per check here: where a later url's would differ
            // (its own, or the checker's where the first url has its own),
            // it is not sent.
            let own = u.vhost.or_else(|| self.vhost.clone());
            if own != vhost {
                let v = own.as_deref().unwrap_or("(none: the server's)");
                let first = vhost.as_deref().unwrap_or("(none: the server's)");
                cx.w.at(
                    &u.pos,
                    format!(
                        "virtualhost {v} (of a url of {name} after the first): ringvs sends the first url's Host, {first}, for every url"
                    ),
                );
            }
            more.push(HttpUrl {
                path: u.path.unwrap_or_default(),
                status: status(u.status),
                digest: u.digest,
            });
        }
        Some(HttpCheck {
            tls: self.tls,
            path: first.path.unwrap_or_default(),
            status: status(first.status),
            digest: first.digest,
            vhost,
            sni: self.sni,
            more,
            // The `SSL` block's, once the file is read (`ssl.rs`).
            client: None,
            // Without `http_protocol`, ringvs's 1.0C, where keepalived's
            // `alloc_http_get` starts from 1.0 (`docs/health.md`).
            proto: self.proto.unwrap_or_default(),
        })
    }
}

/// A `virtualhost` value.
pub(crate) fn vhost(cx: &mut Cx<'_>, k: &Stmt) -> Result<String, KaError> {
    let v = cx.value(k)?;
    if !valid_vhost(v) {
        return Err(KaError::at(
            &k.pos,
            format!("virtualhost {v}: not a host name (printable, without blanks, '/' or '@')"),
        ));
    }
    Ok(v.to_string())
}

/// A `url` block.
fn url(cx: &mut Cx<'_>, s: &Stmt) -> Result<Url, KaError> {
    let mut u = Url {
        pos: s.pos.clone(),
        path: None,
        status: Vec::new(),
        digest: None,
        vhost: None,
    };
    for k in s.children() {
        match k.keyword() {
            "path" => {
                let p = cx.value(k)?;
                if !valid_path(p) {
                    return Err(KaError::at(
                        &k.pos,
                        format!(
                            "path {p}: ringvs needs a path that starts with '/', without blanks, at most {MAX_CHECK_PATH} bytes"
                        ),
                    ));
                }
                u.path = Some(p.to_string());
            }
            "status_code" => {
                if k.args().is_empty() {
                    return Err(KaError::at(&k.pos, "status_code: a value is missing"));
                }
                for v in k.args() {
                    u.status.push(status_code(v).ok_or_else(|| {
                        KaError::at(&k.pos, format!("status_code {v}: not a status in 100..599"))
                    })?);
                }
            }
            "digest" => {
                let v = cx.value(k)?;
                if u.digest.is_some() {
                    return Err(KaError::at(&k.pos, format!("digest {v}: a duplicate")));
                }
                u.digest = Some(parse_digest(v).ok_or_else(|| {
                    KaError::at(&k.pos, format!("digest {v}: not 32 hex digits (an MD5)"))
                })?);
            }
            "virtualhost" => u.vhost = Some(vhost(cx, k)?),
            // keepalived (`check_http.c`, built with `_WITH_REGEX_CHECK_`)
            // fails the try on a body the regex does not match (or, with
            // `regex_no_match`, does), as its other regex keywords tune:
            // not done here, so say what the check then rests on.
            "regex" | "regex_no_match" | "regex_options" | "regex_stack"
            | "regex_min_offset" | "regex_max_offset" => cx.w.at(
                &k.pos,
                format!(
                    "{} (in url): not supported by ringvs, ignored: the url passes on its status code and digest alone",
                    k.keyword()
                ),
            ),
            _ => cx.unsupported(k, "url"),
        }
    }
    Ok(u)
}

/// `NNN` or `NNN-MMM` within 100..=599 (`check_http.c` `status_code_handler`).
pub(crate) fn status_code(v: &str) -> Option<(u16, u16)> {
    let (lo, hi) = v.split_once('-').unwrap_or((v, v));
    let (lo, hi): (u16, u16) = (lo.parse().ok()?, hi.parse().ok()?);
    ((100..=599).contains(&lo) && (100..=599).contains(&hi) && lo <= hi).then_some((lo, hi))
}
