//! keepalived's `HTTP_GET` and `SSL_GET` settings (`check_http.c`): its
//! `url`s (each a path, the status codes that pass, an MD5 digest of the
//! body, a `virtualhost`), over TLS for `SSL_GET`, with `enable_sni`, in
//! the HTTP version of its `http_protocol`.

use super::tls::ClientCert;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// keepalived's status codes (`HTTP_STATUS_CODE_MIN`, `..._MAX`).
pub const STATUS_MIN: u16 = 100;
pub const STATUS_MAX: u16 = 599;
/// Bytes of an MD5 digest.
pub const DIGEST_LEN: usize = 16;
/// Longest `virtualhost` (a DNS name, RFC 1035 section 2.3.4, with a port).
pub const MAX_VHOST: usize = 259;

/// What an `HTTP_GET` or `SSL_GET` asks of a real server.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HttpCheck {
    /// `SSL_GET`: the request goes over TLS.
    #[serde(default)]
    pub tls: bool,
    /// The path to get (`url { path }`).
    pub path: String,
    /// The status codes that pass, as ranges `lo..=hi` in order and apart
    /// (`status_code`).
    pub status: Vec<(u16, u16)>,
    /// `url { digest }`: the MD5 of the answer's body must be this.
    #[serde(default)]
    pub digest: Option<[u8; DIGEST_LEN]>,
    /// `virtualhost`: the `Host` header (else the server's address and port).
    #[serde(default)]
    pub vhost: Option<String>,
    /// `enable_sni`: the TLS handshake names `vhost` (Server Name Indication).
    #[serde(default)]
    pub sni: bool,
    /// The urls after the first, checked in turn after it: the check passes
    /// when every one does (keepalived's `http_handle_response` goes on to
    /// the next url after each that passes).
    #[serde(default)]
    pub more: Vec<HttpUrl>,
    /// `SSL_GET`: the client certificate presented when the server asks
    /// for one (`--check-cert`, `--check-key`; keepalived's `SSL` block).
    #[serde(default)]
    pub client: Option<ClientCert>,
    /// `http_protocol` (`--check-http-protocol`): the request's HTTP
    /// version and `Connection` header, for every url.
    #[serde(default)]
    pub proto: HttpProtocol,
}

/// keepalived's `http_protocol` (`check_http.h` `http_protocol_t`), an
/// `HTTP_GET`'s or `SSL_GET`'s and `genhash -P`'s: the request's version
/// and whether it says `Connection: close` (`check_http.c`
/// `http_request_thread`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HttpProtocol {
    /// `1.0`: `HTTP/1.0`, no `Connection` header (keepalived's default).
    #[serde(rename = "1.0")]
    V10,
    /// `1.0C` (or `1.0c`): `HTTP/1.0` with `Connection: close`, ringvs's
    /// default (a deliberate difference, `docs/health.md`).
    #[default]
    #[serde(rename = "1.0C")]
    V10Close,
    /// `1.1`: `HTTP/1.1` with `Connection: close`.
    #[serde(rename = "1.1")]
    V11,
}

impl HttpProtocol {
    /// The version as `--check-http-protocol`, `http_protocol` and
    /// `genhash -P` spell it: `1.0`, `1.0C`, `1.0c`, `1.1` (keepalived's
    /// `http_protocol_handler` `strcmp`s); not the keep-alive forms (`1.0K`,
    /// `1.1K`) keepalived's `genhash -P` also takes, for tests.
    pub fn parse(v: &str) -> Option<Self> {
        match v {
            "1.0" => Some(Self::V10),
            "1.0C" | "1.0c" => Some(Self::V10Close),
            "1.1" => Some(Self::V11),
            _ => None,
        }
    }

