//! keepalived's top-level `SSL { password ca certificate key }` block: the
//! client certificate every `SSL_GET` presents (`--check-cert`,
//! `--check-key` on each `--check https` service; `config::tls` reads the
//! files).
//!
//! As keepalived (`check_parser.c` `ssl_handler`, `sslpass_handler`,
//! `sslca_handler`, `sslcert_handler`, `sslkey_handler`; `check_ssl.c`
//! `build_ssl_ctx`; `check_daemon.c` `start_check`):
//! * a second `SSL` block replaces the first, a keyword given again its
//!   earlier value (keepalived logs "already specified - replacing"; a
//!   warning here);
//! * the files are read only when some `SSL_GET` is run (keepalived's
//!   `ssl_required`), in keepalived's order (certificate, key, CA), at
//!   start and at each reload; one that cannot be read, or holds no
//!   certificate, no key or a key that is not the certificate's, stops
//!   keepalived's checker (`stop_check(KEEPALIVED_EXIT_FATAL)`) and is an
//!   error naming the keyword's line here (a reload is then refused, the
//!   rules running kept: keepalived's checker would exit);
//! * `ca` is read and never used: keepalived never asks OpenSSL to verify
//!   the server (no `SSL_CTX_set_verify`), so neither does ringvs;
//! * a `certificate` without a `key` (or the reverse) is read, and no
//!   certificate is sent, as OpenSSL sends none without both (warned).
//!
//! Deliberate differences: an encrypted key is refused, with or without
//! `password` (rustls decrypts no PEM; keepalived decrypts it with the
//! password), so `password` is never used; a relative path is refused
//! (keepalived opens it from its working directory; `-S` writes the paths
//! for another process to read).

use super::super::tls::{self, ClientCert};
use super::super::{CheckKind, Config};
use super::lexer::Stmt;
use super::values::Cx;
use super::{KaError, Pos};

/// One `SSL` block, as read: each file with the line that names it.
#[derive(Debug, Default)]
pub(super) struct Ssl {
    /// Kept to say, when the key is encrypted, that it is not used.
    password: Option<(String, Pos)>,
    ca: Option<(String, Pos)>,
    cert: Option<(String, Pos)>,
    key: Option<(String, Pos)>,
}

/// Reads the `SSL` block `s` into `ssl` (a block before it is replaced).
pub(super) fn block(
    cx: &mut Cx<'_>,
    s: &Stmt,
    ssl: &mut Option<(Ssl, Pos)>,
) -> Result<(), KaError> {
    if let Some((_, first)) = ssl {
        let e = format!("SSL: given again, replaces the block at {first} (as keepalived)");
        cx.w.at(&s.pos, e);
    }
    cx.no_more(s, 0);
    let mut b = Ssl::default();
    for k in s.children() {
        let slot = match k.keyword() {
            "password" => &mut b.password,
            "ca" => &mut b.ca,
            "certificate" => &mut b.cert,
            "key" => &mut b.key,
            _ => {
                cx.unsupported(k, "SSL");
                continue;
            }
        };
        let v = cx.value(k)?;
        if k.keyword() != "password" && !v.starts_with('/') {
            return Err(KaError::at(
                &k.pos,
                format!(
                    "{} {v}: not an absolute path (keepalived opens it from its working directory)",
                    k.keyword()
                ),
            ));
        }
        if let Some((_, at)) = slot {
            let e = format!(
                "{} (in SSL): given again, replaces the one at {at} (as keepalived)",
                k.keyword()
            );
            cx.w.at(&k.pos, e);
        }
        *slot = Some((v.to_string(), k.pos.clone()));
    }
    *ssl = Some((b, s.pos.clone()));
    Ok(())
}

/// Carries out the `SSL` block `ssl` (at `at`) on the rules `cfg`: reads
/// its files if a service has an `SSL_GET` and gives every such check the
/// client certificate.
pub(super) fn apply(
    cx: &mut Cx<'_>,
    ssl: Option<&(Ssl, Pos)>,
    cfg: &mut Config,
) -> Result<(), KaError> {
    let Some((b, at)) = ssl else {
        return Ok(());
    };
    let https = |c: &CheckKind| matches!(c, CheckKind::Http(h) if h.tls);
    let checks: Vec<_> = cfg
        .services()
        .iter()
        .filter_map(|s| Some((s.key, s.check.clone()?)))
        .filter(|(_, c)| https(&c.kind))
        .collect();
    if checks.is_empty() {
        return Ok(());
    }
    let err = |(_, pos): &(String, Pos), kw: &str, e: String| {
        KaError::at(pos, format!("{kw} (in SSL): {e}"))
    };
    let certs = match &b.cert {
        Some(c) => Some(tls::certs(&c.0).map_err(|e| err(c, "certificate", e))?),
        None => None,
    };
    let key = match &b.key {
        Some(k) => Some(tls::key(&k.0).map_err(|e| {
            let e = if b.password.is_some() && e.contains("encrypted") {
                format!("{e} (its password is not used)")
            } else {
                e
            };
            err(k, "key", e)
        })?),
        None => None,
    };
    let client: Option<ClientCert> = match (certs, key, &b.cert, &b.key) {
        (Some(chain), Some(k), Some(c), Some(kp)) => {
            Some(tls::pair(&c.0, chain, &kp.0, k).map_err(|e| err(kp, "key", e))?)
        }
        (Some(_), None, Some(c), _) => {
            let e = "certificate (in SSL): no key, so no client certificate is sent (as OpenSSL sends none)";
            cx.w.at(&c.1, e);
            None
        }
        (None, Some(_), _, Some(k)) => {
            let e = "key (in SSL): no certificate, so no client certificate is sent (as OpenSSL sends none)";
            cx.w.at(&k.1, e);
            None
        }
        _ => None,
    };
    if let Some(c) = &b.ca {
        tls::ca(&c.0).map_err(|e| err(c, "ca", e))?;
    }
    let Some(client) = client else {
        return Ok(());
    };
    for (key, mut check) in checks {
        if let CheckKind::Http(h) = &mut check.kind {
            h.client = Some(client.clone());
        }
        cfg.set_service_check(&key, Some(check))
            .map_err(|e| KaError::at(at, format!("SSL: {e}")))?;
    }
    Ok(())
}
