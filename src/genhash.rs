//! `ringvs genhash`: keepalived's `genhash`, the MD5 of a real server's
//! answer body that `--check-digest` (keepalived's `digest`) compares with,
//! got as the check gets it (`health::genhash`), but through this host's
//! own network stack.
//!
//! Its options are keepalived's (`check_genhash.c`
//! `check_genhash_parse_cmdline`), `-s`, `-p` and `-u` required as there:
//! `-I`/`--use-sni` (ringvs's older
//! `--sni` kept as an alias), `-P`/`--protocol` (`1.0`, `1.0C`/`1.0c`,
//! `1.1`: the request of `health::HttpProtocol`) and `-m`/`--fwmark`
//! (`SO_MARK`). Without `-P` the request is the check's own (`1.0C`), so
//! that the digest is of what the check gets; keepalived's default is
//! `1.0` (a deliberate difference, `docs/health.md`).
//!
//! keepalived's genhash (`check_genhash.c`) has no client certificate
//! option; `--cert` and `--key` (also spelt `--check-cert`, `--check-key`)
//! present one, as an `https` check's `--check-cert` and `--check-key` do,
//! read by the same code (`config::tls`).

use clap::Args;
use ringvs::config::{
    HttpCheck, digest_hex, load_client_cert_named, sni_name, valid_path, valid_vhost,
};
use ringvs::health::{GenhashOpts, HttpProtocol};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

