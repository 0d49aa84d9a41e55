//! The client certificate an `SSL_GET` (`--check https`) presents:
//! `--check-cert` and `--check-key`, keepalived's top-level `SSL {
//! certificate key }` (`check_ssl.c` `build_ssl_ctx`, which loads them
//! into the one OpenSSL context of every `SSL_GET`), and `SSL`'s `ca`.
//!
//! The files are read when the rule is given (`ringvs adm -A`/`-E`, a
//! rules file, keepalived.conf at start and at each reload), never by the
//! health thread: a file that cannot be read, holds no certificate or no
//! key, holds an encrypted key (rustls reads no encrypted PEM) or a key
//! that is not the certificate's refuses the rule, naming the file. What
//! is kept is the key rustls signs with, and a digest of what was read, so
//! that a reload whose files changed under the same names is a change of
//! the check (keepalived builds its context again at each reload).

use md5::{Digest, Md5};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::{self, PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// Largest PEM file read (a certificate chain is a few KiB).
pub const MAX_PEM: u64 = 1 << 20;

/// A client certificate and its key, as given (absolute paths), and as read.
#[derive(Clone, Serialize, Deserialize)]
pub struct ClientCert {
    /// The certificate chain: the client's certificate first, then the
    /// certificates that issued it (as `SSL_CTX_use_certificate_chain_file`).
    pub cert: String,
    /// The private key (the first in the file).
    pub key: String,
    /// What was read (`None` when deserialized: not presented then).
    #[serde(skip)]
    read: Option<Read>,
}

/// The key rustls signs with, and the MD5 of the certificates' and key's
/// DER (a change of the files is a change of the check).
#[derive(Clone)]
struct Read {
    key: Arc<CertifiedKey>,
    sum: [u8; 16],
}

impl ClientCert {
    /// What the TLS client presents when a server asks for a certificate.
    pub fn resolver(&self) -> Option<Arc<dyn ResolvesClientCert>> {
        let r = self.read.as_ref()?;
        Some(Arc::new(SingleCertAndKey::from(r.key.clone())))
    }
}

impl PartialEq for ClientCert {
    fn eq(&self, other: &Self) -> bool {
        let sum = |c: &ClientCert| c.read.as_ref().map(|r| r.sum);
        self.cert == other.cert && self.key == other.key && sum(self) == sum(other)
    }
}

impl Eq for ClientCert {}

impl std::hash::Hash for ClientCert {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.cert.hash(h);
        self.key.hash(h);
    }
}

/// The paths alone: the key stays out of logs.
impl std::fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCert")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("read", &self.read.is_some())
            .finish()
    }
}

/// Reads the regular file at `path`, [`MAX_PEM`] bytes at most; `PATH:
/// why` if it cannot be. It is opened without blocking and refused unless
/// regular, so that a FIFO or a device named by mistake (or in a fuzzed
/// rule) cannot hold the control thread that reads it.
fn read(path: &str) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt;
    let at = |e: std::io::Error| format!("{path}: {e}");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(Path::new(path))
        .map_err(at)?;
    if !f.metadata().map_err(at)?.is_file() {
        return Err(format!("{path}: not a regular file"));
    }
    let mut bytes = Vec::new();
    f.take(MAX_PEM + 1).read_to_end(&mut bytes).map_err(at)?;
    if bytes.len() as u64 > MAX_PEM {
        return Err(format!("{path}: larger than {MAX_PEM} bytes"));
    }
    Ok(bytes)
}

/// The certificates of the PEM file at `path`, in order; an error naming
/// it when it has none.
pub fn certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{path}: not PEM ({e})"))?;
    if certs.is_empty() {
        return Err(format!("{path}: no certificate in it (PEM CERTIFICATE)"));
    }
    Ok(certs)
}

/// Whether PEM text holds an encrypted private key: PKCS #8's `ENCRYPTED
/// PRIVATE KEY`, or OpenSSL's older `Proc-Type: 4,ENCRYPTED` header.
fn encrypted(bytes: &[u8]) -> bool {
    let has = |s: &[u8]| bytes.windows(s.len()).any(|w| w == s);
    has(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || has(b"Proc-Type: 4,ENCRYPTED")
}

/// The first private key of the PEM file at `path` (PKCS #8, PKCS #1 or
/// SEC1, unencrypted); an error naming it otherwise.
pub fn key(path: &str) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = read(path)?;
    if encrypted(&bytes) {
        return Err(format!(
            "{path}: an encrypted private key, which ringvs cannot read (rustls decrypts no \
             PEM): write it out unencrypted (openssl pkey -in KEY -out NEW) to a file only \
             root may read"
        ));
    }
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => format!(
            "{path}: no private key in it (PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
        ),
        e => format!("{path}: not PEM ({e})"),
    })
}

