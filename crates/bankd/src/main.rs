//! The `bankd` command line.

use anyhow::Context;
use clap::{Parser, Subcommand};

use bankd::config::Settings;
use bankd::startup::{App, open_store, run_worker, shutdown_signal};

#[derive(Parser)]
#[command(name = "bankd", version, about = "Self-hosted bank aggregation server (Powens API 2.0 compatible)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API, docs and sandbox banks, with sync workers and the scheduler.
    Serve {
        /// Serve the API only: syncs are run by `bankd worker` processes.
        #[arg(long)]
        no_worker: bool,
        #[command(flatten)]
        settings: Settings,
    },
    /// Run sync workers and the scheduler only (scale-out on PostgreSQL).
    Worker {
        #[command(flatten)]
        settings: Settings,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        settings: Settings,
    },
    /// Serve the simulated banks alone (under /sandbox), for a bankd elsewhere or a TPP under test
    /// to reach them at an absolute base_url.
    Sandbox {
        /// Address to serve on.
        #[arg(long, default_value = "127.0.0.1:3100")]
        listen: std::net::SocketAddr,
        /// Base of the links the banks hand out; default: `http://<listen>`.
        #[arg(long)]
        public_url: Option<String>,
    },
    /// Manage client applications.
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register a client application; prints {"id", "client_id", "client_secret"} as JSON on stdout.
    Create {
        /// Name of the application.
        #[arg(long)]
        name: String,
        /// A redirect URI the application may use (exact match); repeatable.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        #[command(flatten)]
        settings: Settings,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bankd::telemetry::init();
    match Cli::parse().command {
        Command::Serve { no_worker, settings } => {
            let app = App::build(settings).await?;
            app.run_until_stopped(shutdown_signal(), !no_worker).await
        }
        Command::Worker { settings } => run_worker(settings, shutdown_signal()).await,
        Command::Migrate { settings } => {
            open_store(&settings).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Sandbox { listen, public_url } => {
            let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
            let public_url =
                public_url.unwrap_or_else(|| format!("http://{}", listener.local_addr().unwrap_or(listen)));
            let banks = axum::Router::new().nest("/sandbox", bankd::simulators::router(&public_url));
            tracing::info!(%public_url, "simulated banks serving under /sandbox");
            axum::serve(listener, banks).with_graceful_shutdown(shutdown_signal()).await?;
            Ok(())
        }
        Command::Client { command: ClientCommand::Create { name, redirect_uris, settings } } => {
            std::fs::create_dir_all(&settings.data_dir).context("creating the data dir")?;
            let store = open_store(&settings).await?;
            let created = store.create_client(&name, &redirect_uris).await?;
            let out = serde_json::json!({
                "id": created.client.id,
                "client_id": created.client.client_id,
                "client_secret": created.client_secret,
            });
            println!("{out}");
            Ok(())
        }
    }
}
