//! Serving a router to hostile clients: hyper's HTTP/1 connection builder with a header-read
//! timeout, a cap on open connections, and a shutdown that gives requests in flight a grace
//! period and then drops whatever is left.
//!
//! What each limit defends against:
//! - `header_read_timeout`: a client that opens a connection and sends nothing, or drips its
//!   headers a byte at a time (slowloris), or keeps an idle keep-alive connection open. hyper
//!   starts this timer whenever it waits for a request head: on a new connection and again
//!   after each response, so it is also the idle keep-alive timeout.
//! - `max_connections`: file descriptors. At the cap the listener stops accepting (new
//!   clients wait in the kernel's backlog) until a connection closes, so the process keeps
//!   descriptors for its store and outbound calls.
//! - `shutdown_grace`: after SIGTERM no new connections are accepted, idle ones close, and
//!   requests in flight get this long to finish; then the remaining connections are dropped.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// The limits of one listener.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// How long a connection may take to deliver a complete request head, counted from its
    /// opening or from the previous response.
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long requests in flight may run after shutdown is requested.
    pub shutdown_grace: Duration,
}

/// Serves `app` on `listener` until `stop` is cancelled, then shuts down within
/// `limits.shutdown_grace`.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stop: CancellationToken,
) {
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    // Cancelled when the grace period is over: every connection still open is dropped.
    let hard_stop = CancellationToken::new();

    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // the semaphore is never closed
            },
            () = stop.cancelled() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Typically EMFILE: wait for descriptors to free up rather than spin.
                    warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        let hard_stop = hard_stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                served = connection => {
                    if let Err(e) = served {
                        // Timeouts and clients that hang up land here; nothing to act on.
                        debug!(error = %e, "connection ended with an error");
                    }
                }
                () = hard_stop.cancelled() => {}
            }
            drop(slot);
        });
    }

    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await.is_err() {
        warn!(
            grace_seconds = limits.shutdown_grace.as_secs(),
            "requests still in flight after the grace period; dropping their connections"
        );
    } else {
        info!("every connection closed");
    }
    hard_stop.cancel();
}

/// `configured`, lowered to half the descriptors the process may open (Linux: from
/// `/proc/self/limits`), so connections alone can never exhaust them.
pub(crate) fn connection_cap(configured: usize) -> usize {
    let Some(fds) = open_files_limit() else { return configured };
    let cap = (fds / 2).max(1);
    if configured > cap {
        warn!(
            configured,
            cap, "server.max_connections lowered to half the open-files limit (ulimit -n)"
        );
        cap
    } else {
        configured
    }
}

fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    // "Max open files            1024                 1048576              files"
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}