/// The client certificate of the chain `certs` read from `cert` and the key
/// `key` read from `key_path`: an error if rustls cannot sign with the key
/// or it is not the certificate's.
pub fn pair(
    cert: &str,
    certs: Vec<CertificateDer<'static>>,
    key_path: &str,
    key: PrivateKeyDer<'static>,
) -> Result<ClientCert, String> {
    let mut h = Md5::new();
    for c in &certs {
        h.update(c.as_ref());
    }
    h.update(key.secret_der());
    let sum = h.finalize().into();
    // *ring*, as the TLS client (`health::http`).
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let key = CertifiedKey::from_der(certs, key, &provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => {
            format!("{key_path}: not the key of the certificate in {cert}")
        }
        e => format!("{key_path}: a key ringvs cannot sign with ({e})"),
    })?;
    Ok(ClientCert {
        cert: cert.to_string(),
        key: key_path.to_string(),
        read: Some(Read {
            key: Arc::new(key),
            sum,
        }),
    })
}

/// [`certs`], [`key`] and [`pair`] in one.
pub fn load(cert: &str, key_path: &str) -> Result<ClientCert, String> {
    let c = certs(cert)?;
    pair(cert, c, key_path, key(key_path)?)
}

/// [`load`], for files named by options: an error starts with the option
/// that named the file at fault, `opts.0` the certificate's, `opts.1` the
/// key's (a key that is not the certificate's is the key's fault).
pub fn load_named(cert: &str, key_path: &str, opts: (&str, &str)) -> Result<ClientCert, String> {
    let chain = certs(cert).map_err(|e| format!("{} {e}", opts.0))?;
    let k = key(key_path).map_err(|e| format!("{} {e}", opts.1))?;
    pair(cert, chain, key_path, k).map_err(|e| format!("{} {e}", opts.1))
}

