//! TLS for the gRPC server: loads the certificates Crossplane mounts into a
//! function's pod and requires every client to present a certificate signed
//! by their CA.
//!
//! The server runs the handshakes itself (see `handshake`) rather than
//! through tonic, so that every rejected handshake is logged with the
//! client's address.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};

/// The server's certificate chain, in PEM, inside the certificates folder.
pub const CERT_FILE: &str = "tls.crt";

/// The server's private key, in PEM, inside the certificates folder.
pub const KEY_FILE: &str = "tls.key";

/// The CA that signs client certificates, in PEM, inside the certificates
/// folder.
pub const CA_FILE: &str = "ca.crt";

/// Time a client has to finish the TLS handshake, so a stalled client
/// cannot hold a connection slot forever.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The ALPN protocol gRPC runs on.
const ALPN_H2: &[u8] = b"h2";

/// A certificate file that could not be read. The message includes the I/O
/// error, so it is not exposed again as the error's source.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot read {path}: {error}: the folder in --tls-certs-dir must contain {CERT_FILE}, {KEY_FILE} and {CA_FILE}"
)]
pub struct ReadError {
    path: PathBuf,
    error: std::io::Error,
}

/// The server's certificate, key and client CA, as PEM, not yet parsed.
#[derive(Clone)]
pub struct TlsConfig {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    ca_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsConfig {
    /// Leaves the PEM out, because it includes the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

/// Certificates or a key that cannot be used for TLS.
#[derive(Debug, thiserror::Error)]
pub enum InvalidCertificates {
    /// A PEM file contains no item of the expected kind, or a broken one.
    #[error("{file}: {problem}")]
    Pem {
        /// The file name, such as `tls.crt`.
        file: &'static str,
        /// The problem with its content.
        problem: String,
    },

    /// rustls rejected the certificates or the key.
    #[error(transparent)]
    Rustls(#[from] tokio_rustls::rustls::Error),

    /// The client CA cannot verify client certificates.
    #[error("{CA_FILE} cannot verify client certificates")]
    ClientVerifier(#[from] tokio_rustls::rustls::server::VerifierBuilderError),
}

/// Loads `tls.crt`, `tls.key` and `ca.crt` from `dir` into a TLS config
/// that requires a client certificate signed by `ca.crt`.
///
/// Only reads the files. Whether they hold valid PEM is checked when the
/// server starts, which then fails naming the file.
pub fn load_dir(dir: &Path) -> Result<TlsConfig, ReadError> {
    let cert = read(&dir.join(CERT_FILE))?;
    let key = read(&dir.join(KEY_FILE))?;
    let ca = read(&dir.join(CA_FILE))?;

    Ok(server_config(cert, key, ca))
}

/// Builds a TLS config from PEM: the server's certificate chain and key,
/// and the CA that client certificates must be signed by.
pub fn server_config(
    cert_pem: impl AsRef<[u8]>,
    key_pem: impl AsRef<[u8]>,
    ca_pem: impl AsRef<[u8]>,
) -> TlsConfig {
    TlsConfig {
        cert_pem: cert_pem.as_ref().to_vec(),
        key_pem: key_pem.as_ref().to_vec(),
        ca_pem: ca_pem.as_ref().to_vec(),
    }
}

impl TlsConfig {
    /// Parses the PEM into an acceptor for the server's side of the
    /// handshake.
    ///
    /// Client certificates are required, never optional. rustls negotiates
    /// TLS 1.2 or 1.3 and nothing older, and only the `h2` protocol is
    /// offered through ALPN.
    pub fn acceptor(&self) -> Result<TlsAcceptor, InvalidCertificates> {
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());

        let chain = CertificateDer::pem_slice_iter(&self.cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| pem_error(CERT_FILE, error))?;
        if chain.is_empty() {
            return Err(InvalidCertificates::Pem {
                file: CERT_FILE,
                problem: "no PEM certificate".to_string(),
            });
        }
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem)
            .map_err(|error| pem_error(KEY_FILE, error))?;

        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(&self.ca_pem) {
            roots.add(ca.map_err(|error| pem_error(CA_FILE, error))?)?;
        }
        if roots.is_empty() {
            return Err(InvalidCertificates::Pem {
                file: CA_FILE,
                problem: "no PEM certificate".to_string(),
            });
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()?;

        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![ALPN_H2.to_vec()];

        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

fn pem_error(
    file: &'static str,
    error: tokio_rustls::rustls::pki_types::pem::Error,
) -> InvalidCertificates {
    InvalidCertificates::Pem {
        file,
        problem: error.to_string(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ReadError> {
    std::fs::read(path).map_err(|error| ReadError {
        path: path.to_path_buf(),
        error,
    })
}
