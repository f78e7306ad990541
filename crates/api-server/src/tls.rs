//! HTTPS with rustls (ring provider, no OpenSSL), and `mt5-gateway tls self-signed`.
//!
//! TLS is what makes a bind beyond loopback acceptable: without it, keys and orders cross the
//! network in the clear. The private key is read once at start and written with mode 0600.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use crate::settings::SettingsError;

/// `[server.tls]`: both files, or neither.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain, the server's certificate first.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS #8, PKCS #1 or SEC1).
    #[serde(default)]
    pub key: Option<PathBuf>,
}

impl TlsSettings {
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.cert.is_some() && self.key.is_some()
    }

    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        for path in [&mut self.cert, &mut self.key].into_iter().flatten() {
            *path = base.join(&*path);
        }
    }

    pub(crate) fn validate(&self) -> Result<(), SettingsError> {
        if self.cert.is_some() != self.key.is_some() {
            return Err(SettingsError::Invalid(
                "server.tls needs both cert and key, or neither".into(),
            ));
        }
        Ok(())
    }
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the certificate {path}: {reason}")]
    Cert { path: PathBuf, reason: String },
    #[error("cannot read the private key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(String),
}

/// The rustls server configuration for `settings`, or `None` when TLS is off.
pub fn server_config(settings: &TlsSettings) -> Result<Option<rustls::ServerConfig>, TlsError> {
    let (Some(cert_path), Some(key_path)) = (&settings.cert, &settings.key) else {
        return Ok(None);
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .and_then(Iterator::collect)
        .map_err(|err| TlsError::Cert { path: cert_path.clone(), reason: err.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::Cert {
            path: cert_path.clone(),
            reason: "no PEM certificate in the file".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|err| TlsError::Key { path: key_path.clone(), reason: err.to_string() })?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| TlsError::Config(err.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|err| TlsError::Config(err.to_string()))?;
    Ok(Some(config))
}

/// Refuses a bind beyond loopback without TLS, unless the operator said otherwise.
pub fn refuse_insecure_remote(server: &crate::settings::ServerSettings) -> anyhow::Result<()> {
    if server.bind.is_loopback() || server.tls.enabled() {
        return Ok(());
    }
    if server.allow_insecure_remote {
        tracing::warn!(
            bind = %server.bind,
            "serving plain HTTP beyond this machine: keys and orders cross the network unencrypted"
        );
        return Ok(());
    }
    anyhow::bail!(
        "refusing to listen on {} without TLS: API keys and orders would cross the network \
         unencrypted. Set server.tls.cert and server.tls.key (`mt5-gateway tls self-signed` \
         writes a pair), bind 127.0.0.1, or set server.allow_insecure_remote = true on a network \
         you trust completely",
        server.bind
    )
}

/// The names a self-signed certificate covers.
const LOCAL_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// `mt5-gateway tls self-signed`: writes `cert.pem` and `key.pem` (mode 0600) into `dir`.
#[allow(clippy::print_stdout, reason = "the command's own output")]
pub fn self_signed(dir: &Path, extra_names: &[String]) -> anyhow::Result<ExitCode> {
    let mut names: Vec<String> = LOCAL_NAMES.iter().map(|name| (*name).to_owned()).collect();
    names.extend(extra_names.iter().cloned());
    let certified = rcgen::generate_simple_self_signed(names.clone())
        .context("cannot generate the certificate")?;

    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    write_private(&key_path, certified.signing_key.serialize_pem().as_bytes())
        .with_context(|| format!("cannot write {}", key_path.display()))?;
    std::fs::write(&cert_path, certified.cert.pem())
        .with_context(|| format!("cannot write {}", cert_path.display()))?;

    println!("certificate for {}: {}", names.join(", "), cert_path.display());
    println!("private key (mode 0600): {}", key_path.display());
    println!("Serve HTTPS with these settings in config/local.toml:");
    println!();
    println!("[server.tls]");
    println!("cert = {:?}", cert_path.display().to_string());
    println!("key = {:?}", key_path.display().to_string());
    Ok(ExitCode::SUCCESS)
}

/// Writes a file only its owner can read, created with that mode so it is never readable by
/// others, even for an instant.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options.open(path)?;
        // An existing file keeps its old mode through `open`; set it explicitly.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(bytes)?;
        file.sync_all()
    }
    #[cfg(not(unix))]
    {
        let mut file = options.open(path)?;
        file.write_all(bytes)?;
        file.sync_all()
    }
}
