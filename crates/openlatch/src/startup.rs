//! Building the server on any listener, so tests can run it on port 0.

use crate::app::{
    allowlist, approvals, bootstrap, device_api, notifications, password::Passwords, signing, App,
    AppParts,
};
use crate::config::Config;
use crate::datadir;
use crate::http;
use crate::storage::{now_unix, sessions, Backend, Db};
use crate::tls::{Certificates, TlsListener};
use anyhow::Context;
use axum::serve::ListenerExt;
use axum::Router;
use secrecy::ExposeSecret;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The database URL in effect: the configured one, or a SQLite file in the data dir.
pub fn database_url(config: &Config) -> anyhow::Result<String> {
    if let Some(url) = &config.database_url {
        return Ok(url.expose_secret().to_owned());
    }
    let file = config.data_dir.join("openlatch.db");
    Ok(format!("sqlite://{}?mode=rwc", file.display()))
}

/// Connects, migrates and prepares everything a request needs (for
/// command-line tools: no MQTT connection).
pub async fn build_app(config: Config) -> anyhow::Result<App> {
    build_app_inner(config, false).await
}

async fn build_app_inner(config: Config, serving: bool) -> anyhow::Result<App> {
    let url = database_url(&config)?;
    // The data directory holds the database by default and the generated
    // master key: private and writable, or no start.
    if config.database_url.is_none() || config.data_dir.exists() {
        let dir = datadir::prepare(&config)?;
        tracing::info!(data_dir = %dir.display(), "data directory");
    } else {
        datadir::restrict_umask();
    }
    if let Some(file) = url
        .strip_prefix("sqlite://")
        .map(|rest| rest.split('?').next().unwrap_or(rest))
    {
        datadir::check_database_file(std::path::Path::new(file), &config)?;
    }
    let db = Db::connect(&url, config.db_max_connections)
        .await
        .context("connecting to the database")?;
    db.migrate().await.context("migrating the database")?;
    let tokens = bootstrap::token_keys(&db, &config)
        .await
        .context("loading the token-signing secret")?;
    let passwords = Passwords::new(config.password_workers)
        .await
        .context("preparing password hashing")?;
    let signing = signing::load(&db, &config)
        .await
        .context("loading the allow-list signing key")?;
    let hub = notifications::Hub::new(&config, serving).context("setting up notifications")?;
    Ok(App::new(AppParts {
        db,
        config: Arc::new(config),
        tokens: Arc::new(tokens),
        passwords,
        signing: Arc::new(signing),
        list_builds: Arc::default(),
        poll_cache: Arc::default(),
        approvals: Arc::default(),
        notifications: Arc::new(hub),
        http_metrics: Default::default(),
    }))
}

/// On PostgreSQL, listens for approval decisions made by other instances
/// on a dedicated connection (the pool is sqlx `Any`, which cannot LISTEN).
async fn start_approval_listener(app: &App) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if app.db.backend() != Backend::Postgres {
        return Ok(None);
    }
    let url = database_url(&app.config)?;
    let mut listener = sqlx::postgres::PgListener::connect(&url)
        .await
        .context("connecting the approval listener")?;
    listener
        .listen(approvals::PG_CHANNEL)
        .await
        .context("LISTEN for approvals")?;
    Ok(Some(tokio::spawn(approvals::listen(app.clone(), listener))))
}

/// How long a graceful stop waits for in-flight requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Plain HTTP, or HTTPS with certificates that SIGHUP re-reads.
enum Bound {
    Plain(TcpListener),
    Tls(TlsListener, Arc<Certificates>),
}

pub struct Application {
    listener: Bound,
    local_addr: SocketAddr,
    router: Router,
    app: App,
    approval_listener: Option<tokio::task::JoinHandle<()>>,
    reload_signal: ReloadSignal,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listen = config.listen;
        let app = build_app_inner(config, true).await?;
        tracing::info!(
            master_public_key = %app.signing.master_public_hex(),
            fingerprint = %app.signing.master_fingerprint(),
            "doors must be provisioned with this master public key"
        );
        bootstrap::first_admin(&app)
            .await
            .map_err(|e| anyhow::anyhow!("creating the first admin: {e}"))?;
        allowlist::rebuild(&app)
            .await
            .map_err(|e| anyhow::anyhow!("building the allow-list: {e}"))?;
        // Certificates are checked before the port is taken, so a bad file
        // stops the start with its path named.
        let certificates = match (&app.config.tls_cert, &app.config.tls_key) {
            (Some(cert), Some(key)) => Some(Certificates::load(cert, key)?),
            _ => None,
        };
        let tcp = TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let local_addr = tcp.local_addr()?;
        let listener = match certificates {
            Some(certs) => {
                tracing::info!(cert = %certs.cert_path().display(), "serving HTTPS");
                Bound::Tls(TlsListener::new(tcp, certs.server_config()?)?, certs)
            }
            None => Bound::Plain(tcp),
        };
        // Taken now: without a handler, SIGHUP would end the process.
        let reload_signal = ReloadSignal::install()?;
        let router = http::router(app.clone());
        let approval_listener = start_approval_listener(&app).await?;
        Ok(Self {
            listener,
            local_addr,
            router,
            app,
            approval_listener,
            reload_signal,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local_addr)
    }

