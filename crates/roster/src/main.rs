//! `roster`: one binary. `serve` runs the HTTP API, `init` bootstraps a
//! database without serving, `migrate` applies the schema, `keys` manages
//! the token signing keys, `generate` loads a synthetic data set for
//! benchmarks, `export` / `import` move a database's content as JSON Lines,
//! `backup` copies a running SQLite database.

mod generate;
mod transfer;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use roster_server::{bootstrap, AppState, Config};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Default database: the embedded SQLite file `./roster.db`.
const DEFAULT_DATABASE: &str = "sqlite://roster.db";

#[derive(Debug, Parser)]
#[command(name = "roster", version, about = "Who may do what, where.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the native API and the dialects.
    Serve {
        /// `sqlite://PATH` (default `sqlite://roster.db`) or `postgres://…`.
        #[arg(long, env = "ROSTER_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
        /// Address to listen on.
        #[arg(long, env = "ROSTER_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Also load the demo data set that makes every seed's example request work.
        #[arg(long)]
        demo: bool,
        /// Let addresses tenants register (identity providers' `jwks_uri`,
        /// webhooks' `url`) be `http` and private, loopback or link-local. Development and
        /// tests only: it opens Roster to server-side request forgery.
        #[arg(long, env = "ROSTER_ALLOW_PRIVATE_TARGETS")]
        allow_private_targets: bool,
        /// Failed authentications allowed per key id within a minute; more
        /// are answered `429` until the minute has passed.
        #[arg(long, env = "ROSTER_AUTH_FAILURES_PER_KEY", default_value_t = roster_server::auth::throttle::KEY_ID_LIMIT,
              value_parser = clap::value_parser!(u32).range(1..))]
        auth_failures_per_key: u32,
        /// Failed authentications allowed per client address within a
        /// minute (raise it when clients reach Roster through a proxy,
        /// which they then share).
        #[arg(long, env = "ROSTER_AUTH_FAILURES_PER_ADDRESS", default_value_t = roster_server::auth::throttle::ADDRESS_LIMIT,
              value_parser = clap::value_parser!(u32).range(1..))]
        auth_failures_per_address: u32,
        /// The URL clients reach Roster at: the issuer (`iss`) of the tokens
        /// it issues and the base of its discovery document. Default:
        /// `http://` and the listen address.
        #[arg(long, env = "ROSTER_PUBLIC_URL")]
        public_url: Option<String>,
        /// Lifetime of issued tokens, in seconds (60 to 3600).
        #[arg(long, env = "ROSTER_TOKEN_LIFETIME", default_value_t = 900,
              value_parser = clap::value_parser!(u64).range(60..=3600))]
        token_lifetime: u64,
        /// Do not remove expired grants and group memberships from the
        /// database (checks ignore them all the same). One replica of a
        /// deployment sweeps at a time; turn it off only where no replica
        /// should write on its own.
        #[arg(long, env = "ROSTER_NO_EXPIRY_SWEEP")]
        no_expiry_sweep: bool,
        /// Do not deliver webhooks from this process (another replica
        /// may). One replica of a deployment delivers at a time.
        #[arg(long, env = "ROSTER_NO_WEBHOOK_DELIVERY")]
        no_webhook_delivery: bool,
        /// Seconds a webhook endpoint may keep failing (since an event's
        /// first failed attempt) before its subscription is disabled.
        #[arg(long, env = "ROSTER_WEBHOOK_GIVE_UP", default_value_t = 86_400,
              value_parser = clap::value_parser!(u64).range(1..))]
        webhook_give_up: u64,
        /// Milliseconds before a failed webhook delivery is first retried;
        /// each further retry waits twice as long (with jitter).
        #[arg(long, env = "ROSTER_WEBHOOK_BACKOFF_INITIAL_MS", default_value_t = 1_000,
              value_parser = clap::value_parser!(u64).range(1..))]
        webhook_backoff_initial_ms: u64,
        /// Longest wait between two webhook delivery attempts, in milliseconds.
        #[arg(long, env = "ROSTER_WEBHOOK_BACKOFF_MAX_MS", default_value_t = 3_600_000,
              value_parser = clap::value_parser!(u64).range(1..))]
        webhook_backoff_max_ms: u64,
        /// Webhook delivery attempts per second, all subscriptions
        /// together, while writes queue for the database (the write path
        /// is saturated): deliveries yield to writes and catch up after.
        /// `0`: never paced.
        #[arg(long, env = "ROSTER_WEBHOOK_RATE_UNDER_LOAD", default_value_t = 1_000)]
        webhook_rate_under_load: u32,
        /// How long the event feed (`GET /v1/events`, the stream, webhook
        /// replays) keeps events: a whole number and `d`, `h`, `m` or `s`,
        /// e.g. `30d` or `12h`. Older events are trimmed in the background;
        /// the audit trail keeps everything.
        #[arg(long, env = "ROSTER_EVENT_RETENTION", default_value = "30d",
              value_parser = roster_server::retention::parse_duration)]
        event_retention: std::time::Duration,
        /// Serve `GET /metrics` (Prometheus) on this address instead of on
        /// the API's own port, e.g. `127.0.0.1:9090`.
        #[arg(long, env = "ROSTER_METRICS_LISTEN")]
        metrics_listen: Option<String>,
    },
    /// Manage the keys Roster signs its tokens with. A running server (and
    /// every replica) learns of a change through the database.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Bootstrap an organization and its owner without serving.
    Init {
        #[arg(long, env = "ROSTER_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
        /// Organization name.
        #[arg(long)]
        org: String,
        /// The owner's email.
        #[arg(long)]
        admin_email: String,
        /// Print `{"organization_id","account_id","user_id","api_key_id","api_key"}`.
        #[arg(long)]
        json: bool,
    },
    /// Apply the database migrations.
    Migrate {
        #[arg(long, env = "ROSTER_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Write the whole database, read at one revision, as JSON Lines (see
    /// docs/operations.md, "Export and import"). Safe while servers run.
    Export {
        #[arg(long, env = "ROSTER_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
        /// Write to this file (replaced only once the export is complete)
        /// instead of standard output.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
        /// Include the audit trail and the event feed.
        #[arg(long)]
        with_audit: bool,
    },
    /// Load an export into an empty database (migrated first), in one
    /// transaction: a file that is not a complete, valid export is refused
    /// with the line at fault and nothing is written.
    Import {
        #[arg(long, env = "ROSTER_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
        /// Read this file instead of standard input.
        #[arg(long)]
        input: Option<std::path::PathBuf>,
    },
    /// Copy a SQLite database, while servers use it, into a new file that
    /// `roster serve` can start on (PostgreSQL: use `pg_dump`, see
    /// docs/operations.md, "Backup").
    Backup {
        #[arg(long, env = "ROSTER_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
        /// The new file.
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Load a synthetic data set (organizations, accounts, users, grants) for
    /// benchmarks. Run it while no server writes to the database.
    Generate {
        #[arg(long, env = "ROSTER_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
        /// Number of users.
        #[arg(long)]
        users: usize,
        /// Number of organizations (default: one per 100 users).
        #[arg(long)]
        orgs: Option<usize>,
        /// Accounts per organization.
        #[arg(long, default_value_t = 10)]
        accounts_per_org: usize,
        /// Grants per user.
        #[arg(long, default_value_t = 10)]
        grants_per_user: usize,
        /// Groups each user is a member of (0: no groups). With it, every
        /// organization gets 10 groups of 3 grants each (a built-in role,
        /// at the organization 10 % of the time, else at one of its accounts).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=10))]
        groups_per_user: u8,
        /// Random seed; the same seed gives the same data set.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Directory to write sample queries for load tests into (`checks.tsv`, `orgs.tsv`).
        #[arg(long)]
        sample: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a new signing key; new tokens are signed with it, and the keys it
    /// replaces keep verifying until every token they signed has expired.
    Rotate {
        #[arg(long, env = "ROSTER_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
        /// `EdDSA` (Ed25519) or `ES256` (P-256).
        #[arg(long, default_value = "EdDSA")]
        algorithm: String,
        /// Print the new key as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the signing keys (public parts only).
    List {
        #[arg(long, env = "ROSTER_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
        /// Print JSON (one array).
        #[arg(long)]
        json: bool,
    },
    /// Revoke a signing key: tokens it signed are refused at once. When it
    /// was the signing key, a new one takes its place.
    Revoke {
        #[arg(long, env = "ROSTER_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
        /// The key's id (`kid`).
        kid: String,
        /// Algorithm of the replacement, if one is needed.
        #[arg(long, default_value = "EdDSA")]
        algorithm: String,
    },
}

/// The issuer URL: `--public-url` without a trailing `/`, or `http://` and
/// the listen address.
fn issuer(public_url: Option<&str>, listen: &str) -> anyhow::Result<String> {
    let url = match public_url {
        Some(u) => u.trim().trim_end_matches('/').to_owned(),
        None => format!("http://{listen}"),
    };
    let well_formed = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .is_some_and(|r| !r.is_empty() && !r.contains(['?', '#', ' ']));
    if !well_formed {
        anyhow::bail!("--public-url: `{url}` is not an http(s) URL without query or fragment");
    }
    Ok(url)
}

fn algorithm(s: &str) -> anyhow::Result<roster_domain::SigningAlgorithm> {
    roster_domain::SigningAlgorithm::parse("algorithm", s).map_err(|e| anyhow::anyhow!("{e}"))
}

async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    let database = match &command {
        KeysCommand::Rotate { database, .. }
        | KeysCommand::List { database, .. }
        | KeysCommand::Revoke { database, .. } => database.clone(),
    };
    let store = open(&database).await?;
    let state = AppState::start(store, Config::default())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match command {
        KeysCommand::Rotate {
            algorithm: alg,
            json,
            ..
        } => {
            let r = roster_server::keys::rotate(&state, algorithm(&alg)?)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let current = r.current.public();
            if json {
                println!("{}", serde_json::to_string(&current)?);
            } else {
                println!(
                    "new signing key {} ({})",
                    current.kid,
                    current.algorithm.as_str()
                );
                for k in &r.retired {
                    if let Some(until) = k.verify_until {
                        println!("retired {}: verifies until {until}", k.id);
                    }
                }
                for id in &r.pruned {
                    println!("pruned {id}");
                }
            }
        }
        KeysCommand::List { json, .. } => {
            let keys = roster_server::keys::list(&state);
            if json {
                println!("{}", serde_json::to_string(&keys)?);
            } else {
                for k in keys {
                    let state = if k.revoked_at.is_some() {
                        "revoked".to_owned()
                    } else if let Some(until) = k.verify_until {
                        format!("retired, verifies until {until}")
                    } else {
                        "signing".to_owned()
                    };
                    println!(
                        "{} {} created {} {state}",
                        k.kid,
                        k.algorithm.as_str(),
                        k.created_at
                    );
                }
            }
        }
        KeysCommand::Revoke {
            kid,
            algorithm: alg,
            ..
        } => {
            let kid = kid
                .parse()
                .map_err(|_| anyhow::anyhow!("`{kid}` is not a key id (a UUID)"))?;
            let k = roster_server::keys::revoke(&state, kid, algorithm(&alg)?)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("revoked {}", k.id);
        }
    }
    Ok(())
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("ROSTER_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub(crate) async fn open(database: &str) -> anyhow::Result<Arc<dyn roster_store::Store>> {
    let store = roster_store::open(database)
        .await
        .with_context(|| format!("opening {database}"))?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

async fn shutdown_signal() {
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
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Command::Migrate { database } => {
            open(&database).await?;
            tracing::info!(database = %redact(&database), "migrations applied");
        }
        Command::Init {
            database,
            org,
            admin_email,
            json,
        } => {
            let store = open(&database).await?;
            let state = AppState::start(store, Config::default())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let b = bootstrap::bootstrap(&state, &org, &admin_email)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string(&b)?);
            } else {
                println!(
                    "organization {}\nuser {}\napi key id {}\napi key {}",
                    b.organization_id, b.user_id, b.api_key_id, b.api_key
                );
            }
        }
        Command::Generate {
            database,
            users,
            orgs,
            accounts_per_org,
            grants_per_user,
            groups_per_user,
            seed,
            sample,
        } => {
            let store = open(&database).await?;
            let spec = generate::Spec {
                users,
                orgs,
                accounts_per_org,
                grants_per_user,
                groups_per_user: usize::from(groups_per_user),
                seed,
                sample,
            };
            let summary = generate::run(&*store, &spec).await?;
            println!("{summary}");
        }
        Command::Export {
            database,
            output,
            with_audit,
        } => transfer::export(&database, output.as_deref(), with_audit).await?,
        Command::Import { database, input } => {
            transfer::import(&database, input.as_deref()).await?;
        }
        Command::Backup { database, to } => transfer::backup(&database, &to).await?,
        Command::Keys { command } => keys(command).await?,
        Command::Serve {
            database,
            listen,
            demo,
            public_url,
            token_lifetime,
            allow_private_targets,
            auth_failures_per_key,
            auth_failures_per_address,
            no_expiry_sweep,
            no_webhook_delivery,
            webhook_give_up,
            webhook_backoff_initial_ms,
            webhook_backoff_max_ms,
            webhook_rate_under_load,
            event_retention,
            metrics_listen,
        } => {
            let config = Config {
                metrics_on_public_port: metrics_listen.is_none(),
                webhooks: roster_server::webhooks::WebhookConfig {
                    give_up_after: std::time::Duration::from_secs(webhook_give_up),
                    backoff_initial: std::time::Duration::from_millis(webhook_backoff_initial_ms),
                    backoff_max: std::time::Duration::from_millis(webhook_backoff_max_ms),
                    rate_under_load: webhook_rate_under_load,
                    ..Default::default()
                },
                issuer: issuer(public_url.as_deref(), &listen)?,
                token_lifetime: std::time::Duration::from_secs(token_lifetime),
                allow_private_targets,
                auth_failure_limits: (auth_failures_per_key, auth_failures_per_address),
                event_retention,
                ..Config::default()
            };
            let store = open(&database).await?;
            if allow_private_targets {
                tracing::warn!("--allow-private-targets: tenants' URLs may reach private and loopback addresses over http");
            }
            let state = AppState::start(store, config)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if bootstrap::is_empty(&state) {
                match bootstrap::bootstrap(&state, "Roster", "admin@roster.local").await {
                    Ok(b) => {
                        // Printed once, on the first start only; never logged.
                        println!(
                            "Bootstrapped organization {} with owner {} (admin@roster.local).",
                            b.organization_id, b.user_id
                        );
                        println!("Owner API key (shown once, keep it): {}", b.api_key);
                    }
                    // Another replica bootstrapped the same empty database first.
                    Err(_) if !bootstrap::is_empty(&state) => {
                        tracing::info!("database bootstrapped by another process");
                    }
                    Err(e) => return Err(anyhow::anyhow!("{e}")),
                }
            }
            let signer =
                roster_server::keys::ensure(&state, roster_domain::SigningAlgorithm::EdDSA)
                    .await
                    .map_err(|e| anyhow::anyhow!("creating a signing key: {e}"))?;
            tracing::info!(kid = %signer.id, issuer = %state.config.issuer, "signing tokens");
            if demo {
                roster_server::demo::load(&state)
                    .await
                    .map_err(|e| anyhow::anyhow!("loading demo data: {e}"))?;
            }
            state.spawn_follower();
            if no_expiry_sweep {
                tracing::warn!("--no-expiry-sweep: expired grants and memberships stay stored (checks ignore them)");
            } else {
                roster_server::expiry::spawn(&state);
            }
            if no_webhook_delivery {
                tracing::warn!("--no-webhook-delivery: this process delivers no webhooks");
            } else {
                roster_server::webhooks::spawn(&state);
            }
            roster_server::retention::Retention::new(&state)
                .also(
                    "webhook_deliveries",
                    state.config.event_retention,
                    roster_server::webhooks::delivery_log_trim(&state),
                )
                .spawn();
            let listener = TcpListener::bind(&listen)
                .await
                .with_context(|| format!("binding {listen}"))?;
            tracing::info!(listen = %listener.local_addr()?, database = %redact(&database), revision = state.engine.revision(), "roster serving");
            if let Some(addr) = &metrics_listen {
                let metrics = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the metrics listener {addr}"))?;
                tracing::info!(listen = %metrics.local_addr()?, "metrics serving");
                let app = roster_server::metrics_router(state.clone());
                tokio::spawn(async move {
                    if let Err(e) = roster_server::serve(metrics, app, shutdown_signal()).await {
                        tracing::error!(error = %e, "the metrics listener failed");
                    }
                });
            }
            let options = roster_server::ServeOptions {
                connections: Some(state.metrics.connections.clone()),
                ..roster_server::ServeOptions::default()
            };
            roster_server::serve_with(
                listener,
                roster_server::router(state),
                shutdown_signal(),
                options,
            )
            .await?;
        }
    }
    Ok(())
}

/// A database URL without its password, for logs.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}