    /// Its name as `-S` writes it (and [`HttpProtocol::parse`] reads).
    pub fn name(self) -> &'static str {
        match self {
            Self::V10 => "1.0",
            Self::V10Close => "1.0C",
            Self::V11 => "1.1",
        }
    }

    /// The request line's version (`1.0`, `1.1`) and whether the request
    /// says `Connection: close`, as `http_request_thread` fills
    /// `request_template`.
    pub fn request(self) -> (&'static str, bool) {
        match self {
            Self::V10 => ("1.0", false),
            Self::V10Close => ("1.0", true),
            Self::V11 => ("1.1", true),
        }
    }
}

/// A url of an `HTTP_GET` or `SSL_GET` after its first (the same `Host`
/// and TLS as the first).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HttpUrl {
    pub path: String,
    pub status: Vec<(u16, u16)>,
    #[serde(default)]
    pub digest: Option<[u8; DIGEST_LEN]>,
}

impl HttpCheck {
    /// `GET path`, answered with status `status`, over plain HTTP.
    pub fn get(path: &str, status: u16) -> Self {
        HttpCheck {
            tls: false,
            path: path.to_string(),
            status: vec![(status, status)],
            digest: None,
            vhost: None,
            sni: false,
            more: Vec::new(),
            client: None,
            proto: HttpProtocol::default(),
        }
    }

    /// How many urls it checks.
    pub fn urls(&self) -> usize {
        1 + self.more.len()
    }

    /// The check of its url `i` alone (`None` past the last).
    pub fn url(&self, i: usize) -> Option<HttpCheck> {
        let first = || HttpCheck {
            more: Vec::new(),
            ..self.clone()
        };
        match i.checked_sub(1) {
            None => Some(first()),
            Some(k) => self.more.get(k).map(|u| HttpCheck {
                path: u.path.clone(),
                status: u.status.clone(),
                digest: u.digest,
                ..first()
            }),
        }
    }

    /// Whether status `code` passes.
    pub fn passes(&self, code: u16) -> bool {
        self.status
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

/// A list of status codes and ranges, `200`, `200-299`, `200,301-302` (the
/// values of keepalived's `status_code`, `check_http.c`
/// `status_code_handler`, joined by commas), as sorted, merged ranges;
/// `None` if a code is outside 100..=599 or a range runs backwards.
pub fn parse_status(s: &str) -> Option<Vec<(u16, u16)>> {
    let mut v = Vec::new();
    for part in s.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let (lo, hi): (u16, u16) = (lo.parse().ok()?, hi.parse().ok()?);
        if lo < STATUS_MIN || hi > STATUS_MAX || lo > hi {
            return None;
        }
        v.push((lo, hi));
    }
    Some(merge(v))
}

/// `ranges` sorted, with those that touch or overlap made one.
pub fn merge(mut ranges: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    ranges.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Ranges as [`parse_status`] reads them back.
pub fn status_list(ranges: &[(u16, u16)]) -> String {
    let mut out = String::new();
    for (i, &(lo, hi)) in ranges.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = if lo == hi {
            write!(out, "{lo}")
        } else {
            write!(out, "{lo}-{hi}")
        };
    }
    out
}

/// A digest of 32 hex digits (`digest_handler`: exactly that many).
pub fn parse_digest(s: &str) -> Option<[u8; DIGEST_LEN]> {
    let b = s.as_bytes();
    // Digits only: `from_str_radix` would take a sign.
    if b.len() != 2 * DIGEST_LEN || !b.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; DIGEST_LEN];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// A digest as keepalived's `format_digest` writes it: lowercase hex.
pub fn digest_hex(d: &[u8; DIGEST_LEN]) -> String {
    super::hex(d, &[])
}

/// Whether `p` can be a check's path (`--check-path`, a url's `path`,
/// `genhash -u`): it starts with `/`, has no blank, and is at most
/// `MAX_CHECK_PATH` bytes.
pub fn valid_path(p: &str) -> bool {
    p.starts_with('/')
        && p.len() <= super::ipvsadm::MAX_CHECK_PATH
        && p.bytes().all(|b| b.is_ascii_graphic())
}

/// Whether `v` can go in a `Host` header and a TLS server name: printable,
/// without blanks, `/` or `@`, at most [`MAX_VHOST`] bytes.
pub fn valid_vhost(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_VHOST
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'@')
}

