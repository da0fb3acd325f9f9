//! Shutdown signals: SIGTERM, which Kubernetes sends to stop a pod, and
//! SIGINT, which Ctrl-C sends.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Handlers for SIGTERM and SIGINT, installed before the server starts so
/// a signal that arrives during startup is not lost.
#[derive(Debug)]
pub struct TerminationSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl TerminationSignals {
    /// Installs the handlers. From then on the signals no longer end the
    /// process by themselves.
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for the first SIGTERM or SIGINT and logs which one arrived.
    pub async fn recv(mut self) {
        let name = tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        };
        tracing::info!(
            signal = name,
            "received shutdown signal, draining calls in flight"
        );
    }
}
