//! Building and running the application: the one path `main` and the tests
//! both take.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::future::IntoFuture;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::app::events::PrivateReceivers;
use crate::app::App;
use crate::config::{
    CommonSettings, DatabaseTarget, EventSettings, MigrateArgs, ReplicaSettings, Settings,
};
use crate::http::router;
use crate::storage;
use crate::webhooks::Dispatcher;

/// A bound, migrated, ready-to-serve application.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    app: Arc<App>,
    key_purge_interval: Duration,
    shutdown_timeout: Duration,
    events: EventSettings,
}

impl Application {
    /// Binds the listener first (port 0 picks a free port, as the tests
    /// do), so that an address in use fails before anything is written;
    /// then opens the database and applies migrations.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        // Installed before the first request, so that every one is counted.
        crate::telemetry::metrics::handle();
        let http = &settings.http;
        let listener = TcpListener::bind((http.bind.host.as_str(), http.bind.port))
            .await
            .with_context(|| format!("could not listen on {}", http.bind))?;
        let bound = listener
            .local_addr()
            .context("the listener has no address")?;
        let anonymous_allowed = http.anonymous_allowed_on(bound);
        let stores =
            storage::open(&settings.database, &settings.postgres, &settings.replicas).await?;
        let mut app = load_app(stores, anonymous_allowed).await?;
        app.allow_private_receivers(PrivateReceivers(settings.events.allow_private));
        let app = Arc::new(app);
        if app.access().is_open() && !anonymous_allowed {
            anyhow::bail!(
                "refusing to serve on {bound} without API keys: create one with \
                 `orderly keys create --role admin`, or pass --allow-anonymous to serve without authentication"
            );
        }
        let router = router(app.clone(), http);
        Ok(Self {
            listener,
            router,
            app,
            key_purge_interval: settings.key_purge_interval,
            shutdown_timeout: http.shutdown_timeout,
            events: settings.events.clone(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves; then stops accepting connections,
    /// lets the requests already accepted finish (their bodies still
    /// arriving included), closes idle connections, and returns. Requests
    /// still running after the shutdown timeout are dropped.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        if self.app.access().is_open() {
            tracing::warn!("no API key is active: anyone who can connect may read and write");
        }
        tracing::info!(address = %self.local_addr(), "serving");
        let purger = tokio::spawn(purge_expired_keys(
            self.app.clone(),
            self.key_purge_interval,
        ));
        let key_refresher = tokio::spawn(refresh_api_keys(self.app.clone()));
        let event_purger = tokio::spawn(purge_old_events(
            self.app.clone(),
            self.events.retention(),
            self.key_purge_interval,
        ));
        let dispatcher = match Dispatcher::new(self.app.webhook_store(), &self.events) {
            Ok(dispatcher) => tokio::spawn(dispatcher.run()),
            Err(e) => {
                tracing::error!(error = %e, "webhook deliveries cannot start");
                tokio::spawn(std::future::pending())
            }
        };
        let (draining, drain_started) = tokio::sync::oneshot::channel();
        let serve = axum::serve(self.listener, self.router).with_graceful_shutdown(async move {
            shutdown.await;
            let _ = draining.send(());
        });
        let drain_limit = async {
            if drain_started.await.is_ok() {
                tokio::time::sleep(self.shutdown_timeout).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let served = tokio::select! {
            served = serve.into_future() => served,
            () = drain_limit => {
                tracing::warn!(timeout = ?self.shutdown_timeout, "requests still running at the shutdown timeout were dropped");
                Ok(())
            }
        };
        // Wait for the purge to stop too, so the stores (and their
        // connections) are gone when this returns.
        for task in [purger, key_refresher, event_purger, dispatcher] {
            task.abort();
            let _ = task.await;
        }
        served
    }
}

/// Deletes expired idempotency keys now and then, beside the requests.
async fn purge_expired_keys(app: Arc<App>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match app.purge_expired_keys().await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged expired idempotency keys"),
            Err(e) => tracing::warn!(error = %e, "could not purge expired idempotency keys"),
        }
    }
}

/// Deletes events past their retention now and then, beside the requests.
async fn purge_old_events(app: Arc<App>, retention: chrono::Duration, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match app.purge_old_events(retention).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged events past their retention"),
            Err(e) => tracing::warn!(error = %e, "could not purge old events"),
        }
    }
}

/// Reloads the API keys every second, so that keys created or revoked
/// anywhere take effect here; a failed reload keeps the keys last loaded.
async fn refresh_api_keys(app: Arc<App>) {
    let mut ticks = tokio::time::interval(crate::app::access::REFRESH);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticks.tick().await;
        match app.access().refresh().await {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("reloading API keys again");
            }
            Ok(()) => {}
            // Once per outage, not once a second.
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "could not reload API keys; the keys last loaded stay in force");
            }
            Err(_) => {}
        }
    }
}

/// The use cases over `stores`, with the API keys loaded.
async fn load_app(stores: storage::Stores, anonymous_allowed: bool) -> anyhow::Result<App> {
    App::load(stores, anonymous_allowed)
        .await
        .context("could not load the API keys")
}

/// The use cases for a command other than serving (`orderly keys`): the
/// database of `settings`, migrated, with no replicas; never open.
pub async fn open_app(settings: &CommonSettings) -> anyhow::Result<App> {
    let stores = open_stores(settings).await?;
    load_app(stores, false).await
}

/// `orderly migrate`: applies pending migrations and returns; with
/// `--adopt`, takes over another service's tables first (PostgreSQL).
pub async fn migrate(settings: &CommonSettings, how: MigrateArgs) -> anyhow::Result<()> {
    if !how.adopt {
        return open_stores(settings).await.map(drop);
    }
    match settings.database.target()? {
        DatabaseTarget::Postgres(url) => {
            storage::postgres::adopt(
                &url,
                &settings.postgres,
                how.dry_run,
                &mut std::io::stdout(),
            )
            .await
        }
        DatabaseTarget::Sqlite(path) => anyhow::bail!(
            "nothing to adopt in {}: an SQLite database is orderly's embedded default, only ever \
             made by orderly itself; --adopt takes over another service's PostgreSQL tables. \
             `orderly migrate` applies pending migrations here",
            path.display()
        ),
    }
}

async fn open_stores(settings: &CommonSettings) -> anyhow::Result<storage::Stores> {
    storage::open(
        &settings.database,
        &settings.postgres,
        &ReplicaSettings::none(),
    )
    .await
}

/// Resolves on Ctrl-C or SIGTERM.
///
/// The handlers are installed when this is called, not when the future is
/// first polled: a SIGTERM that arrives while the app is still starting
/// stops it gracefully instead of killing it.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        let terminate = async {
            match terminate.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            () = terminate => {},
        }
        tracing::info!("shutting down");
    }
}
