//! TLS for an endpoint other machines can reach: the user's certificate and key files, or a
//! certificate generated on first use and kept, so that its fingerprint — checked once in the
//! browser against what `sbx web` printed, then remembered there — stays the same.
//!
//! The certificate also says which names the endpoint answers to (`serves_name`): a request
//! naming a host the certificate is not for is refused, as a browser would refuse the page.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::protocol::{Error, WebTls};

/// A certificate (with its key, in `config`) the endpoint serves.
pub struct Tls {
    pub config: Arc<rustls::ServerConfig>,
    /// SHA-256 of the certificate, `AB:CD:…`, as browsers show it.
    pub fingerprint: String,
    /// SHA-256 of its public key, `sha256//BASE64`: what `curl --pinnedpubkey` and
    /// Chromium's `--ignore-certificate-errors-spki-list` take (it survives a renewal that
    /// keeps the key).
    pub pin: String,
    leaf: CertificateDer<'static>,
}

/// Years a generated certificate is valid: it is pinned, not renewed.
const GENERATED_YEARS: i32 = 5;

impl Tls {
    /// Load what `spec` names; a generated certificate lives in `dir` (made on first use).
    pub fn load(spec: &WebTls, dir: &Path, bind: std::net::IpAddr) -> Result<Tls, Error> {
        match spec {
            WebTls::Files { cert, key } => {
                let (cert, key) = (PathBuf::from(cert), PathBuf::from(key));
                Tls::from_files(&cert, &key).map_err(|why| {
                    Error::new(
                        "bad_certificate",
                        why,
                        "give a PEM certificate chain and its PEM private key: sbx web --tls-cert CERT --tls-key KEY, or let sbx make one: sbx web --tls",
                    )
                })
            }
            WebTls::SelfSigned => {
                let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
                if !cert.exists() && !key.exists() {
                    generate(dir, &cert, &key, bind)?;
                }
                Tls::from_files(&cert, &key).map_err(|why| {
                    Error::new(
                        "bad_certificate",
                        format!("the certificate sbx keeps cannot be used: {why}"),
                        format!(
                            "remove {} and {} to make a new one (browsers will ask to trust it again)",
                            cert.display(),
                            key.display()
                        ),
                    )
                })
            }
        }
    }

    fn from_files(cert_path: &Path, key_path: &Path) -> Result<Tls, String> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| format!("cannot read a certificate from {}: {e}", cert_path.display()))?;
        let leaf = certs.first().cloned().ok_or_else(|| format!("{} holds no certificate", cert_path.display()))?;
        let spki = webpki::EndEntityCert::try_from(&leaf)
            .map_err(|e| format!("{} is not a certificate a browser takes: {e}", cert_path.display()))?
            .subject_public_key_info();
        let key = PrivateKeyDer::from_pem_file(key_path)
            .map_err(|e| format!("cannot read a private key from {}: {e}", key_path.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("{} and {} do not go together: {e}", cert_path.display(), key_path.display()))?;
        // HTTP/1.1 only (WebSockets upgrade over it).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let fingerprint = fingerprint(&leaf);
        let pin = {
            use base64::Engine;
            use sha2::Digest;
            format!("sha256//{}", base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(spki.as_ref())))
        };
        Ok(Tls { config: Arc::new(config), fingerprint, pin, leaf })
    }

    /// Whether the certificate is for `name` (a DNS name or an IP address), as a browser
    /// checks it.
    pub fn serves_name(&self, name: &str) -> bool {
        let Ok(server_name) = ServerName::try_from(name) else { return false };
        webpki::EndEntityCert::try_from(&self.leaf)
            .is_ok_and(|cert| cert.verify_is_valid_for_subject_name(&server_name).is_ok())
    }
}

/// `AB:CD:…`: the SHA-256 of a certificate, as browsers' certificate viewers show it.
fn fingerprint(cert: &CertificateDer) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(cert.as_ref());
    digest.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// Make a self-signed certificate for this machine (its hostname, loopback, and the address