/// The name SNI sends for the virtual host `v`: its host without a port,
/// if that is a DNS name (RFC 6066 section 3 allows no address literal, and
/// rustls sends none for one); `None` for `198.18.0.1`, `[2001:2::1]:443`,
/// `*.example`.
pub fn sni_name(v: &str) -> Option<&str> {
    let host = match v.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        Some(_) => return None,
        None => v,
    };
    // rustls's own rule, so that what is accepted here is what it sends
    // (it takes no label that starts or ends with '-', no numeric last label).
    rustls::pki_types::DnsName::try_from(host)
        .is_ok()
        .then_some(host)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn status_lists_as_status_code_reads_them() {
        assert_eq!(parse_status("200"), Some(vec![(200, 200)]));
        assert_eq!(parse_status("200-299"), Some(vec![(200, 299)]));
        assert_eq!(
            parse_status("302,200-204,205,404"),
            Some(vec![(200, 205), (302, 302), (404, 404)]),
            "sorted, touching ranges merged"
        );
        assert_eq!(parse_status("200-299,250-399"), Some(vec![(200, 399)]));
        for bad in [
            "", "99", "600", "299-200", "2xx", "200,", "200--300", "-200",
        ] {
            assert_eq!(parse_status(bad), None, "{bad}");
        }
        for s in ["200", "200-299", "200,302,404-410"] {
            assert_eq!(status_list(&parse_status(s).unwrap()), s, "round trip");
        }
        let c = HttpCheck {
            status: parse_status("200,301-302").unwrap(),
            ..HttpCheck::get("/", 200)
        };
        assert!(c.passes(200) && c.passes(301) && c.passes(302));
        assert!(!c.passes(201) && !c.passes(300) && !c.passes(303));
    }

    #[test]
    fn digests_of_32_hex_digits() {
        let d = parse_digest("9e107d9d372bb6826bd81d3542a419d6").unwrap();
        assert_eq!(d[0], 0x9e);
        assert_eq!(d[15], 0xd6);
        assert_eq!(digest_hex(&d), "9e107d9d372bb6826bd81d3542a419d6");
        assert_eq!(
            parse_digest("9E107D9D372BB6826BD81D3542A419D6"),
            Some(d),
            "either case"
        );
        for bad in [
            "",
            "9e107d9d372bb6826bd81d3542a419d",
            "9e107d9d372bb6826bd81d3542a419d6a",
            "9e107d9d372bb6826bd81d3542a419dg",
            "+e107d9d372bb6826bd81d3542a419d6",
        ] {
            assert_eq!(parse_digest(bad), None, "{bad}");
        }
    }

    #[test]
    fn sni_names_are_dns_names_without_a_port() {
        assert_eq!(sni_name("www.example"), Some("www.example"));
        assert_eq!(sni_name("www.example:8443"), Some("www.example"));
        assert_eq!(sni_name("www.example."), Some("www.example."));
        for none in [
            "198.18.0.1",
            "198.18.0.1:443",
            "[2001:2::1]:443",
            "2001:2::1",
            "*.example",
            "a..b",
            ":443",
            "1.2.3",
            "123",
            "-a.example",
            "a-.example",
        ] {
            assert_eq!(sni_name(none), None, "{none}");
        }
    }

    #[test]
    fn virtual_hosts() {
        for good in ["www.example.com", "example.com:8443", "a"] {
            assert!(valid_vhost(good), "{good}");
        }
        let long = "a".repeat(MAX_VHOST + 1);
        for bad in ["", "a b", "a/b", "u@h", long.as_str()] {
            assert!(!valid_vhost(bad), "{bad}");
        }
    }
}
