//! The rustls configurations of one identity — the CA that signs the
//! cluster, a certificate and its key — read from PEM files, and read again
//! when the files change: a renewed certificate takes effect on the next
//! connection without a restart, and a renewal that does not load keeps
//! the last good one and says why.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tracing::{info, warn};

/// How often the files are looked at for a change.
const RELOAD_EVERY: Duration = Duration::from_secs(5);

pub use crate::config::TlsFiles;

/// Both ends' configurations of one identity.
#[derive(Clone)]
struct Loaded {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

/// The current configurations, swapped when the files change.
#[derive(Clone)]
pub struct Tls {
    files: TlsFiles,
    current: Arc<RwLock<Loaded>>,
}

impl Tls {
    /// Reads the files; every error names the file and what is wrong.
    pub fn load(files: TlsFiles) -> Result<Self, String> {
        let loaded = load(&files)?;
        Ok(Self {
            files,
            current: Arc::new(RwLock::new(loaded)),
        })
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    pub fn server(&self) -> Arc<ServerConfig> {
        self.read().server.clone()
    }

    pub fn client(&self) -> Arc<ClientConfig> {
        self.read().client.clone()
    }

    fn read(&self) -> Loaded {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the files again whenever one of them changes, for as long as
    /// the returned task runs.
    pub fn watch(&self) -> tokio::task::JoinHandle<()> {
        let tls = self.clone();
        tokio::spawn(async move {
            let mut seen = stamps(&tls.files);
            loop {
                tokio::time::sleep(RELOAD_EVERY).await;
                let now = stamps(&tls.files);
                if now == seen {
                    continue;
                }
                seen = now;
                match load(&tls.files) {
                    Ok(loaded) => {
                        *tls.current
                            .write()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = loaded;
                        info!(cert = %tls.files.cert.display(), "TLS: certificate reloaded");
                    }
                    Err(e) => warn!(
                        "TLS: the changed files do not load, still using the last good ones: {e}"
                    ),
                }
            }
        })
    }
}

fn stamps(files: &TlsFiles) -> Vec<Option<(SystemTime, u64)>> {
    [&files.ca, &files.cert, &files.key]
        .iter()
        .map(|path| {
            let meta = std::fs::metadata(path).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        })
        .collect()
}

fn load(files: &TlsFiles) -> Result<Loaded, String> {
    // ring, not aws-lc-rs: it builds with a C compiler alone. Its provider
    // lacks post-quantum key exchange, which rustls now warns of.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cas = certificates(&files.ca)?;
    let mut roots = RootCertStore::empty();
    for ca in cas {
        roots
            .add(ca)
            .map_err(|e| format!("{}: not a usable CA certificate: {e}", files.ca.display()))?;
    }
    let roots = Arc::new(roots);
    let chain = certificates(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("{}: no private key in PEM: {e}", files.key.display()))?;

    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| format!("{}: cannot verify clients with it: {e}", files.ca.display()))?;
    let mut server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(|e| mismatch(files, &e))?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

    let mut client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| mismatch(files, &e))?;
    client.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Loaded {
        server: Arc::new(server),
        client: Arc::new(client),
    })
}

fn mismatch(files: &TlsFiles, e: &rustls::Error) -> String {
    format!(
        "{} and {}: the certificate and key do not go together: {e}",
        files.cert.display(),
        files.key.display()
    )
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a certificate in PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", path.display()));
    }
    Ok(certs)
}