/// keepalived's `SSL { ca }`: read as `SSL_CTX_load_verify_locations` reads
/// it (one certificate or CRL at least, else an error naming it), and
/// otherwise unused, as there: keepalived never asks OpenSSL to verify the
/// server (no `SSL_CTX_set_verify`), so neither does ringvs.
pub fn ca(path: &str) -> Result<(), String> {
    let bytes = read(path)?;
    let mut found = false;
    for s in <(SectionKind, Vec<u8>)>::pem_slice_iter(&bytes) {
        let (kind, _) = s.map_err(|e| format!("{path}: not PEM ({e})"))?;
        found |= matches!(kind, SectionKind::Certificate | SectionKind::Crl);
    }
    if !found {
        return Err(format!("{path}: no certificate in it (PEM CERTIFICATE)"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A file of `tests/data/`.
    fn data(rel: &str) -> String {
        format!("{}/tests/data/{rel}", env!("CARGO_MANIFEST_DIR"))
    }

    /// A scratch file holding `text`, removed on drop.
    struct Scratch(String);

    impl Scratch {
        fn new(name: &str, text: &[u8]) -> Self {
            let p = std::env::temp_dir().join(format!("ringvs-tls-{}-{name}", std::process::id()));
            std::fs::write(&p, text).unwrap();
            Scratch(p.to_string_lossy().into_owned())
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn a_certificate_and_its_key_load() {
        let (cert, key) = (data("tls/client.crt"), data("tls/client.key"));
        let c = load(&cert, &key).unwrap();
        assert_eq!((c.cert.as_str(), c.key.as_str()), (&cert[..], &key[..]));
        let r = c.resolver().unwrap();
        assert!(r.has_certs());
        let k = r.resolve(&[], &[]).unwrap();
        assert_eq!(k.cert, certs(&cert).unwrap(), "the chain presented");
        assert_eq!(c, load(&cert, &key).unwrap(), "read twice: equal");
        assert!(!format!("{c:?}").contains("PRIVATE"), "{c:?}");
        // The certificate and key in one file (as many keep them).
        let both = [std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap()].concat();
        let f = Scratch::new("both.pem", &both);
        let one = load(&f.0, &f.0).unwrap();
        assert_eq!(
            one.resolver().unwrap().resolve(&[], &[]).unwrap().cert,
            k.cert
        );
        assert_ne!(one, c, "other paths");
    }

    #[test]
    fn files_that_change_under_the_same_name_make_another_check() {
        let f = Scratch::new("chg.pem", &std::fs::read(data("tls/client.crt")).unwrap());
        let k = Scratch::new("chg.key", &std::fs::read(data("tls/client.key")).unwrap());
        let a = load(&f.0, &k.0).unwrap();
        // The same certificate and key, the chain one longer.
        let chain = [
            std::fs::read(data("tls/client.crt")).unwrap(),
            std::fs::read(data("dr/https_test.crt")).unwrap(),
        ]
        .concat();
        std::fs::write(&f.0, chain).unwrap();
        let b = load(&f.0, &k.0).unwrap();
        assert_ne!(a, b);
        assert_eq!(
            b.resolver().unwrap().resolve(&[], &[]).unwrap().cert.len(),
            2
        );
    }

    #[test]
    fn bad_files_are_refused_naming_them() {
        let (cert, key) = (data("tls/client.crt"), data("tls/client.key"));
        let missing = data("tls/missing.pem");
        let e = load(&missing, &key).unwrap_err();
        assert!(e.starts_with(&format!("{missing}: No such file")), "{e}");
        let e = load(&cert, &missing).unwrap_err();
        assert!(e.starts_with(&format!("{missing}: No such file")), "{e}");
        // A key where the certificate should be, and the reverse.
        let e = load(&key, &key).unwrap_err();
        assert_eq!(e, format!("{key}: no certificate in it (PEM CERTIFICATE)"));
        let e = load(&cert, &cert).unwrap_err();
        assert!(
            e.starts_with(&format!("{cert}: no private key in it")),
            "{e}"
        );
        // Encrypted, either way OpenSSL writes it.
        let enc = data("tls/client_encrypted.key");
        let e = load(&cert, &enc).unwrap_err();
        assert!(
            e.starts_with(&format!("{enc}: an encrypted private key")),
            "{e}"
        );
        let old = Scratch::new(
            "old.key",
            b"-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
              DEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nAAAA\n\
              -----END EC PRIVATE KEY-----\n",
        );
        let e = load(&cert, &old.0).unwrap_err();
        assert!(e.contains("an encrypted private key"), "{e}");
        // Another certificate's key.
        let other = data("dr/https_test.key");
        let e = load(&cert, &other).unwrap_err();
        assert_eq!(
            e,
            format!("{other}: not the key of the certificate in {cert}")
        );
        // Not PEM at all, too long, and a device that never ends.
        let junk = Scratch::new("junk.pem", b"-----BEGIN CERTIFICATE-----\n!!\n");
        assert!(load(&junk.0, &key).unwrap_err().contains("not PEM"));
        let long = Scratch::new("long.pem", &vec![b'a'; MAX_PEM as usize + 1]);
        let e = load(&long.0, &key).unwrap_err();
        assert_eq!(e, format!("{}: larger than {MAX_PEM} bytes", long.0));
        assert_eq!(
            load("/dev/zero", &key).unwrap_err(),
            "/dev/zero: not a regular file"
        );
        // A FIFO would block a reader that waits for a writer: refused at once.
        let fifo = std::env::temp_dir().join(format!("ringvs-tls-{}-fifo", std::process::id()));
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let f = fifo.to_string_lossy().into_owned();
            let e = load(&f, &key).unwrap_err();
            let _ = std::fs::remove_file(&fifo);
            assert_eq!(e, format!("{f}: not a regular file"));
        }
    }

    #[test]
    fn a_ca_file_is_read_as_openssl_reads_it() {
        ca(&data("tls/client.crt")).unwrap();
        let key = data("tls/client.key");
        assert_eq!(
            ca(&key).unwrap_err(),
            format!("{key}: no certificate in it (PEM CERTIFICATE)")
        );
        assert!(
            ca("/nonexistent/ca.pem")
                .unwrap_err()
                .contains("No such file")
        );
    }
}
