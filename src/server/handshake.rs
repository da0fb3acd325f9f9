//! Accepting TLS connections: every accepted TCP connection gets its TLS
//! handshake on a task of its own, so a slow client delays nobody, and
//! every handshake that fails is logged once, with the client's address.
//!
//! tonic can run the handshakes too, but it logs a failed one at debug level
//! without the address, so an operator could not tell a misconfigured
//! Crossplane from a port scan.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::Stream;

/// The outcome of one handshake and the client it was with.
type Handshake = (SocketAddr, io::Result<TlsStream<TcpStream>>);

/// A stream of TLS connections that completed their handshake, for
/// `serve_with_incoming_shutdown`.
///
/// Dropping it closes the listener and aborts the handshakes in progress,
/// so a server that stops accepting refuses new connections at once.
pub struct TlsIncoming {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    timeout: Duration,
    handshakes: JoinSet<Handshake>,
}

impl TlsIncoming {
    /// Accepts on `listener` and runs each handshake with `acceptor`,
    /// giving up on a client after `timeout`.
    pub fn new(listener: TcpListener, acceptor: TlsAcceptor, timeout: Duration) -> Self {
        Self {
            listener,
            acceptor,
            timeout,
            handshakes: JoinSet::new(),
        }
    }

    fn start_handshake(&mut self, stream: TcpStream, peer: SocketAddr) {
        // A gRPC server answers small messages; Nagle's algorithm would hold
        // each one back for the client's delayed ACK.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(peer = %peer, error = %error, "cannot set TCP_NODELAY");
        }

        let acceptor = self.acceptor.clone();
        let timeout = self.timeout;
        self.handshakes.spawn(async move {
            let outcome = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no complete handshake within {} s", timeout.as_secs()),
                )),
            };
            (peer, outcome)
        });
    }
}

impl Stream for TlsIncoming {
    type Item = io::Result<TlsStream<TcpStream>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let mut progressed = false;

            // An accept error goes to tonic, which skips it as it skips
            // errors of a plaintext listener.
            match self.listener.poll_accept(cx) {
                Poll::Ready(Ok((stream, peer))) => {
                    self.start_handshake(stream, peer);
                    progressed = true;
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Some(Err(error))),
                Poll::Pending => {}
            }

            match self.handshakes.poll_join_next(cx) {
                Poll::Ready(Some(Ok((_, Ok(stream))))) => return Poll::Ready(Some(Ok(stream))),
                Poll::Ready(Some(Ok((peer, Err(error))))) => {
                    log_rejected(peer, &error);
                    progressed = true;
                }
                Poll::Ready(Some(Err(error))) => {
                    tracing::error!(error = %error, "TLS handshake task failed");
                    progressed = true;
                }
                Poll::Ready(None) | Poll::Pending => {}
            }

            if !progressed {
                return Poll::Pending;
            }
        }
    }
}

/// Logs a failed handshake once. A client that closes the connection
/// before finishing the handshake, as TCP health checks and port scans do,
/// is logged at debug level; every other failure is a warning.
fn log_rejected(peer: SocketAddr, error: &io::Error) {
    if error.kind() == io::ErrorKind::UnexpectedEof {
        tracing::debug!(peer = %peer, error = %error, "client closed the connection during the TLS handshake");
    } else {
        tracing::warn!(peer = %peer, error = %error, "rejected TLS handshake");
    }
}