/// `ringvs genhash`, with keepalived's genhash options.
#[derive(Args)]
pub struct GenhashArgs {
    /// The real server's address.
    #[arg(short = 's', long = "server")]
    pub server: IpAddr,
    /// Its port (1-65535), required as by keepalived's genhash.
    #[arg(short = 'p', long, value_parser = port, allow_hyphen_values = true)]
    pub port: u16,
    /// The path to get, as --check-path.
    #[arg(short = 'u', long)]
    pub url: String,
    /// Over TLS, as --check https.
    #[arg(short = 'S', long = "use-ssl")]
    pub ssl: bool,
    /// The Host header, as --check-virtualhost.
    #[arg(short = 'V', long = "use-virtualhost")]
    pub vhost: Option<String>,
    /// Name the virtual host in the TLS handshake, as --check-sni
    /// (keepalived's -I/--use-sni; --sni is ringvs's older spelling).
    #[arg(short = 'I', long = "use-sni", alias = "sni")]
    pub sni: bool,
    /// The request's HTTP version: 1.0, 1.0C (1.0c: 1.0 with `Connection:
    /// close`, the check's request, the default) or 1.1.
    #[arg(short = 'P', long = "protocol", value_name = "VERSION", value_parser = protocol)]
    pub protocol: Option<HttpProtocol>,
    /// Mark the connection's packets with this firewall mark (SO_MARK).
    #[arg(short = 'm', long = "fwmark", value_name = "MARK", value_parser = fwmark, allow_hyphen_values = true)]
    pub fwmark: Option<u32>,
    /// With --use-ssl: the client certificate presented to a server that
    /// asks for one (a PEM chain, the client's first), as --check-cert.
    #[arg(long, visible_alias = "check-cert", value_name = "FILE")]
    pub cert: Option<String>,
    /// Its private key (PEM, unencrypted), as --check-key.
    #[arg(long, visible_alias = "check-key", value_name = "FILE")]
    pub key: Option<String>,
    /// Seconds to connect, and for each read and write.
    #[arg(short = 't', long, default_value_t = 5)]
    pub timeout: u64,
    /// Also print the answer's header (on stderr).
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

/// `ringvs genhash`: the digest on stdout, as keepalived's genhash prints it.
pub fn run(a: GenhashArgs) -> ExitCode {
    let fail = |e: String| {
        ringvs::log!("ringvs genhash: {e}");
        ExitCode::FAILURE
    };
    let c = match check(&a) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    match ringvs::health::genhash(&c, SocketAddr::new(a.server, a.port), opts(&a)) {
        Ok(h) => {
            if a.verbose {
                use std::io::Write as _;
                let head = String::from_utf8_lossy(&h.head);
                let _ = std::io::stderr().lock().write_all(head.as_bytes());
            }
            if !(200..300).contains(&h.status) {
                ringvs::log!("ringvs genhash: note: HTTP status {}", h.status);
            }
            if !crate::out(&format!("{}\n", digest_hex(&h.md5))) {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// How `a` connects: without `-m`, no mark.
fn opts(a: &GenhashArgs) -> GenhashOpts {
    GenhashOpts {
        timeout: std::time::Duration::from_secs(a.timeout.max(1)),
        mark: a.fwmark.unwrap_or(0),
    }
}

/// `-P`'s value, as keepalived's genhash takes it (`check_genhash.c`
/// `check_genhash_parse_cmdline`), with its message for another.
fn protocol(v: &str) -> Result<HttpProtocol, String> {
    HttpProtocol::parse(v)
        .ok_or_else(|| format!("invalid HTTP protocol version '{v}' (1.0, 1.0C or 1.1)"))
}

/// `-p`'s value: a decimal port in 1..65535, blanks and a `+` before it
/// allowed, as keepalived's genhash reads it (`check_genhash.c`
/// `check_genhash_parse_cmdline`, `strtol`), with its message for another.
fn port(v: &str) -> Result<u16, String> {
    let d = v.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    match d.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("invalid port number '{v}' (1..65535)")),
    }
}

/// `-m`'s value: a decimal mark, blanks before it allowed. keepalived's
/// genhash reads it with `strtoul`, which would also take a `+`, an empty
/// value (as 0) and a number past 2^32 - 1 (cut): refused here, a
/// deliberate difference (`docs/health.md`).
fn fwmark(v: &str) -> Result<u32, String> {
    let d = v.trim_start_matches([' ', '\t']);
    match d.parse::<u32>() {
        Ok(m) if !d.starts_with('+') => Ok(m),
        _ => Err(format!("invalid fwmark '{v}' (0..4294967295)")),
    }
}

/// The check `a` asks for, its client certificate read: an error (before
/// any connection) for a bad path, host name or file.
fn check(a: &GenhashArgs) -> Result<HttpCheck, String> {
    if !valid_path(&a.url) {
        return Err(format!(
            "url {}: a path that starts with '/', without blanks",
            a.url
        ));
    }
    if let Some(v) = a.vhost.as_deref().filter(|v| !valid_vhost(v)) {
        return Err(format!("virtualhost {v}: not a host name"));
    }
    if a.sni && a.vhost.as_deref().and_then(sni_name).is_none() {
        return Err("--use-sni needs --use-virtualhost with a host name".into());
    }
    let client = match (&a.cert, &a.key) {
        (None, None) => None,
        _ if !a.ssl => return Err("--cert and --key need --use-ssl".into()),
        (Some(cert), Some(key)) => Some(load_client_cert_named(cert, key, ("--cert", "--key"))?),
        (Some(_), None) => return Err("--cert needs --key (its private key)".into()),
        (None, Some(_)) => return Err("--key needs --cert (its certificate)".into()),
    };
    Ok(HttpCheck {
        tls: a.ssl,
        vhost: a.vhost.clone(),
        sni: a.sni,
        client,
        // Without `-P`, the check's own default request (1.0C), so that
        // the digest is of what the check gets.
        proto: a.protocol.unwrap_or_default(),
        ..HttpCheck::get(&a.url, 200)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: GenhashArgs,
    }

    fn args(line: &str) -> GenhashArgs {
        let argv = std::iter::once("genhash").chain(line.split_whitespace());
        Cli::try_parse_from(argv).unwrap().a
    }

    fn data(rel: &str) -> String {
        format!("{}/tests/data/tls/{rel}", env!("CARGO_MANIFEST_DIR"))
    }

    /// keepalived's genhash command lines (`check_genhash.c`'s options,
    /// short and long) parse to the same request: `-I`/`--use-sni` (and
    /// ringvs's older `--sni`), `-P`/`--protocol`, `-m`/`--fwmark`.
    #[test]
    fn keepalived_genhash_command_lines_parse() {
        let v = HttpProtocol::V11;
        for line in [
            "-S -s 198.18.0.2 -p 443 -u /path -V www.example -I -P 1.1 -m 7 -t 3",
            "--use-ssl --server 198.18.0.2 --port 443 --url /path --use-virtualhost www.example \
             --use-sni --protocol 1.1 --fwmark 7 --timeout 3",
            "-S -s 198.18.0.2 -p 443 -u /path -V www.example --sni --protocol=1.1 --fwmark=7 -t3",
        ] {
            let a = args(line);
            assert_eq!(a.server, IpAddr::from([198, 18, 0, 2]), "{line}");
            assert_eq!((a.port, a.url.as_str()), (443, "/path"), "{line}");
            let c = check(&a).unwrap();
            assert!(c.tls && c.sni, "{line}");
            assert_eq!(c.vhost.as_deref(), Some("www.example"), "{line}");
            let o = opts(&a);
            assert_eq!((c.proto, o.mark), (v, 7), "{line}");
            assert_eq!(o.timeout, std::time::Duration::from_secs(3), "{line}");
        }
        // Without -P the check's own request; without -m no mark.
        let a = args("-s 198.18.0.2 -p 80 -u /");
        assert_eq!(
            (check(&a).unwrap().proto, opts(&a).mark),
            (HttpProtocol::V10Close, 0)
        );
        for (p, want) in [
            ("1.0", HttpProtocol::V10),
            ("1.0C", HttpProtocol::V10Close),
            ("1.0c", HttpProtocol::V10Close),
            ("1.1", HttpProtocol::V11),
        ] {
            let c = check(&args(&format!("-s 198.18.0.2 -p 80 -u / -P {p}"))).unwrap();
            assert_eq!(c.proto, want, "{p}");
        }
        assert_eq!(
            opts(&args("-s 198.18.0.2 -p 80 -u / -m 4294967295")).mark,
            u32::MAX
        );
        let blank = [
            "genhash",
            "-s",
            "198.18.0.2",
            "-p",
            "80",
            "-u",
            "/",
            "-m",
            " \t5",
        ];
        assert_eq!(opts(&Cli::try_parse_from(blank).unwrap().a).mark, 5);
    }

    /// `-p` is required, as keepalived's genhash requires server, port and
    /// url (`check_genhash.c` `check_genhash_parse_cmdline`): without it,
    /// or with a port outside 1..65535, a usage error (exit 2) naming it;
    /// blanks and a `+` before the number are taken, as `strtol` takes them.
    #[test]
    fn port_is_required_and_checked() {
        use clap::error::ErrorKind;
        let parse = |argv: &[&str]| {
            let argv = std::iter::once("genhash").chain(argv.iter().copied());
            Cli::try_parse_from(argv).map(|c| c.a.port)
        };
        let e = parse(&["-s", "198.18.0.2", "-u", "/"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument);
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--port <PORT>"), "{e}");
        let e = parse(&["-S", "-s", "198.18.0.2", "-u", "/"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument, "not 443");
        for p in ["0", "65536", "-1", "x", "", "0x50", "80 "] {
            let e = parse(&["-s", "198.18.0.2", "-u", "/", "-p", p]).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{p:?}");
            let want = format!("invalid port number '{p}'");
            assert!(e.to_string().contains(&want), "{p:?}: {e}");
        }
        for (p, want) in [
            ("1", 1),
            ("65535", 65535),
            (" \t8080", 8080),
            ("+81", 81),
            ("080", 80),
        ] {
            let got = parse(&["-s", "198.18.0.2", "-u", "/", "--port", p]);
            assert_eq!(got.ok(), Some(want), "{p:?}");
        }
    }

    /// A version keepalived's genhash does not know, a mark that is not a
    /// 32-bit number, or `-I` without a host name: refused, naming it.
    #[test]
    fn bad_protocol_fwmark_or_sni_options_are_refused() {
        let parse = |line: &str| {
            let argv = std::iter::once("genhash").chain(line.split_whitespace());
            Cli::try_parse_from(argv).err().map(|e| e.to_string())
        };
        for (opt, want) in [
            ("-P 2", "invalid HTTP protocol version '2'"),
            ("-P 1.1C", "invalid HTTP protocol version '1.1C'"),
            ("--protocol 1.0K", "invalid HTTP protocol version '1.0K'"),
            ("-m -1", "invalid fwmark '-1'"),
            ("-m +1", "invalid fwmark '+1'"),
            ("-m 0x10", "invalid fwmark '0x10'"),
            ("-m 4294967296", "invalid fwmark '4294967296'"),
            ("--fwmark x", "invalid fwmark 'x'"),
        ] {
            let e = parse(&format!("-s 198.18.0.2 -p 80 -u / {opt}"));
            assert!(
                e.as_deref().is_some_and(|e| e.contains(want)),
                "{opt}: {e:?}"
            );
        }
        for line in [
            "-s 198.18.0.2 -p 80 -u / -S -I",
            "-s 198.18.0.2 -p 80 -u / -S -I -V 198.18.0.2",
        ] {
            let e = check(&args(line)).unwrap_err();
            assert_eq!(e, "--use-sni needs --use-virtualhost with a host name");
        }
    }

    /// `--cert` and `--key` (or `--check-cert`, `--check-key`) give the
    /// check the client certificate the files hold, read as `--check-cert`
    /// reads them (`health::http`'s tests show it presented to a server
    /// that requires one).
    #[test]
    fn cert_and_key_give_the_check_its_client_certificate() {
        let (cert, key) = (data("client.crt"), data("client.key"));
        let want = ringvs::config::load_client_cert(&cert, &key).unwrap();
        for (c, k) in [("--cert", "--key"), ("--check-cert", "--check-key")] {
            let a = args(&format!(
                "-s 198.19.0.2 -p 443 -u / -S {c} {cert} {k} {key}"
            ));
            let got = check(&a).unwrap();
            assert!(got.tls);
            assert_eq!(got.client.as_ref(), Some(&want), "{c} {k}");
        }
        let got = check(&args("-s 198.19.0.2 -p 443 -u / -S")).unwrap();
        assert_eq!(got.client, None);
    }

    /// A missing or wrong file, one option without the other, or either
    /// without `--use-ssl`: refused, naming the option and the file, with
    /// a failed exit and before any connection.
    #[test]
    fn bad_cert_or_key_options_are_refused() {
        let (cert, key) = (data("client.crt"), data("client.key"));
        let missing = data("missing.pem");
        let other = format!(
            "{}/tests/data/dr/https_test.key",
            env!("CARGO_MANIFEST_DIR")
        );
        let cases = [
            (
                format!("-S --cert {missing} --key {key}"),
                format!("--cert {missing}: No such file"),
            ),
            (
                format!("-S --cert {cert} --key {missing}"),
                format!("--key {missing}: No such file"),
            ),
            (
                format!("-S --cert {key} --key {key}"),
                format!("--cert {key}: no certificate in it"),
            ),
            (
                format!("-S --cert {cert} --key {cert}"),
                format!("--key {cert}: no private key in it"),
            ),
            (
                format!("-S --cert {cert} --key {other}"),
                format!("--key {other}: not the key of the certificate in {cert}"),
            ),
            (
                format!("-S --cert {cert}"),
                "--cert needs --key (its private key)".into(),
            ),
            (
                format!("-S --key {key}"),
                "--key needs --cert (its certificate)".into(),
            ),
            (
                format!("--cert {cert} --key {key}"),
                "--cert and --key need --use-ssl".into(),
            ),
        ];
        for (opts, want) in cases {
            let line = format!("-s 198.19.0.2 -p 443 -u / -t 1 {opts}");
            let e = check(&args(&line)).unwrap_err();
            assert!(e.starts_with(&want), "{line}: {e}");
            assert_eq!(run(args(&line)), ExitCode::FAILURE, "{line}");
        }
    }
}
