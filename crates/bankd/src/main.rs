//! The `bankd` command line.

use anyhow::Context;
use clap::{Parser, Subcommand};

use bankd::catalog::Catalog;
use bankd::config::Settings;
use bankd::crypto::MasterKey;
use bankd::import::{ImportOptions, csv_mapping, import};
use bankd::startup::{App, open_store, run_worker, shutdown_signal};
use indicatif::{ProgressBar, ProgressStyle};
use statements::Format;

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
    /// Import statement files (OFX, camt, MT940, QIF, CSV) into a user's Statement-files connection;
    /// prints one summary line per file. Safe while a server runs on the same database.
    Import {
        /// The files to import, in order.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// The user they belong to.
        #[arg(long)]
        user: i64,
        /// The Statement-files connection to import into (default: the user's, created if needed).
        #[arg(long)]
        connection: Option<i64>,
        /// auto, ofx, camt, mt940, qif or csv.
        #[arg(long, default_value = "auto")]
        format: String,
        /// For CSV: the column mapping in JSON, e.g. '{"delimiter": ";", "date": "Date", "amount": "Montant"}'
        /// (guessed from the header otherwise).
        #[arg(long)]
        csv: Option<String>,
        #[command(flatten)]
        settings: Settings,
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
        Command::Import { files, user, connection, format, csv, settings } => {
            let csv = csv.map(|json| csv_mapping(&json)).transpose().map_err(|why| anyhow::anyhow!("--csv: {why}"))?;
            let options = ImportOptions {
                format: match format.as_str() {
                    "auto" => None,
                    name => Some(Format::from_name(name).with_context(|| format!("unknown format {name}"))?),
                },
                id_connection: connection,
                parse: statements::Options { csv },
            };
            import_files(&files, user, options, &settings).await
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

/// `bankd import`: each file in turn, with a progress bar on large ones.
async fn import_files(
    files: &[std::path::PathBuf],
    user: i64,
    options: ImportOptions,
    settings: &Settings,
) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let catalog = Catalog::load(settings.catalog.as_deref(), settings.sandbox)?;
    let key = MasterKey::load(std::env::var("BANKD_MASTER_KEY").ok().as_deref(), &settings.data_dir)?;
    for path in files {
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let size = file.metadata()?.len();
        let bar = if size > 4 << 20 { ProgressBar::new(size) } else { ProgressBar::hidden() };
        bar.set_style(ProgressStyle::with_template("{msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec}")?);
        bar.set_message(path.display().to_string());
        let imported = import(&store, &catalog, &key, user, bar.wrap_read(file), options.clone())
            .await
            .with_context(|| format!("importing {}", path.display()))?;
        bar.finish_and_clear();
        println!(
            "{}: {} statement(s), {} account(s), {} added, {} updated, {} unchanged (connection {})",
            path.display(),
            imported.statements,
            imported.accounts.len(),
            imported.added,
            imported.updated,
            imported.unchanged,
            imported.connection.id
        );
    }
    Ok(())
}
