//! `ringvs genhash`: keepalived's `genhash`, the MD5 of a real server's
//! answer body that `--check-digest` (keepalived's `digest`) compares with,
//! got as the check gets it (`health::genhash`), but through this host's
//! own network stack.
//!
//! keepalived's genhash (`check_genhash.c`) has no client certificate
//! option; `--cert` and `--key` (also spelt `--check-cert`, `--check-key`)
//! present one, as an `https` check's `--check-cert` and `--check-key` do,
//! read by the same code (`config::tls`).

use clap::Args;
use ringvs::config::{
    HttpCheck, digest_hex, load_client_cert_named, sni_name, valid_path, valid_vhost,
};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

/// `ringvs genhash`, with keepalived's genhash options.
#[derive(Args)]
pub struct GenhashArgs {
    /// The real server's address.
    #[arg(short = 's', long = "server")]
    pub server: IpAddr,
    /// Its port (default 80, 443 with --use-ssl).
    #[arg(short = 'p', long)]
    pub port: Option<u16>,
    /// The path to get, as --check-path.
    #[arg(short = 'u', long)]
    pub url: String,
    /// Over TLS, as --check https.
    #[arg(short = 'S', long = "use-ssl")]
    pub ssl: bool,
    /// The Host header, as --check-virtualhost.
    #[arg(short = 'V', long = "use-virtualhost")]
    pub vhost: Option<String>,
    /// Name the virtual host in the TLS handshake, as --check-sni.
    #[arg(long)]
    pub sni: bool,
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
        eprintln!("ringvs genhash: {e}");
        ExitCode::FAILURE
    };
    let c = match check(&a) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let port = a.port.unwrap_or(if a.ssl { 443 } else { 80 });
    let timeout = std::time::Duration::from_secs(a.timeout.max(1));
    match ringvs::health::genhash(&c, SocketAddr::new(a.server, port), timeout) {
        Ok(h) => {
            if a.verbose {
                eprint!("{}", String::from_utf8_lossy(&h.head));
            }
            if !(200..300).contains(&h.status) {
                eprintln!("ringvs genhash: note: HTTP status {}", h.status);
            }
            println!("{}", digest_hex(&h.md5));
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
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
        return Err("--sni needs --use-virtualhost with a host name".into());
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

    /// `--cert` and `--key` (or `--check-cert`, `--check-key`) give the
    /// check the client certificate the files hold, read as `--check-cert`
    /// reads them (`health::http`'s tests show it presented to a server
    /// that requires one).
    #[test]
    fn cert_and_key_give_the_check_its_client_certificate() {
        let (cert, key) = (data("client.crt"), data("client.key"));
        let want = ringvs::config::load_client_cert(&cert, &key).unwrap();
        for (c, k) in [("--cert", "--key"), ("--check-cert", "--check-key")] {
            let a = args(&format!("-s 198.19.0.2 -u / -S {c} {cert} {k} {key}"));
            let got = check(&a).unwrap();
            assert!(got.tls);
            assert_eq!(got.client.as_ref(), Some(&want), "{c} {k}");
        }
        let got = check(&args("-s 198.19.0.2 -u / -S")).unwrap();
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
            let line = format!("-s 198.19.0.2 -u / -t 1 {opts}");
            let e = check(&args(&line)).unwrap_err();
            assert!(e.starts_with(&want), "{line}: {e}");
            assert_eq!(run(args(&line)), ExitCode::FAILURE, "{line}");
        }
    }
}