    /// Whether the server speaks HTTPS itself.
    pub fn is_tls(&self) -> bool {
        matches!(self.listener, Bound::Tls(..))
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let housekeeping = tokio::spawn(housekeeping(self.app.clone()));
        let list_refresh = tokio::spawn(list_refresh(self.app.clone()));
        let (stop_worker, worker_stop) = tokio::sync::watch::channel(false);
        let outbox_worker = tokio::spawn(notifications::worker(self.app.clone(), worker_stop));
        let checks = tokio::spawn(notification_checks(self.app.clone()));
        let hub = self.app.approvals.clone();
        let (stopping_tx, stopping) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            shutdown.await;
            // Live approval streams never end by themselves; waiting doors
            // are answered at once.
            hub.close();
            let _ = stopping_tx.send(());
        };
        let make_service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let (serve, reloader): (ServeFuture, _) = match self.listener {
            Bound::Plain(listener) => (
                Box::pin(
                    axum::serve(listener, make_service)
                        .with_graceful_shutdown(shutdown)
                        .into_future(),
                ),
                tokio::spawn(self.reload_signal.serve(None)),
            ),
            // `tap_io` only lends the connection's peer address to ConnectInfo.
            Bound::Tls(listener, certs) => (
                Box::pin(
                    axum::serve(listener.tap_io(|_| {}), make_service)
                        .with_graceful_shutdown(shutdown)
                        .into_future(),
                ),
                tokio::spawn(self.reload_signal.serve(Some(certs))),
            ),
        };
        // In-flight requests get a grace period; a connection that never
        // sends a request (a client that vanished mid-handshake) would
        // otherwise hold the stop forever.
        let grace = async {
            if stopping.await.is_ok() {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let result = tokio::select! {
            r = serve => r,
            () = grace => {
                tracing::warn!(
                    grace_secs = SHUTDOWN_GRACE.as_secs(),
                    "connections still open after the grace period; closing them"
                );
                Ok(())
            }
        };
        housekeeping.abort();
        list_refresh.abort();
        reloader.abort();
        checks.abort();
        // The outbox worker finishes its sends or hands its claims back.
        let _ = stop_worker.send(true);
        if tokio::time::timeout(Duration::from_secs(10), outbox_worker)
            .await
            .is_err()
        {
            tracing::warn!("the notification worker did not stop in time");
        }
        self.app.notifications.shutdown().await;
        if let Some(l) = self.approval_listener {
            l.abort();
        }
        self.app.db.close().await;
        result
    }
}

type ServeFuture = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

/// SIGHUP (`systemctl reload`): re-read the TLS certificate and key.
struct ReloadSignal {
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl ReloadSignal {
    fn install() -> anyhow::Result<Self> {
        Ok(Self {
            #[cfg(unix)]
            hangup: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .context("listening for SIGHUP")?,
        })
    }

    #[cfg(unix)]
    async fn serve(mut self, certificates: Option<Arc<Certificates>>) {
        while self.hangup.recv().await.is_some() {
            match &certificates {
                None => tracing::info!("SIGHUP: nothing to reload (TLS is not configured)"),
                Some(certs) => match certs.reload() {
                    Ok(()) => tracing::info!(
                        cert = %certs.cert_path().display(),
                        "SIGHUP: TLS certificate and key reloaded"
                    ),
                    Err(e) => tracing::error!(
                        error = format!("{e:#}"),
                        "SIGHUP: reloading the TLS certificate failed; the previous one stays in use"
                    ),
                },
            }
        }
    }

    #[cfg(not(unix))]
    async fn serve(self, _certificates: Option<Arc<Certificates>>) {}
}

/// Periodic clean-up that no request should wait for.
async fn housekeeping(app: App) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    let mut minutes: u64 = 0;
    loop {
        tick.tick().await;
        minutes += 1;
        // Requests left pending by an instance that stopped while a door waited.
        if let Err(e) = approvals::expire_stale_requests(&app).await {
            tracing::warn!(error = %e, "expiring stale approval requests failed");
        }
        if minutes % 60 != 1 {
            continue;
        }
        // A day past expiry nobody can use a session any more.
        if let Ok(mut conn) = app.db.read().await {
            match sessions::delete_expired(&mut conn, now_unix() - 86_400).await {
                Ok(n) if n > 0 => tracing::debug!(removed = n, "expired sessions removed"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "session clean-up failed"),
            }
        }
        if let Err(e) = device_api::prune_history(&app).await {
            tracing::warn!(error = %e, "heartbeat history clean-up failed");
        }
        if let Err(e) = notifications::prune(&app).await {
            tracing::warn!(error = %e, "notification history clean-up failed");
        }
    }
}

/// Rebuilds the allow-list when it nears `valid_until` or a rule boundary
/// (DST change, override end, date range) passes; a no-op otherwise.
async fn list_refresh(app: App) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = allowlist::rebuild(&app).await {
            tracing::warn!(error = %e, "background allow-list build failed");
        }
    }
}

/// Offline doors, sub-key expiry and override ends, every 30 s.
async fn notification_checks(app: App) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = notifications::checks::run_checks(&app, now_unix()).await {
            tracing::warn!(error = %e, "notification checks failed");
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
