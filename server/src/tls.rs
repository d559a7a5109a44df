//! TLS for the API (`drctl serve --tls-cert --tls-key`), with rustls, the project's one
//! TLS stack: certificates and key from PEM files, and a listener that hands axum only
//! connections whose handshake completed.
//!
//! Handshakes run beside the accept loop, each within [`HANDSHAKE`], at most
//! [`PENDING`] at once: a client that connects and says nothing holds a slot for ten
//! seconds, not the listener.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take to complete its handshake.
pub const HANDSHAKE: Duration = Duration::from_secs(10);

/// Handshakes under way at once; more connections wait in the kernel's backlog.
pub const PENDING: usize = 256;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("--tls-cert {path}: {why}")]
    Cert { path: String, why: String },
    #[error("--tls-key {path}: {why}")]
    Key { path: String, why: String },
    #[error("the certificate and the key do not go together: {0}")]
    Config(String),
}

/// The acceptor for a certificate chain and its private key (PEM files).
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let cert_err = |why: String| TlsError::Cert {
        path: cert.display().to_string(),
        why,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err(
            "no certificate in it (PEM `CERTIFICATE` blocks)".into(),
        ));
    }
    let key_err = |why: String| TlsError::Key {
        path: key.display().to_string(),
        why,
    };
    // Whoever reads the key can pose as this server.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(key)
            .map_err(|e| key_err(e.to_string()))?
            .permissions(),
    );
    if mode & 0o077 != 0 {
        return Err(key_err(format!(
            "others may read or write it (mode {:o}): `chmod 600` it",
            mode & 0o777
        )));
    }
    let text = std::fs::read(key).map_err(|e| key_err(e.to_string()))?;
    if text.windows(b"ENCRYPTED".len()).any(|w| w == b"ENCRYPTED") {
        return Err(key_err(
            "an encrypted key: give it decrypted (`openssl pkey -in KEY -out PLAIN`), readable by the server alone".into(),
        ));
    }
    // The key's own error names no part of it.
    let key_der = PrivateKeyDer::from_pem_slice(&text).map_err(|e| key_err(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts TCP connections and yields them once their TLS handshake is done.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    pending: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("tcp", &self.tcp)
            .finish_non_exhaustive()
    }
}

impl TlsListener {
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        Self {
            tcp,
            acceptor,
            pending: JoinSet::new(),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept(), if self.pending.len() < PENDING => match accepted {
                    Ok((stream, addr)) => {
                        let acceptor = self.acceptor.clone();
                        self.pending.spawn(async move {
                            let done = tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await;
                            // A failed or slow handshake is that client's problem only.
                            done.ok()?.ok().map(|tls| (tls, addr))
                        });
                    }
                    // Out of descriptors, say: give the server a moment, as axum does.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                },
                Some(joined) = self.pending.join_next(), if !self.pending.is_empty() => {
                    if let Ok(Some(ready)) = joined {
                        return ready;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