/// bound when it is a specific one) and keep it, private, in `dir`.
fn generate(dir: &Path, cert_path: &Path, key_path: &Path, bind: std::net::IpAddr) -> Result<(), Error> {
    let failed = |what: String| {
        Error::new("cannot_make_certificate", what, "or give one: sbx web --tls-cert CERT --tls-key KEY")
    };
    crate::config::paths::ensure_private_dir(dir).map_err(|e| failed(format!("{e:#}")))?;
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    if matches!(ServerName::try_from(host.as_str()), Ok(ServerName::DnsName(_))) && host != "localhost" {
        names.push(host.clone());
    }
    if !bind.is_unspecified() && !bind.is_loopback() {
        names.push(bind.to_string());
    }
    let mut params = rcgen::CertificateParams::new(names).map_err(|e| failed(e.to_string()))?;
    params.distinguished_name.push(rcgen::DnType::CommonName, format!("sbx web on {host}"));
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now.replace_year(now.year() + GENERATED_YEARS).unwrap_or(now + time::Duration::days(365));
    let key = rcgen::KeyPair::generate().map_err(|e| failed(e.to_string()))?;
    let cert = params.self_signed(&key).map_err(|e| failed(e.to_string()))?;
    // The key first: a certificate without its key is refused at the next start, not used.
    let key_pem = zeroize::Zeroizing::new(key.serialize_pem());
    crate::config::paths::write_atomic(key_path, key_pem.as_bytes()).map_err(|e| failed(format!("{e:#}")))?;
    crate::config::paths::write_atomic(cert_path, cert.pem().as_bytes()).map_err(|e| failed(format!("{e:#}")))?;
    tracing::info!("web: made a certificate in {}", dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_generated_certificate_is_kept_private_and_the_same_at_every_start() {
        let dir = tempfile::tempdir().unwrap();
        let web = dir.path().join("web");
        let bind: std::net::IpAddr = "0.0.0.0".parse().unwrap();
        let first = Tls::load(&WebTls::SelfSigned, &web, bind).unwrap();
        let again = Tls::load(&WebTls::SelfSigned, &web, bind).unwrap();
        assert_eq!(first.fingerprint, again.fingerprint, "pinned: the same certificate");
        assert_eq!(first.fingerprint.len(), 32 * 3 - 1);
        for (path, mode) in [(web.clone(), 0o700), (web.join("key.pem"), 0o600), (web.join("cert.pem"), 0o600)] {
            let got = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(got, mode, "{}", path.display());
        }
        assert!(first.serves_name("localhost") && first.serves_name("127.0.0.1") && first.serves_name("::1"));
        assert!(!first.serves_name("evil.example"), "a name it is not for");
        assert!(!first.serves_name("not a name"));
    }

    #[test]
    fn a_kept_certificate_without_its_key_is_refused_with_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let web = dir.path().join("web");
        let bind: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        Tls::load(&WebTls::SelfSigned, &web, bind).unwrap();
        std::fs::remove_file(web.join("key.pem")).unwrap();
        let e = Tls::load(&WebTls::SelfSigned, &web, bind).err().unwrap();
        assert_eq!(e.code, "bad_certificate");
        assert!(e.next.as_deref().is_some_and(|n| n.contains("remove")), "{:?}", e.next);
    }

    #[test]
    fn files_that_are_not_a_certificate_and_its_key_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert, "not pem").unwrap();
        std::fs::write(&key, "not pem").unwrap();
        let spec = |c: &Path, k: &Path| WebTls::Files { cert: c.display().to_string(), key: k.display().to_string() };
        let bind: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let e = Tls::load(&spec(&cert, &key), dir.path(), bind).err().unwrap();
        assert_eq!(e.code, "bad_certificate");
        assert!(e.message.contains("c.pem"), "{}", e.message);
        // A real certificate with another certificate's key.
        let (one, two) = (dir.path().join("one"), dir.path().join("two"));
        Tls::load(&WebTls::SelfSigned, &one, bind).unwrap();
        Tls::load(&WebTls::SelfSigned, &two, bind).unwrap();
        let e = Tls::load(&spec(&one.join("cert.pem"), &two.join("key.pem")), dir.path(), bind).err().unwrap();
        assert!(e.message.contains("do not go together"), "{}", e.message);
        let ok = Tls::load(&spec(&one.join("cert.pem"), &one.join("key.pem")), dir.path(), bind).unwrap();
        assert!(ok.serves_name("localhost"));
    }
}
