//! TLS for the gRPC server: loads the certificates Crossplane mounts into a
//! function's pod and requires every client to present a certificate signed
//! by their CA.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// The server's certificate chain, in PEM, inside the certificates folder.
pub const CERT_FILE: &str = "tls.crt";

/// The server's private key, in PEM, inside the certificates folder.
pub const KEY_FILE: &str = "tls.key";

/// The CA that signs client certificates, in PEM, inside the certificates
/// folder.
pub const CA_FILE: &str = "ca.crt";

/// Timeout for a client to finish the TLS handshake, so a stalled client
/// cannot hold a connection slot forever.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

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

/// Loads `tls.crt`, `tls.key` and `ca.crt` from `dir` into a TLS config
/// that requires a client certificate signed by `ca.crt`.
///
/// Only reads the files. Whether they hold valid PEM is checked when the
/// server starts, which then fails with the TLS library's error.
pub fn load_dir(dir: &Path) -> Result<ServerTlsConfig, ReadError> {
    let cert = read(&dir.join(CERT_FILE))?;
    let key = read(&dir.join(KEY_FILE))?;
    let ca = read(&dir.join(CA_FILE))?;

    Ok(server_config(cert, key, ca))
}

/// Builds a TLS config from PEM: the server's certificate chain and key,
/// and the CA that client certificates must be signed by.
///
/// Client certificates are required, never optional. rustls negotiates
/// TLS 1.2 or 1.3 and nothing older.
pub fn server_config(
    cert_pem: impl AsRef<[u8]>,
    key_pem: impl AsRef<[u8]>,
    ca_pem: impl AsRef<[u8]>,
) -> ServerTlsConfig {
    ServerTlsConfig::new()
        .identity(Identity::from_pem(cert_pem, key_pem))
        .client_ca_root(Certificate::from_pem(ca_pem))
        .client_auth_optional(false)
        .timeout(HANDSHAKE_TIMEOUT)
}

fn read(path: &Path) -> Result<Vec<u8>, ReadError> {
    std::fs::read(path).map_err(|error| ReadError {
        path: path.to_path_buf(),
        error,
    })
}
