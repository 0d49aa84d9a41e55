//! `ringvs genhash`: keepalived's `genhash`, the MD5 of a real server's
//! answer body that `--check-digest` (keepalived's `digest`) compares with,
//! got as the check gets it (`health::genhash`), but through this host's
//! own network stack.

use clap::Args;
use ringvs::config::{HttpCheck, digest_hex, sni_name, valid_path, valid_vhost};
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
    if !valid_path(&a.url) {
        return fail(format!(
            "url {}: a path that starts with '/', without blanks",
            a.url
        ));
    }
    if let Some(v) = a.vhost.as_deref().filter(|v| !valid_vhost(v)) {
        return fail(format!("virtualhost {v}: not a host name"));
    }
    if a.sni && a.vhost.as_deref().and_then(sni_name).is_none() {
        return fail("--sni needs --use-virtualhost with a host name".into());
    }
    let c = HttpCheck {
        tls: a.ssl,
        vhost: a.vhost,
        sni: a.sni,
        ..HttpCheck::get(&a.url, 200)
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
