//! `wbots serve`: migrate, listen, run the workers, stop gracefully.

use std::process::ExitCode;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::config::Config;

/// Runs the bridge until SIGINT or SIGTERM.
pub async fn run(config: Config) -> Result<ExitCode, String> {
    let store = crate::store::open_for_serving(config.store.url.expose()).await?;
    let metrics = crate::metrics::install()?;
    let bridge = crate::app::bridge(&config, store.clone())?;

    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|e| format!("server.listen: cannot listen on {}: {e}", config.server.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let shutdown = CancellationToken::new();

    let mut app = crate::app::router(&config, bridge.clone());
    match config.server.metrics_listen {
        Some(addr) => {
            let metrics_listener = TcpListener::bind(addr)
                .await
                .map_err(|e| format!("server.metrics_listen: cannot listen on {addr}: {e}"))?;
            let metrics_app = crate::metrics::router(metrics, store.clone());
            let stop = shutdown.clone();
            tokio::spawn(async move {
                let served = axum::serve(metrics_listener, metrics_app)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await;
                if let Err(e) = served {
                    error!(error = %e, "metrics server failed");
                }
            });
        }
        None => app = app.merge(crate::metrics::router(metrics, store.clone())),
    }

    let workers = tokio::spawn({
        let bridge = bridge.clone();
        let stop = shutdown.clone();
        async move { bridge.run(stop).await }
    });
    // Tooling (and the end-to-end tests) read the bound address from this line.
    println!("wbots listening on http://{local}");
    info!(%local, "serving webhooks");

    let stop = shutdown.clone();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            wait_for_signal().await;
            info!("shutdown requested: no new requests; finishing jobs in flight");
            stop.cancel();
        })
        .await;
    shutdown.cancel();
    // Jobs in flight finish; a job that cannot within the grace period is simply retried
    // by the next process once its lease expires.
    if tokio::time::timeout(Duration::from_secs(30), workers).await.is_err() {
        error!("workers did not stop within 30 s; their jobs will be retried after the lease");
    }
    served.map_err(|e| format!("server failed: {e}"))?;
    info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
