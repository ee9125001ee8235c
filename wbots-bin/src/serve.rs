//! `wbots serve`: migrate, listen, run the workers, stop gracefully.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};
use wbots_core::RouteRefresh;

use crate::config::Config;
use crate::http_server::Limits;

/// Runs the bridge until SIGINT or SIGTERM.
pub(crate) async fn run(config: Config) -> Result<ExitCode, String> {
    // Before the store is opened for serving: the check's own connections must be closed
    // by then (see `keys::check_at_start`).
    crate::keys::check_at_start(&config).await.map_err(|e| format!("{e:#}"))?;
    let stores = crate::store::open_for_serving(config.store.url.expose()).await?;
    // Every Chatwoot adapter built from here on draws on the store's request budgets.
    let mut config = config;
    config.rate_budgets = Some(stores.budgets.clone());
    let store = stores.data.clone();
    let metrics = crate::metrics::install()?;
    let connected = crate::channel_source::open(&config, stores.channels.clone())?;
    let (stored, seen) = match &connected {
        Some(channels) => crate::channel_source::first_load(&config, channels).await?,
        None => (Vec::new(), Default::default()),
    };
    let (refresher, requests) = crate::channel_source::refresher();
    let refresh = connected.is_some().then(|| Arc::new(refresher) as Arc<dyn RouteRefresh>);
    let bridge = crate::app::bridge(&config, store.clone(), &stored, connected.as_ref(), refresh)?;
    if !stored.is_empty() {
        info!(channels = stored.len(), "serving the channels connected in the store too");
    }
    if let Some(channels) = &connected {
        crate::channel_source::lift_withdrawn_flags(&bridge, channels, &stored).await;
    }

    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|e| format!("server.listen: cannot listen on {}: {e}", config.server.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let shutdown = CancellationToken::new();
    let limits = Limits {
        header_read_timeout: Duration::from_secs(config.server.header_read_timeout_seconds),
        max_connections: crate::http_server::connection_cap(config.server.max_connections),
        shutdown_grace: Duration::from_secs(config.server.shutdown_grace_seconds),
    };

    let metrics_router = || {
        crate::metrics::router(metrics.clone(), store.clone(), config.server.metrics_token.clone())
    };
    let app = crate::app::router(&config, bridge.clone(), connected.clone());
    let (mut app, admin_server) = crate::admin::mount(
        &config,
        connected.clone(),
        Arc::new(store.clone()),
        app,
        limits,
        shutdown.clone(),
    )
    .await?;
    // /metrics shows queue depth and traffic: on the public port only when the operator asks.
    if config.server.metrics_on_listen {
        app = app.merge(metrics_router());
    }
    let mut metrics_server = None;
    if let Some(addr) = config.server.metrics_listen {
        let metrics_listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("server.metrics_listen: cannot listen on {addr}: {e}"))?;
        let metrics_app = crate::request_log::layer(metrics_router());
        metrics_server = Some(tokio::spawn(crate::http_server::serve(
            metrics_listener,
            metrics_app,
            limits,
            shutdown.clone(),
        )));
        info!(%addr, "serving /metrics");
    }

    let watcher = connected.map(|channels| {
        tokio::spawn(crate::channel_source::watch(
            Arc::new(config.clone()),
            bridge.clone(),
            channels,
            seen,
            Duration::from_millis(config.store.channels_poll_millis),
            requests,
            shutdown.clone(),
        ))
    });
    let workers = tokio::spawn({
        let bridge = bridge.clone();
        let stop = shutdown.clone();
        async move { bridge.run(stop).await }
    });
    // Tooling (and the end-to-end tests) read the bound address from this line.
    println!("wbots listening on http://{local}");
    info!(%local, "serving webhooks");

    let server = tokio::spawn(crate::http_server::serve(listener, app, limits, shutdown.clone()));
    wait_for_signal().await;
    info!(
        grace_seconds = limits.shutdown_grace.as_secs(),
        "shutdown requested: no new connections; finishing requests and jobs in flight"
    );
    shutdown.cancel();
    let deadline = tokio::time::Instant::now() + limits.shutdown_grace;
    // The listeners give requests in flight the grace period, then drop their connections.
    if let Err(e) = server.await {
        error!(error = %e, "webhook server failed");
    }
    if let Some(metrics_server) = metrics_server {
        let _ = metrics_server.await;
    }
    if let Some(watcher) = watcher {
        let _ = watcher.await;
    }
    if let Some(admin_server) = admin_server {
        let _ = admin_server.await;
    }
    // Jobs in flight finish; a job that cannot within the grace period is simply retried
    // by the next process once its lease expires.
    if tokio::time::timeout_at(deadline, workers).await.is_err() {
        error!(
            "workers did not stop within the grace period; their jobs will be retried after the lease"
        );
    }
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
